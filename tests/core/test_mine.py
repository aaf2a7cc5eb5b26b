"""Mining a corpus end to end: every file ends up counted under a reason,
nothing from the corpus runs, re-mining is incremental."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from miner import mine as mining
from miner.records import describe_record
from miner.store import CorpusStore

GOOD = """\
import torch
import torch.nn.functional as F

def f(x):
    return F.relu(x)

y = torch.cumsum(torch.randn(3, 4), dim=-1)
"""

HARMFUL = """\
import os, torch
open({marker!r}, "w").write("ran")
os.system("touch {marker}")
torch.zeros(2)
"""

NOTEBOOK = {
    "nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"language": "python"}},
    "cells": [
        {"cell_type": "markdown", "source": "# title", "metadata": {}},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import tensorflow as tf\n"],
         "metadata": {}, "outputs": [], "execution_count": 1},
        {"cell_type": "code", "source": "!pip install x\ntf.abs(tf.constant([-1.0]))\n",
         "metadata": {}, "outputs": [], "execution_count": 2},
    ],
}


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    marker = tmp_path / "marker"
    (root / "good.py").write_text(GOOD)
    (root / "harmful.py").write_text(HARMFUL.format(marker=str(marker)))
    (root / "syntax.py").write_text("import torch\ndef f(:\n    torch.abs(1)\n")
    (root / "py2.py").write_text("import torch\nprint 'hello'\n")
    (root / "binary.py").write_bytes(b"import torch\x00\x01\x02")
    (root / "empty.py").write_text("")
    (root / "plain.py").write_text("import os\nprint(os.getcwd())\n")
    (root / "deep.py").write_text("import torch\nx = " + "(" * 300 + "1" + ")" * 300 + "\n")
    (root / "nb.ipynb").write_text(json.dumps(NOTEBOOK))
    (root / "broken.ipynb").write_text('{"cells": [{"source": "import torch"')
    (root / "README.md").write_text("```python\nimport torch\ntorch.ones(3)\n```\n")
    return root, marker


def _mine(store, paths, **kw):
    return list(mining.mine([str(p) for p in paths], store=store, **kw))


def test_every_file_is_accounted_for_and_nothing_runs(corpus, tmp_path):
    root, marker = corpus
    with CorpusStore(tmp_path / "c.sqlite") as store:
        outcomes = _mine(store, [root], jobs=2)
        by_file = {o.path: (o.status, o.reason) for o in outcomes}
        assert by_file == {
            "good.py": ("mined", ""),
            "harmful.py": ("mined", ""),
            "syntax.py": ("failed", "syntax_error"),
            "py2.py": ("failed", "python2"),
            "binary.py": ("failed", "binary"),
            "empty.py": ("skipped", "empty"),
            "plain.py": ("skipped", "no_framework"),
            "deep.py": ("failed", "too_deep"),
            "nb.ipynb": ("mined", ""),
            "broken.ipynb": ("failed", "bad_notebook"),
            "README.md": ("mined", ""),
        }
        assert not marker.exists(), "mined code must never run"
        got = {describe_record(r) for r in store.records()}
        assert "torch.cumsum(Tensor[torch 3x4 float32 normal], dim=-1)" in got
        assert "torch.nn.functional.relu(?x)" in got
        assert "tf.math.abs(Tensor[tensorflow 1 float32 data(-1.0)])" in got
        assert "torch.ones(3)" in got
        assert "torch.zeros(2)" in got
        summary = mining.summarize(outcomes, store, 1.0).to_json()
        assert summary["files"]["seen"] == 11 and summary["files"]["mined"] == 4
        assert summary["files"]["failed"] == {"syntax_error": 1, "python2": 1, "binary": 1,
                                              "too_deep": 1, "bad_notebook": 1}
        assert summary["apis"]["torch"] >= 5 and summary["apis"]["tensorflow"] == 2
        assert 0 < summary["resolved_args"] <= 1


def test_remining_skips_unchanged_and_replaces_changed(corpus, tmp_path):
    root, _ = corpus
    with CorpusStore(tmp_path / "c.sqlite") as store:
        _mine(store, [root / "good.py", root / "README.md"], jobs=1)
        before = {r.api: r.occurrences for r in store.records()}
        again = _mine(store, [root / "good.py", root / "README.md"], jobs=1)
        assert Counter(o.reason for o in again) == Counter({"unchanged": 2})
        assert {r.api: r.occurrences for r in store.records()} == before
        (root / "good.py").write_text("import torch\ntorch.zeros(1)\ntorch.zeros(1)\n")
        third = _mine(store, [root / "good.py", root / "README.md"], jobs=1)
        assert sorted((o.path, o.status, o.reason) for o in third) == [
            ("README.md", "skipped", "unchanged"), ("good.py", "mined", "")]
        after = {r.api: r.occurrences for r in store.records()}
        assert "torch.cumsum" not in after and after["torch.zeros"] == 2
        assert after["torch.ones"] == before["torch.ones"]


def test_a_file_that_hangs_the_parser_is_killed_and_counted(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    # LibCST's parser takes minutes on a long chain of binary operators
    # (short lines, shallow brackets: the cheap pre-checks let it through).
    (root / "slow.py").write_text("import torch\nx = (\n" + "1 +\n" * 20_000 + "1)\n")
    (root / "ok.py").write_text("import torch\ntorch.ones(2)\n")
    with CorpusStore(tmp_path / "c.sqlite") as store:
        outcomes = _mine(store, [root], jobs=2, file_timeout=3)
    by_file = {o.path: (o.status, o.reason) for o in outcomes}
    assert by_file == {"slow.py": ("failed", "too_deep"), "ok.py": ("mined", "")}
    slow = next(o for o in outcomes if o.path == "slow.py")
    assert "timeout" in slow.detail


def test_missing_path_is_a_usage_error(tmp_path):
    from infra.errors import InvalidArgument

    with CorpusStore(tmp_path / "c.sqlite") as store:
        with pytest.raises(InvalidArgument, match="no such file"):
            _mine(store, [tmp_path / "nope"])
        with pytest.raises(InvalidArgument, match="--docs"):
            list(mining.mine([], docs=["jax"], store=store))
