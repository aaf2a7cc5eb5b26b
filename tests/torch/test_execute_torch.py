"""Running torch cases in-process (:func:`runner.execute.run_case`) and
judging them: mutation, randomness, graph breaks, invalid inputs, modules,
replayability, the float64 oracle, and errors the sandbox caused.

The worker's code runs in the test process here (after
:func:`~runner.execute.init_worker`), so failures show real tracebacks; the
spawned-worker path is covered by tests/quality.  Compiled modes use
``aot_eager`` or a plug-in backend from this module: no inductor compiles.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os

import numpy as np
import pytest
import torch

from runner.check import record_from_expression
from runner.contract import Boundary, VerdictKind, judge
from runner.dispatch import judge_case
from runner.execute import CaseResult, CaseTask, run_case
from infra.sandbox import SANDBOX_ENV
from runner.observation import ArrayLeaf, Outcome

pytestmark = pytest.mark.usefixtures("torch_worker")

EAGER = "torch.eager"
AOT = "torch.compile:backend=aot_eager"


def nudge_backend(gm, example_inputs):
    """Plug-in backend: the graph's floating outputs moved by one ulp, the
    way a reordered reduction rounds differently."""

    def run(*args):
        outs = gm.forward(*args)
        return type(outs)(
            torch.nextafter(o, torch.full_like(o, math.inf))
            if isinstance(o, torch.Tensor) and o.is_floating_point() else o
            for o in outs)

    return run


NUDGE = f"torch.compile:backend={__name__}:nudge_backend"


def read_only_backend(gm, example_inputs):
    """Plug-in backend that fails as a compile cache written outside the
    sandbox's temporary folder does."""
    raise OSError(errno.EROFS, "Read-only file system", "/root/.cache/torch/cache.db")


READ_ONLY = f"torch.compile:backend={__name__}:read_only_backend"


def case(index, expr: str, modes=(EAGER, AOT), seed: int = 0) -> tuple[CaseTask, CaseResult]:
    task = CaseTask(expr, record_from_expression(expr, index), seed, modes)
    return task, run_case(task)


def verdict(task: CaseTask, result: CaseResult):
    (v,) = judge_case(task, result)
    return v


def test_inputs_mutated_in_place_are_observed_and_compared(index):
    task, result = case(index, "torch.Tensor.add_(torch.randn(3), torch.randn(3))")
    ref, tgt = result.observations
    for obs in (ref, tgt):
        assert obs.outcome is Outcome.RETURNED
        ((i, node),) = obs.mutated  # the first argument, and only it
        assert i == 0 and isinstance(node, ArrayLeaf) and node.shape == (3,)
        np.testing.assert_array_equal(node.to_numpy(), obs.output.to_numpy())
    assert verdict(task, result).kind is VerdictKind.AGREE
    # A target that left the argument different is caught on the mutation,
    # even where the returned values agree.
    bad = ArrayLeaf.from_numpy(ref.mutated[0][1].to_numpy() + 1, "float32")
    wrong = judge(Boundary(EAGER, AOT), ref, dataclasses.replace(tgt, mutated=((0, bad),)))
    assert wrong.kind is VerdictKind.VALUE and "mutated" in wrong.path, wrong


@pytest.mark.parametrize("expr", [
    "torch.rand_like(torch.randn(3, 4))",
    "torch.nn.functional.dropout(torch.randn(4, 4))",
])
def test_random_apis_are_nondeterministic(index, expr):
    task, result = case(index, expr)
    assert result.consumes_rng
    assert all(o.outcome is Outcome.RETURNED for o in result.observations)
    v = verdict(task, result)
    assert v.kind is VerdictKind.NONDETERMINISTIC and not v.breaking, v


def test_deterministic_api_does_not_consume_rng(index):
    _, result = case(index, "torch.cumsum(torch.randn(4, 3), dim=0)")
    assert not result.consumes_rng


def test_graph_break_under_fullgraph_is_unsupported(index):
    # Dynamo cannot trace Tensor.tolist() of a float tensor: with fullgraph
    # (the mode's default) that is an error, classified as a missing feature.
    task, result = case(index, "torch.randn(2, 3).tolist()")
    ref, tgt = result.observations
    assert ref.outcome is Outcome.RETURNED
    assert tgt.outcome is Outcome.UNSUPPORTED and tgt.error_type.endswith("Unsupported")
    v = verdict(task, result)
    assert v.kind is VerdictKind.UNSUPPORTED and not v.breaking, v


@pytest.mark.parametrize("expr", [
    # dynamo wraps the op's own RuntimeError as "RuntimeError when making
    # fake tensor call": still the input's fault, not a missing feature.
    "torch.reshape(torch.randn(6), (4, 5))",
    "torch.cat([torch.randn(6), torch.randn(6)], dim=3)",
    "torch.matmul(torch.randn(2, 3), torch.randn(2, 3))",
])
def test_both_raising_is_invalid(index, expr):
    task, result = case(index, expr)
    assert [o.outcome for o in result.observations] == [Outcome.RAISED, Outcome.RAISED]
    v = verdict(task, result)
    assert v.kind is VerdictKind.INVALID and not v.breaking, v


