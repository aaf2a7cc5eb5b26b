"""The API index and the docstring collection for TensorFlow (and Keras 3,
which is ``tf.keras``), against the installed library.

Both are built by child processes, once per module into a temporary cache;
this module itself imports neither TensorFlow nor torch.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
from pathlib import Path

import pytest

from miner.apiindex import ApiIndex, SymbolKind, load_or_build, load_or_collect_docstrings

#: Read by the shared ``cache_dir`` and ``probe`` fixtures (tests/conftest.py).
FRAMEWORK = "tensorflow"


@pytest.fixture(scope="module")
def index(probe: dict, cache_dir: Path) -> ApiIndex:
    return load_or_build(["tensorflow"], cache_dir=cache_dir)  # from the probe's cache


def test_the_caller_never_imports_the_framework(probe: dict, cache_dir: Path) -> None:
    assert probe["imported"] == []
    assert probe["paths"] > 5000
    # TensorFlow's start-up chatter went to the log beside the cache file.
    (log,) = cache_dir.glob("apiindex-tensorflow-*.log")
    assert log.exists()


def test_cache_file_is_keyed_by_the_installed_versions(index: ApiIndex, cache_dir: Path) -> None:
    (cached,) = cache_dir.glob("apiindex-tensorflow-*.json")
    assert ApiIndex.load(cached) == index
    assert index.versions["keras"] == importlib.metadata.version("keras")
    assert index.versions["tensorflow"].startswith("2.")


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
    ("tensorflow.abs", "tf.math.abs", F, None),
    ("tensorflow.math.abs", "tf.math.abs", F, None),
    ("tensorflow.python.ops.math_ops.abs", "tf.math.abs", F, None),
    ("tensorflow.concat", "tf.concat", F, None),
    ("tensorflow.python.ops.array_ops.concat", "tf.concat", F, None),
    ("tensorflow.matmul", "tf.linalg.matmul", F, None),
    ("tensorflow.nn.relu", "tf.nn.relu", F, None),
    ("tensorflow.compat.v1.math.abs", "tf.math.abs", F, None),
    ("tensorflow.compat.v2.abs", "tf.math.abs", F, None),
    ("tensorflow.keras.layers.Dense", "tf.keras.layers.Dense", L, None),
    ("keras.layers.Dense", "tf.keras.layers.Dense", L, None),
    ("keras.src.layers.core.dense.Dense", "tf.keras.layers.Dense", L, None),
    ("tensorflow.keras.Model", "tf.keras.Model", L, None),
    ("tensorflow.optimizers.Adam", "tf.keras.optimizers.Adam", C, None),
    ("tensorflow.Module", "tf.Module", L, None),
    ("tensorflow.Variable", "tf.Variable", C, None),
    ("tensorflow.TensorShape", "tf.TensorShape", C, None),
    ("tensorflow.Tensor", "tf.Tensor", T, None),
    ("tensorflow.python.framework.ops.EagerTensor", "tf.Tensor", T, None),
    ("tensorflow.Tensor.numpy", "tf.Tensor.numpy", F, None),
    ("tensorflow.float32", "tf.float32", D, "float32"),
    ("tensorflow.dtypes.bfloat16", "tf.bfloat16", D, "bfloat16"),
    ("tensorflow.python.framework.dtypes.float32", "tf.float32", D, "float32"),
    ("tensorflow.math", "tf.math", M, None),
    ("tensorflow.keras.losses", "tf.keras.losses", M, None),
    ("tensorflow.losses", "tf.keras.losses", M, None),
    ("numpy.float32", "numpy.float32", D, "float32"),
    ("math.pi", "math.pi", K, math.pi),
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
        == {"tf": "tensorflow", "numpy": "numpy", "math": "python"}[canonical.split(".")[0]]
    )


def test_numpy_nan(index: ApiIndex) -> None:
    sym = index.lookup("numpy.nan")
    assert sym is not None and sym.kind is SymbolKind.CONSTANT
    assert math.isnan(sym.value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [
        "tensorflow.nonexistent_xyz",
        "tensorflow.compat.v1.placeholder",  # TF1 only: no TF2 name
        "tensorflow.Tensor.nonexistent",
    ],
)
def test_absent(index: ApiIndex, path: str) -> None:
    assert index.lookup(path) is None


MEMBER_PATHS = [
    # (path as written in code, canonical, kind, owner, binding)
    ("tensorflow.Variable.assign_add", "tf.Variable.assign_add", F, "tf.Variable", "method"),
    # TensorFlow declares Dataset.range a staticmethod, not a classmethod.
    ("tensorflow.data.Dataset.range", "tf.data.Dataset.range", F, "tf.data.Dataset",
     "staticmethod"),
    ("tensorflow.data.Dataset.map", "tf.data.Dataset.map", F, "tf.data.Dataset", "method"),
    ("tensorflow.TensorSpec.from_tensor", "tf.TensorSpec.from_tensor", F, "tf.TensorSpec",
     "classmethod"),
    ("tensorflow.Tensor.numpy", "tf.Tensor.numpy", F, "tf.Tensor", "method"),
    ("tensorflow.python.framework.ops.EagerTensor.numpy", "tf.Tensor.numpy", F, "tf.Tensor",
     "method"),
    ("tensorflow.Tensor.shape", "tf.Tensor.shape", O, "tf.Tensor", "property"),
    ("keras.layers.Dense.build", "tf.keras.layers.Dense.build", F, "tf.keras.layers.Dense",
     "method"),
    ("tensorflow.keras.layers.Dense.add_weight", "tf.keras.Layer.add_weight", F,
     "tf.keras.Layer", "method"),
    ("keras.src.layers.core.dense.Dense.__call__", "tf.keras.Layer.__call__", F,
     "tf.keras.Layer", "method"),
    ("tensorflow.keras.layers.Dense.trainable", "tf.keras.Layer.trainable", O, "tf.keras.Layer",
     "property"),
]


@pytest.mark.parametrize(
    "path, canonical, kind, owner, binding", MEMBER_PATHS, ids=[m[0] for m in MEMBER_PATHS]
)
def test_member_lookup(
    index: ApiIndex, path: str, canonical: str, kind: SymbolKind, owner: str, binding: str
) -> None:
    sym = index.lookup(path)
    assert sym is not None
    assert (sym.canonical, sym.kind, sym.owner, sym.binding) == (canonical, kind, owner, binding)
    assert sym.framework == "tensorflow"
    assert index.is_class(owner)


def test_inherited_members_are_one_api(index: ApiIndex) -> None:
    dense = index.member("tf.keras.layers.Dense", "add_weight")
    assert dense is not None and dense.kind is F and dense.canonical.endswith(".add_weight")
    assert dense.owner == "tf.keras.Layer"
    assert dense.canonical == f"{dense.owner}.add_weight"
    assert dense == index.member("tf.keras.layers.Conv2D", "add_weight")
    assert dense == index.member("tf.keras.Model", "add_weight")
    assert index.bases["tf.keras.layers.Dense"][:2] == ("tf.keras.layers.Dense", "tf.keras.Layer")
    # A private base shared by public layers: each names it after itself.
    conv = index.member("tf.keras.layers.Conv2D", "convolution_op")
    assert conv is not None and conv.owner == "tf.keras.layers.Conv2D"


def test_member_gaps(index: ApiIndex) -> None:
    numpy = index.member("tf.Tensor", "numpy")
    assert numpy is not None and numpy.kind is F
    assert index.member("tf.Tensor", "nonexistent") is None
    assert index.member("tf.data.Dataset", "__iter__") is None  # private names
    assert index.member("tf.math.abs", "x") is None  # not a class
    assert index.lookup("tensorflow.Variable.assign_add.nonexistent") is None
    assert index.is_class("tf.Variable") and not index.is_class("tf.math.abs")


def test_every_canonical_name_is_public(index: ApiIndex) -> None:
    # tf_export names with a private part (tf.__internal__.*) do not count.
    def private(name: str) -> bool:
        return name.startswith("_") or "._" in name.removesuffix(".__call__")

    assert not [s.canonical for _, s in index.symbols() if private(s.canonical)]
    members = list(index.class_members())
    assert len(members) > 2000
    assert not [m.canonical for m in members if private(m.canonical)]
    assert not [c for c in index.bases if private(c)]


def test_compat_paths_resolve_to_tf2_names(index: ApiIndex) -> None:
    v1 = [sym for path, sym in index.symbols() if path.startswith("tensorflow.compat.v1.")]
    assert len(v1) > 1000
    assert not any(sym.canonical.startswith("tf.compat.v1.") for sym in v1 if sym.kind is not M)


def test_json_round_trip(index: ApiIndex, tmp_path: Path) -> None:
    back = ApiIndex.from_json(json.loads(json.dumps(index.to_json())))
    assert back == index
    assert back.members == index.members and back.bases == index.bases
    index.save(tmp_path / "index.json")
    assert ApiIndex.load(tmp_path / "index.json") == index


def test_docstrings(cache_dir: Path) -> None:
    docs = load_or_collect_docstrings("tensorflow", cache_dir=cache_dir)
    apis = [d.api for d in docs]
    assert len(docs) >= 900
    assert len(set(apis)) == len(apis)
    assert not any(api.startswith("tf.compat.") for api in apis)
    assert all(d.framework == "tensorflow" for d in docs)
    by_api = {d.api: d.text for d in docs}
    assert ">>>" in by_api["tf.math.abs"]
    assert ">>>" in by_api["tf.concat"]
    # Methods are named as the index names them.
    index = load_or_build(["tensorflow"], cache_dir=cache_dir)
    members = {m.canonical for m in index.class_members()}
    assert "tf.Tensor.numpy" in by_api
    methods = [api for api in apis if index.is_class(api.rpartition(".")[0])]
    assert len(methods) > 100
    assert not [api for api in methods if api not in members]


def test_canonical_names_are_looked_up(index: ApiIndex) -> None:
    assert index.lookup_name("tf.math.abs").canonical == "tf.math.abs"
    assert index.lookup_name("tf.abs").canonical == "tf.math.abs"
    assert index.lookup_name("tf.Tensor.numpy").canonical == "tf.Tensor.numpy"
    assert index.lookup_name("tf.keras.layers.Dense").canonical == "tf.keras.layers.Dense"
    # Almost every canonical name is itself a path of the index; the rest
    # (about 3% with TF 2.21) are tf_export names of objects reached only
    # through private modules, whose export is not in the generated API
    # (tf.raw_ops.CopyToMesh is only at
    # tensorflow.dtensor.python.gen_dtensor_ops.CopyToMesh).
    names = {s.canonical for _, s in index.symbols() if s.framework == "tensorflow"}
    lost = [n for n in names if getattr(index.lookup_name(n), "canonical", None) != n]
    assert len(lost) < len(names) / 20, sorted(lost)[:20]
