"""The contract (runner/contract.py): every verdict kind, the order of
judgement, per-dtype tolerances, NaN/inf handling, float64 arbitration, paths
in nested outputs, mutated inputs, and properties of the comparator chain."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.errors import InternalError, InvalidArgument
from runner.contract import (
    BREAKING,
    DEFAULT_TOLERANCES,
    Boundary,
    ToleranceTable,
    Verdict,
    VerdictKind,
    compare_nodes,
    judge,
)
from runner.observation import (
    ArrayLeaf,
    MapNode,
    Node,
    Observation,
    OpaqueLeaf,
    Outcome,
    ScalarLeaf,
    SeqNode,
    dtype_category,
    known_dtypes,
    storage_dtype,
)

K = VerdictKind
B = Boundary("eager", "compiled")


def arr(values, dtype="float32") -> ArrayLeaf:
    return ArrayLeaf.from_numpy(np.array(values, dtype=storage_dtype(dtype)), dtype)


def ret(node: Node, mode: str = "eager", mutated=()) -> Observation:
    return Observation(mode, Outcome.RETURNED, node, mutated=tuple(mutated))


def tgt_ret(node: Node, mutated=()) -> Observation:
    return ret(node, "compiled", mutated)


def oracle(node: Node, mutated=()) -> Observation:
    return ret(node, "eager-fp64", mutated)


def raised(error_type: str, message: str = "", mode: str = "eager") -> Observation:
    return Observation(mode, Outcome.RAISED, error_type=error_type, error_message=message)


def ended(outcome: Outcome, detail: str, mode: str = "compiled") -> Observation:
    return Observation(mode, outcome, detail=detail)


def check(ref: Observation, tgt: Observation, **kw) -> Verdict:
    v = judge(B, ref, tgt, **kw)
    assert (v.reference, v.target) == ("eager", "compiled")
    return v


ONE = arr([1.0, 2.0])


# -- every kind is reachable ---------------------------------------------------------------

KIND_CASES = [
    (K.AGREE, ret(ONE), tgt_ret(arr([1.0, 2.0])), {}),
    (K.VALUE, ret(ONE), tgt_ret(arr([1.0, 2.5])), {}),
    (K.STATUS, ret(ONE), raised("RuntimeError", "boom", "compiled"), {}),
    (K.DTYPE, ret(ONE), tgt_ret(arr([1.0, 2.0], "float64")), {}),
    (K.SHAPE, ret(ONE), tgt_ret(arr([[1.0, 2.0]])), {}),
    (K.CRASH, ret(ONE), ended(Outcome.CRASHED, "signal SIGSEGV"), {}),
    (K.TIMEOUT, ret(ONE), ended(Outcome.TIMEOUT, "timeout 10s"), {}),
    (K.INVALID, raised("ValueError"), raised("ValueError", mode="compiled"), {}),
    (K.UNSUPPORTED, ret(ONE), ended(Outcome.UNSUPPORTED, "graph break"), {}),
    (K.NONDETERMINISTIC, ret(ONE), tgt_ret(ONE), {"ref_repeat": ret(arr([1.0, 3.0]))}),
    (K.TOO_LARGE, ret(ONE), ended(Outcome.SKIPPED, "too_large: 9 GiB > 2 GiB"), {}),
    (K.SKIPPED, ended(Outcome.SKIPPED, "denied api", "eager"), tgt_ret(ONE), {}),
    (K.INTERNAL, ret(ONE), ended(Outcome.INTERNAL, "converting the output failed"), {}),
    (K.SANDBOXED, ret(ONE), ended(Outcome.SANDBOXED, "sandboxed: network"), {}),
]


@pytest.mark.parametrize("kind, ref, tgt, kw", KIND_CASES, ids=[c[0].value for c in KIND_CASES])
def test_every_verdict_kind_is_reachable(kind, ref, tgt, kw) -> None:
    v = check(ref, tgt, **kw)
    assert v.kind is kind, v.detail
    assert v.breaking == (kind in BREAKING)


def test_kind_table_covers_every_kind() -> None:
    assert {c[0] for c in KIND_CASES} == set(VerdictKind)
    assert BREAKING == {K.VALUE, K.STATUS, K.DTYPE, K.SHAPE, K.CRASH, K.TIMEOUT}
    assert K.INTERNAL not in BREAKING
    assert K.SANDBOXED not in BREAKING


def test_verdict_round_trips_through_json() -> None:
    v = Verdict("a", "b", K.STATUS, "target accepts ...", "[0]", accepts_invalid=True)
    assert Verdict.from_json(v.to_json()) == v
    with pytest.raises(ValueError):
        Verdict.from_json({"reference": "a"})


# -- order of judgement --------------------------------------------------------------------

ORDER_CASES = [
    # (name, ref, tgt, kind, words in detail)
    ("ref skipped beats target crash", ended(Outcome.SKIPPED, "denied", "eager"),
     ended(Outcome.CRASHED, "SIGSEGV"), K.SKIPPED, ["reference skipped", "denied"]),
    ("too_large on either side", ended(Outcome.SKIPPED, "too_large: 3 GiB", "eager"),
     tgt_ret(ONE), K.TOO_LARGE, ["too_large"]),
    ("target unsupported beats reference crash", ended(Outcome.CRASHED, "SIGFPE", "eager"),
     ended(Outcome.UNSUPPORTED, "no CUDA"), K.UNSUPPORTED, ["target cannot run", "no CUDA"]),
    ("reference unsupported", ended(Outcome.UNSUPPORTED, "mode unavailable", "eager"),
     tgt_ret(ONE), K.UNSUPPORTED, ["reference cannot run"]),
    ("reference crash is invalid", ended(Outcome.CRASHED, "signal SIGFPE", "eager"),
     tgt_ret(ONE), K.INVALID, ["reference crashed", "SIGFPE"]),
    ("reference timeout is invalid", ended(Outcome.TIMEOUT, "10s", "eager"),
     ended(Outcome.CRASHED, "SIGSEGV"), K.INVALID, ["reference timed out"]),
    ("target crash where reference raised", raised("ValueError"),
     ended(Outcome.CRASHED, "signal SIGSEGV"), K.CRASH,
     ["target crashed", "SIGSEGV", "reference raised"]),
    ("target timeout where reference returned", ret(ONE), ended(Outcome.TIMEOUT, "limit 10s"),
     K.TIMEOUT, ["target timed out", "10s", "reference returned"]),
    ("both raised, same type", raised("ValueError", "bad dim"),
     raised("ValueError", "bad dim", "compiled"), K.INVALID, ["both raised ValueError"]),
    ("both raised, different types", raised("ValueError", "bad dim"),
     raised("IndexError", "out of range", "compiled"), K.INVALID,
     ["different types", "ValueError", "IndexError"]),
    ("target raised", ret(ONE), raised("RuntimeError", "shape mismatch", "compiled"), K.STATUS,
     ["target raised RuntimeError: shape mismatch"]),
]


@pytest.mark.parametrize("name, ref, tgt, kind, words", ORDER_CASES,
                         ids=[c[0] for c in ORDER_CASES])
def test_order_of_judgement(name, ref, tgt, kind, words) -> None:
    v = check(ref, tgt)
    assert v.kind is kind
    for w in words:
        assert w in v.detail
    assert not v.accepts_invalid


def test_target_accepting_what_the_reference_rejects_is_a_status_bug() -> None:
    v = check(raised("ValueError", "negative size"), tgt_ret(ONE))
    assert v.kind is K.STATUS and v.accepts_invalid and v.breaking
    assert "target accepts input the reference rejects" in v.detail
    assert "ValueError: negative size" in v.detail


def declared(error_type: str, message: str, why: str, mode: str = "compiled") -> Observation:
    """An error the mode itself declares one of its limits (the worker asks
    the mode, and records it as UNSUPPORTED with the reason)."""
    return Observation(mode, Outcome.UNSUPPORTED, error_type=error_type, error_message=message,
                       detail=why)


# A target that raised where eager returned broke the boundary, whatever the
# message says: only the mode's own declaration makes an error "unsupported".
RAISED_IS_STATUS = [
    ("NotImplementedError", ""),
    ("RuntimeError", "\"addmm_impl_cpu_\" not implemented for 'Half'"),
    ("RuntimeError", "sparse layouts are not supported"),
    ("tensorflow.python.framework.errors_impl.UnimplementedError", "not supported"),
    ("tensorflow.python.framework.errors_impl.NotFoundError",
     "No registered 'Cumsum' OpKernel for 'GPU' devices compatible with node"),
    ("torch._dynamo.exc.BackendCompilerFailed",
     "backend='inductor' raised: NotImplementedError: not supported"),
    ("TypeError", "unsupported operand type(s) for +: 'Tensor' and 'str'"),
]


@pytest.mark.parametrize("error_type, message", RAISED_IS_STATUS)
def test_target_raised_is_status_whatever_the_message(error_type: str, message: str) -> None:
    v = check(ret(ONE), raised(error_type, message, "compiled"))
    assert v.kind is K.STATUS and v.breaking and not v.accepts_invalid, v.detail
    assert "target raised" in v.detail and error_type in v.detail


def test_a_limit_the_target_declares_is_unsupported() -> None:
    tgt = declared("torch._dynamo.exc.Unsupported", "data-dependent branch",
                   "graph break under fullgraph")
    v = check(ret(ONE), tgt)
    assert v.kind is K.UNSUPPORTED and not v.breaking
    assert "graph break under fullgraph" in v.detail and "data-dependent branch" in v.detail


def test_reference_not_implemented_and_target_returned_accepts_invalid() -> None:
    # torch.softmax on int64: eager raises, inductor returns a tensor.
    ref = raised("NotImplementedError", "\"softmax_lastdim_kernel_impl\" not implemented "
                 "for 'Long'")
    v = check(ref, tgt_ret(arr([0, 1], "int64")))
    assert v.kind is K.STATUS and v.accepts_invalid and v.breaking
    assert "not implemented for 'Long'" in v.detail


def test_reference_declared_unsupported_counts_as_raised() -> None:
    # A reference mode declares no limits: an UNSUPPORTED reference that came
    # from an exception is the reference raising.
    ref = declared("NotImplementedError", "not implemented for 'Long'", "no kernel", "eager")
    v = check(ref, tgt_ret(ONE))
    assert v.kind is K.STATUS and v.accepts_invalid
    v = check(ref, raised("RuntimeError", "boom", "compiled"))
    assert v.kind is K.INVALID


@pytest.mark.parametrize("tgt", [
    raised("NotImplementedError", "not implemented for 'Long'", "compiled"),
    declared("torch._dynamo.exc.Unsupported", "dynamic shape", "graph break"),
], ids=["raised", "declared"])
def test_both_raise_is_invalid(tgt: Observation) -> None:
    v = check(raised("NotImplementedError", "not implemented for 'Long'"), tgt)
    assert v.kind is K.INVALID and not v.breaking, v.detail
    assert "both raised" in v.detail


@pytest.mark.parametrize("side", ["reference", "target"])
def test_an_unavailable_mode_is_unsupported_on_either_side(side: str) -> None:
    gone = ended(Outcome.UNSUPPORTED, "no CUDA device on this machine",
                 "eager" if side == "reference" else "compiled")
    ref, tgt = (gone, raised("ValueError", "x", "compiled")) if side == "reference" else \
        (raised("ValueError", "x"), gone)
    v = check(ref, tgt)
    assert v.kind is K.UNSUPPORTED and f"{side} cannot run this" in v.detail
    assert "no CUDA device" in v.detail


@pytest.mark.parametrize("side", ["reference", "target"])
@pytest.mark.parametrize("other", [
    ended(Outcome.SKIPPED, "too_large: 3 GiB"),
    ended(Outcome.CRASHED, "signal SIGSEGV"),
    ended(Outcome.UNSUPPORTED, "no CUDA device"),
    None,
], ids=["skipped", "crashed", "unavailable", "returned"])
def test_internal_on_either_side_outranks_everything(side: str, other) -> None:
    failed = Observation("eager" if side == "reference" else "compiled", Outcome.INTERNAL,
                         detail="Traceback (most recent call last):\n  File \"x.py\", "
                                "line 3, in f\nKeyError: 'dtype'\n")
    if other is None:
        other = ret(ONE, "compiled" if side == "reference" else "eager")
    else:
        other = Observation("compiled" if side == "reference" else "eager", other.outcome,
                            detail=other.detail)
    ref, tgt = (failed, other) if side == "reference" else (other, failed)
    v = check(ref, tgt)
    assert v.kind is K.INTERNAL and not v.breaking
    assert v.detail == f"seamfuzz failed on the {side}: KeyError: 'dtype'"


@pytest.mark.parametrize("detail, line", [
    ("converting the output\nmore", "converting the output"),
    ("converting the output\nTraceback (most recent call last):\n  File \"e.py\", line 9, "
     "in f\n    x = y[0]\nIndexError: list index out of range\n",
     "converting the output: IndexError: list index out of range"),
    # Cut to its end: the traceback's head is gone.
    ('py", line 9, in f\n  File "e.py", line 10, in g\nValueError: bad', "ValueError: bad"),
])
def test_internal_detail_is_one_line(detail: str, line: str) -> None:
    failed = Observation("compiled", Outcome.INTERNAL, detail=detail)
    assert check(ret(ONE), failed).detail == f"seamfuzz failed on the target: {line}"


def test_internal_without_detail() -> None:
    assert check(ret(ONE), Observation("compiled", Outcome.INTERNAL)).detail.endswith("no detail")


def _sandboxed(mode: str, reason: str = "sandboxed: write outside temp") -> Observation:
    return Observation(mode, Outcome.SANDBOXED, error_type="OSError",
                       error_message="[Errno 30] Read-only file system: '/data/x.pt'",
                       detail=reason)


@pytest.mark.parametrize("side", ["reference", "target"])
@pytest.mark.parametrize("other", [
    ended(Outcome.SKIPPED, "too_large: 3 GiB"),
    ended(Outcome.CRASHED, "signal SIGSEGV"),
    ended(Outcome.UNSUPPORTED, "no CUDA device"),
    Observation("x", Outcome.RAISED, error_type="ValueError", error_message="bad dim"),
    None,
], ids=["skipped", "crashed", "unavailable", "raised", "returned"])
def test_sandboxed_on_either_side_is_not_judged(side: str, other) -> None:
    stopped = _sandboxed("eager" if side == "reference" else "compiled")
    mode = "compiled" if side == "reference" else "eager"
    other = ret(ONE, mode) if other is None else Observation(
        mode, other.outcome, error_type=other.error_type,
        error_message=other.error_message, detail=other.detail)
    ref, tgt = (stopped, other) if side == "reference" else (other, stopped)
    v = check(ref, tgt)
    assert v.kind is K.SANDBOXED and not v.breaking
    assert v.detail == (f"{side} stopped by the sandbox (sandboxed: write outside temp): "
                        "OSError: [Errno 30] Read-only file system: '/data/x.pt'")


def test_internal_outranks_sandboxed() -> None:
    v = check(_sandboxed("eager"), Observation("compiled", Outcome.INTERNAL, detail="boom"))
    assert v.kind is K.INTERNAL


def test_a_sandboxed_repeat_is_not_used() -> None:
    v = check(ret(ONE), tgt_ret(ONE), ref_repeat=_sandboxed("eager", "sandboxed: network"))
    assert v.kind is K.AGREE


def test_an_internal_repeat_or_oracle_is_not_used() -> None:
    broken = Observation("eager", Outcome.INTERNAL, detail="boom")
    assert check(ret(ONE), tgt_ret(ONE), ref_repeat=broken).kind is K.AGREE
    v = check(ret(ONE), tgt_ret(ONE), oracle=Observation("eager-fp64", Outcome.INTERNAL))
    assert v.kind is K.AGREE and "fp64 oracle internal, not used" in v.detail


# -- tolerances ----------------------------------------------------------------------------

ONE_ULP_F16 = 1.0009765625  # 1 + 2**-10
ONE_ULP_BF16 = 1.0078125  # 1 + 2**-7

TOLERANCE_CASES = [
    # dtype, ref, tgt, agrees
    ("float16", 1.0, ONE_ULP_F16, True),
    ("float32", 1.0, ONE_ULP_F16, False),
    ("float64", 1.0, ONE_ULP_F16, False),
    ("bfloat16", 1.0, ONE_ULP_BF16, True),
    ("float16", 1.0, ONE_ULP_BF16, False),
    ("float32", 1.0, 1.0 + 2**-23, True),
    ("float64", 1.0, 1.0 + 2**-52, True),
    ("float64", 1.0, 1.0 + 1e-6, False),
    ("float32", 0.0, 9e-6, True),  # within atol
    ("float32", 0.0, 2e-5, False),
    ("float8_e4m3fn", 1.0, 1.125, True),  # one ulp
    ("float8_e4m3fn", 1.0, 1.5, False),
]


@pytest.mark.parametrize("dtype, r, t, agrees", TOLERANCE_CASES)
def test_tolerance_per_dtype(dtype: str, r: float, t: float, agrees: bool) -> None:
    v = check(ret(arr([r, 2.0], dtype)), tgt_ret(arr([t, 2.0], dtype)))
    assert v.kind is (K.AGREE if agrees else K.VALUE), v.detail
    if not agrees:
        rtol, atol = DEFAULT_TOLERANCES.get(dtype)
        assert f"rtol {rtol:g} atol {atol:g}" in v.detail


def test_value_detail_names_count_index_values_and_differences() -> None:
    ref = np.zeros((5, 8), np.float32)
    tgt = ref.copy()
    tgt[4, 7] = 0.03125
    tgt[1, 1] = 0.001
    v = check(ret(ArrayLeaf.from_numpy(ref)), tgt_ret(ArrayLeaf.from_numpy(tgt)))
    assert v.kind is K.VALUE and v.path == ""
    assert v.detail.startswith("2 of 40 elements differ (max abs diff 3.12e-02 at (4, 7): ")
    assert "ref 0.0, target 0.03125" in v.detail
    assert "rel diff inf" in v.detail and "rtol 1.3e-06 atol 1e-05" in v.detail


FLOAT_SPECIAL_CASES = [
    # ref, tgt, agrees
    (math.nan, math.nan, True),
    (math.nan, 1.0, False),
    (1.0, math.nan, False),
    (math.inf, math.inf, True),
    (-math.inf, -math.inf, True),
    (math.inf, -math.inf, False),
    (math.inf, 3e38, False),
    (math.inf, math.nan, False),
    (-0.0, 0.0, True),
    (0.0, -0.0, True),
]


@pytest.mark.parametrize("r, t, agrees", FLOAT_SPECIAL_CASES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_nan_and_inf_positions(dtype: str, r: float, t: float, agrees: bool) -> None:
    v = check(ret(arr([0.5, r], dtype)), tgt_ret(arr([0.5, t], dtype)))
    assert v.kind is (K.AGREE if agrees else K.VALUE), v.detail
    if not agrees:
        assert "1 of 2 elements differ" in v.detail and "at (1,)" in v.detail


def test_python_float_scalars() -> None:
    assert check(ret(ScalarLeaf(math.nan)), tgt_ret(ScalarLeaf(math.nan))).kind is K.AGREE
    assert check(ret(ScalarLeaf(-0.0)), tgt_ret(ScalarLeaf(0.0))).kind is K.AGREE
    # float32 rounding noise in a Python float (from .item()) passes ...
    assert check(ret(ScalarLeaf(1.0)), tgt_ret(ScalarLeaf(1.0 + 2**-23))).kind is K.AGREE
    v = check(ret(ScalarLeaf(1.0)), tgt_ret(ScalarLeaf(1.01)))
    assert v.kind is K.VALUE and "ref 1.0, target 1.01" in v.detail


INT_CASES = [
    ("int64", [5, 2**62], [5, 2**62 + 1], "1 of 2 elements differ (max abs diff 1 at (1,): "
                                           "ref 4611686018427387904, target 4611686018427387905)"),
    ("uint64", [0, 2**64 - 1], [2**64 - 1, 2**64 - 1],
     "max abs diff 18446744073709551615 at (0,)"),
    ("int8", [[1, 2], [3, 4]], [[1, 9], [0, 4]],
     "2 of 4 elements differ (max abs diff 7 at (0, 1)"),
    ("int32", [1, 5, 3], [2, 5, 9], "first at (0,): ref 1, target 2"),
    ("bool", [True, False, True], [True, True, False], "2 of 3 elements differ "
                                                       "(first at (1,): ref False, target True)"),
    ("int4", [1, -8], [1, 7], "max abs diff 15 at (1,)"),
]


@pytest.mark.parametrize("dtype, r, t, words", INT_CASES, ids=[c[0] for c in INT_CASES])
def test_integers_and_bools_are_exact(dtype: str, r, t, words: str) -> None:
    v = check(ret(arr(r, dtype)), tgt_ret(arr(t, dtype)))
    assert v.kind is K.VALUE
    assert words in v.detail
    assert check(ret(arr(r, dtype)), tgt_ret(arr(r, dtype))).kind is K.AGREE


def test_python_ints_bools_and_strings_are_exact() -> None:
    assert check(ret(ScalarLeaf(2**80)), tgt_ret(ScalarLeaf(2**80 + 1))).kind is K.VALUE
    assert check(ret(ScalarLeaf(True)), tgt_ret(ScalarLeaf(False))).kind is K.VALUE
    assert check(ret(ScalarLeaf("a")), tgt_ret(ScalarLeaf("b"))).kind is K.VALUE
    assert check(ret(ScalarLeaf(None)), tgt_ret(ScalarLeaf(None))).kind is K.AGREE


def test_complex_compares_each_component() -> None:
    # |difference| is tiny next to |ref|, but the imaginary part is wrong.
    ref = arr([1e6 + 1e-3j, 1 + 1j], "complex64")
    tgt = arr([1e6 + 2e-3j, 1 + 1j], "complex64")
    v = check(ret(ref), tgt_ret(tgt))
    assert v.kind is K.VALUE
    assert v.detail.startswith("imag part: 1 of 2 elements differ") and "real part" not in v.detail
    nan_c = arr([complex(math.nan, 1.0)], "complex128")
    assert check(ret(nan_c), tgt_ret(nan_c)).kind is K.AGREE
    v = check(ret(nan_c), tgt_ret(arr([complex(math.nan, math.nan)], "complex128")))
    assert v.kind is K.VALUE and "imag part" in v.detail and "NaN/inf mismatch" in v.detail
    v = check(ret(ScalarLeaf(1 + 1j)), tgt_ret(ScalarLeaf(2 + 1j)))
    assert v.kind is K.VALUE and v.detail.startswith("real part: ")


def test_empty_arrays_compare_shapes_only() -> None:
    assert check(ret(arr(np.zeros((0, 3)))), tgt_ret(arr(np.zeros((0, 3))))).kind is K.AGREE
    v = check(ret(arr(np.zeros((0, 3)))), tgt_ret(arr(np.zeros((3, 0)))))
    assert v.kind is K.SHAPE and v.detail == "shape (0, 3) vs (3, 0)"


# -- structure, dtype, shape ---------------------------------------------------------------

STRUCTURE_CASES = [
    ("dtype before shape and values", arr([1.0, 2.0]), arr([[7.0]], "float64"), K.DTYPE,
     "dtype float32 vs float64"),
    ("shape before values", arr([1.0, 2.0]), arr([[7.0, 8.0]]), K.SHAPE, "shape (2,) vs (1, 2)"),
    ("0-d vs 1-element", arr(1.0), arr([1.0]), K.SHAPE, "shape () vs (1,)"),
    ("array vs Python float", arr(1.0), ScalarLeaf(1.0), K.DTYPE,
     "array float32 () vs Python float"),
    ("int vs float", ScalarLeaf(1), ScalarLeaf(1.0), K.DTYPE, "Python int vs Python float"),
    ("bool vs int", ScalarLeaf(True), ScalarLeaf(1), K.DTYPE, "Python bool vs Python int"),
    ("None vs value", ScalarLeaf(None), arr([1.0]), K.DTYPE, "None vs array float32 (1,)"),
    ("sequence vs leaf", SeqNode("tuple", (ONE,)), ONE, K.SHAPE, "tuple of 1 vs array"),
    ("sequence vs mapping", SeqNode("list", ()), MapNode(()), K.SHAPE, "list of 0 vs mapping"),
    ("length", SeqNode("tuple", (ONE, ONE)), SeqNode("tuple", (ONE,)), K.SHAPE,
     "length 2 vs 1 (tuple vs tuple)"),
    ("keys", MapNode((("a", ONE), ("b", ONE))), MapNode((("a", ONE), ("c", ONE))), K.SHAPE,
     "keys differ: only in reference ['b'], only in target ['c']"),
    ("opaque types", OpaqueLeaf("torch.Generator"), OpaqueLeaf("torch.device"), K.UNSUPPORTED,
     "opaque torch.Generator vs opaque torch.device"),
    ("list vs tuple agree", SeqNode("list", (ONE,)), SeqNode("tuple", (ONE,)), K.AGREE, ""),
    ("namedtuple vs tuple agree", SeqNode("namedtuple:max", (ONE,)), SeqNode("tuple", (ONE,)),
     K.AGREE, ""),
    ("key order ignored", MapNode((("a", ONE), ("b", ScalarLeaf(1)))),
     MapNode((("b", ScalarLeaf(1)), ("a", ONE))), K.AGREE, ""),
    ("opaque same type agrees, noted", OpaqueLeaf("torch.Generator", "a"),
     OpaqueLeaf("torch.Generator", "b"), K.AGREE, "torch.Generator compared by type only"),
]


@pytest.mark.parametrize("name, r, t, kind, words", STRUCTURE_CASES,
                         ids=[c[0] for c in STRUCTURE_CASES])
def test_structure_dtype_shape(name: str, r: Node, t: Node, kind: VerdictKind, words: str) -> None:
    v = check(ret(r), tgt_ret(t))
    assert v.kind is kind, v.detail
    assert words in v.detail


def test_nested_paths_in_detail() -> None:
    ref = SeqNode("tuple", (ONE, MapNode((("values", arr([1.0, 2.0, 3.0])),
                                           ("weird key", ScalarLeaf(1))))))
    tgt = SeqNode("tuple", (ONE, MapNode((("values", arr([1.0, 2.0, 4.0])),
                                           ("weird key", ScalarLeaf(1))))))
    v = check(ret(ref), tgt_ret(tgt))
    assert v.kind is K.VALUE and v.path == "[1].values"
    assert v.detail.startswith("[1].values: 1 of 3 elements differ")
    tgt2 = SeqNode("tuple", (ONE, MapNode((("values", arr([1.0, 2.0, 3.0])),
                                            ("weird key", ScalarLeaf(2))))))
    assert check(ret(ref), tgt_ret(tgt2)).path == "[1]['weird key']"


def test_dtype_mismatch_anywhere_outranks_value_mismatch_earlier() -> None:
    ref = SeqNode("tuple", (arr([1.0]), arr([1.0]), arr([1, 2], "int64")))
    tgt = SeqNode("tuple", (arr([9.0]), arr([1.0], "float64"), arr([1, 3], "int64")))
    v = check(ret(ref), tgt_ret(tgt))
    assert v.kind is K.DTYPE and v.path == "[1]"
    assert v.detail.startswith("[1]: dtype float32 vs float64 (+2 more: [0] value, [2] value)")


# -- mutated inputs ------------------------------------------------------------------------


def test_mutated_inputs_are_compared_like_outputs() -> None:
    out = ScalarLeaf(None)
    same = check(ret(out, mutated=[(1, ONE)]), tgt_ret(out, mutated=[(1, arr([1.0, 2.0]))]))
    assert same.kind is K.AGREE
    v = check(ret(out, mutated=[(1, ONE)]), tgt_ret(out, mutated=[(1, arr([1.0, 5.0]))]))
    assert v.kind is K.VALUE and v.path == "mutated[1]"
    assert v.detail.startswith("mutated[1]: 1 of 2 elements differ")
    v = check(ret(out, mutated=[(1, ONE)]), tgt_ret(out, mutated=[(1, arr([1.0, 2.0], "float16"))]))
    assert v.kind is K.DTYPE and v.path == "mutated[1]"


@pytest.mark.parametrize("ref_mut, tgt_mut, who", [([(0, ONE)], [], "reference"),
                                                  ([], [(2, ONE)], "target")])
def test_a_mutation_on_one_side_only_is_a_value_mismatch(ref_mut, tgt_mut, who) -> None:
    v = check(ret(ONE, mutated=ref_mut), tgt_ret(ONE, mutated=tgt_mut))
    assert v.kind is K.VALUE and v.path.startswith("mutated[")
    assert f"mutated in place by the {who} only" in v.detail


# -- float64 arbitration ------------------------------------------------------------------

F16_NEAR = float(np.float16(0.3))  # the float16 nearest to 0.3 (0.30005)
F16_OFF = F16_NEAR - 3 * 2**-12  # three ulps below it (0.29932)


def test_oracle_accepts_a_target_closer_to_fp64_than_the_reference() -> None:
    ref, tgt = ret(arr([F16_OFF, 1.0], "float16")), tgt_ret(arr([F16_NEAR, 1.0], "float16"))
    assert check(ref, tgt).kind is K.VALUE  # beyond float16's tolerance on its own
    v = check(ref, tgt, oracle=oracle(arr([0.3, 1.0], "float64")))
    assert v.kind is K.AGREE
    assert "1 elements accepted by fp64 arbitration" in v.detail


def test_oracle_rejects_a_target_further_from_fp64_than_the_reference() -> None:
    ref, tgt = ret(arr([F16_NEAR, 1.0], "float16")), tgt_ret(arr([F16_OFF, 1.0], "float16"))
    v = check(ref, tgt, oracle=oracle(arr([0.3, 1.0], "float64")))
    assert v.kind is K.VALUE
    assert "vs fp64 0.3: target err 6.84e-04 > 2 x ref err 4.88e-05 + atol" in v.detail


def test_oracle_accepts_a_target_that_avoids_the_reference_overflow() -> None:
    ref, tgt = ret(arr([math.inf], "float16")), tgt_ret(arr([65000.0], "float16"))
    assert "NaN/inf mismatch" in check(ref, tgt).detail
    assert check(ref, tgt, oracle=oracle(arr([65000.0], "float64"))).kind is K.AGREE
    far = tgt_ret(arr([30000.0], "float16"))
    v = check(ref, far, oracle=oracle(arr([65000.0], "float64")))
    assert v.kind is K.VALUE and "reference non-finite" in v.detail


def test_oracle_multiplier_is_configurable() -> None:
    # Two ulps apart, fp64 in between: ref err 1.25e-4, target err 3.63e-4,
    # which is more than 2x the reference's error but less than 4x.
    ref = ret(arr([F16_NEAR], "float16"))
    tgt = tgt_ret(arr([F16_NEAR - 2 * 2**-12], "float16"))
    orc = oracle(arr([F16_NEAR - 1.25e-4], "float64"))
    assert check(ref, tgt, oracle=orc).kind is K.VALUE
    loose = DEFAULT_TOLERANCES.with_overrides({}, oracle_multiplier=4.0)
    assert check(ref, tgt, oracle=orc, tolerances=loose).kind is K.AGREE


def test_oracle_arbitrates_nested_outputs_and_mutations() -> None:
    ref = SeqNode("tuple", (arr([F16_OFF], "float16"),))
    tgt = SeqNode("tuple", (arr([F16_NEAR], "float16"),))
    orc = SeqNode("tuple", (arr([0.3], "float64"),))
    v = check(ret(ref, mutated=[(0, ref)]), tgt_ret(tgt, mutated=[(0, tgt)]),
              oracle=oracle(orc, mutated=[(0, orc)]))
    assert v.kind is K.AGREE, v.detail


def test_unusable_oracle_is_named_in_the_detail() -> None:
    ref, tgt = ret(arr([F16_OFF, 1.0], "float16")), tgt_ret(arr([F16_NEAR, 1.0], "float16"))
    v = check(ref, tgt, oracle=oracle(arr([0.3], "float64")))
    assert v.kind is K.VALUE and "no fp64 arbitration: fp64 oracle has shape (1,)" in v.detail
    failed = raised("RuntimeError", "no float64 kernel", "eager-fp64")
    assert check(ref, tgt, oracle=failed).kind is K.VALUE
    assert "not used" in check(ret(ONE), tgt_ret(ONE), oracle=failed).detail


# -- nondeterminism ------------------------------------------------------------------------


def test_reference_disagreeing_with_itself_is_nondeterministic() -> None:
    v = check(ret(ONE), tgt_ret(arr([5.0, 6.0])), ref_repeat=ret(arr([1.0, 2.5])))
    assert v.kind is K.NONDETERMINISTIC
    assert "reference disagrees with itself on a repeat run: 1 of 2 elements differ" in v.detail
    # The repeat comparison is exact: a difference far inside tolerance counts.
    tiny = ret(arr([1.0, 2.0 + 2**-22]))
    assert check(ret(ONE), tgt_ret(ONE), ref_repeat=tiny).kind is K.NONDETERMINISTIC


def test_identical_repeat_with_nan_and_signed_zero_lets_judgement_proceed() -> None:
    ref = arr([math.nan, -0.0, 1.0])
    rep = ret(arr([math.nan, 0.0, 1.0]))
    assert check(ret(ref), tgt_ret(ref), ref_repeat=rep).kind is K.AGREE
    v = check(ret(ref), tgt_ret(arr([math.nan, 0.0, 2.0])), ref_repeat=rep)
    assert v.kind is K.VALUE


def test_nondeterministic_values_still_judge_dtype_and_shape() -> None:
    flaky = {"ref_repeat": ret(arr([1.0, 3.0]))}
    assert check(ret(ONE), tgt_ret(arr([1.0, 2.0], "float64")), **flaky).kind is K.DTYPE
    assert check(ret(ONE), tgt_ret(arr([1.0])), nondeterministic_api=True).kind is K.SHAPE
    v = check(ret(ONE), tgt_ret(arr([7.0, 8.0])), nondeterministic_api=True)
    assert v.kind is K.NONDETERMINISTIC and "values not judged" in v.detail


@pytest.mark.parametrize("repeat, words", [
    (raised("RuntimeError", "CUDA error"), "reference returned, then raised RuntimeError"),
    (ended(Outcome.CRASHED, "SIGSEGV", "eager"), "reference returned, then crashed"),
    (ret(arr([1.0, 2.0], "float64")), "dtype float32 vs float64"),
])
def test_repeat_that_ends_differently_is_nondeterministic(repeat, words) -> None:
    v = check(ret(ONE), raised("RuntimeError", "x", "compiled"), ref_repeat=repeat) \
        if repeat.outcome is not Outcome.RETURNED else \
        check(ret(ONE), tgt_ret(ONE), ref_repeat=repeat)
    assert v.kind is K.NONDETERMINISTIC and words in v.detail


def test_target_crash_is_reported_even_with_a_flaky_reference() -> None:
    v = check(ret(ONE), ended(Outcome.CRASHED, "SIGSEGV"), ref_repeat=raised("RuntimeError"))
    assert v.kind is K.CRASH


# -- tolerance table -----------------------------------------------------------------------


def test_default_table_covers_every_inexact_dtype() -> None:
    for name in known_dtypes():
        rtol, atol = DEFAULT_TOLERANCES.get(name)
        if dtype_category(name) in ("bool", "int"):
            assert (rtol, atol) == (0.0, 0.0)
        else:
            assert rtol > 0 and atol > 0
    assert DEFAULT_TOLERANCES.get("float32") == (1.3e-6, 1e-5)
    assert DEFAULT_TOLERANCES.get("complex64") == DEFAULT_TOLERANCES.get("float32")
    assert DEFAULT_TOLERANCES.get("float8_e4m3fn") == (0.125, 2**-9)
    assert DEFAULT_TOLERANCES.oracle_multiplier == 2.0


def test_with_overrides() -> None:
    table = DEFAULT_TOLERANCES.with_overrides({"float16": (1e-2, 1e-3), "float32": (None, None)})
    assert table.get("float16") == (1e-2, 1e-3)
    assert table.get("float32") == DEFAULT_TOLERANCES.get("float32")
    assert DEFAULT_TOLERANCES.get("float16") == (1e-3, 1e-5)  # unchanged: frozen
    assert table != DEFAULT_TOLERANCES and hash(table) != hash(DEFAULT_TOLERANCES)
    v = check(ret(arr([1.0], "float16")), tgt_ret(arr([1.0078125], "float16")), tolerances=table)
    assert v.kind is K.AGREE


@pytest.mark.parametrize("overrides, kw, match", [
    ({"float32": (1e-3, None)}, {}, "both rtol and atol"),
    ({"float32": (None, 1e-3)}, {}, "both rtol and atol"),
    ({"float32": (-1e-3, 0.0)}, {}, "rtol of float32 must be a finite number >= 0"),
    ({"float32": (0.0, math.nan)}, {}, "atol of float32"),
    ({"float32": 1e-3}, {}, "must be \\(rtol, atol\\)"),
    ({"int64": (1.0, 1.0)}, {}, "integers and booleans compare exactly"),
    ({"float128": (1.0, 1.0)}, {}, "no tolerance applies"),
    ({}, {"oracle_multiplier": 0.5}, "oracle_multiplier"),
])
def test_with_overrides_validates(overrides, kw, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        DEFAULT_TOLERANCES.with_overrides(overrides, **kw)


def test_get_unknown_dtype_raises() -> None:
    with pytest.raises(InvalidArgument):
        DEFAULT_TOLERANCES.get("string")


def test_records_pickle_for_the_process_boundary() -> None:
    table = DEFAULT_TOLERANCES.with_overrides({"float16": (1e-2, 1e-3)})
    for record in (B, Verdict("a", "b", K.VALUE, "d", "[0]"), table):
        assert pickle.loads(pickle.dumps(record)) == record
    assert pickle.loads(pickle.dumps(table)).get("float16") == (1e-2, 1e-3)


def test_exact_table_is_zero() -> None:
    assert all(r == a == 0.0 for _, r, a in ToleranceTable.exact().entries)


# -- malformed input -------------------------------------------------------------------------


def test_judge_raises_internal_error_for_malformed_arguments() -> None:
    with pytest.raises(InternalError):
        judge(B, ret(ONE, "other"), tgt_ret(ONE))
    with pytest.raises(InternalError):
        judge(B, ret(ONE), "not an observation")  # type: ignore[arg-type]
    with pytest.raises(InternalError):
        judge(("eager", "compiled"), ret(ONE), tgt_ret(ONE))  # type: ignore[arg-type]
    with pytest.raises(InternalError):
        judge(B, ret(ONE), tgt_ret(ONE), ref_repeat=tgt_ret(ONE))
    with pytest.raises(InvalidArgument):
        Boundary("", "x")


def test_compare_nodes_structure_only() -> None:
    assert compare_nodes(ONE, arr([9.0, 9.0]), values=False) == []
    [m] = compare_nodes(ONE, arr([9.0]), values=False, path="out")
    assert (m.kind, m.path, m.describe()) == (K.SHAPE, "out", "out: shape (2,) vs (1,)")


# -- properties ------------------------------------------------------------------------------

PROPERTY_DTYPES = ["bool", "int8", "int32", "uint64", "float16", "float32", "float64",
                   "bfloat16", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128"]


@st.composite
def array_leaves(draw: st.DrawFn, min_size: int = 0) -> ArrayLeaf:
    """Arrays of arbitrary bit patterns: NaN payloads, infinities,
    subnormals and -0.0 included."""
    dtype = draw(st.sampled_from(PROPERTY_DTYPES))
    shape = tuple(draw(st.lists(st.integers(min_size, 4), max_size=3)))
    n = math.prod(shape)
    size = n * storage_dtype(dtype).itemsize
    if dtype == "bool":
        data = bytes(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    else:
        data = draw(st.binary(min_size=size, max_size=size))
    return ArrayLeaf(dtype, shape, data)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.builds(complex, st.floats(), st.floats()), st.text(max_size=4))
nodes = st.recursive(
    st.one_of(array_leaves(), st.builds(ScalarLeaf, scalars),
              st.builds(OpaqueLeaf, st.sampled_from(["torch.Generator", "tf.Variable"]))),
    lambda children: st.one_of(
        st.builds(SeqNode, st.sampled_from(["list", "tuple"]),
                  st.lists(children, max_size=3).map(tuple)),
        st.lists(st.tuples(st.text(max_size=4), children), max_size=3,
                 unique_by=lambda kv: kv[0]).map(lambda kv: MapNode(tuple(kv))),
    ),
    max_leaves=6,
)


@given(nodes, st.dictionaries(st.integers(0, 3), nodes, max_size=2))
def test_an_observation_agrees_with_itself(node: Node, mutated: dict) -> None:
    mut = list(mutated.items())
    ref, tgt = ret(node, mutated=mut), tgt_ret(node, mutated=mut)
    assert check(ref, tgt).kind is K.AGREE
    assert check(ref, tgt, ref_repeat=ret(node, mutated=mut)).kind is K.AGREE


def _flip(leaf: ArrayLeaf, flat: int) -> ArrayLeaf:
    """The same array with element ``flat`` changed beyond every tolerance."""
    a = leaf.to_numpy().copy()
    idx = np.unravel_index(flat, a.shape)
    category = dtype_category(leaf.dtype)
    if category == "bool":
        a[idx] = not a[idx]
    elif category == "int":
        a[idx] = a[idx] ^ 1
    else:
        with np.errstate(invalid="ignore"):  # ml_dtypes warns on signalling NaNs
            v = complex(a[idx].astype(np.complex128))
        new = 0.0 if not math.isfinite(v.real) or abs(v.real) >= 1 else v.real + 1.0
        a[idx] = complex(new, v.imag) if category == "complex" else new
    return ArrayLeaf.from_numpy(a, leaf.dtype)


@given(array_leaves(min_size=1), st.data())
def test_a_single_flipped_element_is_found_both_ways(leaf: ArrayLeaf, data) -> None:
    flat = data.draw(st.integers(0, leaf.size - 1))
    flipped = _flip(leaf, flat)
    idx = tuple(int(i) for i in np.unravel_index(flat, leaf.shape))
    where = "(" + ", ".join(map(str, idx)) + ("," if len(idx) == 1 else "") + ")"
    for ref, tgt in ((leaf, flipped), (flipped, leaf)):
        v = check(ret(ref), tgt_ret(tgt))
        assert v.kind is K.VALUE
        assert f"1 of {leaf.size} elements differ" in v.detail
        assert f"at {where}" in v.detail
