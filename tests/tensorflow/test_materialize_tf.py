"""Building TensorFlow call arguments from drawn inputs (:func:`runner.materialize.to_tf`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from miner.records import (
    ApiRef,
    Arange,
    Constructed,
    Data,
    DType,
    Fill,
    IntRange,
    Layout,
    LayoutKind,
    Literal,
    Normal,
    Seq,
    TensorSpec,
)
from runner.materialize import MaterializeError, draw, resolve_api, to_tf


def spec(shape, dtype="float32", init=None, layout=None, fw="tensorflow",
         grad=False) -> TensorSpec:
    return TensorSpec(fw, tuple(shape), dtype, init if init is not None else Normal(),
                      layout if layout is not None else Layout(), grad)


def build(*values, seed: int = 0, **kw):
    drawn = draw((values, tuple(kw.items())), seed)
    args, kwargs = to_tf(drawn.args, drawn.kwargs)
    return drawn, args, kwargs


@pytest.mark.parametrize(
    "dtype, init",
    [("bfloat16", Data((0.0, -0.0, 1 / 3, math.inf, math.nan, 3e38))),
     ("uint8", IntRange(-3, 300)), ("complex64", Normal()), ("bool", IntRange()),
     ("int32", IntRange(-5, 5)), ("float16", Normal()), ("float64", Normal()),
     ("int4", IntRange(-8, 8)), ("float8_e4m3fn", Normal())],
)
def test_dtype_mapping_is_exact(dtype, init):
    drawn, (t,), _ = build(spec((6,), dtype, init))
    (dt,) = drawn.tensors()
    assert isinstance(t, tf.Tensor) and t.dtype == tf.as_dtype(dtype) and t.shape == (6,)
    out = t.numpy()
    assert out.dtype == dt.base.dtype
    assert out.tobytes() == dt.base.tobytes()  # bit-exact, NaN and -0.0 included


def test_zero_dim_stays_zero_dim():
    _, (a, b), _ = build(spec((), "float32"), spec((), "bfloat16", Fill(2.5)))
    assert a.shape == () and a.shape.rank == 0 and b.shape == ()
    assert float(b.numpy()) == 2.5


@pytest.mark.parametrize(
    "shape, layout",
    [((4, 2, 3), Layout(LayoutKind.PERMUTED, (2, 0, 1))),
     ((2, 3), Layout(LayoutKind.STRIDED, (2, 3))),
     ((3, 4, 2), Layout(LayoutKind.EXPANDED, (0, 2))),
     ((1, 3, 2, 2), Layout(LayoutKind.CHANNELS_LAST))],
)
def test_layouts_give_the_logical_values(shape, layout):
    drawn, (t,), _ = build(spec(shape, "int64", Arange(), layout))
    assert t.shape == shape
    np.testing.assert_array_equal(t.numpy(), next(drawn.tensors()).logical())


def test_requires_grad_is_ignored():
    _, (t,), _ = build(spec((2,), grad=True))
    assert isinstance(t, tf.Tensor)


def test_each_call_builds_its_own_tensors_and_arrays():
    drawn = draw(((spec((2, 3)), spec((2, 3), fw="numpy")), ()), 3)
    dt, dn = drawn.tensors()
    before = dt.base.copy()
    (t1, n1), _ = to_tf(drawn.args, drawn.kwargs)
    (t2, n2), _ = to_tf(drawn.args, drawn.kwargs)
    assert t1 is not t2
    assert isinstance(n1, np.ndarray) and not np.shares_memory(n1, dn.base)
    n1 += 1.0
    np.testing.assert_array_equal(n2, dn.logical())
    np.testing.assert_array_equal(t2.numpy(), before)
    np.testing.assert_array_equal(dt.base, before)


def test_dtypes_api_refs_and_constructed():
    _, args, kwargs = build(
        DType("tensorflow", "int32"), DType("tensorflow", "bfloat16"),
        ApiRef("tf.math.abs"), ApiRef("tf.keras.layers.Dense"),
        Constructed("tf.ones", (Seq("list", (Literal(2),)),)),
        np_dtype=DType("numpy", "uint8"), py=DType("python", "int"),
        layer=Constructed("tf.keras.layers.Dense", (Literal(3),), (("use_bias", Literal(False)),)),
    )
    i32, bf16, absf, dense, ones = args
    assert (i32, bf16) == (tf.int32, tf.bfloat16)
    assert absf is tf.math.abs and dense is tf.keras.layers.Dense
    assert isinstance(ones, tf.Tensor) and ones.shape == (2,) and ones.dtype == tf.float32
    assert kwargs["np_dtype"] is np.uint8 and kwargs["py"] is int
    assert isinstance(kwargs["layer"], tf.keras.layers.Dense) and kwargs["layer"].units == 3
    assert resolve_api("tensorflow.math.abs") is tf.math.abs
    assert resolve_api("numpy.float32", frameworks={"numpy"}) is np.float32


def test_constructed_with_a_drawn_tensor():
    drawn = draw(((Constructed("tf.math.negative", (spec((2,), "float32", Fill(1.5)),)),), ()),
                 0)
    (t,), _ = to_tf(drawn.args, drawn.kwargs)
    np.testing.assert_array_equal(t.numpy(), [-1.5, -1.5])


@pytest.mark.parametrize(
    "bad",
    [ApiRef("tf.no_such_api"), ApiRef("torch.relu"), DType("torch", "float32"),
     DType("tensorflow", "nonesuch"), spec((2,), fw="torch"), spec((2,), "complex32", Fill(1j)),
     Constructed("tf.ones", (Literal("not a shape"),))],
)
def test_invalid_in_a_tf_worker(bad):
    drawn = draw(((bad,), ()), 0)
    with pytest.raises(MaterializeError) as info:
        to_tf(drawn.args, drawn.kwargs)
    assert info.value.reason == "invalid"


def test_device_scope():
    drawn = draw(((spec((2,)),), ()), 0)
    (t,), _ = to_tf(drawn.args, drawn.kwargs, device="/CPU:0")
    assert "CPU" in t.device and t.dtype == tf.float32
    assert t.numpy().dtype == np.dtype(np.float32)
