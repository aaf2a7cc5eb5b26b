"""The campaign store: ``DIR/campaign.sqlite``.

Everything a report shows can be re-derived from it.  SQLite in WAL mode,
parameterized queries, one writer (the campaign's own process).

Schema (version 1):

``meta(key, value)``
    ``seamfuzz_store`` = ``campaign``, ``schema_version``, ``settings`` (JSON
    of the command's settings), ``versions`` (library versions, JSON).
``cases(id, api, framework, record, seed, origin, modes, status, created)``
    A case is a call record (JSON) plus a seed; ``id`` hashes both, so the
    same case is stored once.  Written with status ``pending`` *before* it is
    dispatched, ``done`` once its results are stored: a crash never loses a
    case, and a rerun finishes the pending ones.
``observations(case_id, mode, outcome, body, seconds)``
    What each mode observed (``body``: the :class:`~runner.observation.Observation`
    JSON); the reference's repeat and float64 runs are modes suffixed
    ``#repeat`` and ``#float64``.
``verdicts(case_id, reference, target, kind, detail, path, accepts_invalid)``
    One per target mode and case.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from typing import Any, Iterable, Optional

from miner.errors import InvalidArgument
from miner.sqlite_base import SqliteStore
from miner.records import CallRecord
from runner.contract import Verdict
from runner.observation import Observation

__all__ = ["CampaignStore", "case_id", "SCHEMA_VERSION"]

SCHEMA_VERSION = "1"
_MARKER = ("seamfuzz_store", "campaign")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases(
    id TEXT PRIMARY KEY, api TEXT NOT NULL, framework TEXT NOT NULL, record TEXT NOT NULL,
    seed INTEGER NOT NULL, origin TEXT NOT NULL, modes TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cases_api ON cases(api);
CREATE INDEX IF NOT EXISTS cases_status ON cases(status);
CREATE TABLE IF NOT EXISTS observations(
    case_id TEXT NOT NULL, mode TEXT NOT NULL, outcome TEXT NOT NULL, body TEXT NOT NULL,
    seconds REAL NOT NULL, PRIMARY KEY(case_id, mode));
CREATE TABLE IF NOT EXISTS verdicts(
    case_id TEXT NOT NULL, reference TEXT NOT NULL, target TEXT NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL, path TEXT NOT NULL, accepts_invalid INTEGER NOT NULL,
    PRIMARY KEY(case_id, target));
CREATE INDEX IF NOT EXISTS verdicts_kind ON verdicts(kind);
"""


def case_id(record: CallRecord, seed: int) -> str:
    """Content hash of a case: the record's identity and the seed."""
    return hashlib.sha256(f"{record.id}:{seed}".encode()).hexdigest()[:20]


