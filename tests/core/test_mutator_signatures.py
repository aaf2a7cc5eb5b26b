"""API signatures (mutator/signatures.py): records, docstring parsing, the
cache, and one real collection from torch and TensorFlow in spawned
children (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from miner.apiindex.cache import CacheEntry, write_json
from miner.records import CallKind, DType, Literal, Seq, Unknown
from mutator import signatures as sigmod
from mutator.signatures import (
    ApiSignature,
    Param,
    ParamKind,
    collect_signatures,
    parse_signature_line,
)

ROOT = Path(__file__).resolve().parents[2]
PK, KO = ParamKind.POSITIONAL_OR_KEYWORD, ParamKind.KEYWORD_ONLY

ZEROS = ApiSignature(
    "torch.zeros", "torch", CallKind.FUNCTION,
    (Param("size", ParamKind.VAR_POSITIONAL),
     Param("out", KO, True, Literal(None)),
     Param("dtype", KO, True, DType("torch", "float32"), "Optional[dtype]"),
     Param("pad", KO, True, Seq("tuple", (Literal(0), Literal(0)))),
     Param("layout", KO, True, Unknown("layout"))),
    "docstring",
)


def test_signature_json_round_trip_and_queries():
    back = ApiSignature.from_json(json.loads(json.dumps(ZEROS.to_json(), allow_nan=False)))
    assert back == ZEROS
    assert ZEROS.positional(0).name == ZEROS.positional(5).name == "size"
    assert ZEROS.param("out").has_default and ZEROS.param("size") is None
    assert not ZEROS.var_keyword and ZEROS.param("dtype").keywordable
    cumsum = ApiSignature("torch.cumsum", "torch", "function",
                          (Param("input", PK), Param("dim", PK), Param("out", KO, True,
                                                                        Literal(None))))
    assert cumsum.positional(1).name == "dim" and cumsum.positional(2) is None
    with pytest.raises(ValueError):
        Param("x", PK, True, None)
    with pytest.raises(ValueError):
        ApiSignature("f", "torch", "function", (Param("x", PK), Param("x", KO)))
    with pytest.raises(ValueError):
        ApiSignature.from_json({"api": "f"})


@pytest.mark.parametrize("line, name, expect", [
    ("cumsum(input, dim, *, dtype=None, out=None) -> Tensor", "cumsum",
     [("input", PK, None), ("dim", PK, None), ("dtype", KO, Literal(None)),
      ("out", KO, Literal(None))]),
    ("add(other, *, alpha=1) -> Tensor", "add",
     [("other", PK, None), ("alpha", KO, Literal(1))]),
    ("zeros(*size, *, out=None, layout=torch.strided, requires_grad=False) -> Tensor", "zeros",
     [("size", ParamKind.VAR_POSITIONAL, None), ("out", KO, Literal(None)),
      ("layout", KO, Unknown("torch.strided")), ("requires_grad", KO, Literal(False))]),
    ("max_pool2d(input, kernel_size, stride=(1, 1), padding=0)", "max_pool2d",
     [("input", PK, None), ("kernel_size", PK, None),
      ("stride", PK, Seq("tuple", (Literal(1), Literal(1)))), ("padding", PK, Literal(0))]),
    ("abs(input, /, **kwargs)", "abs",
     [("input", ParamKind.POSITIONAL_ONLY, None), ("kwargs", ParamKind.VAR_KEYWORD, None)]),
])
def test_docstring_lines_parse(line, name, expect):
    params = parse_signature_line(line, name)
    assert params is not None
    assert [(p.name, p.kind, p.default) for p in params] == expect
    assert all(p.has_default == (p.default is not None) for p in params)


@pytest.mark.parametrize("line", [
    "Returns the cumulative sum.", "cumsum(input, dim -> Tensor", "other(input) -> Tensor",
    "cumsum(a, a)",
])
def test_docstring_lines_that_do_not_parse(line):
    assert parse_signature_line(line, "cumsum") is None


def test_dotted_defaults_resolve_when_a_resolver_is_given():
    class FakeDtype:  # what the inspection recognises as a torch dtype
        def __str__(self) -> str:
            return "torch.float16"

    FakeDtype.__module__, FakeDtype.__name__ = "torch", "dtype"
    fake = FakeDtype()
    params = parse_signature_line("f(x, dtype=torch.float16)", "f", {"torch.float16": fake}.get)
    assert params is not None and params[1].default == DType("torch", "float16")


def test_cache_directory_respects_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SEAMFUZZ_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sigmod.cache_directory(None) == tmp_path / "xdg" / "seamfuzz"
    monkeypatch.setenv("SEAMFUZZ_CACHE", str(tmp_path / "own"))
    assert sigmod.cache_directory(None) == tmp_path / "own"
    monkeypatch.delenv("SEAMFUZZ_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert sigmod.cache_directory(None) == Path.home() / ".cache" / "seamfuzz"


def test_cached_signatures_need_no_child(monkeypatch, tmp_path):
    entry = sigmod._entry("torch", tmp_path)
    assert entry is not None
    # One cache for API index and signatures: same directory, same naming.
    assert entry.path.parent == tmp_path and entry.path.name.startswith("signatures-torch-")
    assert entry.versions["format"] == sigmod.SIGNATURES_FORMAT
    cached = sigmod._Cached({"torch.zeros": ZEROS}, {("torch.nope", "function")})
    sigmod._save(entry, cached)

    def no_child(framework, items):
        raise AssertionError(f"started a child for {items}")

    monkeypatch.setattr(sigmod, "_run_child", no_child)
    got = collect_signatures(
        [("torch.zeros", "torch", "function"), ("torch.nope", "torch", "function"),
         ("x.y", "jax", "function")],
        cache_dir=tmp_path,
    )
    assert got == {"torch.zeros": ZEROS}
    # Another kind is not answered by the cache: it needs a child.
    with pytest.raises(AssertionError, match="started a child"):
        collect_signatures([("torch.zeros", "torch", "method")], cache_dir=tmp_path)
    # A file of other versions is ignored, even under the expected name.
    stale = CacheEntry.of("signatures", "torch", sigmod.SIGNATURES_FORMAT,
                          {**entry.versions, "torch": "0.0"}, tmp_path)
    write_json(stale.path, entry.envelope({"framework": "torch", "signatures": [],
                                           "missing": []}))
    assert sigmod._load(stale).signatures == {}
    # So is one of another schema.
    other = CacheEntry.of("signatures", "torch", "0", entry.versions, tmp_path)
    write_json(other.path, entry.envelope({"framework": "torch", "signatures": [],
                                           "missing": []}))
    assert sigmod._load(other).signatures == {}


PROBE = """
import json, sys, time
from mutator.signatures import collect_signatures
apis = [("torch.cumsum", "torch", "function"), ("torch.Tensor.add", "torch", "method"),
        ("torch.nn.Conv2d", "torch", "module"), ("torch.zeros", "torch", "function"),
        ("torch.no_such_api", "torch", "function"),
        ("tf.math.reduce_max", "tensorflow", "function"),
        ("tf.keras.layers.Dense", "tensorflow", "module")]
