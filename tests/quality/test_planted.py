"""Planted bugs: the fuzzer must find every one, and nothing else.

Plug-in compilers from :mod:`planted` (a wrong result, an abort, a hang, each
for one input shape) run against the eager reference through the real runner
(spawned workers, the contract).  Every case whose shape triggers a bug must
get the matching breaking verdict; every other case, and every case under
the bug-free control backends, must agree.  The custom backends run the
traced graph without a compiler, so a compile costs milliseconds.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterator

import pytest

from miner.apiindex import load_or_build
from runner.check import record_from_expression
from runner.contract import Verdict, VerdictKind
from runner.dispatch import judge_case, run_cases
from runner.execute import DEFAULT_MAX_ELEMENTS, CaseResult, CaseTask
from runner.observation import Outcome

HERE = Path(__file__).resolve().parent

#: A spec names the plug-in module as ``planted`` (see planted.py).
TORCH_WRONG = "torch.compile:backend=planted:wrong_backend"
TORCH_CORRECT = "torch.compile:backend=planted:correct_backend"
TORCH_ABORT = "torch.compile:backend=planted:aborting_backend"
TORCH_HANG = "torch.compile:backend=planted:hanging_backend"
TF_WRONG = "tf.function:transform=planted:wrong_transform"
TF_CORRECT = "tf.function:transform=planted:correct_transform"

#: Each API once with a dimension of 7 (the wrong result fires) and once
#: without; a transposed input and a two-tensor call are among them.
TORCH_WITH_7 = [
    "torch.cumsum(torch.randn(7, 3), dim=0)",
    "torch.softmax(torch.randn(4, 7).T, dim=-1)",
    "torch.nn.functional.relu(torch.randn(2, 7))",
    "torch.sum(torch.randn(7))",
    "torch.matmul(torch.randn(7, 4), torch.randn(4, 2))",
    "torch.tanh(torch.randn(3, 7, 2))",
    "torch.mean(torch.randn(7, 2), dim=1)",
    "torch.add(torch.randn(7), torch.randn(7), alpha=2)",
]
TORCH_WITHOUT_7 = [
    "torch.cumsum(torch.randn(4, 3), dim=0)",
    "torch.softmax(torch.randn(4, 3).T, dim=-1)",
    "torch.nn.functional.relu(torch.randn(2, 8))",
    "torch.sum(torch.randn(9))",
    "torch.matmul(torch.randn(3, 4), torch.randn(4, 2))",
    "torch.tanh(torch.randn(3, 4, 2))",
    "torch.mean(torch.randn(8, 2), dim=1)",
    "torch.add(torch.randn(3), torch.randn(3), alpha=2)",
]
TF_WITH_7 = [
    "tf.math.cumsum(tf.random.normal([7, 3]), axis=0)",
    "tf.nn.softmax(tf.random.normal([4, 7]))",
    "tf.math.reduce_sum(tf.random.normal([7]))",
    "tf.linalg.matmul(tf.random.normal([7, 4]), tf.random.normal([4, 2]))",
    "tf.nn.relu(tf.random.normal([2, 7]))",
]
TF_WITHOUT_7 = [
    "tf.math.cumsum(tf.random.normal([4, 3]), axis=0)",
    "tf.nn.softmax(tf.random.normal([4, 3]))",
    "tf.math.reduce_sum(tf.random.normal([9]))",
    "tf.linalg.matmul(tf.random.normal([3, 4]), tf.random.normal([4, 2]))",
    "tf.nn.relu(tf.random.normal([2, 8]))",
]
#: Normal cases run beside the crash and the hang (no dim of 5 or 6).
TORCH_NORMAL = [
    "torch.nn.functional.relu(torch.randn(2, 3))",
    "torch.sum(torch.randn(4))",
    "torch.matmul(torch.randn(3, 4), torch.randn(4, 2))",
]
ABORTS = "torch.cumsum(torch.randn(5, 3), dim=0)"
HANGS = "torch.cumsum(torch.randn(6, 2), dim=0)"
#: Per-case limit of the crash-and-hang run: well above a warm worker's
#: compile with a custom backend, short enough to keep the test fast.
HANG_TIMEOUT = 15.0
#: max_elements below the case's 21 elements.
TOO_SMALL = 8


@pytest.fixture(scope="module")
def index():
    return load_or_build()


@pytest.fixture(scope="module", autouse=True)
def planted_importable() -> Iterator[None]:
    """Spawned workers import ``planted`` from the parent's ``sys.path``;
    pytest's default import mode already put this directory there, other
    modes may not."""
    with pytest.MonkeyPatch.context() as mp:
        if str(HERE) not in sys.path:
            mp.syspath_prepend(str(HERE))
        yield


def task(index, expr: str, modes: tuple[str, ...], seed: int = 0, *, tag: str = "",
         max_elements: int = DEFAULT_MAX_ELEMENTS) -> CaseTask:
    """The case of ``expr``, identified by the expression (plus ``tag``)."""
    return CaseTask(expr + tag, record_from_expression(expr, index), seed, modes,
                    max_elements=max_elements)


def run(tasks: list[CaseTask], **kw) -> dict[str, tuple[CaseResult, dict[str, Verdict]]]:
    """case id -> (result, target mode -> verdict), for every task."""
    out = {}
    for t, result in run_cases(tasks, jobs=2, **kw):
        out[t.case_id] = (result, {v.target: v for v in judge_case(t, result)})
    assert sorted(out) == sorted(t.case_id for t in tasks)
    return out


def kinds(verdicts: dict[str, Verdict]) -> dict[str, VerdictKind]:
    return {mode: v.kind for mode, v in verdicts.items()}


# -- silent wrong results ---------------------------------------------------------


def planted_results(index, modes, with_7, without_7):
    """Every expression once per seed, plus the first with-7 one over the
    element cap (case id suffixed ``#small``), run in ``modes``."""
    tasks = [task(index, e, modes, seed=i) for i, e in enumerate(with_7 + without_7)]
    tasks.append(task(index, with_7[0], modes, tag="#small", max_elements=TOO_SMALL))
    return run(tasks)


@pytest.fixture(scope="module")
def torch_results(index):
    return planted_results(index, ("torch.eager", TORCH_WRONG, TORCH_CORRECT),
                           TORCH_WITH_7, TORCH_WITHOUT_7)


@pytest.mark.parametrize("expr", TORCH_WITH_7)
def test_wrong_backend_is_caught_on_the_planted_shape(torch_results, expr):
    _, verdicts = torch_results[expr]
    wrong = verdicts[TORCH_WRONG]
    assert wrong.kind is VerdictKind.VALUE, wrong
    assert wrong.breaking and wrong.reference == "torch.eager"
    # Every element is off by the planted offset, and float64 arbitration
    # (not the tolerance alone) rejected it.
    assert re.search(r"\b(\d+) of \1 elements differ \(max abs diff 1\.00e-02", wrong.detail), \
        wrong.detail
    assert "vs fp64" in wrong.detail, wrong.detail
    assert verdicts[TORCH_CORRECT].kind is VerdictKind.AGREE, verdicts[TORCH_CORRECT]


@pytest.mark.parametrize("expr", TORCH_WITHOUT_7)
def test_no_discrepancy_off_the_planted_shape(torch_results, expr):
    _, verdicts = torch_results[expr]
    assert kinds(verdicts) == {TORCH_WRONG: VerdictKind.AGREE,
                               TORCH_CORRECT: VerdictKind.AGREE}, verdicts


def test_correct_backend_has_no_discrepancy_at_all(torch_results):
    for case_id, (_, verdicts) in torch_results.items():
        if not case_id.endswith("#small"):
            assert verdicts[TORCH_CORRECT].kind is VerdictKind.AGREE, (case_id, verdicts)


def test_the_wrong_results_come_with_a_float64_oracle(torch_results):
    # A VALUE verdict survived float64 arbitration: the oracle was there.
    for expr in TORCH_WITH_7:
        result, _ = torch_results[expr]
        assert result.oracle is not None and result.oracle.outcome is Outcome.RETURNED


@pytest.fixture(scope="module")
def tf_results(index):
    return planted_results(index, ("tf.eager", TF_WRONG, TF_CORRECT), TF_WITH_7, TF_WITHOUT_7)


@pytest.mark.parametrize("expr", TF_WITH_7)
def test_wrong_transform_is_caught_on_the_planted_shape(tf_results, expr):
    _, verdicts = tf_results[expr]
    wrong = verdicts[TF_WRONG]
    assert wrong.kind is VerdictKind.VALUE, wrong
    assert wrong.breaking and wrong.reference == "tf.eager"
    assert "elements differ" in wrong.detail and "vs fp64" in wrong.detail, wrong.detail
    assert verdicts[TF_CORRECT].kind is VerdictKind.AGREE, verdicts[TF_CORRECT]


@pytest.mark.parametrize("expr", TF_WITHOUT_7)
def test_no_tf_discrepancy_off_the_planted_shape(tf_results, expr):
    _, verdicts = tf_results[expr]
    assert kinds(verdicts) == {TF_WRONG: VerdictKind.AGREE, TF_CORRECT: VerdictKind.AGREE}


# -- oversized inputs -------------------------------------------------------------


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_oversized_input_is_too_large_not_run(torch_results, tf_results, framework):
    results = torch_results if framework == "torch" else tf_results
    (case_id,) = [c for c in results if c.endswith("#small")]
    result, verdicts = results[case_id]
    assert all(o.outcome is Outcome.SKIPPED and "too_large" in o.detail
               for o in result.observations), result.observations
    for v in verdicts.values():
        assert v.kind is VerdictKind.TOO_LARGE and "too_large" in v.detail, v


# -- crashes and hangs --------------------------------------------------------------


# Marked slow (about a minute): the hang costs three timeouts (its batch, its
# re-run alone, its mode alone) and every crash or hang a worker restart.


@pytest.fixture(scope="module")
def crash_results(index):
    modes = ("torch.eager", TORCH_ABORT, TORCH_HANG)
    exprs = [TORCH_NORMAL[0], ABORTS, TORCH_NORMAL[1], TORCH_NORMAL[2], HANGS]
    # Batches of two: the abort shares one with a normal case, which must
    # survive the re-run; the hang is alone, so it costs 3 timeouts, not 4.
    return run([task(index, e, modes, seed=i) for i, e in enumerate(exprs)],
               timeout=HANG_TIMEOUT, batch=2)


@pytest.mark.slow
def test_abort_is_a_crash_of_its_mode_only(crash_results):
    result, verdicts = crash_results[ABORTS]
    ref, aborting, hanging = result.observations
    assert ref.outcome is Outcome.RETURNED
    assert aborting.outcome is Outcome.CRASHED and "signal 6" in aborting.detail
    assert hanging.outcome is Outcome.RETURNED
    assert kinds(verdicts) == {TORCH_ABORT: VerdictKind.CRASH, TORCH_HANG: VerdictKind.AGREE}
    assert verdicts[TORCH_ABORT].breaking


@pytest.mark.slow
def test_hang_is_a_timeout_of_its_mode_only(crash_results):
    result, verdicts = crash_results[HANGS]
    ref, aborting, hanging = result.observations
    assert ref.outcome is Outcome.RETURNED and aborting.outcome is Outcome.RETURNED
    assert hanging.outcome is Outcome.TIMEOUT
    assert kinds(verdicts) == {TORCH_ABORT: VerdictKind.AGREE, TORCH_HANG: VerdictKind.TIMEOUT}
    assert verdicts[TORCH_HANG].breaking


@pytest.mark.slow
@pytest.mark.parametrize("expr", TORCH_NORMAL)
def test_other_cases_of_the_run_are_unharmed(crash_results, expr):
    result, verdicts = crash_results[expr]
    assert all(o.outcome is Outcome.RETURNED for o in result.observations)
    assert kinds(verdicts) == {TORCH_ABORT: VerdictKind.AGREE, TORCH_HANG: VerdictKind.AGREE}