class CampaignStore(SqliteStore):
    """A campaign's SQLite store (see the module docstring for the schema)."""

    def __init__(self, directory: str | os.PathLike, *, create: bool = True) -> None:
        self.dir = os.fspath(directory)
        self.path = os.path.join(self.dir, "campaign.sqlite")
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise InvalidArgument(f"{self.dir}: not a directory")
        if not create and not os.path.exists(self.path):
            raise InvalidArgument(f"{self.dir}: no campaign.sqlite here")
        os.makedirs(self.dir, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout = 30000")
            tables = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise InvalidArgument(f"{self.path}: not an SQLite database ({exc})") from None
        if tables and "meta" not in tables:
            self._conn.close()
            raise InvalidArgument(f"{self.path}: not a seamfuzz campaign store")
        if tables:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?",
                                     (_MARKER[0],)).fetchone()
            if row is None or row[0] != _MARKER[1]:
                self._conn.close()
                raise InvalidArgument(f"{self.path}: not a seamfuzz campaign store")
            version = self.get_meta("schema_version")
            if version != SCHEMA_VERSION:
                self._conn.close()
                raise InvalidArgument(
                    f"{self.path}: schema version {version}, this seamfuzz reads "
                    f"{SCHEMA_VERSION}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                self._conn.execute(stmt)
        with self._write() as c:
            c.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", _MARKER)
            c.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                      (SCHEMA_VERSION,))

    # -- plumbing -------------------------------------------------------------

    def get_meta(self, key: str) -> Optional[str]:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- cases ----------------------------------------------------------------

    def add_cases(self, cases: Iterable[tuple[str, CallRecord, int, str, tuple[str, ...]]]
                  ) -> int:
        """Store ``(id, record, seed, origin, modes)`` cases as pending (a case
        already stored is left as it is); returns how many were new."""
        now = time.time()
        n = 0
        with self._write() as c:
            for cid, rec, seed, origin, modes in cases:
                cur = c.execute(
                    "INSERT OR IGNORE INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (cid, rec.api, rec.framework, json.dumps(rec.to_json(), sort_keys=True),
                     seed, origin, json.dumps(list(modes)), now))
                n += cur.rowcount
        return n

    def status(self, cid: str) -> Optional[str]:
        row = self._conn.execute("SELECT status FROM cases WHERE id = ?", (cid,)).fetchone()
        return None if row is None else row[0]

    def pending(self) -> list[tuple[str, CallRecord, int, tuple[str, ...]]]:
        rows = self._conn.execute(
            "SELECT id, record, seed, modes FROM cases WHERE status = 'pending' ORDER BY created"
        ).fetchall()
        return [(cid, CallRecord.from_json(json.loads(r)), seed, tuple(json.loads(m)))
                for cid, r, seed, m in rows]

    def put_result(self, cid: str, observations: Iterable[Observation],
                   verdicts: Iterable[Verdict]) -> None:
        """Store a case's observations and verdicts and mark it done, at once."""
        with self._write() as c:
            c.execute("DELETE FROM observations WHERE case_id = ?", (cid,))
            c.execute("DELETE FROM verdicts WHERE case_id = ?", (cid,))
            c.executemany("INSERT INTO observations VALUES (?, ?, ?, ?, ?)", [
                (cid, o.mode, o.outcome.value, json.dumps(o.to_json()), o.seconds)
                for o in observations])
            c.executemany("INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?)", [
                (cid, v.reference, v.target, v.kind.value, v.detail, v.path,
                 int(v.accepts_invalid)) for v in verdicts])
            c.execute("UPDATE cases SET status = 'done' WHERE id = ?", (cid,))

    # -- queries ----------------------------------------------------------------

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        """``{"REFERENCE -> TARGET": {kind: n}}`` over done cases."""
        out: dict[str, dict[str, int]] = {}
        for ref, tgt, kind, n in self._conn.execute(
                "SELECT reference, target, kind, COUNT(*) FROM verdicts "
                "GROUP BY reference, target, kind ORDER BY reference, target, kind"):
            out.setdefault(f"{ref} -> {tgt}", {})[kind] = n
        return out

    def api_counts(self) -> dict[str, dict[str, int]]:
        """Per API: cases, valid (the reference returned), discrepancies."""
        out: dict[str, dict[str, int]] = {}
        for api, n in self._conn.execute(
                "SELECT api, COUNT(*) FROM cases WHERE status = 'done' GROUP BY api"):
            out[api] = {"cases": n, "valid": 0, "discrepancies": 0}
        for api, n in self._conn.execute(
                "SELECT c.api, COUNT(*) FROM cases c JOIN observations o ON o.case_id = c.id "
                "WHERE c.status = 'done' AND o.outcome = 'returned' "
                "AND o.mode = json_extract(c.modes, '$[0]') GROUP BY c.api"):
            out.setdefault(api, {"cases": 0, "valid": 0, "discrepancies": 0})["valid"] = n
        for api, n in self._conn.execute(
                "SELECT c.api, COUNT(DISTINCT c.id) FROM cases c JOIN verdicts v "
                "ON v.case_id = c.id WHERE v.kind IN "
                "('value', 'status', 'dtype', 'shape', 'crash', 'timeout') GROUP BY c.api"):
            out.setdefault(api, {"cases": 0, "valid": 0, "discrepancies": 0})[
                "discrepancies"] = n
        return out

    def observations(self, cid: str) -> dict[str, Observation]:
        return {mode: Observation.from_json(json.loads(body)) for mode, body in
                self._conn.execute("SELECT mode, body FROM observations WHERE case_id = ?",
                                   (cid,))}

    def verdicts(self, cid: Optional[str] = None) -> list[tuple[str, Any]]:
        q = "SELECT case_id, reference, target, kind, detail, path, accepts_invalid FROM verdicts"
        rows = self._conn.execute(q + (" WHERE case_id = ?" if cid else ""),
                                  (cid,) if cid else ()).fetchall()
        return rows
