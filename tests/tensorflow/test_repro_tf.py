"""TensorFlow reproducers (:mod:`triage.repro`): XLA dropping a NaN in
``reduce_max`` reproduces, ``tf.function`` does not; a script observes what
the worker observed, byte for byte, for inputs of every kind and a keras
layer.

TF costs seconds per interpreter, so only the exit-status check runs in
subprocesses; the rest import the scripts here.
"""

from __future__ import annotations

import importlib.util
import sys
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
    Special,
    TensorSpec,
    Uniform,
)
from runner.dispatch import run_cases
from runner.execute import CaseTask
from runner.observation import Outcome
from runner.outputs import to_node
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
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_xla_drops_nan_reproduces_and_tf_function_does_not(tmp_path: Path) -> None:
    xla = write_repro(tmp_path, "xla", REDUCE_MAX, 0, "tf.eager", "tf.xla", "value")
    graph = write_repro(tmp_path, "graph", REDUCE_MAX, 0, "tf.eager", "tf.function", "value")
    text = xla.read_text()
    compile(text, str(xla), "exec")
    assert "class TfXla(TfFunction):" in text and "TARGET = ModeSpec('tf.xla'" in text
    assert "\nimport torch" not in text  # (the runtime imports frameworks lazily)
    result = replay_one(xla, timeout=300)
    assert result.status is ReplayStatus.REPRODUCES, result.detail
    assert "nan vs 4.0" in result.detail
    assert replay_one(graph, timeout=300).status is ReplayStatus.FIXED


RECORDS = {
    "inputs": CallRecord(api="tf.raw_ops.IdentityN", framework="tensorflow", kwargs=(("input", Seq(
        "tuple", (
            tensor((32, 32)),
            tensor((6,), "bfloat16", Data((NAN, -0.0, 0.1, INF, 1e-40, -2.5))),
            tensor((40, 3), "bfloat16", Uniform(-4.0, 4.0), Layout(LayoutKind.PERMUTED, (1, 0))),
            tensor((4, 3), "int64", Data(tuple(range(24))), Layout(LayoutKind.STRIDED, (1, 2))),
            tensor((3, 4), "float64", Data((0.5, -0.0, 2.0, NAN)),
                   Layout(LayoutKind.EXPANDED, (0,))),
            tensor((2, 2), "int4", Data((-8, 7, 0, 3))),
            tensor((2,), "complex128", Data((complex(1.0, -0.0), complex(NAN, INF)))),
            tensor((5, 5), init=Special(("nan", "-inf", "denormal"), 0.3)),
        ))),)),
    "dense": CallRecord(api="tf.keras.layers.Dense", framework="tensorflow", kind=CallKind.MODULE,
                        init_args=(Literal(3),), init_kwargs=(("use_bias", Literal(True)),),
                        args=(tensor((2, 4)),)),
    "method": CallRecord(api="tf.Tensor.__add__", framework="tensorflow", kind=CallKind.METHOD,
                         args=(tensor((2, 3)), tensor((2, 3), "float32", Uniform(0.0, 1.0)))),
    "cast": CallRecord(api="tf.cast", framework="tensorflow",
                       args=(tensor((4,)), DType("tensorflow", "float16"))),
}


def test_reproducer_observes_what_the_worker_observed(tmp_path: Path) -> None:
    seed = 21
    tasks = [CaseTask(name, rec, seed, ("tf.eager", "tf.function"), checks=False)
             for name, rec in RECORDS.items()]
    worker = {task.case_id: result for task, result in run_cases(tasks, timeout=300)}
    for name, rec in RECORDS.items():
        script = load(write_repro(tmp_path, name, rec, seed, "tf.eager", "tf.function", "value"))
        for spec, seen in zip((script.REFERENCE, script.TARGET), worker[name].observations):
            out, _ = script.run(spec)
            assert not isinstance(out, Exception), (name, str(spec), out)
            assert seen.outcome is Outcome.RETURNED, (name, str(spec), seen)
            assert to_node(out) == seen.output, (name, str(spec))
        assert script.main() == 0, name


def test_tf_specific_rendering() -> None:
    rec = CallRecord(api="tf.cast", framework="tensorflow",
                     args=(tensor((2,)), DType("tensorflow", "float8_e4m3fn")))
    text = render_repro(rec, 0, "tf.eager", "tf.function:device=gpu,transform=my.mod:wrap",
                        "status")
    assert ("TARGET = ModeSpec('tf.function', 'tensorflow', (('device', 'gpu'), "
            "('transform', 'my.mod:wrap')))") in text
    with pytest.raises(ReproUnsupported, match="torch tensor"):
        render_repro(CallRecord(api="tf.abs", framework="tensorflow",
                                args=(TensorSpec("torch", (2,), "float32"),)),
                     0, "tf.eager", "tf.xla", "value")
