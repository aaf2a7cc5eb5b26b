"""Running cases in isolated workers, from the parent process.

Cases go, in batches, to long-lived spawned workers of their framework
(:mod:`infra.pool`); a worker that crashes or hangs is killed with its
process group and replaced, and the batch is re-run case by case, then the
failing case mode by mode, to learn which mode killed it.  The parent never
imports torch or tensorflow.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any, Iterable, Iterator, Optional, Sequence

from infra.pool import FailureKind, TaskFailure, WorkerPool
from infra.sandbox import Sandbox, compile_cache_dir, require
from runner.contract import Boundary, ToleranceTable, Verdict, judge
from runner.deny import nondeterministic
from infra.errors import InternalError, InvalidArgument
from runner.execute import (
    CaseResult,
    CaseTask,
    ModeProbe,
    ModeStatus,
    WorkerLimits,
    init_worker,
    run_batch,
)
from runner.modes import ModeSpec
from runner.observation import Observation, Outcome

__all__ = ["Runner", "check_modes", "run_cases", "judge_case", "DEFAULT_TIMEOUT", "BATCH"]

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
    # The worker's own code raised: a seamfuzz bug, never the library's.
    return Observation(mode=mode, outcome=Outcome.INTERNAL, detail=failure.detail[-4000:])


def _isolate(pool: WorkerPool, task: CaseTask, timeout: float) -> CaseResult:
    """Re-run a case that killed its worker one mode at a time."""
    observations = []
    for mode in task.modes:
        single = CaseTask(task.case_id, task.record, task.seed, (mode,), checks=False,
                          max_elements=task.max_elements)
        ((_, result),) = list(pool.imap_unordered([[single]], timeout_of=lambda _: timeout))
        if isinstance(result, TaskFailure):
            observations.append(_failure_observation(str(mode), result))
        else:
            observations.append(result[0].observations[0])
    return CaseResult(task.case_id, tuple(observations))


class Runner:
    """Long-lived worker pools, one per framework, created on first use.

    Workers keep their compiled callables between calls of :meth:`run`, so
    a campaign that feeds cases in several rounds compiles each signature
    once per worker.  Every worker runs in ``sandbox`` (True: the sandbox
    :func:`infra.sandbox.require` finds, refusing to go on without one;
    False: unconfined; or a :class:`~infra.sandbox.Sandbox`).  Use as a
    context manager.
    """

    def __init__(self, *, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT, batch: int = BATCH,
                 log_dir: Optional[str] = None, sandbox: "bool | Sandbox" = True) -> None:
        if jobs < 1 or timeout <= 0 or batch < 1:
            raise ValueError("jobs and batch must be >= 1 and timeout > 0")
        self.jobs = jobs
        self.timeout = timeout
        self.batch = batch
        #: Raises SandboxUnavailable before any worker starts.
        self.sandbox = sandbox if isinstance(sandbox, Sandbox) else require(bool(sandbox))
        self.log_dir = os.path.abspath(log_dir or tempfile.mkdtemp(prefix="seamfuzz-logs-"))
        self._pools: dict[str, WorkerPool] = {}

    def _pool(self, fw: str, accelerated: bool = False) -> WorkerPool:
        pool = self._pools.get(fw)
        if pool is None:
            # Note [Which limits] in runner.execute: no address-space cap
            # with an accelerator; the element cap still bounds the inputs.
            limits = WorkerLimits(address_space=0) if accelerated else WorkerLimits()
            pool = self._pools[fw] = WorkerPool(
                run_batch, jobs=self.jobs, timeout=self.timeout, initializer=init_worker,
                initargs=(fw, limits), sandbox=self.sandbox, cache_dir=compile_cache_dir(),
                log_path=os.path.join(self.log_dir, f"worker-{fw}.log"), devices=accelerated,
                max_processes=limits.processes)
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools = {}

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_modes(self, modes: Sequence[ModeSpec]) -> ModeStatus:
        """Ask a worker of the modes' framework whether they can run (see
        :func:`check_modes`)."""
        modes = tuple(modes)
        fw = modes[0].framework
        pool = self._pool(fw, any(m.device != "cpu" for m in modes))
        ((_, result),) = list(pool.imap_unordered([[ModeProbe(modes)]],
                                                  timeout_of=lambda _: self.timeout))
        if isinstance(result, TaskFailure):
            raise InternalError(f"a {fw} worker failed to build modes "
                                f"{', '.join(map(str, modes))}: {result.detail[-2000:]}")
        return result[0]

    def run(self, tasks: Iterable[CaseTask]) -> Iterator[tuple[CaseTask, CaseResult]]:
        """Run every task, yielding ``(task, result)`` as results arrive.
        Frameworks run one after the other (a worker never imports both)."""
        timeout = self.timeout
        by_fw: dict[str, list[CaseTask]] = {}
        for t in tasks:
            by_fw.setdefault(t.framework, []).append(t)
        for fw, fw_tasks in by_fw.items():
            pool = self._pool(fw, any(m.device != "cpu" for t in fw_tasks for m in t.modes))
            size = self.batch
            batches = [fw_tasks[i:i + size] for i in range(0, len(fw_tasks), size)]
            retry: list[CaseTask] = []
            for chunk, result in pool.imap_unordered(batches,
                                                     timeout_of=lambda b: timeout * len(b)):
                if isinstance(result, TaskFailure):
                    if len(chunk) == 1:  # already alone: find the mode
                        yield chunk[0], _isolate(pool, chunk[0], timeout)
                    else:
                        retry.extend(chunk)  # find the case that did it
                    continue
                yield from zip(chunk, result)
            for task in retry:
                ((_, result),) = list(pool.imap_unordered([[task]],
                                                          timeout_of=lambda _: timeout))
                if isinstance(result, TaskFailure):
                    yield task, _isolate(pool, task, timeout)
                else:
                    yield task, result[0]


def check_modes(executor: Any, modes: Sequence[ModeSpec]) -> None:
    """Raise :class:`InvalidArgument` when a mode names what is not there
    (a backend torch does not know, a plug-in that does not import), before
    any case runs; ``executor`` has ``check_modes`` (a :class:`Runner`).
    Modes merely unavailable here (no GPU) run and report themselves
    unavailable per case."""
    by_fw: dict[str, list[ModeSpec]] = {}
    for m in modes:
        by_fw.setdefault(m.framework, []).append(m)
    problems = []
    for fw_modes in by_fw.values():
        status = executor.check_modes(fw_modes)
        problems += [f"{m}: {why}" for m, why in zip(fw_modes, status.usage_errors) if why]
    if problems:
        raise InvalidArgument("; ".join(problems))


def run_cases(tasks: Iterable[CaseTask], *, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT,
              batch: int = BATCH, log_dir: Optional[str] = None,
              sandbox: "bool | Sandbox" = True) -> Iterator[tuple[CaseTask, CaseResult]]:
    """:meth:`Runner.run` with pools that live for this call only.  Workers
    write their stdout and stderr to ``log_dir/worker-<framework>.log`` (a
    temporary directory when not given)."""
    with Runner(jobs=jobs, timeout=timeout, batch=batch, log_dir=log_dir,
                sandbox=sandbox) as runner:
        yield from runner.run(tasks)


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
                              nondeterministic_api=result.consumes_rng or
                              nondeterministic(task.record.api) is not None))
    return verdicts
