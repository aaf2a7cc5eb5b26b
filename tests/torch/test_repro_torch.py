"""torch reproducers (:mod:`triage.repro`): a real torch.compile bug, a
correct call, planted plug-in backends, and scripts that observe exactly what
the worker observed.

Scripts whose exit status is the point run in a subprocess through
:func:`triage.replay.replay_one` (as ``seamfuzz replay`` runs them); the
others are imported here and their ``run()`` / ``main()`` called, which
saves a torch import per script.  Compiled modes use ``aot_eager`` or a
plug-in backend: no inductor compiles.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from infra.errors import InvalidArgument
from miner.records import (
    ApiRef,
    Arange,
    CallKind,
    CallRecord,
    Constructed,
    Data,
    DType,
    Empty,
    Eye,
    Fill,
    IntRange,
    Layout,
    LayoutKind,
    Linspace,
    Literal,
    Normal,
    Seq,
    Special,
    TensorSpec,
    Uniform,
    Unknown,
)
from runner.dispatch import run_cases
from runner.execute import CaseTask
from runner.observation import Outcome
from runner.outputs import to_node
from triage.replay import ReplayStatus, replay_one
from triage.repro import (
    Observed,
    ReproUnsupported,
    Stamp,
    render_repro,
    write_repro,
)

EAGER = "torch.eager"
AOT = "torch.compile:backend=aot_eager"

PLANTED = '''\
"""Plug-in backends for reproducer tests."""
import torch


def add_one(gm, example_inputs):
    """Wrong on purpose: every floating output plus one."""
    def run(*args):
        outs = gm.forward(*args)
        return type(outs)(o + 1 if isinstance(o, torch.Tensor) and o.is_floating_point() else o
                          for o in outs)
    return run


def correct(gm, example_inputs):
    return gm.forward


def abort(gm, example_inputs):
    """Kills the process when the compiled graph runs."""
    def run(*args):
        import os
        os.abort()
    return run
'''


def tensor(shape, dtype="float32", init=None, layout=None, **kw) -> TensorSpec:
    return TensorSpec("torch", tuple(shape), dtype, init if init is not None else Normal(),
                      layout if layout is not None else Layout(), **kw)


def fn_record(api: str, *args, kind=CallKind.FUNCTION, **kwargs) -> CallRecord:
    return CallRecord(api=api, framework="torch", kind=kind, args=args,
                      kwargs=tuple(kwargs.items()))


MLML = CallRecord(
    api="torch.nn.MultiLabelMarginLoss", framework="torch", kind=CallKind.MODULE,
    args=(tensor((1, 4), init=Data((0.1, 0.2, 0.4, 0.8))),
          tensor((1, 4), "int64", Data((3, 0, -1, 1)))))
CUMSUM = fn_record("torch.cumsum", tensor((3, 4), layout=Layout(LayoutKind.PERMUTED, (1, 0))),
                   dim=Literal(1))
SIN = fn_record("torch.sin", tensor((2, 3), init=Uniform(-1.0, 1.0)))


@pytest.fixture
def threads():
    """A script's main() sets torch's thread count; put it back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A plug-in backend module in tmp_path, importable by subprocesses
    (PYTHONPATH) and here (sys.path); returns its module name."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "planted_repro_backends.py").write_text(PLANTED)
    monkeypatch.setenv("PYTHONPATH", str(lib))
    monkeypatch.syspath_prepend(str(lib))
    return "planted_repro_backends"


