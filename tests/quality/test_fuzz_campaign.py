"""Fuzzing campaigns end to end, on real torch and tensorflow.

Planted bugs that only mutation reaches (the seed calls take contiguous
float32 inputs; :mod:`planted`'s ``strided_backend`` is wrong for
non-contiguous inputs and ``half_transform`` for float16 ones) must be
found, and the bug-free control backends in the same campaign must give no
discrepancy at all.  The campaign must also survive ``kill -9`` and
continue, produce the same cases for the same seed, and give the same
verdicts on Ray as on the local executor.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from miner import apiindex
from miner.records import LayoutKind, TensorSpec, iter_values
from runner.check import record_from_expression
from seamfuzz.executors import LocalExecutor
from seamfuzz.fuzz import FuzzSettings, build_mutator, fuzz
from seamfuzz.store import CampaignStore

HERE = os.path.dirname(os.path.abspath(__file__))

STRIDED = "torch.compile:backend=planted:strided_backend"
TORCH_CORRECT = "torch.compile:backend=planted:correct_backend"
HALF = "tf.function:transform=planted:half_transform"
TF_CORRECT = "tf.function:transform=planted:correct_transform"
BREAKING = {"value", "status", "dtype", "shape", "crash", "timeout"}


def _campaign(tmp_path, exprs, modes, mutants):
    index = apiindex.load_or_build()
    records = [record_from_expression(e, index) for e in exprs]
    settings = FuzzSettings(seed=3, mutants=mutants, round_size=8)
    with CampaignStore(tmp_path) as store, \
            LocalExecutor(jobs=1, timeout=120, log_dir=str(tmp_path)) as executor:
        mutator = build_mutator(records, index, settings)
        outcomes = list(fuzz(records, modes, store, executor, mutator, settings))
        rows = store._conn.execute(
            "SELECT c.id, c.origin, c.operators, v.target, v.kind FROM cases c "
            "JOIN verdicts v ON v.case_id = c.id").fetchall()
        cases = {c.id: c for c in store.cases()}
    return outcomes, rows, cases


def _inputs(record):
    return [x for v in record.values() for x in iter_values(v) if isinstance(x, TensorSpec)]


def test_a_torch_campaign_finds_the_layout_bug_and_nothing_on_the_correct_backend(tmp_path):
    exprs = ["torch.cumsum(torch.randn(4, 3), dim=0)", "torch.add(torch.randn(3, 5), "
             "torch.randn(3, 5))", "torch.tanh(torch.randn(2, 3, 4))"]
    modes = {"torch": ("torch.eager", STRIDED, TORCH_CORRECT)}
    outcomes, rows, cases = _campaign(tmp_path, exprs, modes, mutants=16)
    # --mutants is an upper bound: an index whose draws only repeat yields nothing.
    assert 3 + 3 * 12 <= len(cases) <= 3 + 3 * 16
    assert all(c.status == "done" for c in cases.values())
    found = {cid for cid, _, _, target, kind in rows if target == STRIDED and kind in BREAKING}
    control = [r for r in rows if r[3] == TORCH_CORRECT and r[4] in BREAKING]
    assert control == []
    assert found, "the layout bug was not found"
    for cid in found:
        # Every finding is a mutant with a non-contiguous input, and a value
        # difference (the planted bug nudges results silently).
        case = cases[cid]
        assert case.origin == "mutant"
        assert any(t.layout.kind is not LayoutKind.CONTIGUOUS for t in _inputs(case.record))
    kinds = {kind for cid, _, _, target, kind in rows if cid in found and target == STRIDED}
    assert kinds == {"value"}
    # Mutants that kept a contiguous layout never break the planted backend.
    for cid, origin, _, target, kind in rows:
        if target == STRIDED and all(t.layout.kind is LayoutKind.CONTIGUOUS
                                     for t in _inputs(cases[cid].record)):
            assert kind not in BREAKING, cases[cid].record


def test_a_tensorflow_campaign_finds_the_float16_bug_and_nothing_on_the_correct_transform(
        tmp_path):
    exprs = ["tf.math.cumsum(tf.random.normal([4, 3]), axis=0)",
             "tf.nn.relu(tf.random.normal([2, 5]))"]
    modes = {"tensorflow": ("tf.eager", HALF, TF_CORRECT)}
    outcomes, rows, cases = _campaign(tmp_path, exprs, modes, mutants=24)
    found = {cid for cid, _, _, target, kind in rows if target == HALF and kind in BREAKING}
    assert [r for r in rows if r[3] == TF_CORRECT and r[4] in BREAKING] == []
    assert found, "the float16 bug was not found"
    for cid in found:
        assert any(t.dtype == "float16" for t in _inputs(cases[cid].record))


# ---------------------------------------------------------------------------
# The command: JSON, kill -9 and resume, determinism, Ray
# ---------------------------------------------------------------------------


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    return env


def seamfuzz(*args, **kw):
    return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                          capture_output=True, text=True, env=_env(), timeout=900, **kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    src = d / "calls.py"
    src.write_text("import torch\n"
                   "x = torch.randn(4, 3)\n"
                   "torch.cumsum(x, dim=1)\n"
                   "torch.abs(torch.randn(5))\n"
                   "torch.abs(torch.randn(2, 2))\n"
                   "torch.softmax(torch.randn(3, 4), dim=-1)\n")
    out = d / "corpus.sqlite"
    done = seamfuzz("mine", src, "--out", out, "--jobs", "1")
    assert done.returncode == 0, done.stderr
    return out


def _results(directory):
    with sqlite3.connect(os.path.join(directory, "campaign.sqlite")) as db:
        cases = dict(db.execute("SELECT id, status FROM cases"))
        verdicts = {(cid, t): (k, d) for cid, t, k, d in db.execute(
            "SELECT case_id, target, kind, detail FROM verdicts")}
    return cases, verdicts


FUZZ = ["--modes", TORCH_CORRECT, "--mutants", "30", "--seed", "5"]


def test_fuzz_json_is_one_object_of_the_documented_shape(tmp_path, corpus):
    done = seamfuzz("fuzz", "--corpus", corpus, "--api", "torch.abs", "--mutants", "6",
                    "--modes", STRIDED, "--jobs", "1", "--out", tmp_path / "c", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"cases", "valid", "seconds", "boundaries", "apis"}
    assert 2 + 3 <= out["cases"] <= 2 + 6 and 0 <= out["valid"] <= out["cases"]
    assert set(out["apis"]) == {"torch.abs"}
    assert set(out["apis"]["torch.abs"]) == {"cases", "valid", "discrepancies"}
    assert list(out["boundaries"]) == [f"torch.eager -> {STRIDED}"]


def test_kill_9_then_rerun_finishes_every_case_once_and_loses_nothing(tmp_path, corpus):
    a = tmp_path / "a"
    cmd = [sys.executable, "-m", "seamfuzz", "fuzz", "--corpus", str(corpus), *FUZZ,
           "--jobs", "1", "--out", str(a)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    db = a / "campaign.sqlite"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if db.exists():
                cases, _ = _results(a)
                if sum(s == "done" for s in cases.values()) >= 20:
                    break
            assert proc.poll() is None, "the campaign ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before_cases, before_verdicts = _results(a)
    assert "pending" in before_cases.values()
    rerun = seamfuzz("fuzz", "--corpus", corpus, *FUZZ, "--jobs", "1", "--out", a)
    assert rerun.returncode == 0, rerun.stderr
    after_cases, after_verdicts = _results(a)
    assert set(after_cases.values()) == {"done"}
    done_before = {c for c, s in before_cases.items() if s == "done"}
    for key, value in before_verdicts.items():  # nothing stored was lost or rewritten
        assert after_verdicts[key] == value
    assert all((c, TORCH_CORRECT) in after_verdicts for c in after_cases)
    assert done_before < set(after_cases)
    # The same command run in one go makes exactly the same cases.
    b = tmp_path / "b"
    fresh = seamfuzz("fuzz", "--corpus", corpus, *FUZZ, "--jobs", "1", "--out", b)
    assert fresh.returncode == 0, fresh.stderr
    fresh_cases, fresh_verdicts = _results(b)
    assert set(fresh_cases) == set(after_cases)
    assert {k: v[0] for k, v in fresh_verdicts.items()} == \
        {k: v[0] for k, v in after_verdicts.items()}


def test_the_ray_executor_gives_the_local_executors_results(tmp_path, corpus):
    pytest.importorskip("ray")
    args = ["fuzz", "--corpus", corpus, "--api", "torch.cumsum", "torch.softmax",
            "--modes", f"{STRIDED},{TORCH_CORRECT}", "--mutants", "12", "--seed", "9",
            "--jobs", "2"]
    local = seamfuzz(*args, "--out", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    ray_run = seamfuzz(*args, "--executor", "ray", "--out", tmp_path / "ray")
    assert ray_run.returncode == 0, ray_run.stderr
    local_cases, local_verdicts = _results(tmp_path / "local")
    ray_cases, ray_verdicts = _results(tmp_path / "ray")
    assert set(ray_cases) == set(local_cases) and set(ray_cases.values()) == {"done"}
    assert {k: v[0] for k, v in ray_verdicts.items()} == \
        {k: v[0] for k, v in local_verdicts.items()}
    assert any(v[0] == "value" for v in local_verdicts.values())


def test_fuzz_rejects_bad_arguments_in_one_line(tmp_path, corpus):
    for args, message in (
            (["--mutants", "-1"], "--mutants must be >= 0"),
            (["--seconds", "-5"], "--seconds must be >= 0"),
            (["--ray-address", "auto"], "--ray-address needs --executor ray"),
            (["--api", "torch.nothing_like_this"], "no records match"),
            (["--modes", "torch.bogus"], "unknown mode")):
        done = seamfuzz("fuzz", "--corpus", corpus, "--out", tmp_path / "x", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


NAIVE_SOFTMAX = "torch.onnx:transform=planted:naive_softmax_onnx"
STABLE_SOFTMAX = "torch.onnx:transform=planted:stable_softmax_onnx"


def test_an_onnx_graph_rewrite_wrong_only_for_large_inputs_is_found_and_its_fix_is_quiet(
        tmp_path):
    # The seeds draw normal values, where exp(x) / sum(exp(x)) is right;
    # only the mutator's special and extreme values overflow it.
    exprs = ["torch.softmax(torch.randn(4, 5), dim=-1)",
             "torch.nn.functional.softmax(torch.randn(2, 3, 4), dim=1)"]
    modes = {"torch": ("torch.eager", NAIVE_SOFTMAX, STABLE_SOFTMAX)}
    outcomes, rows, cases = _campaign(tmp_path, exprs, modes, mutants=16)
    found = [(cid, kind) for cid, origin, _, target, kind in rows
             if target == NAIVE_SOFTMAX and kind in BREAKING]
    assert found, "the planted ONNX rewrite was not found"
    assert all(cases[cid].origin == "mutant" for cid, _ in found)
    assert not [r for r in rows if r[3] == STABLE_SOFTMAX and r[4] in BREAKING], \
        "the correct rewrite gave discrepancies"
    # Every rewrite ran: the transform is not filed as a limit or an error.
    assert not [r for r in rows if r[4] in ("internal", "unsupported")
                and cases[r[0]].origin == "mined"]
