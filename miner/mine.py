"""Mining a corpus: files and docstrings in, records into a corpus store.

:func:`mine_file` turns one file (or one library docstring) into a
:class:`FileOutcome`; it never raises.  :func:`mine` runs it over a corpus in
killable worker processes (:mod:`infra.pool`), skips files whose content is
unchanged since the last run, writes the store in batches from this process
alone, and yields each outcome so a caller can show progress.
:func:`summarize` derives the run's figures from the store.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Sequence

import libcst as cst

from miner import apiindex, sources
from infra.errors import InvalidArgument
from miner.extract import extract_module
from infra.pool import FailureKind, TaskFailure, WorkerPool
from miner.records import CallRecord, is_resolved
from miner.store import CorpusStore, FileEntry

__all__ = ["FileTask", "FileOutcome", "MineSummary", "mine", "mine_file", "plan", "run",
           "summarize", "DOC_FRAMEWORKS"]

#: Libraries whose docstrings ``--docs`` can mine.
DOC_FRAMEWORKS = ("torch", "tensorflow")
#: Deadline for one file in a worker (a parser can hang on crafted input).
DEFAULT_FILE_TIMEOUT = 60.0
#: Files written to the store per transaction.
BATCH = 200

_PY2_MARKERS = re.compile(
    r"^\s*print\s+[\"'\w]|^\s*exec\s+[\"']|except\s+[\w.]+\s*,\s*\w+\s*:|\bur[\"']|"
    r"^\s*raise\s+\w+\s*,|\d+L\b|<>",
    re.MULTILINE,
)
#: Bracket nesting beyond this is classified ``too_deep`` without parsing
#: (CPython itself refuses 200 nested parentheses).
MAX_BRACKET_DEPTH = 150
#: A unit with more operators or calls than this on one line is pathological.
MAX_LINE_CHARS = 50_000


@dataclass(frozen=True, slots=True)
class FileTask:
    """One file or docstring to mine."""

    #: Store key: the real path of a file, or ``docs:<framework>:<api>``.
    key: str
    #: What the user named: a path given to ``mine``, or ``docs:torch``.
    corpus: str
    #: The file relative to the corpus, or the documented API.
    path: str
    #: The hash already stored for this key (skip when unchanged).
    known_hash: Optional[str] = None
    #: Docstring text, for docstring tasks (else the file is read from ``key``).
    doc_text: Optional[str] = None
    doc_api: str = ""
    doc_framework: str = ""


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What mining one file produced (never an exception)."""

    key: str
    corpus: str
    path: str
    #: ``mined``, ``skipped`` or ``failed``.
    status: str
    #: A :class:`~miner.sources.SkipReason` or :class:`~miner.sources.FailReason`
    #: value ("" when mined).
    reason: str = ""
    detail: str = ""
    content_hash: Optional[str] = None
    records: tuple[CallRecord, ...] = ()
    units: int = 0
    units_failed: int = 0
    unresolved: tuple[tuple[str, int], ...] = ()
    examples: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0


# ---------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------

_INDEX: Any = None


def _init_worker(frameworks: tuple[str, ...], cache_dir: Optional[str]) -> None:
    """Worker initializer: load the API index (built by the parent)."""
    global _INDEX
    _INDEX = apiindex.load_or_build(frameworks, cache_dir=cache_dir)


def _bracket_depth(text: str) -> int:
    if text.count("(") + text.count("[") + text.count("{") <= MAX_BRACKET_DEPTH:
        return 0  # cannot be deeper; skip the scan
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > best:
                best = depth
        elif ch in ")]}":
            depth -= 1
    return best


def _classify_parse_error(text: str) -> str:
    if _PY2_MARKERS.search(text):
        return sources.FailReason.PYTHON2.value
    return sources.FailReason.SYNTAX_ERROR.value