start = time.perf_counter()
first = collect_signatures(apis, cache_dir=sys.argv[1])
cold = time.perf_counter() - start
import mutator.signatures as m
m._run_child = None  # a second campaign must not need a child
start = time.perf_counter()
second = collect_signatures(apis, cache_dir=sys.argv[1])
warm = time.perf_counter() - start
assert first == second
print(json.dumps({"sigs": {k: v.to_json() for k, v in first.items()}, "cold": cold,
                  "warm": warm,
                  "imported": [x for x in ("torch", "tensorflow", "keras") if x in sys.modules]}))
"""


@pytest.mark.slow
def test_collect_real_signatures_in_spawned_children(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["imported"] == []  # the parent never imports a framework
    sigs = {k: ApiSignature.from_json(v) for k, v in out["sigs"].items()}
    assert "torch.no_such_api" not in sigs
    cumsum = sigs["torch.cumsum"]
    assert cumsum.param("dim") is not None and cumsum.param("out").has_default
    assert cumsum.source == "docstring"
    add = sigs["torch.Tensor.add"]
    assert add.params[0].name == "other" and add.param("alpha").default == Literal(1)
    conv = sigs["torch.nn.Conv2d"]
    assert conv.kind is CallKind.MODULE and conv.params[0].name == "in_channels"
    assert conv.param("stride").default == Literal(1)
    zeros = sigs["torch.zeros"]
    assert zeros.params[0].kind is ParamKind.VAR_POSITIONAL
    rmax = sigs["tf.math.reduce_max"]
    assert rmax.param("axis").default == Literal(None)
    assert rmax.param("keepdims").default == Literal(False)
    assert sigs["tf.keras.layers.Dense"].params[0].name == "units"
    assert out["warm"] < out["cold"] / 5
    assert list(tmp_path.glob("signatures-torch-*.json"))
    assert list(tmp_path.glob("signatures-tensorflow-*.json"))