def load(path: Path) -> ModuleType:
    """Import a reproducer without running its main()."""
    spec = importlib.util.spec_from_file_location(f"repro_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def check_text(text: str) -> None:
    compile(text, "<repro>", "exec")


# ---------------------------------------------------------------------------
# Exit status, in a subprocess
# ---------------------------------------------------------------------------


def test_multilabel_margin_loss_bug_reproduces(tmp_path: Path) -> None:
    # A real torch.compile bug: eager 0.85, aot_eager 2.05.
    path = write_repro(tmp_path / "repros", "mlml", MLML, 0, EAGER, AOT, "value",
                       observed=Observed("returned tensor(0.8500)", "returned tensor(2.0500)"),
                       stamp=Stamp({"torch": torch.__version__, "numpy": np.__version__}, "cpu",
                                   "seamfuzz fuzz --modes torch.eager,"
                                   "torch.compile:backend=aot_eager"))
    assert path == tmp_path / "repros" / "mlml.py"
    text = path.read_text()
    check_text(text)
    # The worker's own code, not a second implementation of it.
    assert "# seamfuzz module runner.call, embedded verbatim" in text
    assert "class TorchCompile(TorchEager):" in text
    assert "REFERENCE = ModeSpec('torch.eager', 'torch', ())" in text
    result = replay_one(path, timeout=300)
    assert result.status is ReplayStatus.REPRODUCES, result.detail
    assert result.detail.startswith("REPRODUCES: value discrepancy: out:")


def test_a_limit_the_target_declares_is_not_a_discrepancy_in_a_reproducer(
        tmp_path: Path) -> None:
    # torch.export cannot return a module; the worker files it unsupported,
    # and so must a reproducer of a status "discrepancy" written before the
    # limit was declared.
    linear = fn_record("torch.nn.Linear", Literal(1), Literal(1))
    path = write_repro(tmp_path, "linear", linear, 0, EAGER, "torch.export", "status")
    result = replay_one(path, timeout=300)
    assert result.status is ReplayStatus.FIXED, result.detail
    assert "declares this a limit of its own" in result.detail


def test_correct_call_does_not_reproduce(tmp_path: Path) -> None:
    path = write_repro(tmp_path, "cumsum", CUMSUM, 0, EAGER, AOT, "value")
    result = replay_one(path, timeout=300)
    assert result.status is ReplayStatus.FIXED, result.detail


def test_planted_backend_reproduces_and_correct_one_does_not(tmp_path: Path,
                                                              planted: str) -> None:
    wrong = write_repro(tmp_path, "wrong", SIN, 3, EAGER,
                        f"torch.compile:backend={planted}:add_one", "value")
    good = write_repro(tmp_path, "good", SIN, 3, EAGER,
                       f"torch.compile:backend={planted}:correct", "value")
    assert replay_one(wrong, timeout=300).status is ReplayStatus.REPRODUCES
    assert replay_one(good, timeout=300).status is ReplayStatus.FIXED


@pytest.mark.slow
def test_crash_reproduces_in_a_child_process(tmp_path: Path, planted: str) -> None:
    target = f"torch.compile:backend={planted}:abort"
    path = write_repro(tmp_path, "crash", SIN, 0, EAGER, target, "crash", timeout=120)
    text = path.read_text()
    check_text(text)
    assert '[sys.executable, __file__, "--target"]' in text
    result = replay_one(path, timeout=300)
    assert result.status is ReplayStatus.REPRODUCES, result.detail
    assert "died" in result.detail


# ---------------------------------------------------------------------------
# The script observes what the worker observed, byte for byte
# ---------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
ADDRESS = re.compile(r"0x[0-9a-f]+")

#: Every init kind, every layout, dtypes numpy lacks, requires_grad, 0-d and
#: empty tensors, and every kind of record: function, method on its
#: receiver, module through functional_call, constructed arguments.
RECORDS = {
    "inits": fn_record(
        "torch.broadcast_tensors",
        tensor((8,), init=Data((NAN, -0.0, INF, -INF, 1e-45, 3.4028234663852886e38, 0.1, -1.5))),
        tensor((2, 4), "float16", Data((65504.0, -0.0, NAN, 6e-08, 0.1, 1 / 3, -2.0, 1e-3))),
        tensor((3,), "bfloat16", Data((NAN, -0.0, 1.00390625))),
        tensor((2,), "complex64", Data((complex(-0.0, NAN), complex(1.5, -INF)))),
        tensor((3,), "uint64", Data((0, 2**64 - 1, 7))),
        tensor((2, 2), "bool", IntRange(0, 2)),
        tensor((10, 10), "float64", Arange(0.5, 0.25)),
        tensor((9, 9), "int64", Fill(7)),
        tensor((100,), "float32", Linspace(-1.0, 1.0)),
        tensor((12, 12), "float32", Eye()),
        tensor((2, 3), "float8_e4m3fn", Data((0.5, NAN, 448.0, -0.0, 1.0, 2.0))),
        tensor((0, 3)),
        tensor(()),
        tensor((40, 40), "int16", Normal(0.0, 1e5)),
        tensor((16, 16), init=Special(("nan", "inf", "-0", "max", "denormal"), 0.2)),
        tensor((5,), "int8", Special(("max", "min", "nan"), 0.5)),
        tensor((10, 10), "bfloat16", Special(("huge", "-inf"), 0.3)),
        tensor((3,), "complex64", Special(("eps",), 1.0)),
    ),
    "list": fn_record("torch.cat", Seq("list", (tensor((2,), "int8", IntRange(-100, 100)),
                                                tensor((3,), "int8", Fill(3)))),
                      dim=Literal(0)),
    "layouts": fn_record(
        "torch.broadcast_tensors",
        tensor((3, 4), "int32", Arange(5, 3), Layout(LayoutKind.PERMUTED, (1, 0))),
        tensor((32, 32), "bfloat16", Normal(0.5, 2.0), Layout(LayoutKind.STRIDED, (1, 2))),
        tensor((4, 3), "float32", Empty(), Layout(LayoutKind.EXPANDED, (0,))),
        tensor((2, 3, 4, 5), "float32", Uniform(-1.0, 1.0), Layout(LayoutKind.CHANNELS_LAST)),
        tensor((2, 3), requires_grad=True),
    ),
    "module": CallRecord(api="torch.nn.Linear", framework="torch", kind=CallKind.MODULE,
                         init_args=(Literal(4), Literal(3)),
                         init_kwargs=(("dtype", DType("torch", "float32")),),
                         args=(tensor((2, 4)),)),
    "batchnorm": CallRecord(api="torch.nn.BatchNorm1d", framework="torch",
                            kind=CallKind.MODULE, init_args=(Literal(3),),
                            args=(tensor((4, 3), init=Uniform(-2.0, 2.0)),)),
    "method": fn_record("torch.Tensor.to",
                        tensor((3, 2), layout=Layout(LayoutKind.PERMUTED, (1, 0))),
                        kind=CallKind.METHOD, dtype=DType("torch", "float64")),
    "inplace": fn_record("torch.Tensor.add_", tensor((3, 2)), tensor((3, 2), init=Fill(2.5)),
                         kind=CallKind.METHOD),
    "constructed": fn_record("torch.add", tensor((2, 2)),
                             Constructed("torch.abs", (tensor((2, 2), init=Fill(-2.0)),)),
                             alpha=Literal(2)),
    "random": fn_record("torch.nn.functional.dropout", tensor((6, 6)), p=Literal(0.5)),
    "raises": fn_record("torch.cumsum", tensor((2, 2)), dim=Literal(5)),
}


def test_reproducer_observes_what_the_worker_observed(tmp_path: Path, threads) -> None:
    seed = 2024
    tasks = [CaseTask(name, rec, seed, (EAGER, AOT), checks=False)
             for name, rec in RECORDS.items()]
    worker = {task.case_id: result for task, result in run_cases(tasks, timeout=300)}
    for name, rec in RECORDS.items():
        script = load(write_repro(tmp_path, name, rec, seed, EAGER, AOT, "value"))
        for spec, seen in zip((script.REFERENCE, script.TARGET), worker[name].observations):
            out, inputs = script.run(spec)
            if isinstance(out, Exception):
                assert seen.outcome is Outcome.RAISED, (name, str(spec), out)
                # The same error (its first line: later lines name files and
                # object addresses, which differ between processes).
                first = ADDRESS.sub("0x", str(out)).splitlines()[0]
                assert ADDRESS.sub("0x", seen.error_message).splitlines()[0] == first, name
                continue
            assert seen.outcome is Outcome.RETURNED, (name, str(spec), seen)
            assert to_node(out) == seen.output, (name, str(spec))
            for index, node in seen.mutated:
                if index >= 0:  # module weights are numbered below 0
                    assert to_node(inputs[index]) == node, (name, index)
    assert worker["inplace"].observations[0].mutated, "an in-place write is observed"
    assert worker["raises"].observations[0].outcome is Outcome.RAISED


def test_status_and_dtype_checks(tmp_path: Path, planted: str, threads) -> None:
    # The reference raises (bad dim) and so does the target: a status
    # discrepancy of that kind counts as fixed, a value one as "other".
    bad = RECORDS["raises"]
    for kind, want in (("status", 0), ("value", 2)):
        path = write_repro(tmp_path, f"bad_{kind}", bad, 0, EAGER, AOT, kind)
        assert load(path).main() == want, kind
    wrong = write_repro(tmp_path, "wrong_dtype", SIN, 3, EAGER,
                        f"torch.compile:backend={planted}:add_one", "dtype")
    assert load(wrong).main() == 2  # a value discrepancy, not the dtype one


def test_mode_options_are_rendered() -> None:
    text = render_repro(SIN, 0, EAGER,
                        "torch.compile:backend=mypkg.sub.mod:make.backend,dynamic=true,"
                        "mode=reduce-overhead", "value")
    assert ("TARGET = ModeSpec('torch.compile', 'torch', (('backend', 'mypkg.sub.mod:make."
            "backend'), ('dynamic', 'true'), ('mode', 'reduce-overhead')))") in text
    text = render_repro(SIN, 0, EAGER, "torch.compile:device=cuda,fullgraph=false", "value")
    assert "(('device', 'cuda'), ('fullgraph', 'false'))" in text
    check_text(text)


def test_header_is_stamped_and_cannot_be_escaped() -> None:
    evil = 'returned 1\n"""\nimport os; os.system("echo pwned")\\'
    text = render_repro(SIN, 42, EAGER, AOT, "value", cluster_id="c9",
                        observed=Observed(evil, "raised\rRuntimeError"),
                        stamp=Stamp({"torch": "9.9", "numpy": "1.0"}, "cpu (test)",
                                    "seamfuzz fuzz\n--seed 42"))
    assert text.startswith('"""')
    head = text[:text.index('"""', 3) + 3]
    assert "os.system" not in text[len(head):]
    assert "cluster c9" in head and "seed 42" in head and "numpy 1.0, torch 9.9" in head
    assert "device cpu (test)" in head and "seamfuzz fuzz --seed 42" in head
    assert "torch.eager -> returned 1 ''' import os" in head
    assert "SEED = 42" in text and "KIND = 'value'" in text


def test_unsupported_cases_raise() -> None:
    with pytest.raises(ReproUnsupported, match="unknown"):
        render_repro(fn_record("torch.sin", Unknown("x")), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="does not run torch"):
        render_repro(SIN, 0, EAGER, "tf.xla", "value")
    with pytest.raises(ReproUnsupported, match="tensorflow tensor"):
        render_repro(fn_record("torch.sin", TensorSpec("tensorflow", (2,), "float32")), 0,
                     EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="unresolved"):
        render_repro(fn_record("torch.sin", tensor((None, 2))), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="not a torch"):
        render_repro(fn_record("os.system", Literal("ls")), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="not a torch"):
        render_repro(fn_record("torch.sin", ApiRef("torch.x;y")), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="exceed"):
        render_repro(fn_record("torch.sin", tensor((3000, 3000))), 0, EAGER, AOT, "value")
    with pytest.raises(InvalidArgument, match="checks one of"):
        render_repro(SIN, 0, EAGER, AOT, "agree")
    with pytest.raises(InvalidArgument, match="unknown mode"):
        render_repro(SIN, 0, EAGER, "torch.jit", "value")
    with pytest.raises(InvalidArgument, match="file name"):
        write_repro("/tmp", "../escape", SIN, 0, EAGER, AOT, "value")


def test_written_script_is_the_rendered_text(tmp_path: Path) -> None:
    path = write_repro(tmp_path / "a" / "b", "c-1.x", SIN, 0, EAGER, AOT, "value")
    assert path.read_text() == render_repro(SIN, 0, EAGER, AOT, "value", cluster_id="c-1.x")
    assert sorted(p.name for p in path.parent.iterdir()) == ["c-1.x.py"]
    assert path.stat().st_mode & 0o777 == 0o644
