"""tensorflow export modes run real cases in-process (tf.saved_model,
tf.lite, tf.onnx): they agree with eager on ordinary calls and structures,
reuse their artifact per signature, keep output dtypes, classify what the
path does not support as unsupported and name the stage of an error."""

from __future__ import annotations

import pytest

from infra.errors import InvalidArgument
from runner.check import record_from_expression
from runner.contract import VerdictKind
from runner.dispatch import judge_case
from runner.execute import CaseResult, CaseTask, run_case
from runner.modes import mode_class, parse_mode
from runner.modes.base import ModeSpec
from runner.observation import Outcome

pytestmark = pytest.mark.usefixtures("tf_worker")

EXPORTS = ("tf.saved_model", "tf.lite", "tf.onnx")
MODES = ("tf.eager", *EXPORTS)


def case(index, expr: str, modes=MODES, seed: int = 0) -> tuple[CaseTask, CaseResult]:
    task = CaseTask(expr, record_from_expression(expr, index), seed, modes)
    return task, run_case(task)


def kinds(task: CaseTask, result: CaseResult) -> dict[str, VerdictKind]:
    return {v.target: v.kind for v in judge_case(task, result)}


def observed(result: CaseResult, mode: str):
    (obs,) = [o for o in result.observations if o.mode == mode]
    return obs


@pytest.mark.parametrize("expr", [
    "tf.math.abs(tf.random.normal([3, 4]))",
    "tf.math.cumsum(tf.random.normal([4, 3]), axis=1)",
    "tf.nn.softmax(tf.random.normal([2, 5]), axis=-1)",
    # A namedtuple (TopKV2) of float32 values and int32 indices.
    "tf.math.top_k(tf.random.normal([3, 5]), k=2)",
    # A keras layer: its variables are read by the exported function
    # (SavedModel must track them; TFLite and tf2onnx freeze them).
    "keras.layers.Dense(2)(tf.random.normal([4, 3]))",
    # Twelve inputs: fed by name, input_10 and input_11 not after input_1.
    "tf.stack([tf.random.normal([2]), tf.random.normal([2]), tf.random.normal([2]), "
    "tf.random.normal([2]), tf.random.normal([2]), tf.random.normal([2]), "
    "tf.random.normal([2]), tf.random.normal([2]), tf.random.normal([2]), "
    "tf.random.normal([2]), tf.random.normal([2]), tf.random.normal([2])])",
    # A fixed zero-size input ("Invalid tensor size" in TFLite unless the
    # dimension is left unknown).
    "tf.math.abs(tf.zeros([0, 3]))",
    # No tensor output at all (None): nothing to carry, the structure kept.
    "tf.constant([[1, 2, 3]]).set_shape([1, 3])",
    # 0-d inputs: their numpy() is a numpy scalar, which onnxruntime and
    # LiteRT refuse unless it is made an array (found by a campaign).
    "tf.math.add(tf.constant(5), 3)",
    "tf.where(tf.math.equal(tf.constant(0.0), 0.0), 1.0, tf.constant(0.0))",
])
def test_exports_agree_with_eager(index, expr):
    task, result = case(index, expr)
    assert all(o.outcome is Outcome.RETURNED for o in result.observations), result.observations
    assert kinds(task, result) == {m: VerdictKind.AGREE for m in EXPORTS}


def test_structure_and_dtypes_come_back_as_eager_made_them(index):
    task, result = case(index, "tf.math.top_k(tf.random.normal([3, 5]), k=2)")
    for mode in EXPORTS:
        out = observed(result, mode).output
        assert out.kind == "namedtuple:TopKV2", (mode, out)
        assert [x.dtype for x in out.items] == ["float32", "int32"], (mode, out)
    task, result = case(index, "tf.math.argmax(tf.random.normal([3, 4]), axis=1)")
    assert {observed(result, m).output.dtype for m in MODES} == {"int64"}
    assert kinds(task, result) == {m: VerdictKind.AGREE for m in EXPORTS}
    task, result = case(index, "tf.cast(tf.random.normal([3]), tf.float16)")
    assert {observed(result, m).output.dtype for m in MODES} == {"float16"}
    assert kinds(task, result) == {m: VerdictKind.AGREE for m in EXPORTS}


def test_string_tensors_cross_to_onnxruntime_as_text(index):
    # tf.string inputs are bytes; onnxruntime's string casts take text.
    task, result = case(index, "tf.strings.to_number(tf.constant(['1.5', '2']))",
                        ("tf.eager", "tf.saved_model", "tf.onnx"))
    assert kinds(task, result) == {"tf.saved_model": VerdictKind.AGREE,
                                   "tf.onnx": VerdictKind.AGREE}


