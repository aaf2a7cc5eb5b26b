"""Resolution and synthesis: turning what mining could not tell into cases.

* :func:`resolve_corpus` takes every record of a corpus store that holds an
  :class:`~miner.records.Unknown`, and has :func:`runner.solve.solve` fill
  it in a sandboxed worker of its framework, with the schemas of the APIs
  involved and donor values (what other records passed for the same API
  and parameter).  Results go to the store's ``resolutions`` table, stamped
  with the library versions; ``run`` and ``fuzz`` read records through it.
* :func:`synthesize` builds records for public APIs nobody called: a
  skeleton per overload (:func:`runner.solve.skeleton`), solved the same
  way; kept in the versioned cache, since they depend only on the
  installed libraries.
* :func:`public_surface` is what ``seamfuzz apis --all`` lists: the public
  functions, tensor methods and layers of the namespaces that compute on
  tensors, less the deny list.

Library code runs only in the workers, never here (the parent imports
neither torch nor TensorFlow).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from infra.pool import TaskFailure, WorkerPool
from infra.paths import cache_root
from infra.sandbox import Sandbox, compile_cache_dir, require
from miner.apiindex.cache import CacheEntry, cache_directory, library_versions
from miner.records import (
    SYNTHESIZED,
    CallKind,
    CallRecord,
    Constructed,
    DType,
    Literal,
    Provenance,
    Seq,
    TensorSpec,
    Unknown,
    Value,
    is_resolved,
    iter_values,
)
from miner.schema import ApiSchema, collect_schemas
from miner.store import CorpusStore, Resolution
from runner.deny import denied
from runner.execute import WorkerLimits, init_worker
from runner.solve import SolveResult, SolveTask, param_of, skeleton, solve_batch

__all__ = ["SOLVER_FORMAT", "ResolveSummary", "public_surface", "resolve_corpus",
           "solve_records", "stamp", "synthesize"]

#: Bump when the solver changes what it finds: stored resolutions and cached
#: synthesized records of another format are made again.
SOLVER_FORMAT = "3"
#: Records per task sent to a worker.
_BATCH = 8
_LIBRARIES = {"torch": ("torch",), "tensorflow": ("tensorflow", "keras")}

_log = logging.getLogger("seamfuzz.resolve")


def stamp(framework: str) -> str:
    """The solver format and the framework's library versions."""
    versions = library_versions(_LIBRARIES[framework], optional=_LIBRARIES[framework][1:])
    return f"{SOLVER_FORMAT}:" + json.dumps(versions, sort_keys=True)


@dataclass(slots=True)
class ResolveSummary:
    """What a resolution pass did."""

    #: Records in the store.
    records: int = 0
    #: Of them, records with something unknown.
    unknown: int = 0
    #: Solved by this pass or an earlier one of the same stamp.
    solved: int = 0
    #: Solved now (the rest came from earlier passes).
    solved_now: int = 0
    attempts: int = 0
    seconds: float = 0.0
    #: Solver time summed over records (worker seconds).
    solver_seconds: float = 0.0
    #: Why records were not solved, by the error's type.
    reasons: Counter = field(default_factory=Counter)
    #: Filled-in values by origin.
    origins: Counter = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "unknown": self.unknown, "solved": self.solved,
                "solved_now": self.solved_now, "attempts": self.attempts,
                "seconds": round(self.seconds, 2),
                "solver_seconds": round(self.solver_seconds, 2),
                "reasons": dict(self.reasons.most_common()),
                "origins": dict(self.origins.most_common())}


def _api_kinds(record: CallRecord) -> set[tuple[str, str, str]]:
    """``(api, framework, kind)`` of the record and of every API its
    arguments are built with."""
    out = {(record.api, record.framework, record.kind.value)}
    for v in record.values():
        for x in iter_values(v):
            if isinstance(x, Constructed):
                kind = "method" if ".Tensor." in x.api else "function"
                out.add((x.api, record.framework, kind))
                out.add((x.api, record.framework, "module"))
    return out


def _donor_value(v: Value) -> bool:
    return isinstance(v, (TensorSpec, Literal, Seq, DType)) and is_resolved(v)


