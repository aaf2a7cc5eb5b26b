"""The API index and the docstring collection for torch, against the
installed library.

Both are built by child processes (that is the point of
:func:`load_or_build`), once per module into a temporary cache; this module
itself imports neither torch nor TensorFlow.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from miner.apiindex import (
    ApiIndex,
    Symbol,
    SymbolKind,
    load_or_build,
    load_or_collect_docstrings,
)
from miner.errors import InvalidArgument

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: builds the cache and reports which frameworks
# the caller ended up importing (none, if the build stayed in the child).
PROBE = """
import json, sys
from miner.apiindex import load_or_build
index = load_or_build(["torch"], cache_dir=sys.argv[1])
heavy = [m for m in ("torch", "tensorflow", "keras") if m in sys.modules]
print(json.dumps({"paths": len(index), "imported": heavy}))
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("apiindex-torch")


@pytest.fixture(scope="module")
def probe(cache_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(cache_dir)],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def index(probe: dict, cache_dir: Path) -> ApiIndex:
    return load_or_build(["torch"], cache_dir=cache_dir)  # from the probe's cache


def test_the_caller_never_imports_the_framework(probe: dict) -> None:
    assert probe["imported"] == []
    assert probe["paths"] > 5000


def test_cache_file_is_keyed_by_the_installed_version(index: ApiIndex, cache_dir: Path) -> None:
    (cached,) = cache_dir.glob("apiindex-torch-*.json")
    assert ApiIndex.load(cached) == index
    assert index.versions["torch"] == importlib.metadata.version("torch")
    assert index.versions["numpy"] == importlib.metadata.version("numpy")


F, C, L, T, D, K, M, O = (
    SymbolKind.FUNCTION,
    SymbolKind.CLASS,
    SymbolKind.LAYER,
    SymbolKind.TENSOR_TYPE,
    SymbolKind.DTYPE,
    SymbolKind.CONSTANT,
    SymbolKind.MODULE,
    SymbolKind.OTHER,
)

FACTS = [
    # (path as written in code, canonical, kind, value)
    ("torch.nn.functional.relu", "torch.nn.functional.relu", F, None),
    ("torch.nn.modules.conv.Conv2d", "torch.nn.Conv2d", L, None),
    ("torch.nn.Conv2d", "torch.nn.Conv2d", L, None),
    ("torch.nn.Module", "torch.nn.Module", L, None),
    ("torch.abs", "torch.abs", F, None),
    ("torch._C._nn.gelu", "torch.nn.functional.gelu", F, None),  # private path
    ("torch.functional.einsum", "torch.einsum", F, None),
    ("torch.float32", "torch.float32", D, "float32"),
    ("torch.float", "torch.float32", D, "float32"),
    ("torch.bfloat16", "torch.bfloat16", D, "bfloat16"),
    ("torch.bool", "torch.bool", D, "bool"),
    ("torch.inf", "torch.inf", K, math.inf),
    ("torch.pi", "torch.pi", K, math.pi),
    ("torch.Tensor", "torch.Tensor", T, None),
    ("torch._tensor.Tensor", "torch.Tensor", T, None),
    ("torch.Tensor.sum", "torch.Tensor.sum", F, None),
    ("torch.Tensor.shape", "torch.Tensor.shape", O, None),
    ("torch.Generator", "torch.Generator", C, None),
    ("torch.Size", "torch.Size", C, None),
    ("torch.nn.functional", "torch.nn.functional", M, None),
    ("torch.backends.cudnn.is_available", "torch.backends.cudnn.is_available", F, None),
    ("numpy.float32", "numpy.float32", D, "float32"),
    ("numpy.single", "numpy.float32", D, "float32"),
    ("numpy.abs", "numpy.abs", F, None),
    ("numpy.random.rand", "numpy.random.rand", F, None),
    ("numpy.ndarray", "numpy.ndarray", T, None),
    ("numpy.pi", "numpy.pi", K, math.pi),
    ("math.pi", "math.pi", K, math.pi),
    ("math.inf", "math.inf", K, math.inf),
]


@pytest.mark.parametrize("path, canonical, kind, value", FACTS, ids=[f[0] for f in FACTS])
def test_lookup(
    index: ApiIndex, path: str, canonical: str, kind: SymbolKind, value: object
) -> None:
    sym = index.lookup(path)
    assert sym is not None
    assert (sym.canonical, sym.kind, sym.value) == (canonical, kind, value)
    assert (
        sym.framework
        == {"torch": "torch", "numpy": "numpy", "math": "python"}[canonical.split(".")[0]]
    )


def test_nan_constants(index: ApiIndex) -> None:
    for path in ("numpy.nan", "torch.nan", "math.nan"):
        sym = index.lookup(path)
        assert sym is not None and sym.kind is SymbolKind.CONSTANT
        assert math.isnan(sym.value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path", ["torch.nonexistent_xyz", "torch.nn.Conv2d.nonexistent", "torchvision.ops", "torch."]
)
def test_absent(index: ApiIndex, path: str) -> None:
    assert index.lookup(path) is None
    assert path not in index


def test_alias_prefixes_are_rewritten(index: ApiIndex) -> None:
    # F is torch.nn.functional imported into conv.py; Tensor re-exported.
    assert index.lookup("torch.nn.modules.conv.F.relu") == index.lookup("torch.nn.functional.relu")
    assert index.is_module("torch.nn.modules.conv.F")
    assert index.lookup("torch.nn.functional.Tensor.sum") == Symbol(
        "torch.Tensor.sum", "torch", SymbolKind.FUNCTION
    )
    assert not index.is_module("torch.abs")


def test_private_only_objects_are_not_indexed(index: ApiIndex) -> None:
    assert all(
        not any(part.startswith("_") for part in sym.canonical.split("."))
        for _, sym in index.symbols()
        if sym.framework == "torch"
    )


def test_json_round_trip(index: ApiIndex, tmp_path: Path) -> None:
    assert ApiIndex.from_json(json.loads(json.dumps(index.to_json()))) == index
    index.save(tmp_path / "index.json")
    assert ApiIndex.load(tmp_path / "index.json") == index
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]  # no temp file left


@pytest.mark.parametrize("value", [math.nan, -math.inf, -0.0, 1, 1.0, True, "x"])
def test_constant_values_round_trip_exactly(value: object) -> None:
    index = ApiIndex({"format": "1"}, {"m.c": Symbol("m.c", "python", SymbolKind.CONSTANT, value)})
    back = ApiIndex.from_json(json.loads(json.dumps(index.to_json(), allow_nan=False)))
    assert back == index
    assert type(back.paths["m.c"].value) is type(value)


def test_unknown_framework_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unknown framework 'jax'"):
        load_or_build(["jax"], cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_docstrings(cache_dir: Path) -> None:
    docs = load_or_collect_docstrings("torch", cache_dir=cache_dir)
    apis = [d.api for d in docs]
    assert len(docs) >= 900
    assert len(set(apis)) == len(apis)
    assert all(d.framework == "torch" and (">>>" in d.text or "```" in d.text) for d in docs)
    by_api = {d.api: d.text for d in docs}
    assert ">>>" in by_api["torch.abs"]
    assert "torch.nn.Conv2d" in by_api
    # Cached: a second call reads the same file.
    assert load_or_collect_docstrings("torch", cache_dir=cache_dir) == docs
