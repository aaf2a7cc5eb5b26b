"""Orchestration: which modes run, cases into the store, results judged.

The stage libraries do the work (:mod:`runner.dispatch` runs cases in
isolated workers, :mod:`runner.contract` judges them); this module decides
the modes per framework, writes every case to the campaign store before it
is dispatched, and stores observations and verdicts as results arrive.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from infra.errors import InvalidArgument
from miner.records import CallRecord
from runner.contract import Verdict, VerdictKind
from runner.deny import denied_record
from runner.dispatch import check_modes, judge_case
from runner.execute import CaseResult, CaseTask
from runner.modes import ModeSpec, default_targets, parse_mode, parse_modes, reference_of
from runner.observation import Observation, Outcome
from seamfuzz.executors import Executor, LocalExecutor
from seamfuzz.store import CampaignStore, NewCase, case_id

__all__ = ["modes_by_framework", "select_records", "mined_cases",
           "run_cases", "run_records", "CaseOutcome", "library_versions", "record_settings"]



def modes_by_framework(modes: Optional[str], reference: Optional[str] = None
                       ) -> dict[str, tuple[str, ...]]:
    """Per framework, the mode specs to run, the reference first.

    ``modes`` is a ``--modes`` value (targets, and possibly the reference);
    without it the defaults apply.  The reference is ``reference`` when
    given, else the framework's eager CPU mode.
    """
    specs: list[ModeSpec] = parse_modes(modes) if modes else [
        m for targets in default_targets().values() for m in targets]
    refs: dict[str, str] = {fw: str(reference_of(fw)) for fw in ("torch", "tensorflow")}
    if reference:
        ref = parse_mode(reference)
        refs[ref.framework] = str(ref)
    out: dict[str, tuple[str, ...]] = {}
    for fw in ("torch", "tensorflow"):
        targets = [str(s) for s in specs if s.framework == fw and str(s) != refs[fw]]
        if targets:
            out[fw] = (refs[fw], *targets)
    if not out:
        raise InvalidArgument(f"no target mode besides the reference in {modes!r}")
    return out


def select_records(records: Iterable[CallRecord], patterns: Sequence[str], index: Any = None
                   ) -> list[CallRecord]:
    """Records whose API matches a glob; a pattern that is a public alias
    (``tf.abs``) is first mapped to its canonical name (``tf.math.abs``) by
    the :class:`~miner.apiindex.ApiIndex` ``index``."""
    if not patterns:
        return list(records)
    canon = canonical_patterns(patterns, index)
    return [r for r in records if any(fnmatch.fnmatchcase(r.api, p) for p in canon)]


def canonical_patterns(patterns: Sequence[str], index: Any = None) -> list[str]:
    """``patterns`` plus the canonical name of each that is a public alias."""
    canon = []
    for p in patterns:
        canon.append(p)
        if index is not None and not any(ch in p for ch in "*?["):
            sym = index.lookup_name(p)
            if sym is not None:
                canon.append(sym.canonical)
    return canon


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case's result as the campaign stored it."""

    case_id: str
    record: CallRecord
    seed: int
    observations: tuple[Observation, ...]
    verdicts: tuple[Verdict, ...]


def _skipped(task: CaseTask, reason: str) -> tuple[CaseResult, list[Verdict]]:
    modes = [str(m) for m in task.modes]
    obs = tuple(Observation(mode=m, outcome=Outcome.SKIPPED, detail=reason) for m in modes)
    verdicts = [Verdict(modes[0], m, VerdictKind.SKIPPED, reason) for m in modes[1:]]
    return CaseResult(task.case_id, obs), verdicts


def mined_cases(records: Sequence[CallRecord], modes: dict[str, tuple[str, ...]],
                seed: int) -> list[NewCase]:
    """Each record run once, as it is, with seed ``seed``."""
    return [NewCase(case_id(rec, seed), rec, seed, "mined", modes[rec.framework])
            for rec in records if rec.framework in modes]


