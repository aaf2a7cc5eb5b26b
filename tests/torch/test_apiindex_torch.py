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
from pathlib import Path

import pytest

from miner.apiindex import (
    ApiIndex,
    Symbol,
    SymbolKind,
    load_or_build,
    load_or_collect_docstrings,
)
from infra.errors import InvalidArgument

#: Read by the shared ``cache_dir`` and ``probe`` fixtures (tests/conftest.py).
FRAMEWORK = "torch"


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
        "torch.Tensor.sum", "torch", SymbolKind.FUNCTION, None, "torch.Tensor", "method"
    )
    assert not index.is_module("torch.abs")


def test_private_only_objects_are_not_indexed(index: ApiIndex) -> None:
    assert all(
        not any(part.startswith("_") for part in sym.canonical.split("."))
        for _, sym in index.symbols()
        if sym.framework == "torch"
    )


MEMBERS = [
    # (class canonical, member, canonical, kind, owner, binding)
    ("torch.Generator", "manual_seed", "torch.Generator.manual_seed", F, "torch.Generator",
     "method"),
    ("torch.nn.Linear", "forward", "torch.nn.Linear.forward", F, "torch.nn.Linear", "method"),
    ("torch.nn.Linear", "parameters", "torch.nn.Module.parameters", F, "torch.nn.Module", "method"),
    ("torch.nn.Linear", "__call__", "torch.nn.Module.__call__", F, "torch.nn.Module", "method"),
    ("torch.nn.Linear", "dump_patches", "torch.nn.Module.dump_patches", K, "torch.nn.Module",
     "attribute"),
    ("torch.Tensor", "sum", "torch.Tensor.sum", F, "torch.Tensor", "method"),
    ("torch.Tensor", "shape", "torch.Tensor.shape", O, "torch.Tensor", "property"),
    ("torch.Tensor", "backward", "torch.Tensor.backward", F, "torch.Tensor", "method"),
    # Defined on the private torch._C.TensorBase, reached through a subclass.
    ("torch.nn.Parameter", "add_", "torch.Tensor.add_", F, "torch.Tensor", "method"),
    # torch.FloatTensor copies torch.Tensor's dictionary: the same members.
    ("torch.FloatTensor", "sum", "torch.Tensor.sum", F, "torch.Tensor", "method"),
    ("torch.nn.Module", "register_module", "torch.nn.Module.register_module", F,
     "torch.nn.Module", "method"),
    ("numpy.ndarray", "reshape", "numpy.ndarray.reshape", F, "numpy.ndarray", "method"),
]


@pytest.mark.parametrize(
    "cls, name, canonical, kind, owner, binding", MEMBERS, ids=[f"{m[0]}.{m[1]}" for m in MEMBERS]
)
def test_member(
    index: ApiIndex, cls: str, name: str, canonical: str, kind: SymbolKind, owner: str, binding: str
) -> None:
    sym = index.member(cls, name)
    assert sym is not None
    assert (sym.canonical, sym.kind, sym.owner, sym.binding) == (canonical, kind, owner, binding)
    assert index.is_class(cls) and index.is_class(owner)
    assert index.lookup(f"{cls}.{name}") == sym  # torch spells canonical names as paths


def test_members_through_class_paths(index: ApiIndex) -> None:
    parameters = index.member("torch.nn.Linear", "parameters")
    assert index.lookup("torch.nn.modules.linear.Linear.parameters") == parameters
    assert index.lookup("torch.nn.Conv2d.parameters") == parameters
    assert index.lookup("torch._tensor.Tensor.sum") == index.member("torch.Tensor", "sum")
    assert index.lookup("torch.nn.Linear.parameters.nonexistent") is None
    assert index.lookup("torch.abs.nonexistent") is None


def test_member_gaps(index: ApiIndex) -> None:
    assert index.member("torch.Size", "numel") is not None
    assert index.member("torch.Size", "count") is None  # tuple's, not torch's
    assert index.member("torch.nn.Linear", "__init__") is None  # private names
    assert index.member("torch.nn.Linear", "nonexistent") is None
    assert index.member("torch.abs", "sum") is None  # not a class
    assert index.member("torch.nn.modules.linear.Linear", "forward") is None  # not canonical
    assert not index.is_class("torch.abs")
    assert index.bases["torch.nn.Linear"] == ("torch.nn.Linear", "torch.nn.Module")
    assert index.bases["torch.nn.Parameter"] == ("torch.nn.Parameter", "torch.Tensor")