def _donors(records: Iterable[CallRecord], schemas: dict[tuple[str, str], ApiSchema]
            ) -> dict[tuple[str, str], tuple[Value, ...]]:
    """Up to three values per ``(api, parameter)`` that fully known records
    passed, the most seen first."""
    counts: dict[tuple[str, str], Counter] = {}
    for rec in records:
        if not is_resolved_record(rec):
            continue
        schema = schemas.get((rec.api, rec.kind.value))
        method = rec.kind is CallKind.METHOD
        for section in ("args", "kwargs", "init_args", "init_kwargs"):
            for i, item in enumerate(getattr(rec, section)):
                name, v = item if section.endswith("kwargs") else ("", item)
                if not _donor_value(v):
                    continue
                pname, _ = param_of(schema, section, i, name, method and section == "args")
                counts.setdefault((rec.api, pname), Counter())[json.dumps(
                    _value_json(v), sort_keys=True)] += rec.occurrences
    from miner.records import value_from_json

    return {key: tuple(value_from_json(json.loads(t)) for t, _ in c.most_common(3))
            for key, c in counts.items()}


def _value_json(v: Value) -> Any:
    from miner.records import value_to_json

    return value_to_json(v)


def is_resolved_record(rec: CallRecord) -> bool:
    """Whether nothing in the record is unknown."""
    return all(is_resolved(v) for v in rec.values())


def solve_records(records: Sequence[CallRecord], *, jobs: int = 1,
                  sandbox: "bool | Sandbox" = True, donors_from: Iterable[CallRecord] = (),
                  on_result: Optional[Callable[[SolveResult], None]] = None,
                  ) -> Iterator[SolveResult]:
    """Solve ``records`` in sandboxed workers (``jobs`` per framework);
    yields one :class:`~runner.solve.SolveResult` per record, in no set
    order.  A batch whose worker crashes or hangs is retried one record at
    a time, so one bad call costs only itself."""
    box = require(sandbox) if not isinstance(sandbox, Sandbox) else sandbox
    wanted = set()
    for r in records:
        wanted |= _api_kinds(r)
    donors_list = list(donors_from)
    for r in donors_list:
        wanted.add((r.api, r.framework, r.kind.value))
    schemas = collect_schemas(wanted)
    donors = _donors(donors_list, schemas)
    by_fw: dict[str, list[SolveTask]] = {}
    for r in records:
        involved = [schemas[(a, k)] for a, _, k in _api_kinds(r) if (a, k) in schemas]
        keys = {(r.api, p) for (a, p) in donors if a == r.api}
        by_fw.setdefault(r.framework, []).append(SolveTask(
            r, tuple(involved), tuple((k, donors[k]) for k in sorted(keys))))
    for framework, tasks in by_fw.items():
        batches = [tasks[i:i + _BATCH] for i in range(0, len(tasks), _BATCH)]
        # The library's warnings about odd inputs go to a log, not the terminal.
        log_dir = os.path.join(cache_root(), "logs")
        os.makedirs(log_dir, exist_ok=True)
        log_path = os.path.join(log_dir, f"solve-{framework}.log")
        open(log_path, "wb").close()  # the last resolution's log only
        pool = WorkerPool(solve_batch, jobs=max(1, jobs), timeout=60.0,
                          initializer=init_worker, initargs=(framework, WorkerLimits()),
                          sandbox=box, cache_dir=compile_cache_dir(),
                          log_path=log_path)
        with pool:
            retry: list[list[SolveTask]] = []
            for batch, result in pool.imap_unordered(
                    batches, timeout_of=lambda b: 20.0 + 12.0 * len(b)):
                if isinstance(result, TaskFailure):
                    if len(batch) > 1:
                        retry.extend([t] for t in batch)
                        continue
                    t = batch[0]
                    res = SolveResult(t.record.id, None, 0, 0.0,
                                      f"{result.kind.value}: {result.detail.strip()[-200:]}")
                    yield res
                    continue
                yield from result
            for batch, result in pool.imap_unordered(retry, timeout_of=lambda b: 20.0):
                if isinstance(result, TaskFailure):
                    t = batch[0]
                    yield SolveResult(t.record.id, None, 0, 0.0,
                                      f"{result.kind.value}: {result.detail.strip()[-200:]}")
                else:
                    yield from result


def _reason_key(reason: str) -> str:
    return reason.split(":", 1)[0] if reason else "?"


