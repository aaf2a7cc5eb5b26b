"""Drawing concrete inputs (:func:`runner.materialize.draw`), numpy only."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.records import (
    ApiRef,
    Arange,
    Constructed,
    Data,
    Dict,
    DType,
    Empty,
    Eye,
    Fill,
    IntRange,
    Layout,
    LayoutKind,
    Linspace,
    Literal,
    Normal,
    Seq,
    TensorSpec,
    Uniform,
    Unknown,
)
from runner.materialize import (
    Drawn,
    DrawnTensor,
    MaterializeError,
    draw,
    float64_variant,
    resolve_api,
)
from runner.observation import SKIP_TOO_LARGE

ROOT = Path(__file__).resolve().parents[2]


def spec(shape, dtype="float32", init=None, layout=None, fw="torch", grad=False) -> TensorSpec:
    return TensorSpec(fw, tuple(shape), dtype, init if init is not None else Normal(),
                      layout if layout is not None else Layout(), grad)


def one(s: TensorSpec, seed: int = 0) -> DrawnTensor:
    (t,) = draw(((s,), ()), seed).args
    return t


# -- determinism and order ---------------------------------------------------


def test_same_seed_same_bytes_different_seed_different():
    values = ((spec((3, 4)), Seq("list", (spec((2,), "int64", IntRange(0, 100)),))),
              (("w", spec((5,), "complex64", Uniform())),))
    a, b, c = draw(values, 7), draw(values, 7), draw(values, 8)
    assert [t.base.tobytes() for t in a.tensors()] == [t.base.tobytes() for t in b.tensors()]
    assert a.digest() == b.digest() != c.digest()
    assert all(x.base.tobytes() != y.base.tobytes() for x, y in zip(a.tensors(), c.tensors()))


def test_one_generator_depth_first_positional_then_keyword():
    x, y, z = spec((4,)), spec((3,)), spec((2,))
    flat = draw(((x, y, z), ()), 3)
    nested = draw(((Constructed("torch.abs", (x,)),), (("k", Dict(((Literal("a"), y),))),
                                                      ("m", Seq("tuple", (z,))))), 3)
    assert [t.base.tobytes() for t in flat.tensors()] == \
        [t.base.tobytes() for t in nested.tensors()]
    # The tree keeps its structure, with drawn tensors in place of specs.
    (c,), ((_, d), (_, s)) = nested.args, nested.kwargs
    assert isinstance(c, Constructed) and isinstance(c.args[0], DrawnTensor)
    assert d.items[0][0] == Literal("a") and isinstance(d.items[0][1], DrawnTensor)
    assert s.kind == "tuple" and isinstance(s.items[0], DrawnTensor)


def test_non_tensor_values_are_kept():
    vals = (Literal(1.5), DType("torch", "float32"), ApiRef("torch.relu"), Literal(None))
    drawn = draw((vals, (("dim", Literal(-1)),)), 0)
    assert drawn.args == vals and drawn.kwargs == (("dim", Literal(-1)),)
    assert drawn.seed == 0 and list(drawn.tensors()) == []


def test_drawn_arrays_are_read_only_and_pickle():
    drawn = draw(((spec((2, 2)),), ()), 1)
    (t,) = drawn.tensors()
    assert not t.base.flags.writeable
    with pytest.raises(ValueError):
        t.base[0, 0] = 1.0
    again = pickle.loads(pickle.dumps(drawn))
    assert isinstance(again, Drawn) and again.digest() == drawn.digest()


# -- shapes ------------------------------------------------------------------

ALL_INITS = [Normal(), Uniform(), IntRange(0, 5), Fill(2.5), Data((4,)), Arange(3, 2),
             Linspace(0.0, 1.0), Eye(), Empty()]


@pytest.mark.parametrize("init", ALL_INITS, ids=lambda i: type(i).__name__)
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "bfloat16", "complex64"])
def test_zero_dim_stays_zero_dim(init, dtype):
    t = one(spec((), dtype, init))
    assert t.shape == () and t.base.shape == () and t.base.ndim == 0
    assert t.logical().shape == ()


@pytest.mark.parametrize("init", ALL_INITS, ids=lambda i: type(i).__name__)
def test_every_init_gives_the_storage_dtype_and_shape(init):
    shape = (1,) if isinstance(init, Data) else (2, 3)
    for dtype in ["float16", "float32", "float64", "bfloat16", "float8_e4m3fn", "int8",
                  "uint8", "int32", "int64", "bool", "complex64", "complex128", "int4"]:
        t = one(spec(shape, dtype, init))
        assert t.base.shape == shape
        assert t.base.flags.c_contiguous
        assert t.base.dtype == (np.dtype(getattr(ml_dtypes, dtype))
                                if hasattr(ml_dtypes, dtype) else np.dtype(dtype))


# -- every init --------------------------------------------------------------


def test_normal_and_uniform_parameters():
    n = one(spec((4000,), "float64", Normal(5.0, 0.5))).base
    assert abs(n.mean() - 5.0) < 0.05 and abs(n.std() - 0.5) < 0.05
    u = one(spec((4000,), "float64", Uniform(-2.0, -1.0))).base
    assert u.min() >= -2.0 and u.max() < -1.0


def test_intrange_integers_and_bool():
    i = one(spec((500,), "int32", IntRange(-3, 4))).base
    assert set(np.unique(i)) == set(range(-3, 4))
    f = one(spec((50,), "float32", IntRange(0, 3))).base
    assert np.all(f == np.round(f))
    b = one(spec((200,), "bool", IntRange(5, 9))).base  # bounds ignored for bool
    assert b.dtype == np.bool_ and b.any() and not b.all()


def test_fill_keeps_nan_inf_and_signed_zero():
    assert np.isnan(one(spec((2,), "float32", Fill(math.nan))).base).all()
    assert np.isneginf(one(spec((2,), "bfloat16", Fill(-math.inf))).base.astype(np.float32)).all()
    z = one(spec((2,), "float64", Fill(-0.0))).base
    assert np.all(np.signbit(z)) and np.all(z == 0)
    assert one(spec((), "complex64", Fill(1 + 2j))).base[()] == 1 + 2j
    assert one(spec((3,), "bool", Fill(True))).base.all()


def test_data_is_reshaped_row_major():
    t = one(spec((2, 3), "int64", Data((1, 2, 3, 4, 5, 6))))
    np.testing.assert_array_equal(t.logical(), [[1, 2, 3], [4, 5, 6]])
    f = one(spec((2,), "float32", Data((True, 2.5))))
    np.testing.assert_array_equal(f.base, np.array([1.0, 2.5], np.float32))


def test_data_size_mismatch_is_invalid():
    with pytest.raises(MaterializeError) as info:
        draw(((spec((2, 2), "int64", Data((1, 2, 3))),), ()), 0)
    assert info.value.reason == "invalid" and "3 data values for 4 elements" in str(info.value)


def test_arange_linspace_eye():
    a = one(spec((2, 3), "int64", Arange(10, -2))).logical()
    np.testing.assert_array_equal(a, [[10, 8, 6], [4, 2, 0]])
    fa = one(spec((4,), "float64", Arange(0.5, 0.25))).base
    np.testing.assert_array_equal(fa, [0.5, 0.75, 1.0, 1.25])
    ls = one(spec((2, 3), "float64", Linspace(0.0, 1.0))).logical()
    np.testing.assert_allclose(ls.ravel(), np.linspace(0, 1, 6))
    e = one(spec((2, 3, 4), "float32", Eye())).base
    np.testing.assert_array_equal(e, np.broadcast_to(np.eye(3, 4), (2, 3, 4)))
    np.testing.assert_array_equal(one(spec((3,), "int64", Eye())).base, [1, 0, 0])
    assert one(spec((), "int64", Eye())).base[()] == 1


def test_empty_is_deterministic_uniform():
    a, b = one(spec((100,), "float32", Empty()), 4), one(spec((100,), "float32", Empty()), 4)
    assert a.base.tobytes() == b.base.tobytes()
    assert a.base.min() >= 0.0 and a.base.max() < 1.0
    i = one(spec((100,), "int64", Empty())).base
    assert i.min() >= 0 and i.max() < 10


# -- casting policy ----------------------------------------------------------


def test_unsigned_and_integer_targets_saturate():
    u = one(spec((300,), "uint8", IntRange(-5, 5))).base
    assert u.min() == 0 and u.max() == 4 and (u == 0).sum() > 100
    assert one(spec((), "uint8", Fill(300))).base[()] == 255
    assert one(spec((), "int8", Fill(-1.9))).base[()] == -1
    assert one(spec((), "int32", Fill(math.nan))).base[()] == 0
    assert one(spec((), "int32", Fill(1e10))).base[()] == 2**31 - 1
    assert one(spec((), "int64", Fill(-math.inf))).base[()] == -(2**63)
    assert one(spec((), "uint64", Data((2**64 - 1,)))).base[()] == 2**64 - 1
    assert one(spec((), "int4", Fill(20))).base.astype(np.int8)[()] == 7
    n = one(spec((100,), "int64", Normal(0.0, 3.0))).base
    assert n.dtype == np.int64 and n.min() < 0 < n.max()


def test_complex_draws_both_parts_and_complex_into_real_is_invalid():
    c = one(spec((50,), "complex64", Normal())).base
    assert np.all(c.imag != 0) and np.all(c.real != 0)
    with pytest.raises(MaterializeError) as info:
        draw(((spec((2,), "float32", Fill(1j)),), ()), 0)
    assert info.value.reason == "invalid"


def test_half_precision_targets_round_from_float64():
    d = one(spec((3,), "bfloat16", Data((1.0, 1 / 3, 1e39)))).base
    assert d.dtype == np.dtype(ml_dtypes.bfloat16)
    assert d[1] == ml_dtypes.bfloat16(1 / 3) and np.isinf(d[2].astype(np.float32))
    assert np.isinf(one(spec((), "float16", Fill(1e6))).base[()])


# -- layouts: the init fills the base ----------------------------------------


def test_permuted_base_is_the_unpermuted_array():
    t = one(spec((4, 2, 3), "int64", Arange(), Layout(LayoutKind.PERMUTED, (2, 0, 1))))
    assert t.base.shape == (2, 3, 4)
    np.testing.assert_array_equal(t.logical(), np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1))
    # The miner's `torch.arange(6).reshape(2, 3).T`.
    tt = one(spec((3, 2), "int64", Arange(), Layout(LayoutKind.PERMUTED, (1, 0))))
    np.testing.assert_array_equal(tt.logical(), [[0, 3], [1, 4], [2, 5]])


def test_strided_expanded_channels_last_bases():
    s = one(spec((2, 3), "int64", Arange(), Layout(LayoutKind.STRIDED, (2, 3))))
    assert s.base.shape == (4, 9)
    np.testing.assert_array_equal(s.logical(), np.arange(36).reshape(4, 9)[::2, ::3])
    e = one(spec((3, 4, 2), "float32", Normal(), Layout(LayoutKind.EXPANDED, (0, 2))))
    assert e.base.shape == (1, 4, 1)
    np.testing.assert_array_equal(e.logical(), np.broadcast_to(e.base, (3, 4, 2)))
    c = one(spec((1, 3, 2, 2), "float32", Normal(), Layout(LayoutKind.CHANNELS_LAST)))
    assert c.base.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(c.logical(), c.base)


def test_logical_is_a_fresh_writable_copy():
    t = one(spec((2, 3), "float32", Normal(), Layout(LayoutKind.EXPANDED, (0,))))
    out = t.logical()
    assert out.flags.writeable and out.flags.c_contiguous
    assert not np.shares_memory(out, t.base)


LAYOUTS = st.sampled_from(["contiguous", "permuted", "strided", "expanded"])


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 4), max_size=4), kind=LAYOUTS, data=st.data(),
       seed=st.integers(0, 2**32))
def test_any_layout_gives_the_logical_shape(shape, kind, data, seed):
    n = len(shape)
    if kind == "permuted":
        layout = Layout(LayoutKind.PERMUTED, tuple(data.draw(st.permutations(range(n)))))
    elif kind == "strided":
        layout = Layout(LayoutKind.STRIDED, tuple(data.draw(st.integers(1, 3)) for _ in shape))
    elif kind == "expanded":
        layout = Layout(LayoutKind.EXPANDED, tuple(i for i in range(n) if data.draw(st.booleans())))
    else:
        layout = Layout()
    s = spec(shape, "float32", Normal(), layout)
    a, b = draw(((s,), ()), seed), draw(((s,), ()), seed)
    (t,) = a.tensors()
    assert t.logical().shape == tuple(shape)
    assert a.digest() == b.digest()


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ((Unknown("x"),), ()),
        ((Seq("list", (Literal(1), Unknown("n"))),), ()),
        ((), (("weight", Constructed("torch.nn.Linear", (), (("bias", Unknown()),))),)),
        ((TensorSpec("torch", (None, 3), "float32"),), ()),
        ((Dict(((Literal("k"), TensorSpec("torch", (2, None), "int64")),)),), ()),
    ],
)
def test_unresolved(values):
    with pytest.raises(MaterializeError) as info:
        draw(values, 0)
    assert info.value.reason == "unresolved"
    assert str(info.value).startswith("unresolved: ")


def test_too_large_is_checked_before_drawing():
    with pytest.raises(MaterializeError) as info:
        draw(((spec((2**20, 2**20)),), ()), 0)  # would need 8 TiB
    assert info.value.reason == SKIP_TOO_LARGE and str(info.value).startswith(SKIP_TOO_LARGE)
    big = ((spec((60,)), spec((50,))), ())
    draw(big, 0, max_elements=110)
    with pytest.raises(MaterializeError):
        draw(big, 0, max_elements=109)
    # An expanded view counts with its logical size.
    with pytest.raises(MaterializeError):
        draw(((spec((1000, 2), "float32", Normal(), Layout(LayoutKind.EXPANDED, (0,))),), ()),
             0, max_elements=1999)


def test_unresolved_wins_over_too_large():
    with pytest.raises(MaterializeError) as info:
        draw(((spec((10**6,)), Unknown("x")), ()), 0, max_elements=10)
    assert info.value.reason == "unresolved"


@pytest.mark.parametrize(
    "bad",
    [spec((2,), "float32", Normal(0.0, -1.0)), spec((2,), "int64", IntRange(3, 3)),
     spec((2,), "float32", Fill("a")), spec((2,), "float32", Fill(None)),
     spec((2,), "string"), spec((2,), "float32", fw="jax"), spec((2,), "qint8", IntRange())],
)
def test_invalid(bad):
    with pytest.raises(MaterializeError) as info:
        draw(((bad,), ()), 0)
    assert info.value.reason == "invalid"


def test_error_pickles_with_its_reason():
    err = pickle.loads(pickle.dumps(MaterializeError("too_large", "5 > 4")))
    assert err.reason == "too_large" and str(err) == "too_large: 5 > 4"


# -- float64 variant ---------------------------------------------------------


def test_float64_variant_widens_exactly():
    values = ((spec((3,), "float32"), spec((2,), "bfloat16"), spec((2,), "int64", IntRange()),
               Seq("list", (spec((2,), "complex64"),))), (("d", DType("torch", "float16")),))
    drawn = draw(values, 5)
    wide = float64_variant(drawn)
    assert wide is not None and wide.seed == drawn.seed
    assert [t.dtype for t in wide.tensors()] == ["float64", "float64", "int64", "complex128"]
    for old, new in zip(drawn.tensors(), wide.tensors()):
        np.testing.assert_array_equal(new.base, old.base.astype(new.base.dtype))
        assert not new.base.flags.writeable
    assert wide.kwargs == drawn.kwargs  # dtype arguments are left alone
    assert float64_variant(draw(((spec((2,), "float64"), spec((2,), "int8", IntRange())), ()),
                                0)) is None


# -- framework independence --------------------------------------------------


def test_resolve_api_numpy_and_limits():
    assert resolve_api("numpy.linalg.norm") is np.linalg.norm
    assert resolve_api("numpy.float32") is np.float32
    for name in ("numpy.no_such_thing", "jax.numpy.abs", "numpy.linalg.__x y"):
        with pytest.raises(MaterializeError) as info:
            resolve_api(name)
        assert info.value.reason == "invalid"


PROBE = """
import sys
import runner.materialize as m
from miner.records import TensorSpec
try:
    m.resolve_api("torch.relu", frameworks={"numpy"})
except m.MaterializeError as e:
    assert e.reason == "invalid"
m.draw(((TensorSpec("torch", (2,), "bfloat16"),), ()), 0)
print(sorted(x for x in ("torch", "tensorflow", "keras") if x in sys.modules))
"""


def test_parent_side_imports_no_framework():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