def test_an_artifact_is_made_once_per_signature(index):
    expr = "tf.math.cumsum(tf.random.normal([4, 3]), axis=0)"
    _, first = case(index, expr, seed=1)
    task, second = case(index, expr, seed=2)
    for mode in EXPORTS:
        assert observed(first, mode).compile_seconds > 0, mode
        assert observed(second, mode).compile_seconds == 0, mode
    assert kinds(task, second) == {m: VerdictKind.AGREE for m in EXPORTS}


def test_float64_softmax_is_unsupported_by_tflite_at_convert(index):
    task, result = case(index, "tf.nn.softmax(tf.random.normal([2, 5], dtype=tf.float64))")
    lite = observed(result, "tf.lite")
    assert lite.outcome is Outcome.UNSUPPORTED, lite
    assert lite.error_message.startswith("[convert] ")
    assert "is neither a custom op nor a flex op" in lite.error_message
    assert kinds(task, result) == {"tf.saved_model": VerdictKind.AGREE,
                                   "tf.lite": VerdictKind.UNSUPPORTED,
                                   "tf.onnx": VerdictKind.AGREE}


def test_what_onnx_cannot_carry_is_unsupported_with_its_stage(index):
    # An op tf2onnx does not convert (it logs and leaves the TensorFlow op).
    task, result = case(index, "tf.math.lgamma(tf.random.normal([3]))", ("tf.eager", "tf.onnx"))
    onnx = observed(result, "tf.onnx")
    assert onnx.outcome is Outcome.UNSUPPORTED and onnx.detail == "an op tf2onnx does not convert"
    assert onnx.error_message.startswith("[convert] ") and "Lgamma" in onnx.error_message
    # An op onnxruntime has no kernel for at this dtype.
    task, result = case(index, "tf.math.erf(tf.random.normal([3], dtype=tf.float64))",
                        ("tf.eager", "tf.onnx"))
    onnx = observed(result, "tf.onnx")
    assert onnx.outcome is Outcome.UNSUPPORTED, onnx
    assert onnx.error_message.startswith("[session] ")
    assert "Could not find an implementation for Erf" in onnx.error_message
    # bfloat16: tf2onnx would compute in float16.
    task, result = case(index, "tf.cast(tf.random.normal([3]), tf.bfloat16)",
                        ("tf.eager", "tf.onnx"))
    assert kinds(task, result) == {"tf.onnx": VerdictKind.UNSUPPORTED}


def test_complex_tensors_are_a_limit_of_onnxruntime_not_a_finding(index):
    # onnxruntime has no complex tensor type ("MLDataType for:
    # tensor(complex128) is not currently registered or supported").
    task, result = case(index, "tf.cast([1.0, 2.0, 3.0], tf.complex128)", ("tf.eager", "tf.onnx"))
    obs = observed(result, "tf.onnx")
    assert obs.outcome is Outcome.UNSUPPORTED and "[session]" in obs.error_message, obs
    assert kinds(task, result) == {"tf.onnx": VerdictKind.UNSUPPORTED}


def test_a_variable_argument_is_unsupported(index):
    task, result = case(index, "tf.Variable(tf.zeros([2])).assign_add(tf.ones([2]))")
    assert observed(result, "tf.eager").outcome is Outcome.RETURNED
    assert kinds(task, result) == {m: VerdictKind.UNSUPPORTED for m in EXPORTS}
    assert observed(result, "tf.saved_model").error_message.startswith("[export] ")


def test_what_graph_mode_cannot_express_no_export_can(index):
    # tf.function's own declared limits hold for every export (each traces
    # the call with tf.function first).
    task, result = case(index, "tf.TensorArray(tf.float32, size=2).write(0, 10.0)")
    assert observed(result, "tf.eager").outcome is Outcome.RETURNED
    assert {observed(result, m).detail for m in EXPORTS} == {"captures an eager TensorArray"}
    assert kinds(task, result) == {m: VerdictKind.UNSUPPORTED for m in EXPORTS}


def test_the_calls_own_error_is_invalid_not_a_finding(index):
    task, result = case(index, "tf.reshape(tf.random.normal([6]), [4, 5])")
    assert all(o.outcome is Outcome.RAISED for o in result.observations)
    assert set(kinds(task, result).values()) == {VerdictKind.INVALID}


def test_declarations_and_ladders():
    for name in EXPORTS:
        cls = mode_class(name)
        assert cls.framework == "tensorflow" and not cls.reference and cls.default_targets == ()
        spec = parse_mode(name)
        ladder = cls.ladder(spec)
        assert [s.mode for s in ladder] == [ModeSpec("tf.function", "tensorflow"), spec]
    gpu = parse_mode("tf.onnx:device=gpu")
    assert [str(s.mode) for s in mode_class("tf.onnx").ladder(gpu)] == [
        "tf.eager:device=gpu", "tf.function:device=gpu", "tf.onnx:device=gpu"]
    with pytest.raises(InvalidArgument, match="device"):
        parse_mode("tf.lite:device=gpu")  # LiteRT's Python interpreter: the CPU only
