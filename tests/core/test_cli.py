"""The command line as a user meets it: help, JSON shapes, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def seamfuzz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("cmd", [[], ["mine"], ["apis"], ["check"], ["run"], ["fuzz"],
                                 ["triage"], ["report"], ["replay"]])
def test_help_explains_every_command(cmd):
    r = seamfuzz(*cmd, "--help")
    assert r.returncode == 0
    assert "usage: seamfuzz" in r.stdout
    assert len(r.stdout.splitlines()) > 8


def test_mine_json_and_apis_json(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("import torch\nx = torch.randn(2, 3)\ntorch.abs(x)\ntorch.abs(x)\n"
                              "import tensorflow as tf\ntf.abs(tf.constant([1.0]))\n")
    (src / "bad.py").write_text("import torch\ndef (:\n")
    store = tmp_path / "c.sqlite"
    r = seamfuzz("mine", src, "--out", store, "--json", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"files", "records", "apis", "resolved_args", "seconds"}
    assert out["files"] == {"seen": 2, "mined": 1, "skipped": {}, "failed": {"syntax_error": 1}}
    assert out["apis"] == {"torch": 2, "tensorflow": 2}
    assert out["records"] == 4
    assert out["resolved_args"] == 1.0
    r = seamfuzz("apis", "--corpus", store, "--json")
    assert r.returncode == 0, r.stderr
    apis = json.loads(r.stdout)
    assert apis[0] == {"api": "torch.abs", "framework": "torch", "records": 1,
                       "occurrences": 2}
    assert {a["api"] for a in apis} == {"torch.abs", "torch.randn", "tf.math.abs",
                                        "tf.constant"}
    table = seamfuzz("apis", "--corpus", store)
    assert "torch.abs" in table.stdout and table.returncode == 0


def test_mine_table_lists_reasons(tmp_path):
    (tmp_path / "a.py").write_text("import torch\ntorch.ones(1)\n")
    r = seamfuzz("mine", tmp_path / "a.py", "--out", tmp_path / "c.sqlite", "--jobs", "1")
    assert r.returncode == 0
    assert "records (distinct calls)" in r.stdout and "APIs: torch" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["mine", "/definitely/not/here"], "no such file or directory"),
    (["mine"], "nothing to mine"),
    (["mine", ".", "--jobs", "-1"], "--jobs"),
    (["apis", "--corpus", "missing.sqlite"], "no corpus store"),
    (["apis", "--corpus", "notastore.sqlite"], "not an SQLite database"),
    (["triage", "nowhere"], "no such campaign directory"),
    (["report", "."], "no campaign.sqlite here"),
    (["report", "untriaged"], "not triaged yet"),
    (["triage", "untriaged", "--known", "missing.toml"], "no such known-issues file"),
    (["triage", "untriaged", "--known", "bad.toml"], "bad.toml"),
    (["replay", "missing.py"], "no such file or directory"),
    (["replay", "."], "no reproducers"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "notastore.sqlite").write_text("hello, I am a text file\n")
    (tmp_path / "bad.toml").write_text("[[known]]\napi = 'torch.abs'\n")  # no reason
    from seamfuzz.store import CampaignStore

    CampaignStore(tmp_path / "untriaged").close()
    r = seamfuzz(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_docs_library_is_refused_by_argparse(tmp_path):
    r = seamfuzz("mine", "--docs", "jax", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr
