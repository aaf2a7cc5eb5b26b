"""A breaking verdict is confirmed in a clean worker before it is stored."""

from __future__ import annotations

from miner import apiindex
from runner.check import record_from_expression
from runner.contract import VerdictKind
from seamfuzz.campaign import run_records
from seamfuzz.store import CampaignStore


def test_a_discrepancy_that_a_clean_worker_does_not_reproduce_is_not_a_finding(tmp_path):
    index = apiindex.load_or_build()
    records = [record_from_expression(e, index) for e in (
        "torch.abs(torch.randn(3))", "torch.neg(torch.randn(4))", "torch.exp(torch.randn(5))")]
    modes = {"torch": ("torch.eager", "torch.compile:backend=planted:leaky_backend")}
    with CampaignStore(tmp_path) as store:
        outcomes = list(run_records(records, modes, store, jobs=1, timeout=60))
        kinds = [o.verdicts[0].kind for o in outcomes]
        # In the shared worker the second and third cases fail; alone, none does.
        assert kinds == [VerdictKind.AGREE] * 3
        details = [o.verdicts[0].detail for o in outcomes]
        assert sum("not reproduced in a clean worker" in d for d in details) == 2
        assert all("state left behind" in d for d in details if "not reproduced" in d)
        assert store.verdict_counts() == {
            "torch.eager -> torch.compile:backend=planted:leaky_backend": {"agree": 3}}
