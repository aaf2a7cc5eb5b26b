"""The HTML report in a real browser: headless Chromium loads it from disk,
runs its script without errors, shows every cluster and chart, and renders
a non-trivial screenshot.

Skipped only when no Chromium binary is installed (Debian: ``apt-get
install chromium``; ``.ci/run`` installs it).  The report is built from
realistic findings through the whole triage pipeline (signature, cluster,
known issues, rows), so this is also an end-to-end test of that pipeline.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from miner.records import CallKind, CallRecord, DType, Literal, Seq, TensorSpec
from runner.observation import ArrayLeaf, Observation, Outcome, ScalarLeaf, SeqNode
from triage.cluster import cluster
from triage.known import parse_known
from triage.report import ReportData, Totals, row_for, write_report
from triage.signature import Finding

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome", "chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary found")

TORCH_REF = "torch.eager"
TF_REF = "tf.eager"
COMPILE = "torch.compile"
AOT = "torch.compile:backend=aot_eager"
XLA = "tf.xla"


def _arr(values, dtype: str = "float32") -> ArrayLeaf:
    return ArrayLeaf.from_numpy(np.array(values, dtype=dtype))


def _ret(mode: str, node) -> Observation:
    return Observation(mode, Outcome.RETURNED, node, seconds=0.01)


def _raised(mode: str, etype: str, msg: str) -> Observation:
    return Observation(mode, Outcome.RAISED, error_type=etype, error_message=msg)


def _rec(api: str, fw: str, shape: tuple[int, ...], dtype: str = "float32", **kw) -> CallRecord:
    return CallRecord(api, fw, args=(TensorSpec(fw, shape, dtype),),
                      kwargs=tuple((k, Literal(v)) for k, v in kw.items()))


def _findings() -> list[Finding]:
    out: list[Finding] = []

    def add(case, rec, ref, tgt, kind, detail, path="", target=COMPILE):
        reference = TORCH_REF if rec.framework == "torch" else TF_REF
        out.append(Finding(case, rec.api, rec.framework, rec, 1000 + len(out), reference,
                           target, kind, detail, path, ref, tgt))

    # Silent wrong values in torch.cumsum under inductor: three cases.
    for i, n in enumerate((4, 6, 9)):
        ref = _arr(np.arange(n) * 0.5)
        bad = np.arange(n) * 0.5
        bad[-1] = -bad[-1]
        add(f"cumsum{i}", _rec("torch.cumsum", "torch", (n,), dim=0), _ret(TORCH_REF, ref),
            _ret(COMPILE, _arr(bad)), "value", f"1 of {n} elements differ")
    # NaN where eager is finite, in a tuple output.
    add("sort0", _rec("torch.sort", "torch", (3, 5), dim=-1),
        _ret(TORCH_REF, SeqNode("namedtuple:sort", (_arr([0.1, 0.2]), _arr([1, 0], "int64")))),
        _ret(COMPILE, SeqNode("tuple", (_arr([0.1, np.nan]), _arr([1, 0], "int64")))),
        "value", "[0]: NaN/inf mismatch", path="[0]")
    # A crash of the compiled mode.
    crash_rec = CallRecord("torch.nn.functional.embedding_bag", "torch",
                           args=(TensorSpec("torch", (2, 3), "int64"),
                                 TensorSpec("torch", (10, 4), "float32")),
                           kwargs=(("mode", Literal("max")),))
    add("emb0", crash_rec, _ret(TORCH_REF, _arr([[1.0]])),
        Observation(COMPILE, Outcome.CRASHED, detail="killed by signal 11"),
        "crash", "target crashed (killed by signal 11) where the reference returned")
    # A dtype difference on the aot_eager backend.
    add("mean0", _rec("torch.mean", "torch", (2, 2), "float16", keepdim=True),
        _ret(TORCH_REF, _arr([1.0], "float16")), _ret(AOT, _arr([1.0], "float32")),
        "dtype", "dtype float16 vs float32", target=AOT)
    # A status difference: the compiled mode raises on a valid input.
    msg = ("backend='inductor' raised:\nLoweringException: AssertionError: size mismatch "
           "[4, 3] vs [3]\n\nSet TORCH_LOGS=\"+dynamo\" and TORCHDYNAMO_VERBOSE=1")
    for i in range(2):
        add(f"bmm{i}", _rec("torch.bmm", "torch", (2, 4, 3)),
            _ret(TORCH_REF, _arr([[1.0]])),
            _raised(COMPILE, "torch._dynamo.exc.BackendCompilerFailed",
                    msg.replace("4", str(4 + i))),
            "status", "target raised BackendCompilerFailed")
    # TensorFlow under XLA: a shape difference and an int value difference.
    add("tfred0", _rec("tf.math.reduce_max", "tensorflow", (2, 3), axis=1),
        _ret(TF_REF, _arr([1.0, 2.0])), _ret(XLA, _arr([[1.0, 2.0]])),
        "shape", "shape (2,) vs (1, 2)", target=XLA)
    add("tfcum0", _rec("tf.math.cumsum", "tensorflow", (5,), "int32", exclusive=True),
        _ret(TF_REF, _arr([0, 1, 3], "int32")), _ret(XLA, _arr([0, 1, 4], "int32")),
        "value", "1 of 3 elements differ", target=XLA)
    # A long call, to check wrapping.
    long_rec = CallRecord(
        "torch.nn.Conv2d", "torch", kind=CallKind.MODULE,
        init_args=(Literal(3), Literal(16), Literal(3)),
        init_kwargs=(("padding", Literal("same")),
                     ("dilation", Seq("tuple", (Literal(2), Literal(2)))),
                     ("dtype", DType("torch", "float64"))),
        args=(TensorSpec("torch", (1, 3, 32, 32), "float64"),))
    add("conv0", long_rec, _ret(TORCH_REF, _arr([0.5, 0.25], "float64")),
        _ret(COMPILE, _arr([0.5, 0.2500019], "float64")), "value", "1 of 2 elements differ")
    add("item0", _rec("torch.Tensor.item", "torch", ()),
        _ret(TORCH_REF, ScalarLeaf(1.5)), _ret(COMPILE, ScalarLeaf(2.5)), "value", "ref 1.5")
    return out


# Planted in the settings: if escaping failed, this would mark the body.
PLANTED = ('<script>document.body.dataset.pwned = "1"</script>'
           '"><img src=x onerror="document.body.dataset.pwned = 2">')

KNOWN = """
[[known]]
reason = "XLA keeps a reduced dimension (reported upstream)"
link = "https://github.com/tensorflow/tensorflow/issues/1"
api = "tf.math.reduce_*"
target = "tf.xla*"
kind = "shape"
"""


def report_data() -> ReportData:
    clusters = cluster(_findings())
    known = parse_known(KNOWN, "known.toml")
    axes = {"value": "backend", "crash": "", "status": "dynamic", "dtype": "dtype"}
    rows = [row_for(c, axis=axes.get(c.kind, ""), repro=f"repros/{c.id}.py",
                    known=known.match(c)) for c in clusters]
    return ReportData(
        title="seamfuzz campaign nightly-cpu",
        settings={"apis": ["torch.cumsum", "torch.sort", "tf.math.cumsum"], "seed": 1234,
                  "modes": "torch.compile,torch.compile:backend=aot_eager,tf.xla",
                  "budget": "10 min", "jobs": 4, "note": PLANTED},
        versions={"torch": "2.4.1+cpu", "tensorflow": "2.16.2", "python": "3.11.7",
                  "seamfuzz": "0.1.0"},
        device="CPU: 16 cores (x86_64)",
        totals=Totals(apis=212, cases=4810, valid=3911,
                      frameworks={"torch": (2402, 2900), "tensorflow": (1509, 1910)}),
        boundaries={
            f"{TORCH_REF} -> {COMPILE}": {"agree": 2210, "value": 6, "status": 2, "crash": 1,
                                          "invalid": 498, "unsupported": 64,
                                          "nondeterministic": 19},
            f"{TORCH_REF} -> {AOT}": {"agree": 2390, "dtype": 1, "invalid": 498, "skipped": 11},
            f"{TF_REF} -> {XLA}": {"agree": 1420, "shape": 1, "value": 1, "invalid": 401,
                                   "unsupported": 87, "timeout": 2},
        },
        clusters=rows,
        generated="2024-06-01 12:00 UTC",
    )


def _chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
           "--user-data-dir=" + args[0], *args[1:]]
    env = dict(os.environ, HOME=args[0])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportData]:
    out = tmp_path_factory.mktemp("report")
    data = report_data()
    write_report(data, out)
    return out, data


def test_dom_has_content_and_script_ran(rendered, tmp_path) -> None:
    out, data = rendered
    page = (out / "report.html").resolve()
    done = _chromium(str(tmp_path / "profile"), "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-ready="1"' in dom, "the page's script did not run to its end"
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    assert "Content Security Policy" not in done.stderr, done.stderr[-2000:]
    assert dom.count("<svg") >= 2
    assert "of " in dom and " shown" in dom  # the filter's counter was filled in
    for row in data.clusters:
        assert f'id="c-{row.id}"' in dom
        assert row.api in dom
    assert "XLA keeps a reduced dimension" in dom
    assert "pwned" in dom and "data-pwned" not in dom  # shown as text, never run
    assert "repros/" in dom


def test_screenshot_renders(rendered, tmp_path) -> None:
    out, _ = rendered
    shot = out / "report.png"
    done = _chromium(str(tmp_path / "profile"), f"--screenshot={shot}",
                     "--window-size=1400,1800", "--hide-scrollbars",
                     (out / "report.html").resolve().as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file(), done.stderr[-2000:]
    assert _png_size(shot) == (1400, 1800)
    # A blank page compresses to a few KB; a rendered report is far larger.
    assert shot.stat().st_size > 30_000
    keep = os.environ.get("SEAMFUZZ_REPORT_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copyfile(shot, keep)
