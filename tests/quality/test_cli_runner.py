"""`seamfuzz check` and `seamfuzz run` end to end, with the planted backends:
exit status, JSON shape, the store, and continuing a run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def seamfuzz(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_check_exits_1_on_a_planted_bug_and_0_on_a_correct_backend():
    expr = "torch.cumsum(torch.randn(7, 3), dim=0)"
    bad = seamfuzz("check", expr, "--modes", "torch.compile:backend=planted:wrong_backend",
                   "--json")
    assert bad.returncode == 1, bad.stderr
    out = json.loads(bad.stdout)
    assert out["api"] == "torch.cumsum" and out["reference"] == "torch.eager"
    assert set(out["observations"]) == {"torch.eager", "torch.compile:backend=planted:wrong_backend"}
    (verdict,) = out["verdicts"]
    assert verdict["kind"] == "value" and "21 of 21 elements differ" in verdict["detail"]
    good = seamfuzz("check", expr, "--modes", "torch.compile:backend=planted:correct_backend")
    assert good.returncode == 0, good.stderr
    assert "agree" in good.stdout and "torch.compile:backend=planted:correct_backend" in good.stdout


def test_run_stores_every_case_and_a_rerun_continues(tmp_path):
    src = tmp_path / "calls.py"
    src.write_text(
        "import torch\n"
        "torch.cumsum(torch.randn(7, 2), dim=0)\n"
        "torch.abs(torch.randn(3))\n"
        "torch.load('weights.pt')\n"
        "torch.relu(unknown)\n")
    corpus = tmp_path / "c.sqlite"
    assert seamfuzz("mine", src, "--out", corpus, "--jobs", "1").returncode == 0
    out = tmp_path / "campaign"
    modes = "torch.compile:backend=planted:wrong_backend"
    # A relative --out: workers change directory, their log path must not.
    first = seamfuzz("run", "--corpus", corpus, "--out", "campaign", "--modes", modes,
                     "--json", "--jobs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    boundary = summary["boundaries"][f"torch.eager -> {modes}"]
    assert boundary["value"] == 1  # the planted shape
    assert boundary["skipped"] == 2  # torch.load is denied; `unknown` is unresolved
    assert summary["apis"]["torch.cumsum"] == {"cases": 1, "valid": 1, "discrepancies": 1}
    db = sqlite3.connect(out / "campaign.sqlite")
    try:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM cases GROUP BY status"))
        assert statuses == {"done": summary["cases"]}
        denied = db.execute("SELECT v.detail FROM verdicts v JOIN cases c ON c.id = v.case_id "
                            "WHERE c.api = 'torch.load'").fetchone()[0]
        assert "unpickles data" in denied
    finally:
        db.close()
    again = seamfuzz("run", "--corpus", corpus, "--out", out, "--modes", modes, "--json",
                     "--jobs", "1")
    assert again.returncode == 0
    assert json.loads(again.stdout)["cases"] == summary["cases"]  # nothing run twice