def test_a_private_base_is_named_after_a_public_subclass(index: ApiIndex) -> None:
    # LazyBatchNorm1d's MRO runs through LazyModuleMixin, then the private
    # _BatchNorm, which the mixin does not inherit from.
    sym = index.member("torch.nn.LazyBatchNorm1d", "forward")
    assert sym is not None and sym.owner == "torch.nn.LazyBatchNorm1d"
    assert index.member("torch.nn.BatchNorm1d", "forward").owner == "torch.nn.BatchNorm1d"


def test_every_canonical_name_is_public(index: ApiIndex) -> None:
    def private(name: str) -> bool:
        return name.startswith("_") or "._" in name.removesuffix(".__call__")

    assert not [s.canonical for _, s in index.symbols() if private(s.canonical)]
    members = list(index.class_members())
    assert len(members) > 5000
    assert not [m.canonical for m in members if private(m.canonical)]
    assert all(m.canonical.startswith(m.owner + ".") for m in members)


def test_member_bookkeeping(index: ApiIndex) -> None:
    for cls, bases in index.bases.items():
        assert bases[0] == cls and all(index.is_class(b) for b in bases)
    for owner, members in index.members.items():
        assert index.is_class(owner)
        for name, sym in members.items():
            assert index.is_class(sym.owner) and sym.binding
            assert sym.kind is not SymbolKind.FUNCTION or sym.binding != "property"
            assert sym.canonical.rpartition(".")[2] == name


def test_symbols_are_checked() -> None:
    with pytest.raises(ValueError, match="binding"):
        Symbol("m.C.f", "python", SymbolKind.FUNCTION, None, "m.C", "bogus")
    with pytest.raises(ValueError, match="binding"):
        Symbol("m.C.f", "python", SymbolKind.FUNCTION, None, "m.C")
    with pytest.raises(ValueError, match="property"):
        Symbol("m.C.p", "python", SymbolKind.FUNCTION, None, "m.C", "property")
    member = Symbol("m.C.f", "python", SymbolKind.FUNCTION, None, "m.C", "method")
    assert member != Symbol("m.C.f", "python", SymbolKind.FUNCTION)


def test_json_round_trip(index: ApiIndex, tmp_path: Path) -> None:
    back = ApiIndex.from_json(json.loads(json.dumps(index.to_json())))
    assert back == index
    assert back.members == index.members and back.bases == index.bases
    index.save(tmp_path / "index.json")
    assert ApiIndex.load(tmp_path / "index.json") == index
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]  # no temp file left


def _small_index() -> ApiIndex:
    cls = Symbol("m.C", "python", SymbolKind.CLASS)
    f = Symbol("m.C.f", "python", SymbolKind.FUNCTION, None, "m.C", "classmethod")
    return ApiIndex(
        {"format": "3"}, {"m.C": cls}, members={"m.C": {"f": f}}, bases={"m.C": ("m.C",)}
    )


def test_members_round_trip() -> None:
    index = _small_index()
    back = ApiIndex.from_json(json.loads(json.dumps(index.to_json())))
    assert back == index
    assert back.lookup("m.C.f") == index.members["m.C"]["f"]
    assert back.lookup("m.C.g") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda o: o["symbols"][1].pop(),  # 5 fields
        lambda o: o["symbols"][1].__setitem__(5, "bogus"),  # unknown binding
        lambda o: o["members"]["m.C"].__setitem__("f", 7),  # no such symbol
        lambda o: o["members"]["m.C"].__setitem__("f", "1"),
        lambda o: o["bases"].__setitem__("m.C", "m.C"),  # not a list
        lambda o: o.pop("members"),
        lambda o: o.__setitem__("format", "1"),  # an old cache
    ],
)
def test_malformed_members_are_rejected(damage) -> None:
    obj = json.loads(json.dumps(_small_index().to_json()))
    damage(obj)
    with pytest.raises(ValueError):
        ApiIndex.from_json(obj)


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
    assert "torch.Tensor.sum" not in by_api or ">>>" in by_api["torch.Tensor.sum"]
    # Methods are named as the index names them.
    index = load_or_build(["torch"], cache_dir=cache_dir)
    wrong = [api for api in apis if getattr(index.lookup(api), "canonical", None) != api]
    assert not wrong, wrong[:10]
    # Cached: a second call reads the same file.
    assert load_or_collect_docstrings("torch", cache_dir=cache_dir) == docs


def test_canonical_names_are_looked_up(index: ApiIndex) -> None:
    names = {s.canonical for _, s in index.symbols() if s.framework == "torch"}
    names |= {s.canonical for s in index.class_members() if s.framework == "torch"}
    assert [n for n in names if getattr(index.lookup_name(n), "canonical", None) != n] == []
