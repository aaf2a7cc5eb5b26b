"""Every miner rule's examples, run against the installed libraries' index.

The index is built once (in a child process, cached); this process imports
neither torch nor tensorflow.
"""

from __future__ import annotations

import libcst as cst
import pytest

from miner import apiindex
from miner.extract import extract_module
from miner.records import describe_record
from miner.rules import RULES

EXAMPLES = [(r.name, i, ex) for r in RULES for i, ex in enumerate(r.examples)]
NON_EXAMPLES = [(r.name, i, ne) for r in RULES for i, ne in enumerate(r.non_examples)]


@pytest.fixture(scope="module")
def index() -> apiindex.ApiIndex:
    return apiindex.load_or_build()


def _mine(source: str, index: apiindex.ApiIndex) -> list:
    return list(extract_module(cst.parse_module(source), index, source=source).records)


@pytest.mark.parametrize("rule,i,example", EXAMPLES, ids=[f"{r}-{i}" for r, i, _ in EXAMPLES])
def test_example_yields_exactly_the_expected_records(rule, i, example, index):
    got = sorted(describe_record(r) for r in _mine(example.source, index))
    assert got == sorted(example.expect)


@pytest.mark.parametrize("rule,i,non_example", NON_EXAMPLES,
                         ids=[f"{r}-not-{i}" for r, i, _ in NON_EXAMPLES])
def test_non_example_yields_none_of_the_apis(rule, i, non_example, index):
    got = {r.api for r in _mine(non_example.source, index)}
    assert not got & set(non_example.absent), non_example.why


def test_every_rule_has_examples():
    assert all(rule.examples for rule in RULES)
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