def resolve_corpus(store: CorpusStore, *, jobs: int = 1, sandbox: "bool | Sandbox" = True,
                   frameworks: Sequence[str] = ("torch", "tensorflow"),
                   progress: Optional[Callable[[int, int], None]] = None) -> ResolveSummary:
    """Solve every record of ``store`` with an unknown that no resolution
    of the current stamp covers; see the module docstring.
    ``progress(done, total)`` is called as records finish."""
    start = time.perf_counter()
    summary = ResolveSummary()
    records = [r for r in store.records() if r.framework in frameworks]
    summary.records = len(records)
    known = store.resolutions()
    stamps = {fw: stamp(fw) for fw in frameworks if _installed(fw)}
    todo: list[CallRecord] = []
    for r in records:
        if is_resolved_record(r):
            continue
        summary.unknown += 1
        if r.framework not in stamps:
            summary.reasons["framework not installed"] += 1
            continue
        old = known.get(r.id)
        if old is not None and old.stamp == stamps[r.framework]:
            if old.solved is not None:
                summary.solved += 1
                summary.origins.update(o for _, o in old.solved.origins)
            else:
                summary.reasons[_reason_key(old.reason)] += 1
            continue
        todo.append(r)
    by_id = {r.id: r for r in todo}
    done = 0
    if progress is not None:
        progress(0, len(todo))
    pending: list[Resolution] = []
    for res in solve_records(todo, jobs=jobs, sandbox=sandbox, donors_from=records):
        rec = by_id[res.record_id]
        summary.attempts += res.attempts
        summary.solver_seconds += res.seconds
        if res.solved is not None:
            summary.solved += 1
            summary.solved_now += 1
            summary.origins.update(o for _, o in res.solved.origins)
        else:
            summary.reasons[_reason_key(res.reason)] += 1
        pending.append(Resolution(rec.id, rec.api, rec.framework, stamps[rec.framework],
                                  res.solved, res.attempts, res.seconds, res.reason))
        if len(pending) >= 64:
            store.put_resolutions(pending)
            pending = []
        done += 1
        if progress is not None:
            progress(done, len(todo))
    store.put_resolutions(pending)
    summary.seconds = time.perf_counter() - start
    return summary


