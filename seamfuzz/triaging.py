"""``seamfuzz triage`` and ``seamfuzz report`` over a campaign store.

The triage stage (:mod:`triage`) works on plain data; this module feeds it
from ``DIR/campaign.sqlite``, gives it a :data:`~triage.probe.Probe` that
re-runs cases on the campaign's executor, writes reproducers under
``DIR/repros/`` and stores the clusters back in the campaign store, so the
report can be re-derived from the store alone.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

from miner.records import describe_record

from runner.dispatch import judge_case
from runner.execute import DEFAULT_MAX_ELEMENTS, CaseTask
from runner.modes import parse_mode
from runner.deny import denied_record
from runner.observation import Observation, Outcome
from seamfuzz.campaign import library_versions
from seamfuzz.executors import Executor
from seamfuzz.store import CampaignStore
from triage.attribute import attribute
from triage.cluster import PILES, Cluster, Pile, Unjudged, cluster, dedup_ratio, piles
from triage.known import KnownIssues
from triage.probe import Probe, ProbeCase, ProbeResult
from triage.report import (
    ClusterRow,
    ReportData,
    ShrinkStats,
    Totals,
    example_for,
    origin_kind,
    row_for,
)
from triage.shrink import shrink
from triage.signature import BREAKING_KINDS, Finding

__all__ = ["findings_of", "make_probe", "piles_of", "triage_store", "report_data",
           "TriageSummary", "device_description"]


def device_description(modes: Sequence[str] = ()) -> str:
    """The machine in words, and the accelerators the modes asked for."""
    text = f"{platform.machine()} CPU, {os.cpu_count()} cores, {platform.system()}"
    devices = sorted({parse_mode(m).device for m in modes} - {"cpu"})
    return text + (f"; modes on {', '.join(devices)}" if devices else "")


def findings_of(store: CampaignStore) -> list[Finding]:
    """Every breaking verdict of the campaign as a :class:`Finding`."""
    out = []
    for cid, ref, tgt, kind, detail, path in store.verdicts_of_kinds(BREAKING_KINDS):
        case = store.case(cid)
        obs = store.observations(cid)
        if case is None or ref not in obs or tgt not in obs:
            continue
        out.append(Finding(case_id=cid, api=case.record.api, framework=case.record.framework,
                           record=case.record, seed=case.seed, reference=ref, target=tgt,
                           kind=kind, detail=detail, path=path, ref_obs=obs[ref],
                           tgt_obs=obs[tgt]))
    return out


def make_probe(executor: Executor, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Probe:
    """A probe that runs cases on ``executor`` and judges them."""

    def probe(cases: Sequence[ProbeCase]) -> list[ProbeResult]:
        tasks = []
        results: dict[str, ProbeResult] = {}
        for i, c in enumerate(cases):
            task = CaseTask(f"probe-{i}", c.record, c.seed, c.modes, max_elements=max_elements)
            why = denied_record(c.record)
            if why:
                obs = {m: Observation(mode=m, outcome=Outcome.SKIPPED, detail=why)
                       for m in c.modes}
                results[task.case_id] = ProbeResult(obs, {})
            else:
                tasks.append(task)
        for task, result in executor.run(tasks):
            verdicts = judge_case(task, result)
            results[task.case_id] = ProbeResult({o.mode: o for o in result.observations},
                                                {v.target: v for v in verdicts})
        return [results[f"probe-{i}"] for i in range(len(cases))]

    return probe


@dataclass(frozen=True, slots=True)
class TriageSummary:
    """What ``seamfuzz triage`` did."""

    #: Breaking verdicts (a case that breaks on two targets counts twice).
    findings: int
    #: Distinct cases with a breaking verdict.
    cases: int
    clusters: int
    #: Clusters that differ only in their boundary (the same error on
    #: ``torch.compile`` and on ``aot_eager``) counted once.
    problems: int
    #: Findings per cluster.
    dedup_ratio: float
    known: int
    axes: dict[str, int]
    seconds: float


def _command_of(store: CampaignStore) -> str:
    settings = json.loads(store.get_meta("settings") or "{}")
    if not settings:
        return ""
    words = ["seamfuzz", settings.get("command", "fuzz")]
    if settings.get("api"):
        words += ["--api", *settings["api"]]
    modes = sorted({m for ms in (settings.get("modes") or {}).values() for m in ms[1:]})
    if modes:
        words += ["--modes", ",".join(modes)]
    for key in ("seed", "mutants"):
        if settings.get(key) is not None:
            words += [f"--{key}", str(settings[key])]
    words += ["--out", store.dir]
    return " ".join(shlex.quote(w) for w in words)


def triage_store(store: CampaignStore, executor: Executor, *, do_shrink: bool = True,
                 shrink_seconds: float = 60.0, known: Optional[KnownIssues] = None,
                 on_cluster: Optional[Callable[[int, int, Cluster], None]] = None
                 ) -> TriageSummary:
    """Cluster the campaign's findings, attribute, shrink and write a
    reproducer for each cluster, and store the clusters (replacing those of
    an earlier triage)."""
    from triage.repro import Observed, ReproUnsupported, Stamp, write_repro

    start = time.monotonic()
    findings = findings_of(store)
    clusters = cluster(findings)
    probe = make_probe(executor)
    repro_dir = os.path.join(store.dir, "repros")
    versions = library_versions()
    command = _command_of(store)
    ran = json.loads(store.get_meta("settings") or "{}").get("sandbox") or "not recorded"
    here = getattr(executor, "sandbox", None)
    sandboxed = ran if here is None or here.describe() == ran else (
        f"campaign: {ran}; triage: {here.describe()}")
    rows: list[tuple[Cluster, ClusterRow]] = []
    for n, c in enumerate(clusters):
        if on_cluster is not None:
            on_cluster(n, len(clusters), c)
        rep = c.representative
        attribution = attribute(rep, probe)
        best = rep
        stats = None
        if do_shrink and attribution.axis != "not-reproduced":
            result = shrink(rep, probe, seconds=shrink_seconds)
            if result.finding is not None:
                best = result.finding
            stats = ShrinkStats(result.tried, result.kept, result.seconds, result.timed_out)
        example = replace(example_for(best), case_id=rep.case_id, detail=rep.detail[:1000])
        repro = ""
        try:
            path = write_repro(repro_dir, c.id, best.record, best.seed, best.reference,
                               best.target, best.kind,
                               observed=Observed(example.reference, example.target),
                               stamp=Stamp(versions, device_description([best.target]),
                                           command, sandboxed))
            repro = os.path.relpath(path, store.dir)
        except ReproUnsupported as exc:
            example = replace(example, repro_unsupported=str(exc))
        row = row_for(c, axis=attribution.axis, repro=repro,
                      known=known.match(c) if known is not None else None,
                      example=example, probes=attribution.probes, shrink=stats, shrunk=best)
        rows.append((c, row))
    store.put_clusters([(c, row.store_info()) for c, row in rows])
    axes: dict[str, int] = {}
    for _, row in rows:
        axes[row.axis] = axes.get(row.axis, 0) + 1
    problems = {json.dumps({k: v for k, v in c.signature.parts().items() if k != "boundary"},
                           sort_keys=True) for c in clusters}
    return TriageSummary(len(findings), len({f.case_id for f in findings}), len(clusters),
                         len(problems), round(dedup_ratio(findings, clusters), 2),
                         sum(row.known for _, row in rows), axes,
                         time.monotonic() - start)


def report_data(store: CampaignStore, title: str = "") -> ReportData:
    """Everything the report shows, from the store."""
    settings = json.loads(store.get_meta("settings") or "{}")
    versions = json.loads(store.get_meta("versions") or "{}")
    apis = store.api_counts()
    fw = store.framework_counts()
    totals = Totals(apis=len(apis), cases=sum(a["cases"] for a in apis.values()),
                    valid=sum(a["valid"] for a in apis.values()),
                    frameworks={k: (v["valid"], v["cases"]) for k, v in fw.items()},
                    origins=Counter(origin_kind(c.record) for c in store.cases()))
    rows = [ClusterRow.from_stored(row) for row in store.clusters()]
    modes = [m for ms in (settings.get("modes") or {}).values() for m in ms]
    return ReportData(title=title or f"seamfuzz report: {store.dir}", settings=settings,
                      versions=versions, device=device_description(modes), totals=totals,
                      boundaries=store.verdict_counts(), clusters=rows,
                      piles=piles_of(store))


def piles_of(store: CampaignStore) -> tuple[Pile, ...]:
    """The verdicts of the campaign that judged nothing (:data:`PILES`), by
    kind and reason, with an example call per reason."""
    verdicts = store.verdicts_of_kinds(PILES)
    if not verdicts:
        return ()
    # One pass over the cases for their APIs (the record's: what was called).
    wanted = {row[0] for row in verdicts}
    cases = {c.id: c for c in store.cases() if c.id in wanted}
    items = [Unjudged(case_id=cid, api=cases[cid].record.api if cid in cases else "?",
                      boundary=f"{ref} -> {tgt}", kind=kind, detail=detail)
             for cid, ref, tgt, kind, detail, _ in verdicts]

    def describe(cid: str) -> str:
        case = cases.get(cid)
        if case is None:
            return ""
        try:
            return describe_record(case.record)
        except TypeError:  # a value describe() does not know
            return case.record.api + "(...)"

    return piles(items, describe)
