"""Running tensorflow cases in-process (:func:`runner.execute.run_case`):
graph and XLA agree with eager, an op XLA cannot compile is unsupported, a
keras layer record agrees, string tensors are handled."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from runner.check import record_from_expression
from runner.contract import VerdictKind
from runner.dispatch import judge_case
from runner.execute import CaseResult, CaseTask, run_case
from runner.observation import Outcome

pytestmark = pytest.mark.usefixtures("tf_worker")

MODES = ("tf.eager", "tf.function", "tf.xla")


def case(index, expr: str, modes=MODES, seed: int = 0) -> tuple[CaseTask, CaseResult]:
    task = CaseTask(expr, record_from_expression(expr, index), seed, modes)
    return task, run_case(task)


def kinds(task: CaseTask, result: CaseResult) -> dict[str, VerdictKind]:
    return {v.target: v.kind for v in judge_case(task, result)}


@pytest.mark.parametrize("expr", [
    "tf.math.cumsum(tf.random.normal([4, 3]), axis=0)",
    "tf.linalg.matmul(tf.random.normal([3, 4]), tf.random.normal([4, 2]))",
    "tf.nn.softmax(tf.random.normal([2, 5]), axis=-1)",
    "tf.math.argmax(tf.random.normal([3, 4]), axis=1)",
])
def test_function_and_xla_agree_with_eager(index, expr):
    task, result = case(index, expr)
    assert all(o.outcome is Outcome.RETURNED for o in result.observations), result.observations
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE, "tf.xla": VerdictKind.AGREE}


@pytest.mark.parametrize("expr", [
    "tf.math.bessel_i0(tf.random.normal([5]))",
    "tf.histogram_fixed_width(tf.random.normal([6]), [-1.0, 1.0], nbins=4)",
])
def test_op_without_xla_kernel_is_unsupported_under_xla_only(index, expr):
    task, result = case(index, expr)
    eager, graph, xla = result.observations
    assert eager.outcome is Outcome.RETURNED and graph.outcome is Outcome.RETURNED
    assert xla.outcome is Outcome.UNSUPPORTED
    assert "Detected unsupported operations" in xla.error_message
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE,
                                   "tf.xla": VerdictKind.UNSUPPORTED}


def test_a_method_dispatches_on_the_receivers_own_class(index):
    # The record names tf.Tensor.set_shape; the eager receiver is an
    # EagerTensor, which overrides it.  Calling tf.Tensor's function on it
    # raised in eager mode only: a false finding.
    task, result = case(index, "tf.constant([[1, 2, 3]]).set_shape([1, 3])")
    assert result.observations[0].outcome is Outcome.RETURNED, result.observations[0]
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE, "tf.xla": VerdictKind.AGREE}


@pytest.mark.parametrize("expr", ["tf.data.Dataset.range(3).as_numpy_iterator()",
                                  "tf.constant([1.0, 2.0]).numpy()"])
def test_an_eager_only_api_is_unsupported_in_graph_modes(index, expr):
    task, result = case(index, expr)
    assert result.observations[0].outcome is Outcome.RETURNED
    assert kinds(task, result) == {"tf.function": VerdictKind.UNSUPPORTED,
                                   "tf.xla": VerdictKind.UNSUPPORTED}


def test_keras_layer_record_agrees(index):
    task, result = case(index, "keras.layers.Dense(2)(tf.random.normal([4, 3]))")
    ref = result.observations[0]
    assert ref.outcome is Outcome.RETURNED and ref.output.shape == (4, 2)
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE, "tf.xla": VerdictKind.AGREE}


def test_both_raising_is_invalid(index):
    task, result = case(index, "tf.reshape(tf.random.normal([6]), [4, 5])")
    assert all(o.outcome is Outcome.RAISED for o in result.observations)
    assert set(kinds(task, result).values()) == {VerdictKind.INVALID}


def test_string_tensors_are_not_mistaken_for_mutation(index):
    # A tf.string input converts to a numpy object array whose bytes are
    # pointers: they must not look mutated (which crashed run_case), and a
    # string output must be recorded rather than raise.
    task, result = case(index, 'tf.strings.length(tf.constant(["ab", "c"]))', MODES[:2])
    ref, graph = result.observations
    assert ref.outcome is Outcome.RETURNED and ref.mutated == ()
    assert ref.output.dtype == "int32"
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE}
    task, result = case(index, "tf.strings.as_string(tf.random.normal([3]))", MODES[:2])
    assert all(o.outcome is Outcome.RETURNED for o in result.observations)
    # String results are compared by value, in their shape.
    out = result.observations[0].output
    assert len(out.items) == 3 and all(isinstance(x.value, str) for x in out.items)
    float(out.items[0].value)  # the text of a number
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE}
    # A 0-d string: its numpy() is bytes, not an object array (once an
    # internal error, found by a campaign).
    task, result = case(index, "tf.gather(tf.constant(['p0', 'p1', 'p2']), 1)", MODES[:2])
    assert result.observations[0].output.value == "p1"
    assert kinds(task, result) == {"tf.function": VerdictKind.AGREE}


def test_capturing_an_eager_tensor_array_is_a_declared_limit(index):
    # A TensorArray built eagerly cannot be captured by a traced function:
    # tf.function says so itself (unsupported); XLA as well.
    task, result = case(index, "tf.TensorArray(tf.float32, size=2).write(0, 10.0)")
    ref, graph, xla = result.observations
    assert ref.outcome is Outcome.RETURNED
    assert graph.outcome is Outcome.UNSUPPORTED and graph.detail == "captures an eager TensorArray"
    assert kinds(task, result) == {"tf.function": VerdictKind.UNSUPPORTED,
                                   "tf.xla": VerdictKind.UNSUPPORTED}


def test_any_other_error_of_the_target_is_a_status_discrepancy(index):
    # A made-up transform that refuses with a "not supported" message: the
    # message does not make it a declared limit.
    def refuse(fn):
        def run(*args):
            raise NotImplementedError("this op is not supported")
        return run

    import sys
    import types
    plugin = types.ModuleType("refusing_transform")
    plugin.refuse = refuse
    sys.modules["refusing_transform"] = plugin
    try:
        task, result = case(index, "tf.math.abs(tf.constant([-1.0]))",
                            ("tf.eager", "tf.function:transform=refusing_transform:refuse"))
    finally:
        del sys.modules["refusing_transform"]
    (v,) = judge_case(task, result)
    assert result.observations[1].outcome is Outcome.RAISED
    assert v.kind is VerdictKind.STATUS and v.breaking


def test_same_seed_gives_identical_observations(index):
    expr = "tf.nn.relu(tf.random.normal([3, 4]))"
    first = case(index, expr, seed=5)[1].observations
    again = case(index, expr, seed=5)[1].observations
    assert [(o.mode, o.output) for o in first] == [(o.mode, o.output) for o in again]


def test_worker_environment_is_one_thread():
    assert os.environ["OMP_NUM_THREADS"] == "1"
