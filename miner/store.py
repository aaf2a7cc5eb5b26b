"""The corpus store: the call records the miner found, in one SQLite file.

The miner writes it (by default ``snippets/corpus.sqlite``); the mutator, the
campaign and ``seamfuzz apis`` read it.  Standard-library :mod:`sqlite3` in
WAL mode, parameterized queries only.

Schema (version :data:`SCHEMA_VERSION`)::

    meta(key PRIMARY KEY, value)             marker row seamfuzz_store=corpus,
                                             schema_version
    records(id PRIMARY KEY, api, framework,  one row per distinct call;
            kind, body)                      body = JSON of CallRecord.identity()
    files(key PRIMARY KEY, corpus, path,     one row per file seen, whatever
          content_hash, status, reason,      became of it (mined, skipped,
          records, mined_at)                 failed); records = calls mined
    contributions(file_key, record_id,       how often one file contains one
                  count, provenance)         record, and where (capped)
    resolutions(record_id PRIMARY KEY, api,  what resolution (runner.solve)
                framework, stamp, solved,    made of a record with unknowns:
                attempts, seconds, reason)   the solved record's JSON or why
                                             not, stamped with the library
                                             versions it was solved against

Note [Why contributions are per file]
    A record's occurrence count is a sum over files, not a counter that is
    bumped.  Re-mining a changed file must *replace* what that file said:
    with a bare counter the old calls would be counted twice and a call
    deleted from the file would live on.  Keeping each file's contribution
    lets :meth:`CorpusStore.put_file` delete the old rows and insert the new
    ones in one transaction; a record that no file contributes to any more is
    deleted with them, and every query joins through ``contributions``.

Note [Provenance order]
    A record's provenance is the first :data:`~miner.records.MAX_PROVENANCE`
    places across all its files, ordered by ``(corpus, file, line)``.  The
    order depends only on the places, never on file keys or on the order
    files were mined, so an exported store imported elsewhere reads back
    equal.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import IO, Any

from infra.atomic import atomic_open
from infra.errors import InvalidArgument
from infra.sqlite import SqliteStore
from miner.records import MAX_PROVENANCE, CallRecord, Provenance

__all__ = [
    "DEFAULT_PATH",
    "FILE_STATUSES",
    "SCHEMA_VERSION",
    "ApiStat",
    "CorpusStore",
    "FileEntry",
    "Resolution",
]

#: Where ``seamfuzz mine`` writes when no store is named (relative to the
#: working directory).
DEFAULT_PATH = os.path.join("snippets", "corpus.sqlite")

#: Bump when the schema changes; a store of another version is refused.
SCHEMA_VERSION = "1"

#: What can become of a file: its calls were mined, it was skipped (too
#: large, not code, ...), or it failed (a parse error).
FILE_STATUSES = ("mined", "skipped", "failed")

_MARKER_KEY = "seamfuzz_store"
_MARKER = "corpus"
_SQLITE_HEADER = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 30_000

_RESOLUTIONS = (
    "CREATE TABLE IF NOT EXISTS resolutions ("
    " record_id TEXT PRIMARY KEY, api TEXT NOT NULL, framework TEXT NOT NULL,"
    " stamp TEXT NOT NULL, solved TEXT, attempts INTEGER NOT NULL, seconds REAL NOT NULL,"
    " reason TEXT NOT NULL)"
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS records ("
    " id TEXT PRIMARY KEY, api TEXT NOT NULL, framework TEXT NOT NULL,"
    " kind TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files ("
    " key TEXT PRIMARY KEY, corpus TEXT NOT NULL, path TEXT NOT NULL,"
    " content_hash TEXT, status TEXT NOT NULL, reason TEXT NOT NULL,"
    " records INTEGER NOT NULL, mined_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS contributions ("
    " file_key TEXT NOT NULL, record_id TEXT NOT NULL, count INTEGER NOT NULL,"
    " provenance TEXT NOT NULL, PRIMARY KEY (file_key, record_id))",
    _RESOLUTIONS,
    "CREATE INDEX IF NOT EXISTS records_api ON records (api)",
    "CREATE INDEX IF NOT EXISTS contributions_record ON contributions (record_id)",
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """What one file contributes to the store; see :meth:`CorpusStore.put_file`."""

    #: Identifies the file across runs (normally corpus plus relative path).
    key: str
    #: The corpus the file belongs to (a path given to ``mine``, ``docs:torch``).
    corpus: str
    #: The file, relative to its corpus.
    path: str
    #: Hash of the file's content, for skipping unchanged files next time.
    content_hash: str | None
    #: One of :data:`FILE_STATUSES`.
    status: str
    #: Why the file was skipped or failed; empty when mined.
    reason: str = ""
    #: The calls mined from the file; the same call may appear many times.
    records: Sequence[CallRecord] = ()

    def __post_init__(self) -> None:
        if self.status not in FILE_STATUSES:
            raise ValueError(f"file status must be one of {FILE_STATUSES}, got {self.status!r}")
        object.__setattr__(self, "records", tuple(self.records))


@dataclass(frozen=True, slots=True)
class Resolution:
    """What resolving one record's unknowns gave (:mod:`runner.solve`)."""

    record_id: str
    api: str
    framework: str
    #: The library versions and solver format it was solved against; a
    #: resolution of another stamp is stale and solved again.
    stamp: str
    #: The record with every unknown filled, or None when none was found.
    solved: CallRecord | None
    attempts: int
    seconds: float
    #: Why it was not solved ("" when it was).
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ApiStat:
    """How well the corpus covers one API."""

    api: str
    framework: str
    #: Distinct calls (records) of the API.
    records: int
    #: Calls seen in all files together.
    occurrences: int


