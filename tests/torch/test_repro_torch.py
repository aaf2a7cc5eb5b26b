"""torch reproducers (:mod:`triage.repro`): a real torch.compile bug, a
correct call, planted plug-in backends, and inputs rebuilt bit for bit.

Scripts whose exit status is the point run in a subprocess through
:func:`triage.replay.replay_one` (as ``seamfuzz replay`` runs them); the
others are imported here and their ``build()`` / ``main()`` called, which
saves a torch import per script.  Compiled modes use ``aot_eager`` or a
plug-in backend: no inductor compiles.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import ml_dtypes
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
from runner import materialize
from runner.outputs import is_tensor
from triage.replay import ReplayStatus, replay_one
from triage.repro import (
    LITERAL_MAX_ELEMENTS,
    Observed,
    ReproUnsupported,
    Stamp,
    render_repro,
    write_repro,
)

EAGER = "torch.eager"
AOT = "torch.compile:backend=aot_eager"
NAN, INF = float("nan"), float("inf")

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
    spec.loader.exec_module(module)
    return module


def check_text(text: str) -> None:
    compile(text, "<repro>", "exec")
    too_long = [line for line in text.splitlines() if len(line) > 100]
    assert not too_long, too_long


def runner_tensors(record: CallRecord, seed: int) -> list[torch.Tensor]:
    """The tensors the runner passes to the compiled function, in order."""
    drawn = materialize.draw((record.args, record.kwargs), seed)
    args, kwargs = materialize.to_torch(drawn.args, drawn.kwargs, seed=seed)
    out: list[torch.Tensor] = []

    def walk(v):
        if is_tensor(v):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(args)
    walk(kwargs)
    return out


def assert_bit_identical(got: tuple, want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.stride() == b.stride() and a.storage_offset() == b.storage_offset()
        assert a.requires_grad == b.requires_grad
        assert bytes(a.untyped_storage()) == bytes(b.untyped_storage())


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
    assert "np.array([[0.1, 0.2, 0.4, 0.8]], dtype=np.float32)" in text
    assert "np.array([[3, 0, -1, 1]], dtype=np.int64)" in text
    assert 'torch.compile(fn, backend="aot_eager", fullgraph=True)' in text
    assert "torch.func.functional_call(module" in text
    result = replay_one(path, timeout=300)
    assert result.status is ReplayStatus.REPRODUCES, result.detail
    assert result.detail.startswith("REPRODUCES: value discrepancy: out:")


def test_correct_call_does_not_reproduce(tmp_path: Path) -> None:
    path = write_repro(tmp_path, "cumsum", CUMSUM, 0, EAGER, AOT, "value")
    text = path.read_text()
    assert ".permute(1, 0)" in text
    result = replay_one(path, timeout=300)
    assert result.status is ReplayStatus.FIXED, result.detail


def test_planted_backend_reproduces_and_correct_one_does_not(tmp_path: Path,
                                                              planted: str) -> None:
    wrong = write_repro(tmp_path, "wrong", SIN, 3, EAGER,
                        f"torch.compile:backend={planted}:add_one", "value")
    text = wrong.read_text()
    assert f"import {planted} as plugin  # the plug-in backend" in text
    assert "backend=plugin.add_one" in text
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
# In-process: inputs and calls
# ---------------------------------------------------------------------------


def test_large_inputs_are_rebuilt_bit_identically(tmp_path: Path) -> None:
    rec = fn_record(
        "torch.add",
        tensor((32, 32)),
        tensor((32, 32), "bfloat16", Normal(0.5, 2.0), Layout(LayoutKind.STRIDED, (1, 2))),
        alpha=tensor((2, 3, 4, 5), "float32", Uniform(-1.0, 1.0),
                     Layout(LayoutKind.CHANNELS_LAST)),
        out=Seq("list", (
            tensor((16, 16), init=Special(("nan", "inf", "-0", "max", "denormal"), 0.2)),
            tensor((5,), "int8", Special(("max", "min", "nan"), 0.5)),
            tensor((10, 10), "bfloat16", Special(("huge", "-inf"), 0.3)),
            # A NaN in bfloat16 is written as bits: the generator is still advanced.
            tensor((9, 9), "bfloat16", Special(("nan",), 0.1)),
            tensor((3,), "complex64", Special(("eps",), 1.0)),
        )),
    )
    seed = 12345
    path = write_repro(tmp_path, "large", rec, seed, EAGER, AOT, "value")
    text = path.read_text()
    check_text(text)
    # Rebuilt with numpy from the seed, not embedded.
    assert "rng = np.random.Generator(np.random.PCG64(SEED))" in text
    assert "rng.normal(0.5, 2.0, size=2048).astype(np.float32)" in text
    assert ".to(torch.bfloat16)[:, ::2]" in text
    assert "memory_format=torch.channels_last" in text
    assert "at = rng.choice(256, size=52, replace=False)" in text
    assert 'x3[at[0::5]] = float("nan")  # nan' in text
    assert "x6 = np.frombuffer(base64.b64decode(BYTES_X6), dtype=np.int16)" in text
    _, tensors = load(path).build()
    assert_bit_identical(tensors, runner_tensors(rec, seed))


def test_every_init_and_layout_is_bit_identical(tmp_path: Path) -> None:
    special = (NAN, -0.0, INF, -INF, 1e-45, 3.4028234663852886e38, 0.1, -1.5)
    rec = fn_record(
        "torch.broadcast_tensors",
        tensor((8,), init=Data(special)),
        tensor((2, 4), "float16", Data((65504.0, -0.0, NAN, 6e-08, 0.1, 1 / 3, -2.0, 1e-3))),
        tensor((3,), "bfloat16", Data((NAN, -0.0, 1.00390625))),  # NaN: written as bits
        tensor((4,), "bfloat16", Data((0.1, -3.0, INF, 2.0 ** -130))),
        tensor((2,), "complex64", Data((complex(-0.0, NAN), complex(1.5, -INF)))),
        tensor((3,), "uint64", Data((0, 2**64 - 1, 7))),
        tensor((2, 2), "bool", IntRange(0, 2)),
        tensor((3, 4), "int32", Arange(5, 3), Layout(LayoutKind.PERMUTED, (1, 0))),
        tensor((10, 10), "float64", Arange(0.5, 0.25)),
        tensor((9, 9), "int64", Fill(7)),
        tensor((100,), "float32", Linspace(-1.0, 1.0)),
        tensor((12, 12), "float32", Eye()),
        tensor((4, 3), "float32", Empty(), Layout(LayoutKind.EXPANDED, (0,))),
        tensor((2, 3), "float8_e4m3fn", Data((0.5, NAN, 448.0, -0.0, 1.0, 2.0))),
        tensor((0, 3)),
        tensor(()),
        tensor((2, 3), requires_grad=True),
        Seq("list", (tensor((2,), "int8", IntRange(-100, 100)), Literal(3))),
    )
    path = write_repro(tmp_path, "inits", rec, 99, EAGER, AOT, "value")
    text = path.read_text()
    check_text(text)
    assert 'float("nan")' in text and "-0.0" in text and 'float("-inf")' in text
    assert ".view(torch.bfloat16)" in text  # the NaN case
    assert "np.full((9, 9), 7, dtype=np.int64)" in text
    assert "np.linspace(-1.0, 1.0, 100)" in text
    assert "rng" not in text  # every random tensor is small: literals
    _, tensors = load(path).build()
    assert_bit_identical(tensors, runner_tensors(rec, 99))


def test_large_random_fallback_keeps_the_generator_in_step(tmp_path: Path) -> None:
    # Normal draws into an integer dtype need the runner's saturating cast:
    # written as bytes, while the draw itself still advances the generator
    # for the tensor after it.
    rec = fn_record("torch.add", tensor((10, 10), "int16", Normal(0.0, 1e5)),
                    tensor((10, 10), "float32", Normal()))
    path = write_repro(tmp_path, "fallback", rec, 5, EAGER, AOT, "value")
    text = path.read_text()
    check_text(text)
    assert "advances the generator" in text and "BYTES_X0" in text
    assert "rng.normal(0.0, 1.0, size=100).astype(np.float32)" in text
    _, tensors = load(path).build()
    assert_bit_identical(tensors, runner_tensors(rec, 5))


def test_module_with_weights_method_and_constructed(tmp_path: Path, threads) -> None:
    linear = CallRecord(api="torch.nn.Linear", framework="torch", kind=CallKind.MODULE,
                        init_args=(Literal(4), Literal(3)),
                        init_kwargs=(("dtype", DType("torch", "float32")),),
                        args=(tensor((2, 4)),))
    method = fn_record("torch.Tensor.to", tensor((3, 2), layout=Layout(LayoutKind.PERMUTED,
                                                                         (1, 0))),
                       kind=CallKind.METHOD, dtype=DType("torch", "float64"))
    constructed = fn_record("torch.add", tensor((2, 2)),
                            Constructed("torch.abs", (tensor((2, 2), init=Fill(-2.0)),)),
                            alpha=Literal(2))
    for name, rec in (("linear", linear), ("method", method), ("constructed", constructed)):
        path = write_repro(tmp_path, name, rec, 1, EAGER, AOT, "value")
        check_text(path.read_text())
        assert load(path).main() == 0, name
    text = (tmp_path / "constructed.py").read_text()
    assert "c0 = torch.abs(x1)" in text and "def fn(x0, c0):" in text
    assert "return x0.to(dtype=torch.float64)" in (tmp_path / "method.py").read_text()


def test_status_and_dtype_checks(tmp_path: Path, planted: str, threads) -> None:
    # The reference raises (bad dim) and so does the target: a status
    # discrepancy of that kind counts as fixed, a value one as "other".
    bad = fn_record("torch.cumsum", tensor((2, 2)), dim=Literal(5))
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
    assert "import mypkg.sub.mod as plugin  # the plug-in backend" in text
    assert ('torch.compile(fn, backend=plugin.make.backend, dynamic=True, fullgraph=True, '
            'mode="reduce-overhead")') in text
    text = render_repro(SIN, 0, EAGER, "torch.compile:device=cuda,fullgraph=false", "value")
    assert "def build(device):" in text and ".to(device)" in text
    assert 'run(target, "cuda")' in text and 'run(reference, "cpu")' in text
    assert 'backend="inductor"' in text and "fullgraph=False" in text
    check_text(text)


def test_constructed_tensors_go_to_the_device_as_in_the_runner(tmp_path: Path) -> None:
    # The runner moves a tensor a constructor returned to the mode's device
    # (runner.materialize); the script must too, or a "cuda" reproducer
    # would run the target on the CPU.
    rec = CallRecord("torch.abs", "torch", args=(
        Constructed("torch.FloatTensor", (Seq("list", (Literal(-0.5), Literal(2.0))),)),))
    text = render_repro(rec, 0, EAGER, "torch.compile:device=cuda", "value")
    assert "c0 = torch.FloatTensor([-0.5, 2.0])" in text
    assert "        c0 = c0.to(device)" in text
    cpu = text.replace('"cuda"', '"cpu"')  # runnable here: must agree with itself
    script = tmp_path / "abs.py"
    script.write_text(cpu)
    assert replay_one(script, timeout=300).status is ReplayStatus.FIXED


def test_header_is_stamped_and_cannot_be_escaped() -> None:
    evil = "returned 1\nimport os; os.system('echo pwned')"
    text = render_repro(SIN, 42, EAGER, AOT, "value", cluster_id="c9",
                        observed=Observed(evil, "raised\rRuntimeError"),
                        stamp=Stamp({"torch": "9.9", "numpy": "1.0"}, "cpu (test)",
                                    "seamfuzz fuzz\n--seed 42"))
    head = text.split("import sys")[0]
    assert all(line.startswith("#") or not line for line in head.splitlines())
    assert "cluster c9" in head and "seed 42" in head and "numpy 1.0, torch 9.9" in head
    assert "device cpu (test)" in head and "seamfuzz fuzz --seed 42" in head
    assert "torch.eager -> returned 1 import os" in head
    assert "SEED = 42" in text and 'KIND = "value"' in text


def test_literals_wrap_and_stay_short(tmp_path: Path) -> None:
    rec = fn_record("torch.neg", tensor((8, 8), init=Normal(0.0, 1e-20)),
                    tensor((LITERAL_MAX_ELEMENTS + 1,), init=Data(tuple(
                        math.pi * i for i in range(LITERAL_MAX_ELEMENTS + 1)))))
    text = render_repro(rec, 0, EAGER, AOT, "value")
    check_text(text)
    assert "np.random" not in text  # Normal(8x8) is small, Data stays a literal


def test_unsupported_cases_raise() -> None:
    with pytest.raises(ReproUnsupported, match="unknown"):
        render_repro(fn_record("torch.sin", Unknown("x")), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="does not run torch"):
        render_repro(SIN, 0, EAGER, "tf.xla", "value")
    with pytest.raises(ReproUnsupported, match="tensorflow tensor"):
        render_repro(fn_record("torch.sin", TensorSpec("tensorflow", (2,), "float32")), 0,
                     EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="ml_dtypes"):
        render_repro(fn_record("torch.sin", tensor((2,)), dtype=DType("numpy", "bfloat16")),
                     0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="unresolved"):
        render_repro(fn_record("torch.sin", tensor((None, 2))), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="not a torch"):
        render_repro(fn_record("os.system", Literal("ls")), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="not a torch"):
        render_repro(fn_record("torch.sin", ApiRef("torch.x;y")), 0, EAGER, AOT, "value")
    with pytest.raises(ReproUnsupported, match="exceed"):
        render_repro(fn_record("torch.sin", tensor((600, 600), "int8", Normal(0.0, 1e3))), 0,
                     EAGER, AOT, "value")
    with pytest.raises(InvalidArgument, match="checks one of"):
        render_repro(SIN, 0, EAGER, AOT, "agree")
    with pytest.raises(InvalidArgument, match="unknown mode"):
        render_repro(SIN, 0, EAGER, "torch.jit", "value")
    with pytest.raises(InvalidArgument, match="file name"):
        write_repro("/tmp", "../escape", SIN, 0, EAGER, AOT, "value")


def test_bfloat16_proxies_are_exact_in_ml_dtypes_too() -> None:
    # The proxy rule the generator relies on (values exactly representable
    # convert exactly) checked against ml_dtypes for every bfloat16.
    bits = np.arange(-(2**15), 2**15, dtype=np.int64).astype(np.int16)
    values = bits.view(ml_dtypes.bfloat16)
    finite = ~np.isnan(values.astype(np.float32))
    back = values[finite].astype(np.float32).astype(ml_dtypes.bfloat16)
    assert back.tobytes() == values[finite].tobytes()
    t = torch.tensor(values[finite].astype(np.float32)).to(torch.bfloat16)
    assert t.view(torch.int16).numpy().tobytes() == bits[finite].tobytes()


def test_written_script_is_the_rendered_text(tmp_path: Path) -> None:
    path = write_repro(tmp_path / "a" / "b", "c-1.x", SIN, 0, EAGER, AOT, "value")
    assert path.read_text() == render_repro(SIN, 0, EAGER, AOT, "value", cluster_id="c-1.x")
    assert sorted(p.name for p in path.parent.iterdir()) == ["c-1.x.py"]
    assert path.stat().st_mode & 0o777 == 0o644