def _mine_unit(unit: sources.CodeUnit, index: Any, corpus: str, path: str
               ) -> tuple[Any, Optional[tuple[str, str]]]:
    """(Extraction, None) or (None, (reason, detail))."""
    text = unit.text
    if _bracket_depth(text) > MAX_BRACKET_DEPTH or any(
            len(line) > MAX_LINE_CHARS for line in text.splitlines()):
        return None, (sources.FailReason.TOO_DEEP.value, "nesting or line length beyond limits")
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        return None, (_classify_parse_error(text), f"line {exc.raw_line}: {exc.message}"[:200])
    except RecursionError:
        return None, (sources.FailReason.TOO_DEEP.value, "parser recursion limit")
    except (ValueError, TypeError, MemoryError) as exc:  # native parser oddities
        return None, (sources.FailReason.SYNTAX_ERROR.value, repr(exc)[:200])
    try:
        return extract_module(module, index, source=text, corpus=corpus, file=path,
                              first_line=unit.first_line), None
    except RecursionError:
        return None, (sources.FailReason.TOO_DEEP.value, "nesting beyond the recursion limit")


def mine_file(task: FileTask, index: Any = None) -> FileOutcome:
    """Mine one file or docstring.  Never raises: every problem becomes the
    outcome's status and reason."""
    index = index if index is not None else _INDEX
    start = time.perf_counter()
    base = dict(key=task.key, corpus=task.corpus, path=task.path)
    try:
        if task.doc_text is not None:
            digest = hashlib.sha256(task.doc_text.encode("utf-8", "surrogatepass")).hexdigest()
            if digest == task.known_hash:
                return FileOutcome(**base, status="skipped",
                                   reason=sources.SkipReason.UNCHANGED.value,
                                   content_hash=digest)
            units: Sequence[sources.CodeUnit] = sources.docstring_units(
                task.doc_text, task.doc_api, task.doc_framework)
            if not units:
                return FileOutcome(**base, status="skipped",
                                   reason=sources.SkipReason.NO_CODE.value, content_hash=digest)
        else:
            result = sources.read_file(task.key)
            if isinstance(result, sources.Skipped):
                return FileOutcome(**base, status="skipped", reason=result.reason.value,
                                   detail=result.detail)
            if isinstance(result, sources.Failed):
                return FileOutcome(**base, status="failed", reason=result.reason.value,
                                   detail=result.detail)
            digest = result.content_hash
            if digest == task.known_hash:
                return FileOutcome(**base, status="skipped",
                                   reason=sources.SkipReason.UNCHANGED.value,
                                   content_hash=digest)
            units = result.units
        merged: dict[str, CallRecord] = {}
        unresolved: Counter = Counter()
        examples: list[tuple[str, str]] = []
        failures: list[tuple[str, str]] = []
        for unit in units:
            extraction, failure = _mine_unit(unit, index, task.corpus, task.path)
            if failure is not None:
                failures.append(failure)
                continue
            for rec in extraction.records:
                old = merged.get(rec.id)
                merged[rec.id] = rec if old is None else old.merged(rec)
            unresolved.update(dict(extraction.stats.unresolved))
            for ex in extraction.stats.examples:
                if len(examples) < 10:
                    examples.append(ex)
        common = dict(base, content_hash=digest, units=len(units), units_failed=len(failures),
                      unresolved=tuple(sorted(unresolved.items())), examples=tuple(examples),
                      seconds=time.perf_counter() - start)
        if failures and len(failures) == len(units):
            reason, detail = failures[0]
            return FileOutcome(**common, status="failed", reason=reason, detail=detail)
        return FileOutcome(**common, status="mined", records=tuple(merged.values()))
    except Exception as exc:  # a miner bug: counted per file, never fatal
        return FileOutcome(**base, status="failed",
                           reason=sources.FailReason.INTERNAL_ERROR.value,
                           detail=f"{type(exc).__name__}: {exc}"[:300],
                           seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------
# A corpus
# ---------------------------------------------------------------------------


def _file_tasks(paths: Sequence[str], store: CorpusStore) -> Iterator[FileTask | FileOutcome]:
    for top in paths:
        corpus = os.path.normpath(top)
        is_dir = os.path.isdir(corpus)
        for display, real in sources.discover([top]):
            rel = os.path.relpath(display, corpus) if is_dir else os.path.basename(display)
            if isinstance(real, sources.Failed):
                yield FileOutcome(key=os.path.abspath(display), corpus=corpus, path=rel,
                                  status="failed", reason=real.reason.value, detail=real.detail)
                continue
            key = os.path.realpath(real)
            yield FileTask(key=key, corpus=corpus, path=rel, known_hash=store.file_hash(key))


def _doc_tasks(frameworks: Sequence[str], store: CorpusStore,
               cache_dir: Optional[str]) -> Iterator[FileTask]:
    for fw in frameworks:
        for doc in apiindex.load_or_collect_docstrings(fw, cache_dir=cache_dir):
            key = f"docs:{fw}:{doc.api}"
            yield FileTask(key=key, corpus=f"docs:{fw}", path=doc.api,
                           known_hash=store.file_hash(key), doc_text=doc.text,
                           doc_api=doc.api, doc_framework=fw)


def _entry(o: FileOutcome) -> FileEntry:
    return FileEntry(key=o.key, corpus=o.corpus, path=o.path, content_hash=o.content_hash,
                     status=o.status, reason=o.reason, records=o.records)


def _from_failure(task: FileTask, failure: TaskFailure) -> FileOutcome:
    # A worker that hangs or dies is almost always the parser meeting
    # pathological input; a raised exception is a miner bug.
    if failure.kind is FailureKind.RAISED:
        reason = sources.FailReason.INTERNAL_ERROR.value
    else:
        reason = sources.FailReason.TOO_DEEP.value
    return FileOutcome(key=task.key, corpus=task.corpus, path=task.path, status="failed",
                       reason=reason, detail=f"{failure.kind.value}: {failure.detail}"[:300])


FRAMEWORKS = ("torch", "tensorflow")


def plan(paths: Sequence[str] = (), *, docs: Sequence[str] = (), store: CorpusStore,
         cache_dir: Optional[str] = None) -> list[FileTask | FileOutcome]:
    """Everything a run will mine: a task per file or docstring, and the
    outcomes already known while listing (a symlink loop, say).

    Raises :class:`~infra.errors.InvalidArgument` for a path that does not
    exist or a ``docs`` library seamfuzz does not mine.  Builds the API index
    (in a child process, cached) when it is not built yet.
    """
    for top in paths:
        if not os.path.exists(top):
            raise InvalidArgument(f"no such file or directory: {top}")
    for fw in docs:
        if fw not in DOC_FRAMEWORKS:
            raise InvalidArgument(f"--docs takes {' or '.join(DOC_FRAMEWORKS)}, not {fw!r}")
    apiindex.load_or_build(FRAMEWORKS, cache_dir=cache_dir)
    return [*_doc_tasks(docs, store, cache_dir), *_file_tasks(paths, store)]


def run(planned: Sequence[FileTask | FileOutcome], *, store: CorpusStore, jobs: int = 0,
        file_timeout: float = DEFAULT_FILE_TIMEOUT,
        cache_dir: Optional[str] = None) -> Iterator[FileOutcome]:
    """Mine a :func:`plan` into ``store``, yielding each file's outcome as it
    completes (unchanged files included).  ``jobs`` worker processes (0: one
    per core; 1: in this process, without isolation)."""
    jobs = jobs or os.cpu_count() or 1
    batch: list[FileEntry] = []

    def flush() -> None:
        if batch:
            store.put_files(batch)
            batch.clear()

    def handle(o: FileOutcome) -> FileOutcome:
        if o.reason != sources.SkipReason.UNCHANGED.value:
            batch.append(_entry(o))
            if len(batch) >= BATCH:
                flush()
        return o

    tasks = [t for t in planned if isinstance(t, FileTask)]
    try:
        for o in planned:
            if isinstance(o, FileOutcome):
                yield handle(o)
        if jobs == 1 or len(tasks) <= 1:
            index = apiindex.load_or_build(FRAMEWORKS, cache_dir=cache_dir)
            for t in tasks:
                yield handle(mine_file(t, index))
        else:
            with WorkerPool(_mine_chunk, jobs=min(jobs, len(tasks)), timeout=file_timeout,
                            initializer=_init_worker, initargs=(FRAMEWORKS, cache_dir)) as pool:
                chunks = _chunks(tasks)
                retry: list[FileTask] = []
                for chunk, result in pool.imap_unordered(
                        chunks, timeout_of=lambda c: file_timeout * len(c)):
                    if isinstance(result, TaskFailure):
                        if len(chunk) == 1:
                            yield handle(_from_failure(chunk[0], result))
                        else:
                            retry.extend(chunk)  # find the file that did it
                        continue
                    for o in result:
                        yield handle(o)
                for t, result in pool.imap_unordered([[t] for t in retry]):
                    if isinstance(result, TaskFailure):
                        yield handle(_from_failure(t[0], result))
                    else:
                        yield handle(result[0])
    finally:
        flush()


#: Work sent to a worker at once: files up to this many bytes (docstrings
#: count their length), at most CHUNK_FILES of them.  Small chunks keep
#: workers busy while the parent writes the store; a chunk whose worker dies
#: is re-run file by file to find the culprit.
CHUNK_BYTES = 256 * 1024
CHUNK_FILES = 32


def _chunks(tasks: Sequence[FileTask]) -> list[list[FileTask]]:
    out: list[list[FileTask]] = []
    cur: list[FileTask] = []
    size = 0
    for t in tasks:
        if t.doc_text is not None:
            n = len(t.doc_text)
        else:
            try:
                n = os.path.getsize(t.key)
            except OSError:
                n = 0
        if cur and (size + n > CHUNK_BYTES or len(cur) >= CHUNK_FILES):
            out.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += n
    if cur:
        out.append(cur)
    return out


def _mine_chunk(chunk: list[FileTask]) -> list[FileOutcome]:
    return [mine_file(t) for t in chunk]


def mine(paths: Sequence[str] = (), *, docs: Sequence[str] = (), store: CorpusStore,
         jobs: int = 0, file_timeout: float = DEFAULT_FILE_TIMEOUT,
         cache_dir: Optional[str] = None) -> Iterator[FileOutcome]:
    """:func:`plan` then :func:`run`."""
    planned = plan(paths, docs=docs, store=store, cache_dir=cache_dir)
    yield from run(planned, store=store, jobs=jobs, file_timeout=file_timeout,
                   cache_dir=cache_dir)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MineSummary:
    """The figures ``seamfuzz mine`` prints (see :meth:`to_json`)."""

    seen: int
    mined: int
    skipped: dict[str, int]
    failed: dict[str, int]
    #: Distinct records contributed by this run's files.
    records: int
    #: Distinct APIs among them, per framework.
    apis: dict[str, int]
    #: Share of top-level argument values that are fully resolved.
    resolved_args: float
    seconds: float
    #: Unresolved call sites by reason, with a few examples each.
    unresolved: dict[str, int] = field(default_factory=dict)
    unresolved_examples: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object of ``seamfuzz mine``."""
        return {
            "files": {"seen": self.seen, "mined": self.mined, "skipped": dict(self.skipped),
                      "failed": dict(self.failed)},
            "records": self.records,
            "apis": dict(self.apis),
            "resolved_args": round(self.resolved_args, 4),
            "seconds": round(self.seconds, 2),
        }


def summarize(outcomes: Iterable[FileOutcome], store: CorpusStore, seconds: float
              ) -> MineSummary:
    """Figures over ``outcomes`` (the run's files) and their records as the
    store now holds them (files skipped as unchanged count with the records
    they contributed before)."""
    seen = mined = 0
    skipped: Counter = Counter()
    failed: Counter = Counter()
    unresolved: Counter = Counter()
    examples: dict[str, list[str]] = {}
    keys: list[str] = []
    for o in outcomes:
        seen += 1
        keys.append(o.key)
        if o.status == "mined":
            mined += 1
        elif o.status == "skipped":
            skipped[o.reason] += 1
        elif o.status == "failed":
            failed[o.reason] += 1
        unresolved.update(dict(o.unresolved))
        for reason, ex in o.examples:
            lst = examples.setdefault(reason, [])
            if ex not in lst and len(lst) < 5:
                lst.append(ex)
    records = list(store.records_of_files(keys))
    apis: dict[str, set[str]] = {"torch": set(), "tensorflow": set()}
    total = resolved = 0
    for rec in records:
        apis.setdefault(rec.framework, set()).add(rec.api)
        for v in rec.values():
            total += 1
            resolved += is_resolved(v)
    return MineSummary(
        seen=seen, mined=mined, skipped=dict(skipped), failed=dict(failed),
        records=len(records), apis={k: len(v) for k, v in apis.items()},
        resolved_args=resolved / total if total else 0.0, seconds=seconds,
        unresolved=dict(unresolved), unresolved_examples=examples,
    )
