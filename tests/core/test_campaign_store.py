"""The campaign store: cases in and out, counts, the version-1 upgrade."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from infra.errors import InvalidArgument
from miner.records import CallRecord, TensorSpec
from runner.contract import Verdict, VerdictKind
from runner.observation import Observation, Outcome, ScalarLeaf
from seamfuzz.store import SCHEMA_VERSION, CampaignStore, NewCase, case_id

REC = CallRecord("torch.abs", "torch", args=(TensorSpec("torch", (3,), "float32"),))
MUT = CallRecord("torch.abs", "torch", args=(TensorSpec("torch", (0,), "float16"),))
MODES = ("torch.eager", "torch.compile")


def test_cases_keep_their_origin_parent_and_operators(tmp_path):
    with CampaignStore(tmp_path) as store:
        mined = NewCase(case_id(REC, 0), REC, 0, "mined", MODES)
        mutant = NewCase(case_id(MUT, 7), MUT, 7, "mutant", MODES, parent=REC.id,
                         operators=("dtype", "shape"), mutant_index=0)
        assert store.add_cases([mined, mutant]) == 2
        assert store.add_cases([mutant]) == 0  # stored once
        got = {c.id: c for c in store.cases()}
        assert got[mutant.id].record == MUT and got[mutant.id].operators == ("dtype", "shape")
        assert got[mutant.id].parent == REC.id and got[mutant.id].mutant_index == 0
        assert got[mined.id].mutant_index == -1 and got[mined.id].status == "pending"
        assert [c.id for c in store.cases(origin="mutant")] == [mutant.id]
        obs = tuple(Observation(mode=m, outcome=Outcome.RETURNED, output=ScalarLeaf(1.0))
                    for m in MODES)
        store.put_result(mined.id, obs, [Verdict("torch.eager", "torch.compile",
                                                 VerdictKind.AGREE, "")])
        raised = (Observation(mode="torch.eager", outcome=Outcome.RAISED),
                  Observation(mode="torch.compile", outcome=Outcome.RAISED))
        store.put_result(mutant.id, raised, [Verdict("torch.eager", "torch.compile",
                                                     VerdictKind.INVALID, "")])
        assert store.reference_outcomes() == {mined.id: "returned", mutant.id: "raised"}
        assert store.framework_counts() == {"torch": {
            "cases": 2, "valid": 1, "ran": 2, "mined": 1, "mined_valid": 1, "mined_ran": 1,
            "mutants": 1, "mutants_valid": 0, "mutants_ran": 1}}
        assert store.confirmations() == 0
        store.count_confirmation()
        store.count_confirmation()
        assert store.confirmations() == 2


def test_a_version_1_store_is_upgraded_in_place(tmp_path):
    path = tmp_path / "campaign.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.executescript("""
            CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('seamfuzz_store', 'campaign'), ('schema_version', '1');
            CREATE TABLE cases(id TEXT PRIMARY KEY, api TEXT NOT NULL,
                framework TEXT NOT NULL, record TEXT NOT NULL, seed INTEGER NOT NULL,
                origin TEXT NOT NULL, modes TEXT NOT NULL, status TEXT NOT NULL,
                created REAL NOT NULL);
        """)
        import json

        db.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   ("c1", REC.api, "torch", json.dumps(REC.to_json()), 0, "mined",
                    json.dumps(list(MODES)), "done", 1.0))
        db.commit()
    with CampaignStore(tmp_path) as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION
        (case,) = store.cases()
        assert case.record == REC and case.operators == () and case.mutant_index == -1


def test_a_store_of_an_unknown_version_is_refused(tmp_path):
    with CampaignStore(tmp_path) as store:
        store.set_meta("schema_version", "99")
    with pytest.raises(InvalidArgument, match="schema version 99"):
        CampaignStore(tmp_path)