def _installed(framework: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(framework) is not None


# ---------------------------------------------------------------------------
# The public surface and synthesis
# ---------------------------------------------------------------------------

#: Namespaces whose functions compute on tensors (the fuzzable surface).
SURFACE = {
    "torch": ("torch.", "torch.Tensor.", "torch.nn.", "torch.nn.functional.", "torch.linalg.",
              "torch.fft.", "torch.special.", "torch.nn.init.", "torch.signal.windows."),
    "tensorflow": ("tf.", "tf.math.", "tf.nn.", "tf.linalg.", "tf.signal.", "tf.image.",
                   "tf.raw_ops.", "tf.bitwise.", "tf.random.", "tf.keras.layers.",
                   "tf.keras.ops.", "tf.keras.activations.", "tf.experimental.numpy."),
}


def _in_surface(canonical: str, framework: str) -> bool:
    head, _, last = canonical.rpartition(".")
    if not last or last.startswith("_"):
        return False
    return (head + ".") in SURFACE.get(framework, ())


def public_surface(index: Any, frameworks: Sequence[str] = ("torch", "tensorflow")
                   ) -> list[tuple[str, str, str]]:
    """``(api, framework, kind)`` of every public function, tensor method
    and layer in :data:`SURFACE`, less denied APIs, sorted."""
    from miner.apiindex.model import SymbolKind

    out: set[tuple[str, str, str]] = set()
    symbols = [s for _, s in index.symbols()] + list(index.class_members())
    for s in symbols:
        if s.framework not in frameworks or not _in_surface(s.canonical, s.framework):
            continue
        if denied(s.canonical):
            continue
        if s.kind is SymbolKind.LAYER:
            out.add((s.canonical, s.framework, "module"))
        elif s.kind is SymbolKind.FUNCTION:
            if s.owner in ("torch.Tensor", "tf.Tensor") or ".Tensor." in s.canonical:
                if s.binding in ("", "method"):
                    out.add((s.canonical, s.framework, "method"))
            elif not s.owner:
                out.add((s.canonical, s.framework, "function"))
    return sorted(out)


def _synth_entry(framework: str) -> CacheEntry:
    versions = library_versions(_LIBRARIES[framework], optional=_LIBRARIES[framework][1:])
    return CacheEntry.of("synthesized", framework, SOLVER_FORMAT, versions, cache_directory())


def _load_synth(entry: CacheEntry) -> tuple[dict[str, list[CallRecord]], dict[str, str]]:
    obj = entry.read()
    try:
        if obj is None:
            raise ValueError
        found = {api: [CallRecord.from_json(r) for r in recs]
                 for api, recs in obj["records"].items()}
        return found, {str(k): str(v) for k, v in obj["failed"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}, {}


def synthesize(apis: Sequence[tuple[str, str, str]], *, jobs: int = 1,
               sandbox: "bool | Sandbox" = True,
               progress: Optional[Callable[[int, int], None]] = None
               ) -> tuple[dict[str, list[CallRecord]], dict[str, str]]:
    """Synthesized records of ``(api, framework, kind)`` triples: ``({api:
    records}, {api: why none})``.  Cached per framework and library
    versions; only what the cache lacks is solved (in sandboxed workers)."""
    by_fw: dict[str, list[tuple[str, str, str]]] = {}
    for item in apis:
        by_fw.setdefault(item[1], []).append(item)
    records: dict[str, list[CallRecord]] = {}
    failed: dict[str, str] = {}
    for framework, items in by_fw.items():
        if not _installed(framework):
            failed.update((a, f"{framework} is not installed") for a, _, _ in items)
            continue
        entry = _synth_entry(framework)
        cached, cached_failed = _load_synth(entry)
        todo = [i for i in items if i[0] not in cached and i[0] not in cached_failed]
        if todo:
            got, why = _synthesize_now(todo, jobs=jobs, sandbox=sandbox, progress=progress)
            latest, latest_failed = _load_synth(entry)
            latest.update(got)
            latest_failed.update(why)
            for api in got:
                latest_failed.pop(api, None)
            try:
                entry.write({"framework": framework,
                             "records": {a: [r.to_json() for r in rs]
                                         for a, rs in sorted(latest.items())},
                             "failed": dict(sorted(latest_failed.items()))})
            except OSError as exc:
                _log.warning("cannot cache synthesized records at %s: %s", entry.path, exc)
            cached, cached_failed = latest, latest_failed
        for api, _, _ in items:
            if api in cached:
                records[api] = cached[api]
            else:
                failed[api] = cached_failed.get(api, "not synthesized")
    return records, failed


def _synthesize_now(items: Sequence[tuple[str, str, str]], *, jobs: int,
                    sandbox: "bool | Sandbox",
                    progress: Optional[Callable[[int, int], None]]
                    ) -> tuple[dict[str, list[CallRecord]], dict[str, str]]:
    schemas = collect_schemas(items)
    skeletons: list[CallRecord] = []
    failed: dict[str, str] = {}
    for api, framework, kind in items:
        schema = schemas.get((api, kind))
        if schema is None:
            failed[api] = "no schema (no signature, no operator)"
            continue
        recs = skeleton(schema)
        if not recs:
            failed[api] = "no overload seamfuzz can build arguments for"
            continue
        place = (Provenance(SYNTHESIZED, api, 0),)
        skeletons += [CallRecord(**{**r._fields(), "provenance": place}) for r in recs]
    by_id = {r.id: r for r in skeletons}
    got: dict[str, list[CallRecord]] = {}
    reasons: dict[str, str] = {}
    done = 0
    if progress is not None:
        progress(0, len(skeletons))
    for res in solve_records(skeletons, jobs=jobs, sandbox=sandbox):
        rec = by_id[res.record_id]
        if res.solved is not None:
            solved = CallRecord(**{**res.solved._fields(), "provenance": rec.provenance})
            got.setdefault(rec.api, []).append(solved)
        else:
            reasons.setdefault(rec.api, res.reason)
        done += 1
        if progress is not None:
            progress(done, len(skeletons))
    for api, why in reasons.items():
        if api not in got:
            failed[api] = why
    for rs in got.values():
        rs.sort(key=lambda r: r.id)
    return got, failed
