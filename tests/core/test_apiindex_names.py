"""Canonical names <-> import paths (miner/apiindex/names.py), the index's
canonical-name lookup, and the versioned cache (miner/apiindex/cache.py).
No framework is imported."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from miner.apiindex import (
    ApiIndex,
    CacheEntry,
    Symbol,
    SymbolKind,
    canonical_to_path,
    path_to_canonical,
    script_name,
)
from miner.apiindex.cache import stamp, write_json

ROOT = Path(__file__).resolve().parents[2]

#: (canonical name, import path, as a script with ``tf`` and ``np`` writes it)
NAMES = [
    ("tf.math.abs", "tensorflow.math.abs", "tf.math.abs"),
    ("tf", "tensorflow", "tf"),
    ("tf.Tensor.numpy", "tensorflow.Tensor.numpy", "tf.Tensor.numpy"),
    ("torch.nn.functional.relu", "torch.nn.functional.relu", "torch.nn.functional.relu"),
    ("numpy.float32", "numpy.float32", "np.float32"),
    ("keras.layers.Dense", "keras.layers.Dense", "keras.layers.Dense"),
    ("math.inf", "math.inf", "math.inf"),
    ("tfx.thing", "tfx.thing", "tfx.thing"),  # only a whole first segment counts
]


@pytest.mark.parametrize("canonical,path,script", NAMES)
def test_canonical_names_and_paths_convert_both_ways(canonical, path, script):
    assert canonical_to_path(canonical) == path
    assert path_to_canonical(path) == canonical
    assert canonical_to_path(path) == path  # idempotent
    assert path_to_canonical(canonical) == canonical
    assert script_name(canonical) == script_name(path) == script


def test_conventional_aliases_are_accepted():
    assert canonical_to_path("np.float32") == "numpy.float32"
    assert path_to_canonical("np.float32") == "numpy.float32"


def test_lookup_name_takes_canonical_names_and_paths():
    abs_ = Symbol("tf.math.abs", "tensorflow", SymbolKind.FUNCTION)
    relu = Symbol("torch.relu", "torch", SymbolKind.FUNCTION)
    index = ApiIndex({"format": "3"}, {"tensorflow.math.abs": abs_, "tensorflow.abs": abs_,
                                       "torch.relu": relu})
    assert index.lookup_name("tf.math.abs") == abs_
    assert index.lookup_name("tf.abs") == abs_  # a public alias
    assert index.lookup_name("tensorflow.abs") == abs_
    assert index.lookup_name("torch.relu") == relu
    assert index.lookup_name("tf.nope") is None
    assert index.lookup("tf.math.abs") is None  # lookup itself takes paths only


def test_the_names_need_no_framework():
    code = ("import sys\nfrom miner.apiindex import canonical_to_path\n"
            "from seamfuzz import campaign, fuzz\n"
            "assert canonical_to_path('tf.abs') == 'tensorflow.abs'\n"
            "print([m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_no_hand_written_conversions_are_left():
    """The prefix rule lives in names.py only."""
    offenders = []
    for package in ("miner", "mutator", "seamfuzz"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if path.name != "names.py" and ('"tensorflow" + ' in text
                                            or "'tensorflow' + " in text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


# -- the cache ----------------------------------------------------------------


def test_cache_entry_round_trip_and_stamp(tmp_path):
    entry = CacheEntry.of("thing", "torch", "7", {"torch": "2.0", "numpy": "1.0"}, tmp_path)
    assert entry.versions == {"format": "7", "numpy": "1.0", "torch": "2.0"}
    assert entry.path.parent == tmp_path and entry.path.name.startswith("thing-torch-")
    assert entry.log == entry.path.with_suffix(".log")
    assert entry.read() is None
    entry.write({"data": [1, 2]})
    assert entry.read() == {"data": [1, 2], "format": "7", "versions": entry.versions}
    assert [p.name for p in tmp_path.iterdir()] == [entry.path.name]  # no temp file left


def test_cache_file_names_are_stable(tmp_path):
    # Caches written before the cache module existed stay valid.
    versions = {"torch": "2.0", "numpy": "1.0"}
    old = dict(versions, format="3")
    digest = hashlib.sha256(json.dumps(["apiindex", "torch", old], sort_keys=True)
                            .encode()).hexdigest()[:16]
    entry = CacheEntry.of("apiindex", "torch", "3", versions, tmp_path)
    assert entry.path.name == f"apiindex-torch-{digest}.json"


@pytest.mark.parametrize("damage", [
    lambda o: o.__setitem__("format", "6"),
    lambda o: o["versions"].__setitem__("torch", "1.9"),
    lambda o: o.pop("versions") and None,
    lambda o: [1, 2],
])
def test_cache_refuses_another_stamp(tmp_path, damage):
    entry = CacheEntry.of("thing", "torch", "7", {"torch": "2.0"}, tmp_path)
    obj = entry.envelope({"data": 1})
    obj = damage(obj) or obj
    write_json(entry.path, obj)
    assert entry.read() is None


def test_unreadable_cache_is_a_miss(tmp_path):
    entry = CacheEntry.of("thing", "torch", "7", {"torch": "2.0"}, tmp_path)
    entry.path.write_text("{not json")
    assert entry.read() is None


def test_stamp_is_sorted_and_holds_the_schema():
    assert stamp("2", {"b": "1", "a": "3"}) == (("a", "3"), ("b", "1"), ("format", "2"))
