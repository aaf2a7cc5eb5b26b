"""Running cases in isolated workers, from the parent process.

Cases go, in batches, to long-lived spawned workers of their framework
(:mod:`miner.pool`); a worker that crashes or hangs is killed with its
process group and replaced, and the batch is re-run case by case, then the
failing case mode by mode, to learn which mode killed it.  The parent never
imports torch or tensorflow.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Iterable, Iterator, Optional

from miner.pool import FailureKind, TaskFailure, WorkerPool
from runner.contract import Boundary, ToleranceTable, Verdict, judge
from runner.execute import CaseResult, CaseTask, init_worker, run_batch
from runner.observation import Observation, Outcome

__all__ = ["run_cases", "judge_case", "DEFAULT_TIMEOUT", "BATCH"]

#: Seconds one case may take; generous enough for a first inductor compile
#: (6-7 s cold on 2 cores) plus the checks.
DEFAULT_TIMEOUT = 120.0
#: Cases sent to a worker at once.
BATCH = 8


def _failure_observation(mode: str, failure: TaskFailure) -> Observation:
    if failure.kind is FailureKind.TIMEOUT:
        return Observation(mode=mode, outcome=Outcome.TIMEOUT, detail=failure.detail)
    if failure.kind is FailureKind.CRASHED:
        return Observation(mode=mode, outcome=Outcome.CRASHED, detail=failure.detail)
    # The worker's own code raised: a seamfuzz bug, kept visible as a value.
    return Observation(mode=mode, outcome=Outcome.RAISED, error_type="seamfuzz.InternalError",
                       error_message=failure.detail[-2000:])


def _isolate(pool: WorkerPool, task: CaseTask, timeout: float) -> CaseResult:
    """Re-run a case that killed its worker one mode at a time."""
    observations = []
    for mode in task.modes:
        single = CaseTask(task.case_id, task.record, task.seed, (mode,), checks=False,
                          max_elements=task.max_elements)
        ((_, result),) = list(pool.imap_unordered([[single]], timeout_of=lambda _: timeout))
        if isinstance(result, TaskFailure):
            observations.append(_failure_observation(mode, result))
        else:
            observations.append(result[0].observations[0])
    return CaseResult(task.case_id, tuple(observations))


def run_cases(tasks: Iterable[CaseTask], *, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT,
              batch: int = BATCH, log_dir: Optional[str] = None
              ) -> Iterator[tuple[CaseTask, CaseResult]]:
    """Run every task, yielding ``(task, result)`` as results arrive.

    Tasks of one framework share a pool of ``jobs`` workers; frameworks run
    one after the other (a worker never imports both).  Workers write their
    stdout and stderr to ``log_dir/worker-<framework>.log`` (a temporary
    directory when not given).
    """
    if log_dir is None:
        log_dir = tempfile.mkdtemp(prefix="seamfuzz-logs-")
    by_fw: dict[str, list[CaseTask]] = {}
    for t in tasks:
        fw = "torch" if t.modes[0].startswith("torch.") else "tensorflow"
        by_fw.setdefault(fw, []).append(t)
    for fw, fw_tasks in by_fw.items():
        batches = [fw_tasks[i:i + batch] for i in range(0, len(fw_tasks), batch)]
        with WorkerPool(run_batch, jobs=max(1, min(jobs, len(batches))), timeout=timeout,
                        initializer=init_worker,
                        initargs=(fw, os.path.join(log_dir, f"worker-{fw}.log"))) as pool:
            retry: list[CaseTask] = []
            for chunk, result in pool.imap_unordered(batches,
                                                     timeout_of=lambda b: timeout * len(b)):
                if isinstance(result, TaskFailure):
                    retry.extend(chunk)
                    continue
                yield from zip(chunk, result)
            for task in retry:
                ((_, result),) = list(pool.imap_unordered([[task]],
                                                          timeout_of=lambda _: timeout))
                if isinstance(result, TaskFailure):
                    yield task, _isolate(pool, task, timeout)
                else:
                    yield task, result[0]


def judge_case(task: CaseTask, result: CaseResult,
               tolerances: Optional[ToleranceTable] = None) -> list[Verdict]:
    """A verdict for every target mode of a case against its reference."""
    ref = result.observations[0]
    name = ref.mode

    def as_reference(obs: Optional[Observation]) -> Optional[Observation]:
        # the repeat and float64 runs stand in for the reference
        return None if obs is None else dataclasses.replace(obs, mode=name)

    verdicts = []
    for tgt in result.observations[1:]:
        verdicts.append(judge(Boundary(name, tgt.mode), ref, tgt,
                              ref_repeat=as_reference(result.ref_repeat),
                              oracle=as_reference(result.oracle),
                              tolerances=tolerances,
                              nondeterministic_api=result.consumes_rng))
    return verdicts