def run_cases(cases: Sequence[NewCase], store: CampaignStore, executor: Executor, *,
              max_elements: Optional[int] = None, confirm_limit: int = 100,
              deadline: Optional[float] = None,
              on_start: Optional[Callable[[int], None]] = None) -> Iterator[CaseOutcome]:
    """Store ``cases`` as pending, then run those not done yet and store
    their observations and verdicts; yields each case's outcome as it
    completes.

    Cases already done in the store are not run again, so a rerun of the
    same command continues where it stopped.  Denied APIs are stored as
    skipped with the reason.  Past ``deadline`` (a ``time.monotonic()``
    value) nothing more is dispatched; what did not finish stays pending.
    """
    store.add_cases(cases)
    tasks: list[CaseTask] = []
    skipped: list[tuple[CaseTask, str]] = []
    kw = {} if max_elements is None else {"max_elements": max_elements}
    for case in cases:
        if store.status(case.id) == "done":
            continue
        task = CaseTask(case.id, case.record, case.seed, case.modes, **kw)
        why = denied_record(case.record)
        if why:
            skipped.append((task, f"denied: {why}"))
        else:
            tasks.append(task)
    if on_start is not None:
        on_start(len(tasks) + len(skipped))
    for task, why in skipped:
        result, verdicts = _skipped(task, why)
        store.put_result(task.case_id, result.observations, verdicts)
        yield CaseOutcome(task.case_id, task.record, task.seed, result.observations,
                          tuple(verdicts))

    def finish(task: CaseTask, result: CaseResult, verdicts: list[Verdict]) -> CaseOutcome:
        extra = [o for o in (result.ref_repeat, result.oracle) if o is not None]
        store.put_result(task.case_id, (*result.observations, *extra), verdicts)
        return CaseOutcome(task.case_id, task.record, task.seed, result.observations,
                           tuple(verdicts))

    first: dict[str, list[Verdict]] = {}
    first_results: dict[str, CaseResult] = {}
    confirm: list[CaseTask] = []
    if tasks:
        # A mode naming what is not there (an unknown backend) is a usage
        # error: stop before any case runs rather than store it per case.
        check_modes(executor, list(dict.fromkeys(m for t in tasks for m in t.modes)))
        results = executor.run(tasks)
        try:
            for task, result in results:
                verdicts = judge_case(task, result)
                if any(v.breaking for v in verdicts):
                    first[task.case_id] = verdicts
                    first_results[task.case_id] = result
                    confirm.append(task)
                else:
                    yield finish(task, result, verdicts)
                if deadline is not None and time.monotonic() > deadline:
                    break
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
    # Note [Confirmation in a clean worker]
    #     A worker runs many cases; a call that changes global library state
    #     (a renamed device backend, an instrumentation switch) the deny list
    #     does not know yet would make every later case in that worker fail.
    #     So a case with a breaking verdict is run again, alone, in a worker
    #     that ran nothing else (a new one per case: one clean worker shared
    #     by the confirmations could be poisoned by the first of them), and
    #     that run's verdicts are stored; when it no longer breaks, the first
    #     run's finding is kept in the detail.  Past ``confirm_limit`` cases
    #     the first verdicts are stored as they are, saying so (the count is
    #     kept in the store, so it holds across rounds and reruns).
    for task in confirm:
        if store.confirmations() >= confirm_limit:
            verdicts = [dataclasses.replace(v, detail=f"{v.detail} (not confirmed in a clean "
                                                          f"worker: over the limit)")
                        for v in first[task.case_id]]
            yield finish(task, first_results[task.case_id], verdicts)
            continue
        store.count_confirmation()
        result = executor.run_clean(task)
        verdicts = judge_case(task, result)
        if not any(v.breaking for v in verdicts):
            before = {v.target: v for v in first[task.case_id]}
            verdicts = [dataclasses.replace(v, detail=(
                f"{v.detail}; not reproduced in a clean worker, the first run said "
                f"{before[v.target].kind.value}: {before[v.target].detail}")[:4000])
                if v.target in before and before[v.target].breaking else v
                for v in verdicts]
        yield finish(task, result, verdicts)


def run_records(records: Sequence[CallRecord], modes: dict[str, tuple[str, ...]],
                store: CampaignStore, *, seed: int = 0, jobs: int = 1, timeout: float = 120.0,
                max_elements: Optional[int] = None, confirm_limit: int = 100,
                on_start: Optional[Callable[[int], None]] = None,
                sandbox: Any = True) -> Iterator[CaseOutcome]:
    """Run each record once (seed ``seed``) in its framework's modes on the
    local executor (see :func:`run_cases`), in ``sandbox`` (see
    :class:`~runner.dispatch.Runner`)."""
    with LocalExecutor(jobs=jobs, timeout=timeout, log_dir=store.dir,
                       sandbox=sandbox) as executor:
        yield from run_cases(mined_cases(records, modes, seed), store, executor,
                             max_elements=max_elements, confirm_limit=confirm_limit,
                             on_start=on_start)


def library_versions() -> dict[str, str]:
    """Installed versions, read without importing the frameworks."""
    from importlib import metadata

    out = {}
    for pkg in ("torch", "tensorflow", "keras", "numpy", "libcst"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    from seamfuzz import __version__

    out["seamfuzz"] = __version__
    return out


def record_settings(store: CampaignStore, settings: dict[str, Any]) -> None:
    """Stamp the store with the command's settings and library versions."""
    store.set_meta("settings", json.dumps(settings, sort_keys=True))
    store.set_meta("versions", json.dumps(library_versions(), sort_keys=True))
