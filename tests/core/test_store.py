"""Tests of the corpus store (miner/store.py): what goes in comes out with
occurrences summed, re-mining replaces a file's contribution, JSONL round
trips, and files that are not corpus stores are refused."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sqlite3
from collections import Counter
from contextlib import closing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.errors import InvalidArgument
from miner.records import (
    MAX_PROVENANCE,
    CallKind,
    CallRecord,
    Fill,
    Literal,
    Provenance,
    TensorSpec,
    Unknown,
)
from miner.store import ApiStat, CorpusStore, FileEntry


def rec(api: str, *args, occurrences: int = 1, where: tuple = (), fw: str = "torch") -> CallRecord:
    """A FUNCTION record of ``api`` with literal arguments, seen at ``where``
    (``(file, line)`` pairs in corpus ``c``)."""
    return CallRecord(
        api,
        fw,
        args=tuple(a if not isinstance(a, (int, float, str)) else Literal(a) for a in args),
        occurrences=occurrences,
        provenance=tuple(Provenance("c", f, n) for f, n in where),
    )


def mined(store: CorpusStore, key: str, *records: CallRecord, content_hash: str = "h") -> None:
    store.put_file(key, corpus="c", path=key, content_hash=content_hash, status="mined",
                   records=records)


def by_id(store: CorpusStore, **query) -> dict[str, CallRecord]:
    return {r.id: r for r in store.records(**query)}


@pytest.fixture
def store(tmp_path):
    with CorpusStore(tmp_path / "corpus.sqlite") as s:
        yield s


# -- in and out -------------------------------------------------------------


def test_records_round_trip_with_summed_occurrences(store):
    x = TensorSpec("torch", (2, None), "float32", init=Fill(math.nan))
    a = rec("torch.add", x, 1, where=[("a.py", 3)])
    b = rec("torch.add", x, 1.0, where=[("a.py", 4)])
    m = CallRecord("torch.Tensor.sum", "torch", CallKind.METHOD, args=(x,),
                   kwargs=(("dim", Literal(-1)),), provenance=(Provenance("c", "a.py", 9),))
    mined(store, "a.py", a, b, a, m, a)
    got = by_id(store)
    assert set(got) == {a.id, b.id, m.id}
    assert got[a.id] == dataclasses.replace(a, occurrences=3)
    assert got[b.id] == b
    assert got[m.id] == m
    assert store.count_records() == 3
    assert [r.api for r in store.records()] == sorted(r.api for r in got.values())


def test_file_hash_lets_the_miner_skip_unchanged_files(store):
    assert store.file_hash("a.py") is None
    mined(store, "a.py", rec("torch.abs"), content_hash="h1")
    store.put_file("big.py", corpus="c", path="big.py", content_hash="h2", status="skipped",
                   reason="too large")
    assert store.file_hash("a.py") == "h1"
    assert store.file_hash("big.py") == "h2"


def test_re_mining_a_changed_file_replaces_its_contribution(store):
    kept, gone = rec("torch.abs", 1), rec("torch.neg", 1)
    mined(store, "a.py", kept, kept, kept, gone, content_hash="h1")
    mined(store, "a.py", kept, content_hash="h2")
    assert list(store.records()) == [kept]
    assert store.count_records() == 1
    assert store.file_hash("a.py") == "h2"
    assert [s.api for s in store.api_stats()] == ["torch.abs"]
    with closing(sqlite3.connect(store.path)) as raw:
        assert raw.execute("SELECT COUNT(*) FROM records").fetchone() == (1,)


def test_a_file_that_now_fails_contributes_nothing(store):
    mined(store, "a.py", rec("torch.abs"))
    store.put_file("a.py", corpus="c", path="a.py", content_hash="h3", status="failed",
                   reason="syntax error")
    assert list(store.records()) == []
    assert store.file_counts() == {"mined": {}, "skipped": {}, "failed": {"syntax error": 1}}


def test_two_files_add_occurrences_and_share_provenance(store):
    r1 = rec("torch.abs", 2, occurrences=2, where=[("b.py", 7), ("b.py", 1)])
    r2 = rec("torch.abs", 2, where=[("a.py", 5)])
    mined(store, "b.py", r1)
    mined(store, "a.py", r2)
    (got,) = store.records()
    assert got.occurrences == 3
    assert got.provenance == (
        Provenance("c", "a.py", 5), Provenance("c", "b.py", 1), Provenance("c", "b.py", 7)
    )
    mined(store, "b.py")  # b.py no longer calls it
    (got,) = store.records()
    assert got.occurrences == 1
    assert got.provenance == (Provenance("c", "a.py", 5),)


def test_provenance_is_capped_and_ordered(store):
    for f in ("z.py", "m.py", "a.py"):
        mined(store, f, *[rec("torch.abs", where=[(f, n)]) for n in range(MAX_PROVENANCE, 0, -1)])
    (got,) = store.records()
    assert got.occurrences == 3 * MAX_PROVENANCE
    assert got.provenance == tuple(Provenance("c", "a.py", n) for n in range(1, MAX_PROVENANCE + 1))


def test_put_files_writes_a_batch_in_one_transaction(store):
    good = FileEntry("a.py", "c", "a.py", "h", "mined", records=[rec("torch.abs")])

    def dies_half_way():
        yield good
        raise RuntimeError("miner interrupted")

    with pytest.raises(RuntimeError):
        store.put_files(dies_half_way())
    assert list(store.records()) == [] and store.file_hash("a.py") is None
    again = FileEntry("b.py", "c", "b.py", "h", "mined", records=[rec("torch.abs")])
    store.put_files([good, again])
    assert [r.occurrences for r in store.records()] == [2]


def test_file_status_is_checked():
    with pytest.raises(ValueError, match="status"):
        FileEntry("b.py", "c", "b.py", "h", "lost")


def test_glob_api_filter(store):
    mined(store, "a.py", rec("torch.nn.functional.relu"), rec("torch.nn.Conv2d"), rec("torch.abs"),
          rec("tf.math.abs", fw="tensorflow"), rec("tf.math.add", fw="tensorflow"))
    assert [r.api for r in store.records(api="torch.nn.*")] == [
        "torch.nn.Conv2d", "torch.nn.functional.relu"
    ]
    assert [r.api for r in store.records(api="torch.abs")] == ["torch.abs"]
    assert [r.api for r in store.records(api="*.abs")] == ["tf.math.abs", "torch.abs"]
    assert [r.api for r in store.records(api="tf.math.[!a]*")] == []
    assert [r.api for r in store.records(api="tf.math.a?d")] == ["tf.math.add"]
    assert [r.api for r in store.records(api="TORCH.*")] == []
    assert [r.api for r in store.records(framework="tensorflow")] == ["tf.math.abs", "tf.math.add"]
    assert [r.api for r in store.records(api="*abs", framework="torch")] == ["torch.abs"]


def test_api_stats_ranking(store):
    mined(store, "a.py",
          rec("torch.abs", 1), rec("torch.abs", 2), rec("torch.abs", 2),  # 2 records, 3 calls
          rec("torch.add", 1, 2, occurrences=3),                          # 1 record, 3 calls
          rec("torch.sub", 1), rec("torch.mul", 1))                       # 1 record, 1 call
    assert store.api_stats() == [
        ApiStat("torch.abs", "torch", 2, 3),
        ApiStat("torch.add", "torch", 1, 3),
        ApiStat("torch.mul", "torch", 1, 1),
        ApiStat("torch.sub", "torch", 1, 1),
    ]


def test_file_counts(store):
    mined(store, "a.py", rec("torch.abs"))
    mined(store, "b.py")
    for key, status, reason in [("c.bin", "skipped", "not code"), ("d.bin", "skipped", "not code"),
                                ("e.py", "skipped", "too large"), ("f.py", "failed", "syntax")]:
        store.put_file(key, corpus="c", path=key, content_hash=None, status=status, reason=reason)
    assert store.file_counts() == {
        "mined": {"": 2},
        "skipped": {"not code": 2, "too large": 1},
        "failed": {"syntax": 1},
    }


def test_meta(store):
    assert store.get_meta("torch_version") is None
    store.set_meta("torch_version", "2.13")
    store.set_meta("torch_version", "2.14")
    assert store.get_meta("torch_version") == "2.14"
    with pytest.raises(InvalidArgument):
        store.set_meta("schema_version", "0")


def test_data_survives_reopening(tmp_path):
    with CorpusStore(tmp_path / "s.sqlite") as s:
        mined(s, "a.py", rec("torch.abs", where=[("a.py", 1)]))
    with CorpusStore(tmp_path / "s.sqlite", create=False) as s:
        assert [r.api for r in s.records()] == ["torch.abs"]


# -- JSONL ------------------------------------------------------------------


def test_export_then_import_into_a_fresh_store_gives_equal_records(store, tmp_path):
    mined(store, "b.py", rec("torch.abs", where=[("b.py", 2)]), rec("torch.add", 1, 2),
          rec("torch.abs", where=[("b.py", 1)]))
    mined(store, "a.py", rec("torch.abs", where=[("a.py", 9)]),
          rec("torch.neg", Unknown("x"), where=[("a.py", 3)]))
    out = tmp_path / "out" / "corpus.jsonl"
    assert store.export_jsonl(out) == 3
    with CorpusStore(tmp_path / "fresh.sqlite") as fresh:
        assert fresh.import_jsonl(out) == 3
        assert list(fresh.records()) == list(store.records())
        assert fresh.import_jsonl(out) == 3  # again: replaces, does not double
        assert list(fresh.records()) == list(store.records())
        assert fresh.import_jsonl(out, key="other") == 3  # under another key: adds
        assert [r.occurrences for r in fresh.records()] == [6, 2, 2]
        assert fresh.file_counts()["mined"] == {"": 2}


def test_export_to_an_open_file(store):
    mined(store, "a.py", rec("torch.abs", math.inf), rec("torch.abs", -0.0))
    buf = io.StringIO()
    assert store.export_jsonl(buf) == 2
    lines = buf.getvalue().splitlines()
    assert [CallRecord.from_json(json.loads(line)) for line in lines] == list(store.records())


def test_malformed_jsonl_line_names_the_line(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(rec("torch.abs").to_json())
    for bad in ['{"api": "torch.abs"', '{"api": "torch.abs"}', "[1, 2]",
                '{"api": "a", "framework": "torch", "occurrences": 1e999}', "\udcff"]:
        path.write_bytes(f"{good}\n\n{bad}\n".encode("utf-8", "surrogateescape"))
        with pytest.raises(InvalidArgument, match=r"bad\.jsonl:3:"):
            store.import_jsonl(path)
    assert list(store.records()) == []


def test_import_of_a_missing_file(store, tmp_path):
    with pytest.raises(InvalidArgument, match="missing.jsonl"):
        store.import_jsonl(tmp_path / "missing.jsonl")


# -- what is and is not a store -------------------------------------------


def test_create_false_on_a_missing_path(tmp_path):
    with pytest.raises(InvalidArgument, match="nowhere.sqlite"):
        CorpusStore(tmp_path / "nowhere.sqlite", create=False)
    assert not (tmp_path / "nowhere.sqlite").exists()


def test_create_makes_parent_directories(tmp_path):
    with CorpusStore(tmp_path / "a" / "b" / "corpus.sqlite") as s:
        assert s.count_records() == 0


def test_a_text_file_is_not_a_store(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, world\n" * 20)
    for create in (True, False):
        with pytest.raises(InvalidArgument, match=r"notes\.txt.*not an SQLite database"):
            CorpusStore(path, create=create)
    assert path.read_text() == "hello, world\n" * 20


def _sqlite_file(path, *statements):
    with closing(sqlite3.connect(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    return path


@pytest.mark.parametrize(
    "statements, message",
    [
        (["CREATE TABLE users (name TEXT)"], "not a seamfuzz store"),
        (["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)"], "not a seamfuzz store"),
        (["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
          "INSERT INTO meta VALUES ('seamfuzz_store', 'campaign')"], "campaign store"),
        (["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
          "INSERT INTO meta VALUES ('seamfuzz_store', 'corpus')",
          "INSERT INTO meta VALUES ('schema_version', '999')"], "schema version 999"),
    ],
    ids=["other tables", "no marker", "another store", "another version"],
)
def test_other_sqlite_databases_are_refused(tmp_path, statements, message):
    path = _sqlite_file(tmp_path / "other.db", *statements)
    with pytest.raises(InvalidArgument, match=message) as info:
        CorpusStore(path)
    assert "other.db" in str(info.value) and "\n" not in str(info.value)
    with closing(sqlite3.connect(path)) as conn:  # and left as it was
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_an_empty_file_becomes_a_store_only_when_creating(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    with pytest.raises(InvalidArgument, match="empty"):
        CorpusStore(path, create=False)
    with CorpusStore(path) as s:
        assert s.get_meta("seamfuzz_store") == "corpus"


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(InvalidArgument, match="directory"):
        CorpusStore(tmp_path)


def test_wal_mode_is_on(store):
    with closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_two_connections_write_in_turn(tmp_path):
    path = tmp_path / "corpus.sqlite"
    with CorpusStore(path) as one, CorpusStore(path) as two:
        mined(one, "a.py", rec("torch.abs"))
        mined(two, "b.py", rec("torch.abs"))
        assert [r.occurrences for r in one.records()] == [2]


# -- the store agrees with a model ------------------------------------------

apis = st.sampled_from(["torch.abs", "torch.add", "torch.nn.Conv2d", "tf.math.abs"])
arg_values = st.sampled_from([Literal(0), Literal(0.0), Literal(-0.0), Literal(False),
                              Literal(math.nan), Unknown("x")])
lines = st.integers(1, 40)


@st.composite
def file_records(draw: st.DrawFn, key: str) -> list[CallRecord]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        api = draw(apis)
        out.append(CallRecord(
            api, "tensorflow" if api.startswith("tf.") else "torch",
            args=tuple(draw(st.lists(arg_values, max_size=2))),
            occurrences=draw(st.integers(1, 3)),
            provenance=tuple(Provenance("c", key, n) for n in draw(st.lists(lines, max_size=3))),
        ))
    return out


keys = st.sampled_from(["a.py", "b.py", "c.py"])
operations = st.lists(keys.flatmap(lambda k: st.tuples(st.just(k), file_records(k))), max_size=8)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_store_matches_a_model_of_the_latest_file_contents(tmp_path_factory, ops):
    latest: dict[str, list[CallRecord]] = {}
    with CorpusStore(tmp_path_factory.mktemp("model") / "corpus.sqlite") as store:
        for key, records in ops:
            mined(store, key, *records)
            latest[key] = records
        counts: Counter[str] = Counter()
        places: dict[str, set[Provenance]] = {}
        api_of: dict[str, str] = {}
        for records in latest.values():
            for r in records:
                counts[r.id] += r.occurrences
                places.setdefault(r.id, set()).update(r.provenance)
                api_of[r.id] = r.api
        got = list(store.records())
        assert [r.id for r in got] == sorted(counts, key=lambda i: (api_of[i], i))
        for r in got:
            assert r.occurrences == counts[r.id]
            expected = sorted(places[r.id], key=lambda p: (p.corpus, p.file, p.line))
            assert list(r.provenance) == expected[:MAX_PROVENANCE]
        assert store.count_records() == len(counts)
        assert sum(s.occurrences for s in store.api_stats()) == sum(counts.values())