class CorpusStore(SqliteStore):
    """A corpus of mined call records in an SQLite file.

    One writer (the miner's main process) is the design; writes still take
    the database lock up front (``BEGIN IMMEDIATE``) so that two concurrent
    runs wait for each other instead of failing half way.  Use it as a
    context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise InvalidArgument(f"{self.path}: no corpus store there")
        if self.path.is_dir():
            raise InvalidArgument(f"{self.path}: is a directory, not a corpus store")
        if self.path.exists():
            with open(self.path, "rb") as f:
                header = f.read(len(_SQLITE_HEADER))
            if header and header != _SQLITE_HEADER:
                raise InvalidArgument(f"{self.path}: not an SQLite database")
        elif create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        try:
            self._open(create)
        except BaseException as exc:
            self._conn.close()
            # OperationalError (locked, read-only, ...) is about access, not
            # about what the file is: let it through unchanged.
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                exc, sqlite3.OperationalError
            ):
                msg = f"{self.path}: not a usable SQLite database ({exc})"
                raise InvalidArgument(msg) from None
            raise

    def _open(self, create: bool) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        # Validate before the WAL pragma: never rewrite someone else's file.
        initialised = self._check()
        if not initialised and not create:
            raise InvalidArgument(f"{self.path}: an empty database, not a corpus store")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if not initialised:
            with self._write():
                if not self._check():  # another process may have won the race
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [(_MARKER_KEY, _MARKER), ("schema_version", SCHEMA_VERSION)],
                    )
        else:
            # Stores written before resolution existed gain its table.
            try:
                conn.execute(_RESOLUTIONS)
            except sqlite3.OperationalError:  # read-only: nothing resolved there
                pass

    def _check(self) -> bool:
        """False for an empty database; True for a corpus store of our
        version; raises InvalidArgument for anything else."""
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {name for (name,) in rows}
        if not tables:
            return False
        if "meta" not in tables:
            raise InvalidArgument(f"{self.path}: an SQLite database, but not a seamfuzz store")
        marker = self.get_meta(_MARKER_KEY)
        if marker is None:
            raise InvalidArgument(f"{self.path}: an SQLite database, but not a seamfuzz store")
        if marker != _MARKER:
            raise InvalidArgument(f"{self.path}: a seamfuzz {marker} store, not a corpus store")
        version = self.get_meta("schema_version")
        if version != SCHEMA_VERSION:
            raise InvalidArgument(
                f"{self.path}: corpus store schema version {version}, "
                f"this seamfuzz reads version {SCHEMA_VERSION}"
            )
        return True

    # -- meta -----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (the store's own keys are refused)."""
        if key in (_MARKER_KEY, "schema_version"):
            raise InvalidArgument(f"meta key {key!r} belongs to the store itself")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- writing ------------------------------------------------------------

    def file_hash(self, key: str) -> str | None:
        """The content hash stored for file ``key`` (whatever its status), or
        None when the file is not in the store: the miner skips a file whose
        hash is unchanged."""
        row = self._conn.execute("SELECT content_hash FROM files WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put_file(
        self,
        key: str,
        *,
        corpus: str,
        path: str,
        content_hash: str | None,
        status: str,
        reason: str = "",
        records: Sequence[CallRecord] = (),
    ) -> None:
        """Replace everything stored for file ``key`` with this, in one
        transaction.  Each record's ``occurrences`` is how often the call
        appears in this file and its ``provenance`` where; records with the
        same id are merged."""
        self.put_files([FileEntry(key, corpus, path, content_hash, status, reason, records)])

    def put_files(self, items: Iterable[FileEntry]) -> None:
        """:meth:`put_file` for many files, in one transaction."""
        now = time.time()
        with self._write() as conn:
            orphans: set[str] = set()
            for item in items:
                orphans.update(
                    rid
                    for (rid,) in conn.execute(
                        "SELECT record_id FROM contributions WHERE file_key = ?", (item.key,)
                    )
                )
                conn.execute("DELETE FROM contributions WHERE file_key = ?", (item.key,))
                merged: dict[str, tuple[CallRecord, int, set[Provenance]]] = {}
                for rec in item.records:
                    _, count, places = merged.get(rec.id, (rec, 0, set()))
                    places.update(rec.provenance)
                    merged[rec.id] = (rec, count + rec.occurrences, places)
                conn.executemany(
                    "INSERT INTO records (id, api, framework, kind, body) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO NOTHING",
                    [
                        (rid, rec.api, rec.framework, rec.kind.value, _dumps(rec.identity()))
                        for rid, (rec, _, _) in merged.items()
                    ],
                )
                conn.executemany(
                    "INSERT INTO contributions (file_key, record_id, count, provenance)"
                    " VALUES (?, ?, ?, ?)",
                    [
                        (item.key, rid, count, _dumps(_places_to_json(places)))
                        for rid, (_, count, places) in merged.items()
                    ],
                )
                conn.execute(
                    "INSERT OR REPLACE INTO files"
                    " (key, corpus, path, content_hash, status, reason, records, mined_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.key,
                        item.corpus,
                        item.path,
                        item.content_hash,
                        item.status,
                        item.reason,
                        sum(count for _, count, _ in merged.values()),
                        now,
                    ),
                )
            conn.executemany(
                "DELETE FROM records WHERE id = ?"
                " AND NOT EXISTS (SELECT 1 FROM contributions WHERE record_id = ?)",
                [(rid, rid) for rid in sorted(orphans)],
            )

    # -- reading ------------------------------------------------------------

    def records(
        self, *, api: str | None = None, framework: str | None = None,
        resolved: bool = False,
    ) -> Iterator[CallRecord]:
        """Each distinct record once, ordered by api then id, with its
        occurrences summed over all files and its provenance merged (see
        Note [Provenance order]).  ``api`` may be an fnmatch-style pattern
        (``torch.nn.*``, ``tf.math.[!a]*``).  With ``resolved``, a record
        whose unknowns were solved (:meth:`put_resolutions`) comes as its
        solved version, with its own occurrences and provenance.

        The rows are streamed: finish iterating before writing to the store.
        """
        where, params = [], []
        if api is not None:
            where.append("r.api GLOB ?")
            params.append(api.replace("[!", "[^"))
        if framework is not None:
            where.append("r.framework = ?")
            params.append(framework)
        solved_col = "s.solved" if resolved else "NULL"
        rows = self._conn.execute(
            f"SELECT r.id, r.body, c.count, c.provenance, {solved_col}"
            " FROM records AS r JOIN contributions AS c ON c.record_id = r.id"
            + (" LEFT JOIN resolutions AS s ON s.record_id = r.id" if resolved else "")
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY r.api, r.id",
            params,
        )
        for _, group in groupby(rows, key=lambda row: row[0]):
            total, places, body, solved = 0, set(), "", None
            for _, body, count, provenance, solved in group:
                total += count
                places.update(Provenance(c, f, n) for c, f, n in json.loads(provenance))
            record = json.loads(solved or body)
            record["occurrences"] = total
            record["provenance"] = _places_to_json(places)
            yield CallRecord.from_json(record)

    def records_of_files(self, keys: Iterable[str]) -> list[CallRecord]:
        """The distinct records the given files contribute (occurrences and
        provenance counted over those files only), ordered by api then id."""
        with self._conn:
            self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted(key TEXT PRIMARY KEY)")
            self._conn.execute("DELETE FROM wanted")
            self._conn.executemany("INSERT OR IGNORE INTO wanted VALUES (?)",
                                   ((k,) for k in keys))
        rows = self._conn.execute(
            "SELECT r.id, r.body, SUM(c.count) FROM records AS r"
            " JOIN contributions AS c ON c.record_id = r.id"
            " JOIN wanted AS w ON w.key = c.file_key"
            " GROUP BY r.id ORDER BY r.api, r.id"
        ).fetchall()
        out = []
        for _, body, total in rows:
            record = json.loads(body)
            record["occurrences"] = total
            out.append(CallRecord.from_json(record))
        return out

    def put_resolutions(self, items: Iterable[Resolution]) -> int:
        """Store what resolution made of records (replacing older results
        for them); returns how many were written."""
        rows = [(r.record_id, r.api, r.framework, r.stamp,
                 _dumps(r.solved.to_json()) if r.solved is not None else None,
                 r.attempts, r.seconds, r.reason) for r in items]
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO resolutions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             rows)
        return len(rows)

    def resolutions(self, *, framework: str | None = None) -> dict[str, Resolution]:
        """Every stored resolution, by record id."""
        rows = self._conn.execute(
            "SELECT record_id, api, framework, stamp, solved, attempts, seconds, reason"
            " FROM resolutions" + (" WHERE framework = ?" if framework else ""),
            (framework,) if framework else ())
        return {rid: Resolution(rid, api, fw, stamp,
                                CallRecord.from_json(json.loads(solved)) if solved else None,
                                attempts, seconds, reason)
                for rid, api, fw, stamp, solved, attempts, seconds, reason in rows}

    def api_stats(self) -> list[ApiStat]:
        """Every API with its distinct records and total occurrences, the most
        used first (then the most varied, then by name)."""
        rows = self._conn.execute(
            "SELECT r.api, r.framework, COUNT(DISTINCT r.id) AS n, SUM(c.count) AS total"
            " FROM records AS r JOIN contributions AS c ON c.record_id = r.id"
            " GROUP BY r.api, r.framework ORDER BY total DESC, n DESC, r.api, r.framework"
        )
        return [ApiStat(*row) for row in rows]

    def file_counts(self) -> dict[str, dict[str, int]]:
        """Files per status and reason: ``{"mined": {"": 12}, "skipped":
        {"too large": 2}, "failed": {"syntax error": 1}}``."""
        counts: dict[str, dict[str, int]] = {status: {} for status in FILE_STATUSES}
        for status, reason, n in self._conn.execute(
            "SELECT status, reason, COUNT(*) FROM files GROUP BY status, reason"
        ):
            counts.setdefault(status, {})[reason] = n
        return counts

    def count_records(self) -> int:
        """How many distinct records the store holds."""
        row = self._conn.execute("SELECT COUNT(DISTINCT record_id) FROM contributions").fetchone()
        return int(row[0])

    # -- JSONL --------------------------------------------------------------

    def export_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str]) -> int:
        """Write :meth:`records` as JSON lines (one :meth:`CallRecord.to_json`
        each); returns how many.  A path is written atomically."""
        if hasattr(path_or_file, "write"):
            return _write_jsonl(self.records(), path_or_file)  # type: ignore[arg-type]
        with atomic_open(path_or_file) as f:  # type: ignore[arg-type]
            return _write_jsonl(self.records(), f)

    def import_jsonl(self, path: str | os.PathLike[str], *, key: str | None = None) -> int:
        """Add the records of a JSON-lines file (as :meth:`export_jsonl`
        writes) under the file key ``import:<key or file name>``, so that
        importing the same file again replaces its records instead of
        doubling them.  Returns how many records were read."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"{path}: cannot read ({exc.strerror})") from None
        records = []
        for lineno, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                # UnicodeDecodeError and JSONDecodeError are ValueErrors too.
                records.append(CallRecord.from_json(json.loads(line.decode("utf-8"))))
            except (ValueError, RecursionError) as exc:
                raise InvalidArgument(f"{path}:{lineno}: not a call record ({exc})") from None
        self.put_file(
            f"import:{key if key is not None else path.name}",
            corpus="import",
            path=str(path),
            content_hash=hashlib.sha256(data).hexdigest(),
            status="mined",
            records=records,
        )
        return len(records)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _places_to_json(places: Iterable[Provenance]) -> list[list[Any]]:
    ordered = sorted(places, key=lambda p: (p.corpus, p.file, p.line))
    return [[p.corpus, p.file, p.line] for p in ordered[:MAX_PROVENANCE]]


def _write_jsonl(records: Iterable[CallRecord], f: IO[str]) -> int:
    n = 0
    for rec in records:
        f.write(_dumps(rec.to_json()) + "\n")
        n += 1
    return n