def test_a_target_accepting_what_eager_rejects_is_a_status_discrepancy(index):
    # Eager softmax has no int64 kernel (NotImplementedError); a compiled
    # mode that returns anyway accepts an input outside eager's domain.
    # aot_eager raises as eager does: both raise, the input is invalid.
    task, result = case(index, "torch.nn.functional.softmax(torch.tensor([1, 2, 3]), dim=0)",
                        (EAGER, AOT, "torch.compile"))
    ref, aot, inductor = result.observations
    assert ref.outcome is Outcome.RAISED and "NotImplementedError" in ref.error_type
    assert aot.outcome is Outcome.RAISED and inductor.outcome is Outcome.RETURNED
    invalid, status = judge_case(task, result)
    assert invalid.kind is VerdictKind.INVALID and not invalid.breaking
    assert status.kind is VerdictKind.STATUS and status.accepts_invalid and status.breaking


def test_nested_tensor_inputs_get_a_signature(index):
    # A nested tensor has no sizes or strides: the signature key is built
    # from what it has, not a seamfuzz error.
    task, result = case(index, "torch.nested.nested_tensor([torch.randn(2), torch.randn(3)])"
                               ".abs()")
    assert all(o.outcome is not Outcome.INTERNAL for o in result.observations), result


def test_module_record_agrees_across_modes(index):
    task, result = case(index, "torch.nn.Linear(3, 2)(torch.randn(4, 3))")
    ref, tgt = result.observations
    assert ref.outcome is Outcome.RETURNED and ref.output.shape == (4, 2)
    assert ref.output.dtype == "float32"
    assert verdict(task, result).kind is VerdictKind.AGREE


def _what(result: CaseResult) -> list:
    return [(o.mode, o.outcome, o.output, o.mutated) for o in result.observations]


def test_same_seed_gives_identical_observations(index):
    expr = "torch.nn.functional.softmax(torch.randn(4, 5).T, dim=-1)"
    _, first = case(index, expr, seed=11)
    _, again = case(index, expr, seed=11)
    _, other = case(index, expr, seed=12)
    assert _what(first) == _what(again)
    assert first.observations[0].output != other.observations[0].output


def test_rounding_noise_agrees_and_brings_the_float64_oracle(index):
    task, result = case(index, "torch.cumsum(torch.randn(5, 3), dim=0)", modes=(EAGER, NUDGE))
    ref, tgt = result.observations
    assert tgt.output != ref.output  # the target really differs ...
    assert verdict(task, result).kind is VerdictKind.AGREE  # ... by rounding only
    # A bit-level difference brings the checks: a repeat run and the oracle.
    assert result.ref_repeat is not None and result.ref_repeat.output == ref.output
    oracle = result.oracle
    assert oracle is not None and oracle.outcome is Outcome.RETURNED
    assert oracle.mode.endswith("#float64")
    assert oracle.output.dtype == "float64" and oracle.output.shape == ref.output.shape
    np.testing.assert_allclose(oracle.output.to_numpy(), ref.output.to_numpy(),
                               rtol=1e-5, atol=1e-6)


def test_bit_identical_targets_skip_the_checks(index):
    _, result = case(index, "torch.nn.functional.relu(torch.randn(3, 4))")
    assert result.observations[1].output == result.observations[0].output
    assert result.ref_repeat is None and result.oracle is None


def test_worker_environment_is_one_thread():
    assert torch.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_a_raise_the_sandbox_caused_is_sandboxed_not_a_status_discrepancy(index, monkeypatch):
    # torch.compile wraps the backend's OSError; the refusal is found in the
    # chain, before the mode is asked whether the error is one of its limits.
    monkeypatch.setenv(SANDBOX_ENV, "bubblewrap")
    task, result = case(index, "torch.abs(torch.randn(3))", (EAGER, READ_ONLY))
    ref, tgt = result.observations
    assert ref.outcome is Outcome.RETURNED
    assert tgt.outcome is Outcome.SANDBOXED and tgt.detail == "sandboxed: write outside temp"
    assert tgt.error_type and "Read-only file system" in tgt.error_message
    v = verdict(task, result)
    assert v.kind is VerdictKind.SANDBOXED and not v.breaking, v
    # Outside a sandbox a read-only file system is the machine's: the
    # target raised where eager returned.
    monkeypatch.delenv(SANDBOX_ENV)
    task, result = case(index, "torch.abs(torch.randn(3))", (EAGER, READ_ONLY))
    assert result.observations[1].outcome is Outcome.RAISED
    assert verdict(task, result).kind is VerdictKind.STATUS
