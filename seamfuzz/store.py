"""The campaign store: ``DIR/campaign.sqlite``.

Everything a report shows can be re-derived from it.  SQLite in WAL mode,
parameterized queries, one writer (the campaign's own process).

Schema (version 2; a version-1 store is upgraded in place when opened):

``meta(key, value)``
    ``seamfuzz_store`` = ``campaign``, ``schema_version``, ``settings`` (JSON
    of the command's settings), ``versions`` (library versions, JSON).
``cases(id, api, framework, record, seed, origin, modes, status, created,
parent, operators, mutant_index)``
    A case is a call record (JSON) plus a seed; ``id`` hashes both, so the
    same case is stored once.  ``api`` is the API the campaign counts it
    under: the mined API a mutant derives from, even when the mutant calls
    another (an in-place variant).  Written with status ``pending`` *before* it is
    dispatched, ``done`` once its results are stored: a crash never loses a
    case, and a rerun finishes the pending ones.  ``origin`` is ``mined`` (a
    corpus record run as it is) or ``mutant``; a mutant names the id of the
    record it was derived from (``parent``), the mutation operators applied
    in order (``operators``, a JSON list) and its number among its API's
    mutants (``mutant_index``; -1 for mined cases).
``observations(case_id, mode, outcome, body, seconds)``
    What each mode observed (``body``: the :class:`~runner.observation.Observation`
    JSON); the reference's repeat and float64 runs are modes suffixed
    ``#repeat`` and ``#float64``.
``verdicts(case_id, reference, target, kind, detail, path, accepts_invalid)``
    One per target mode and case.
``clusters(id, api, kind, reference, target, severity, cases, signature,
axis, axis_detail, representative, shrunk, repro, known, example)``
    Written by ``seamfuzz triage``: one row per cluster of discrepancies
    with the same signature (JSON of its parts), the axis that flips the
    result, the representative case, the shrunk record and seed (JSON), the
    reproducer's path relative to the campaign directory, the matching
    known issue (JSON, or empty) and an example of what each side observed.
``cluster_cases(cluster_id, case_id, target)``
    Which verdicts each cluster holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from infra.errors import InvalidArgument
from infra.sqlite import SqliteStore
from miner.records import CallRecord
from runner.contract import Verdict
from runner.observation import Observation

__all__ = ["CampaignStore", "NewCase", "StoredCase", "case_id", "SCHEMA_VERSION"]

SCHEMA_VERSION = "2"
_MARKER = ("seamfuzz_store", "campaign")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases(
    id TEXT PRIMARY KEY, api TEXT NOT NULL, framework TEXT NOT NULL, record TEXT NOT NULL,
    seed INTEGER NOT NULL, origin TEXT NOT NULL, modes TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, parent TEXT NOT NULL DEFAULT '',
    operators TEXT NOT NULL DEFAULT '[]', mutant_index INTEGER NOT NULL DEFAULT -1);
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
CREATE TABLE IF NOT EXISTS clusters(
    id TEXT PRIMARY KEY, api TEXT NOT NULL, kind TEXT NOT NULL, reference TEXT NOT NULL,
    target TEXT NOT NULL, severity INTEGER NOT NULL, cases INTEGER NOT NULL,
    signature TEXT NOT NULL, axis TEXT NOT NULL, axis_detail TEXT NOT NULL,
    representative TEXT NOT NULL, shrunk TEXT NOT NULL, repro TEXT NOT NULL,
    known TEXT NOT NULL, example TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cluster_cases(
    cluster_id TEXT NOT NULL, case_id TEXT NOT NULL, target TEXT NOT NULL,
    PRIMARY KEY(cluster_id, case_id, target));
"""
# Columns version 2 added to version 1's cases table.
_V2_CASE_COLUMNS = ("parent TEXT NOT NULL DEFAULT ''",
                    "operators TEXT NOT NULL DEFAULT '[]'",
                    "mutant_index INTEGER NOT NULL DEFAULT -1")


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case to store before it is dispatched."""

    id: str
    record: CallRecord
    seed: int
    origin: str
    #: Mode specs, the reference first.
    modes: tuple[str, ...]
    parent: str = ""
    operators: tuple[str, ...] = ()
    mutant_index: int = -1
    #: The API the campaign counts the case under, when not the record's
    #: own (an in-place variant ``torch.Tensor.add_`` of ``torch.add``).
    api: str = ""


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as the store holds it."""

    id: str
    record: CallRecord
    seed: int
    origin: str
    modes: tuple[str, ...]
    status: str
    parent: str
    operators: tuple[str, ...]
    mutant_index: int


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
            if version == "1":
                self._upgrade_from_1()
                version = SCHEMA_VERSION
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

    def _upgrade_from_1(self) -> None:
        with self._write() as c:
            for column in _V2_CASE_COLUMNS:
                c.execute(f"ALTER TABLE cases ADD COLUMN {column}")
            c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                      (SCHEMA_VERSION,))

    # -- plumbing -------------------------------------------------------------

    def get_meta(self, key: str) -> Optional[str]:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def confirmations(self) -> int:
        """How many cases were re-run in a clean worker so far."""
        return int(self.get_meta("confirmations") or 0)

    def count_confirmation(self) -> None:
        with self._write() as c:
            c.execute("INSERT INTO meta VALUES ('confirmations', '1') ON CONFLICT(key) "
                      "DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    # -- cases ----------------------------------------------------------------

    def add_cases(self, cases: Iterable[NewCase]) -> int:
        """Store cases as pending (a case already stored is left as it is);
        returns how many were new."""
        now = time.time()
        n = 0
        with self._write() as c:
            for case in cases:
                rec = case.record
                cur = c.execute(
                    "INSERT OR IGNORE INTO cases (id, api, framework, record, seed, origin, "
                    "modes, status, created, parent, operators, mutant_index) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                    (case.id, case.api or rec.api, rec.framework,
                     json.dumps(rec.to_json(), sort_keys=True), case.seed, case.origin,
                     json.dumps(list(case.modes)), now, case.parent,
                     json.dumps(list(case.operators)), case.mutant_index))
                n += cur.rowcount
        return n

    def case(self, cid: str) -> Optional[StoredCase]:
        """One stored case, or None."""
        rows = self._cases("WHERE id = ?", (cid,))
        return rows[0] if rows else None

    def cases(self, *, api: Optional[str] = None, origin: Optional[str] = None,
              status: Optional[str] = None) -> list[StoredCase]:
        """Stored cases in the order they were added, filtered."""
        where, params = [], []
        for column, value in (("api", api), ("origin", origin), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return self._cases(("WHERE " + " AND ".join(where)) if where else "", tuple(params))

    def _cases(self, where: str, params: tuple) -> list[StoredCase]:
        rows = self._conn.execute(
            "SELECT id, record, seed, origin, modes, status, parent, operators, mutant_index "
            f"FROM cases {where} ORDER BY created, rowid", params).fetchall()
        return [StoredCase(cid, CallRecord.from_json(json.loads(r)), seed, origin,
                           tuple(json.loads(m)), status, parent, tuple(json.loads(ops)), idx)
                for cid, r, seed, origin, m, status, parent, ops, idx in rows]

    def reference_outcomes(self) -> dict[str, str]:
        """Per done case, how its reference mode ended (``returned``, ...)."""
        return dict(self._conn.execute(
            "SELECT c.id, o.outcome FROM cases c JOIN observations o ON o.case_id = c.id "
            "WHERE c.status = 'done' AND o.mode = json_extract(c.modes, '$[0]')"))

    def status(self, cid: str) -> Optional[str]:
        row = self._conn.execute("SELECT status FROM cases WHERE id = ?", (cid,)).fetchone()
        return None if row is None else row[0]


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

    def framework_counts(self) -> dict[str, dict[str, int]]:
        """Per framework and origin: done cases, valid ones (the reference
        returned) and those the reference ran at all (returned or raised; not
        skipped as unresolved or denied): ``{fw: {"cases", "valid", "ran",
        "mined", "mined_valid", "mined_ran", "mutants", "mutants_valid",
        "mutants_ran"}}``."""
        out: dict[str, dict[str, int]] = {}
        for fw, origin, n, valid, ran in self._conn.execute(
                "SELECT c.framework, c.origin, COUNT(*), "
                "SUM(CASE WHEN o.outcome = 'returned' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN o.outcome IN ('returned', 'raised') THEN 1 ELSE 0 END) "
                "FROM cases c "
                "LEFT JOIN observations o ON o.case_id = c.id "
                "AND o.mode = json_extract(c.modes, '$[0]') WHERE c.status = 'done' "
                "GROUP BY c.framework, c.origin"):
            d = out.setdefault(fw, {"cases": 0, "valid": 0, "ran": 0, "mined": 0,
                                    "mined_valid": 0, "mined_ran": 0, "mutants": 0,
                                    "mutants_valid": 0, "mutants_ran": 0})
            key = "mined" if origin == "mined" else "mutants"
            for suffix, value in (("", n), ("_valid", valid or 0), ("_ran", ran or 0)):
                d[key + suffix] += value
                d[(suffix[1:] or "cases")] += value
        return out

    # -- clusters (written by triage) ------------------------------------------

    def put_clusters(self, rows: Iterable[tuple[Any, dict[str, Any]]]) -> None:
        """Replace the stored clusters: ``(cluster, info)`` pairs, where the
        cluster is a :class:`triage.cluster.Cluster` and ``info`` holds
        axis, axis_detail, shrunk, repro, known and example (JSON-able)."""
        with self._write() as c:
            c.execute("DELETE FROM clusters")
            c.execute("DELETE FROM cluster_cases")
            for cl, info in rows:
                c.execute(
                    "INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (cl.id, cl.api, cl.kind, cl.reference, cl.target, cl.severity, cl.cases,
                     json.dumps(cl.signature.parts(), sort_keys=True), info["axis"],
                     json.dumps(info["axis_detail"], sort_keys=True),
                     cl.representative.case_id, json.dumps(info["shrunk"], sort_keys=True),
                     info["repro"], json.dumps(info["known"], sort_keys=True),
                     json.dumps(info["example"], sort_keys=True)))
                c.executemany("INSERT OR IGNORE INTO cluster_cases VALUES (?, ?, ?)",
                              [(cl.id, cid, cl.target) for cid in cl.case_ids])
            c.execute("INSERT OR REPLACE INTO meta VALUES ('triaged', ?)", (str(time.time()),))

    def clusters(self) -> list[dict[str, Any]]:
        """The stored clusters, most severe first, then by size."""
        cols = ("id", "api", "kind", "reference", "target", "severity", "cases", "signature",
                "axis", "axis_detail", "representative", "shrunk", "repro", "known", "example")
        out = []
        for row in self._conn.execute(f"SELECT {', '.join(cols)} FROM clusters "
                                      "ORDER BY severity DESC, cases DESC, id"):
            d = dict(zip(cols, row))
            for k in ("signature", "axis_detail", "shrunk", "known", "example"):
                d[k] = json.loads(d[k])
            out.append(d)
        return out

    def verdicts_of_kinds(self, kinds: Iterable[str]) -> list[tuple[str, str, str, str, str,
                                                                    str]]:
        """``(case_id, reference, target, kind, detail, path)`` of every
        verdict of the given kinds, by case and target."""
        kinds = tuple(kinds)
        marks = ",".join("?" * len(kinds))
        return self._conn.execute(
            "SELECT case_id, reference, target, kind, detail, path FROM verdicts "
            f"WHERE kind IN ({marks}) ORDER BY case_id, target", kinds).fetchall()

    def observations(self, cid: str) -> dict[str, Observation]:
        return {mode: Observation.from_json(json.loads(body)) for mode, body in
                self._conn.execute("SELECT mode, body FROM observations WHERE case_id = ?",
                                   (cid,))}

    def verdicts(self, cid: Optional[str] = None) -> list[tuple[str, Any]]:
        q = "SELECT case_id, reference, target, kind, detail, path, accepts_invalid FROM verdicts"
        rows = self._conn.execute(q + (" WHERE case_id = ?" if cid else ""),
                                  (cid,) if cid else ()).fetchall()
        return rows
