"""TensorFlow reproducers (:mod:`triage.repro`): XLA dropping a NaN in
``reduce_max`` reproduces, ``tf.function`` does not; inputs are rebuilt bit
for bit; a keras layer is built as the runner builds it.

TF costs seconds per interpreter, so only the two exit-status checks run
in subprocesses; the rest import the scripts here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from miner.records import (
    CallKind,
    CallRecord,
    Data,
    DType,
    Layout,
    LayoutKind,
    Literal,
    Normal,
    Seq,
    TensorSpec,
    Uniform,
)
from runner import materialize
from runner.outputs import is_tensor
from triage.replay import ReplayStatus, replay_one
from triage.repro import ReproUnsupported, render_repro, write_repro

NAN, INF = float("nan"), float("inf")
REDUCE_MAX = CallRecord(api="tf.math.reduce_max", framework="tensorflow",
                        args=(TensorSpec("tensorflow", (3,), "float32", Data((1.0, NAN, 4.0))),))


def tensor(shape, dtype="float32", init=None, layout=None) -> TensorSpec:
    return TensorSpec("tensorflow", tuple(shape), dtype, init if init is not None else Normal(),
                      layout if layout is not None else Layout())


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"repro_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_xla_drops_nan_reproduces_and_tf_function_does_not(tmp_path: Path) -> None:
    xla = write_repro(tmp_path, "xla", REDUCE_MAX, 0, "tf.eager", "tf.xla", "value")
    graph = write_repro(tmp_path, "graph", REDUCE_MAX, 0, "tf.eager", "tf.function", "value")
    text = xla.read_text()
    compile(text, str(xla), "exec")
    assert 'np.array([1.0, float("nan"), 4.0], dtype=np.float32)' in text
    assert "tf.function(fn, jit_compile=True)" in text
    assert "import torch" not in text
    assert "tf.function(fn, jit_compile=False)" in graph.read_text()
    result = replay_one(xla, timeout=300)
    assert result.status is ReplayStatus.REPRODUCES, result.detail
    assert "nan vs 4.0" in result.detail
    assert replay_one(graph, timeout=300).status is ReplayStatus.FIXED


def test_inputs_are_rebuilt_bit_identically(tmp_path: Path) -> None:
    inputs = Seq("tuple", (
        tensor((32, 32)),
        tensor((6,), "bfloat16", Data((NAN, -0.0, 0.1, INF, 1e-40, -2.5))),
        tensor((40, 3), "bfloat16", Uniform(-4.0, 4.0), Layout(LayoutKind.PERMUTED, (1, 0))),
        tensor((4, 3), "int64", Data(tuple(range(24))), Layout(LayoutKind.STRIDED, (1, 2))),
        tensor((3, 4), "float64", Data((0.5, -0.0, 2.0, NAN)), Layout(LayoutKind.EXPANDED, (0,))),
        tensor((2, 2), "int4", Data((-8, 7, 0, 3))),
        tensor((2,), "complex128", Data((complex(1.0, -0.0), complex(NAN, INF)))),
    ))
    rec = CallRecord(api="tf.raw_ops.IdentityN", framework="tensorflow",
                     kwargs=(("input", inputs),))
    path = write_repro(tmp_path, "inputs", rec, 21, "tf.eager", "tf.function", "value")
    text = path.read_text()
    compile(text, str(path), "exec")
    assert "rng.normal(0.0, 1.0, size=1024).astype(np.float32)" in text
    assert "tf.bitcast(" in text and 'tf.as_dtype("int4")' in text
    _, tensors = load(path).build()
    drawn = materialize.draw((rec.args, rec.kwargs), 21)
    _, kwargs = materialize.to_tf(drawn.args, drawn.kwargs)
    want = [t for t in kwargs["input"] if is_tensor(t)]
    assert len(tensors) == len(want)
    for got, exp in zip(tensors, want):
        assert got.dtype == exp.dtype and got.shape == exp.shape
        assert got.numpy().tobytes() == exp.numpy().tobytes()


def test_keras_layer_agrees_under_tf_function(tmp_path: Path) -> None:
    rec = CallRecord(api="tf.keras.layers.Dense", framework="tensorflow", kind=CallKind.MODULE,
                     init_args=(Literal(3),), init_kwargs=(("use_bias", Literal(True)),),
                     args=(tensor((2, 4)),))
    path = write_repro(tmp_path, "dense", rec, 4, "tf.eager", "tf.function", "value")
    text = path.read_text()
    compile(text, str(path), "exec")
    assert "layer = tf.keras.layers.Dense(3, use_bias=True)" in text
    assert "tf.keras.utils.set_random_seed(SEED % 2**32)" in text
    assert "layer.build(tuple(shape))" in text
    assert load(path).main() == 0


def test_tf_specific_rendering() -> None:
    rec = CallRecord(api="tf.cast", framework="tensorflow",
                     args=(tensor((2,)), DType("tensorflow", "float8_e4m3fn")))
    text = render_repro(rec, 0, "tf.eager", "tf.function:device=gpu,transform=my.mod:wrap",
                        "status")
    assert 'tf.as_dtype("float8_e4m3fn")' in text
    assert "import my.mod as plugin  # the plug-in transform" in text
    assert "return plugin.wrap(fn)" in text
    assert 'run(target, "/GPU:0")' in text and 'run(reference, "/CPU:0")' in text
    with pytest.raises(ReproUnsupported, match="torch tensor"):
        render_repro(CallRecord(api="tf.abs", framework="tensorflow",
                                args=(TensorSpec("torch", (2,), "float32"),)),
                     0, "tf.eager", "tf.xla", "value")
