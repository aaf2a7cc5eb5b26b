"""The command line as a user meets it: help, JSON shapes, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def seamfuzz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("cmd", [[], ["mine"], ["resolve"], ["apis"], ["check"], ["run"],
                                 ["fuzz"],
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
    (["apis", "--all", "--jobs", "-1"], "--jobs"),
    (["resolve", "--corpus", "missing.sqlite"], "no corpus store"),
    (["resolve", "--corpus", "notastore.sqlite"], "not an SQLite database"),
    (["resolve", "--jobs", "-1"], "--jobs"),
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


# Every list the command line takes, and how a user may split it: each case is
# (argv, the namespace attribute, the parsed value).
LIST_ARGS = [
    (["mine", "--docs", "torch", "--docs", "tensorflow"], "docs", ["torch", "tensorflow"]),
    (["mine", "--docs", "torch", "tensorflow"], "docs", ["torch", "tensorflow"]),
    (["mine", "a", "--jobs", "1", "b", "c"], "paths", ["a", "b", "c"]),
    (["mine", "a", "b"], "paths", ["a", "b"]),
    (["replay", "x", "--timeout", "3", "y"], "paths", ["x", "y"]),
    *[([cmd, "--api", "torch.floor_divide", "--api", "torch.nn.functional.relu"], "api",
       ["torch.floor_divide", "torch.nn.functional.relu"]) for cmd in ("run", "fuzz")],
    *[([cmd, "--api", "a", "b", "--api", "c"], "api", ["a", "b", "c"])
      for cmd in ("run", "fuzz")],
    *[([cmd, *pre, "--modes", "tf.xla", "--modes", "torch.compile:backend=eager,dynamic=true",
        "tf.function"], "modes", "tf.xla,torch.compile:backend=eager,dynamic=true,tf.function")
      for cmd, pre in (("check", ["torch.abs(1)"]), ("run", []), ("fuzz", []))],
    (["fuzz", "--modes", "tf.xla,tf.function"], "modes", "tf.xla,tf.function"),
    (["fuzz"], "modes", None),
    (["fuzz"], "api", []),
    (["mine"], "docs", []),
]


@pytest.mark.parametrize("argv,attr,value", LIST_ARGS, ids=lambda x: " ".join(x)
                         if isinstance(x, list) and all(isinstance(a, str) for a in x) else None)
def test_list_arguments_add_up(argv, attr, value):
    from seamfuzz.cli import parse_args

    assert getattr(parse_args(argv), attr) == value


def test_every_list_argument_is_covered_and_additive():
    """A new list flag must be additive too (and get a LIST_ARGS case)."""
    import argparse

    from seamfuzz.cli import _JoinCommaLists, _PATH_LISTS, build_parser

    covered = {(argv[0], attr) for argv, attr, _ in LIST_ARGS}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = set()
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.nargs not in ("+", "*"):
                continue
            found.add((name, action.dest))
            if action.option_strings:
                assert isinstance(action, (argparse._ExtendAction, _JoinCommaLists)), \
                    (name, action.dest)
            else:
                assert name in _PATH_LISTS and action.dest == "paths", (name, action.dest)
    assert found == covered


def test_stray_arguments_are_still_refused():
    from seamfuzz.cli import parse_args

    with pytest.raises(SystemExit):
        parse_args(["mine", "a", "--bogus", "b"])
    with pytest.raises(SystemExit):
        parse_args(["check", "torch.abs(1)", "extra"])
