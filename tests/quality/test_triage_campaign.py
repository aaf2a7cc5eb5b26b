"""Triage on real runs: the axis that flips a result, shrinking, and the
whole chain fuzz -> triage -> report -> replay on a planted bug.

Attribution runs the real modes: a real torch.compile bug (torch's own
MultiLabelMarginLoss docs example, wrong under aot_eager and inductor) must
be pinned on AOTAutograd, TF's reduce_max dropping NaN on XLA (tf.function
agrees), and the planted ``strided_backend`` on the plug-in backend, only
for non-contiguous inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from miner import apiindex
from miner.records import LayoutKind, TensorSpec, iter_values
from runner.check import record_from_expression
from seamfuzz.executors import LocalExecutor
from seamfuzz.triaging import make_probe
from triage.attribute import attribute
from triage.probe import ProbeCase, finding_of
from triage.shrink import shrink, size
from triage.signature import signature

HERE = os.path.dirname(os.path.abspath(__file__))
STRIDED = "torch.compile:backend=planted:strided_backend"


@pytest.fixture(scope="module")
def index():
    return apiindex.load_or_build()


@pytest.fixture(scope="module")
def executor(tmp_path_factory):
    with LocalExecutor(jobs=2, timeout=300,
                       log_dir=str(tmp_path_factory.mktemp("logs"))) as ex:
        yield ex


def _finding(expr, modes, index, executor):
    record = record_from_expression(expr, index)
    case = ProbeCase(record, 0, modes)
    (result,) = make_probe(executor)([case])
    found = finding_of(case, result, modes[1], case_id="c0")
    assert found is not None, result.verdicts
    return found


def test_a_real_torch_compile_bug_is_pinned_on_aot_autograd(index, executor):
    f = _finding("torch.nn.MultiLabelMarginLoss()(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), "
                 "torch.tensor([[3, 0, -1, 1]]))", ("torch.eager", "torch.compile"), index,
                 executor)
    att = attribute(f, make_probe(executor))
    probes = dict(att.probes)
    assert probes["torch.compile:backend=eager"] == "agree"
    assert probes["torch.compile:backend=aot_eager"] == "value"
    assert att.axis.split("+")[0] == "aot_autograd", att


def test_reduce_max_dropping_nan_is_pinned_on_xla(index, executor):
    f = _finding("tf.math.reduce_max(tf.constant([1.0, float('nan'), 4.0]))",
                 ("tf.eager", "tf.xla"), index, executor)
    att = attribute(f, make_probe(executor))
    assert dict(att.probes)["tf.function"] == "agree"
    assert att.axis.split("+")[0] == "xla", att


def test_a_layout_bug_is_pinned_on_the_backend_and_layout_and_shrinks(index, executor):
    f = _finding("torch.cumsum(torch.randn(6, 5).T, dim=1)", ("torch.eager", STRIDED), index,
                 executor)
    probe = make_probe(executor)
    att = attribute(f, probe)
    assert att.axis.split("+")[0] == "backend" and "layout" in att.axis.split("+"), att
    result = shrink(f, probe, seconds=120)
    assert result.kept > 0 and size(result.record) < size(f.record)
    assert result.finding is not None
    assert signature(result.finding).key == signature(f).key
    (spec,) = [x for v in result.record.values() for x in iter_values(v)
               if isinstance(x, TensorSpec)]
    # The non-contiguous layout is what matters, so it stays; the rest shrinks.
    assert spec.layout.kind is not LayoutKind.CONTIGUOUS
    assert spec.numel < 30


# ---------------------------------------------------------------------------
# fuzz -> triage -> report -> replay, through the command line
# ---------------------------------------------------------------------------


def seamfuzz(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=900)


def test_fuzz_triage_report_replay_on_a_planted_bug(tmp_path):
    src = tmp_path / "calls.py"
    src.write_text("import torch\n"
                   "torch.cumsum(torch.randn(4, 3), dim=1)\n"
                   "torch.tanh(torch.randn(3, 5))\n")
    corpus = tmp_path / "corpus.sqlite"
    assert seamfuzz("mine", src, "--out", corpus, "--jobs", "1").returncode == 0
    out = tmp_path / "campaign"
    done = seamfuzz("fuzz", "--corpus", corpus, "--modes", STRIDED, "--mutants", "24",
                    "--seed", "2", "--jobs", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    known = tmp_path / "known.toml"
    known.write_text('[[known]]\napi = "torch.tanh"\nreason = "planted on purpose"\n')
    tri = seamfuzz("triage", out, "--shrink-seconds", "20", "--known", known, "--json")
    assert tri.returncode == 0, tri.stderr
    summary = json.loads(tri.stdout)
    assert summary["clusters"] >= 1 and summary["findings"] >= summary["clusters"]
    assert summary["dedup_ratio"] == round(summary["findings"] / summary["clusters"], 2)
    rep = seamfuzz("report", out, "--json")
    assert rep.returncode == 0, rep.stderr
    clusters = json.loads(rep.stdout)
    assert clusters == json.loads((out / "clusters.json").read_text())
    for c in clusters:
        assert {"id", "api", "kind", "reference", "target", "axis", "cases", "signature",
                "repro", "known", "example"} <= set(c)
        assert c["target"] == STRIDED and c["kind"] == "value"
        assert c["axis"].startswith("backend") and "layout" in c["axis"]
        assert c["known"] == (c["api"] == "torch.tanh")
        assert c["repro"] and (out / c["repro"]).exists()
    html = (out / "report.html").read_text()
    assert all(c["id"] in html for c in clusters)
    md = seamfuzz("report", out)
    assert md.returncode == 0 and "report.html" in md.stdout
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    replay = subprocess.run([sys.executable, "-m", "seamfuzz", "replay", str(out / "repros"),
                             "--json"], capture_output=True, text=True, env=env, timeout=900)
    assert replay.returncode == 1, replay.stderr  # 1: something still reproduces
    statuses = {r["status"] for r in json.loads(replay.stdout)}
    assert statuses == {"reproduces"}, replay.stdout
