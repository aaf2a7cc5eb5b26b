"""Schemas, resolution and synthesis end to end, on real torch and tensorflow.

Real-looking model code whose tensors come from parameters must resolve to
calls the library accepts, with the sizes the code fixes (a convolution's
weight, a Linear's ``in_features``) and each filled value's origin kept.
Planted bugs behind an overload no record mentions (``keepdim=True`` of
``torch.sum``) and behind an API with no record at all
(``tf.math.floormod``) must be found, and their clean controls stay quiet.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys

import pytest

from miner import apiindex
from miner.records import CallRecord, TensorSpec, iter_values
from miner.schema import ArgKind, collect_schemas
from miner.store import CorpusStore
from runner.check import record_from_expression
from seamfuzz.executors import LocalExecutor
from seamfuzz.fuzz import FuzzSettings, build_mutator, fuzz
from seamfuzz.resolving import resolve_corpus
from seamfuzz.store import CampaignStore

HERE = os.path.dirname(os.path.abspath(__file__))
BREAKING = {"value", "status", "dtype", "shape", "crash", "timeout"}

MODEL = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        h = F.relu(self.conv(x))
        h = torch.flatten(h, 1)
        return self.fc(h)


def stem(x):
    return F.conv2d(x, torch.randn(8, 5, 3, 3))


def pooled(x):
    values, indices = torch.max(x, dim=1)
    return torch.sum(values, dim=0)
'''


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    return env


def seamfuzz(*args):
    return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                          capture_output=True, text=True, env=_env(), timeout=900)


def _tensors(v):
    return [x for x in iter_values(v) if isinstance(x, TensorSpec)]


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    (d / "model.py").write_text(MODEL)
    store = d / "corpus.sqlite"
    done = seamfuzz("mine", d / "model.py", "--out", store, "--jobs", "1")
    assert done.returncode == 0, done.stderr
    with CorpusStore(store) as corpus:
        before = list(corpus.records())
        summary = resolve_corpus(corpus, jobs=1)
        after = list(corpus.records(resolved=True))
    return before, after, summary, store


def _one(records, api):
    (r,) = [r for r in records if r.api == api]
    return r


def test_model_code_resolves_with_the_sizes_the_code_fixes(resolved):
    before, after, summary, _ = resolved
    assert len(before) == len(after)
    assert summary.unknown == sum(1 for r in before if r.api != "torch.randn")
    assert summary.solved == summary.unknown, summary.reasons
    # The convolution's input takes its channels from the weight (5 in, 8 out).
    conv = _one(after, "torch.conv2d")
    x, w = conv.args
    assert w.shape == (8, 5, 3, 3) and len(x.shape) == 4 and x.shape[1] == 5
    assert conv.origins == (("args[0]", "shape-solved"),)
    # The module's constructor fixes its input: Conv2d(3, ...) takes 3 channels.
    (x,) = _one(after, "torch.nn.Conv2d").args
    assert len(x.shape) == 4 and x.shape[1] == 3
    # Linear(128, 10) applied to flatten(relu(h), 1): the chain is solved as a
    # whole, so that the flattened features are 128.
    linear = _one(after, "torch.nn.Linear")
    (flat,) = linear.args
    assert flat.api == "torch.flatten"
    (h,) = _tensors(flat)
    assert len(h.shape) >= 2 and math.prod(h.shape[1:]) == 128
    assert dict(linear.origins) == {"args[0]/0/0": "flowed"}
    # A value unpacked from a tuple the library returned is filled too.
    total = _one(after, "torch.sum")
    assert isinstance(total.args[0], TensorSpec) and len(total.args[0].shape) >= 1
    # Fully mined records keep no origins.
    assert _one(after, "torch.randn").origins == ()


def test_resolved_records_run_valid_and_a_second_resolve_reuses_the_results(
        resolved, tmp_path):
    _, after, _, store = resolved
    done = seamfuzz("run", "--corpus", store, "--modes", "torch.compile:backend=eager",
                    "--jobs", "1", "--out", tmp_path / "run", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["valid"] == out["cases"] == len({r.id for r in after})
    again = seamfuzz("resolve", "--corpus", store, "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["solved_now"] == 0 and summary["solved"] == summary["unknown"]


def test_schemas_know_every_overload_and_the_op_behind_a_tf_wrapper():
    got = collect_schemas([("torch.sum", "torch", "function"),
                           ("tf.math.floormod", "tensorflow", "function")])
    overloads = {o.name: o for o in got[("torch.sum", "function")].overloads}
    dim = overloads["aten::sum.dim_IntList"]
    assert [a.name for a in dim.args] == ["self", "dim", "keepdim", "dtype"]
    assert dim.arg("dim").kind is ArgKind.INT_LIST and dim.arg("dim").length == 1
    assert dim.arg("keepdim").has_default and dim.arg("dtype").keyword_only
    (floormod,) = got[("tf.math.floormod", "function")].overloads
    x = floormod.arg("x")
    assert x.kind is ArgKind.TENSOR and "float32" in x.dtypes and "int32" in x.dtypes
    assert "string" not in x.dtypes


def _campaign(tmp_path, exprs, modes, mutants):
    index = apiindex.load_or_build()
    records = [record_from_expression(e, index) for e in exprs]
    settings = FuzzSettings(seed=3, mutants=mutants, round_size=8)
    with CampaignStore(tmp_path) as store, \
            LocalExecutor(jobs=1, timeout=120, log_dir=str(tmp_path)) as executor:
        mutator = build_mutator(records, index, settings)
        list(fuzz(records, modes, store, executor, mutator, settings))
        rows = store._conn.execute(
            "SELECT c.id, v.target, v.kind FROM cases c "
            "JOIN verdicts v ON v.case_id = c.id").fetchall()
        cases = {c.id: c for c in store.cases()}
    return rows, cases


KEEPDIM = "torch.compile:backend=planted:keepdim_sum_backend"
TORCH_CORRECT = "torch.compile:backend=planted:correct_backend"


def test_a_bug_behind_keepdim_is_found_from_calls_that_never_pass_it(tmp_path):
    exprs = ["torch.sum(torch.randn(3, 4))", "torch.sum(torch.randn(2, 3, 5))"]
    rows, cases = _campaign(tmp_path, exprs, {"torch": ("torch.eager", KEEPDIM, TORCH_CORRECT)},
                            mutants=40)
    found = {cid for cid, target, kind in rows if target == KEEPDIM and kind in BREAKING}
    assert found, "the keepdim bug was not found"
    for cid in found:
        kwargs = dict(cases[cid].record.kwargs)
        assert kwargs.get("keepdim") is not None and kwargs["keepdim"].value is True
        assert "signature.overload" in cases[cid].operators
    # Every valid case with keepdim=True breaks the planted backend; no other does.
    for cid, target, kind in rows:
        if target == KEEPDIM and kind == "agree":
            kw = dict(cases[cid].record.kwargs)
            assert "keepdim" not in kw or kw["keepdim"].value is not True
    assert not [r for r in rows if r[1] == TORCH_CORRECT and r[2] in BREAKING]


FLOORMOD = "tf.function:transform=planted:floormod_transform"
TF_CORRECT = "tf.function:transform=planted:correct_transform"


def test_a_bug_in_an_api_nobody_called_is_found_from_synthesized_cases(tmp_path):
    src = tmp_path / "calls.py"
    src.write_text("import tensorflow as tf\ntf.abs(tf.constant([1.0, -2.0]))\n")
    store = tmp_path / "corpus.sqlite"
    assert seamfuzz("mine", src, "--out", store, "--jobs", "1").returncode == 0
    out = tmp_path / "campaign"
    done = seamfuzz("fuzz", "--corpus", store, "--api", "tf.math.floormod", "--modes",
                    f"{FLOORMOD},{TF_CORRECT}", "--mutants", "6", "--jobs", "1",
                    "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["apis"]) == {"tf.math.floormod"}
    with sqlite3.connect(out / "campaign.sqlite") as db:
        rows = db.execute("SELECT c.origin, c.record, v.target, v.kind FROM cases c "
                          "JOIN verdicts v ON v.case_id = c.id").fetchall()
    synthesized = [r for r in rows if r[0] == "mined"]
    assert synthesized, "no synthesized seed ran"
    for _, record, _, _ in synthesized:
        assert CallRecord.from_json(json.loads(record)).synthesized
    assert any(t == FLOORMOD and k in BREAKING for _, _, t, k in synthesized)
    assert not [r for r in rows if r[2] == TF_CORRECT and r[3] in BREAKING]


def test_an_api_with_nothing_mined_or_known_is_refused_in_one_line(tmp_path):
    src = tmp_path / "calls.py"
    src.write_text("import torch\ntorch.abs(torch.randn(3))\n")
    store = tmp_path / "corpus.sqlite"
    assert seamfuzz("mine", src, "--out", store, "--jobs", "1").returncode == 0
    done = seamfuzz("fuzz", "--corpus", store, "--api", "torch.no_such_api", "--out",
                    tmp_path / "c", "--mutants", "1")
    assert done.returncode == 2
    assert "no records match" in done.stderr
