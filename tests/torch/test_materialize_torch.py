"""Building torch call arguments from drawn inputs (:func:`runner.materialize.to_torch`)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch

from miner.records import (
    ApiRef,
    Arange,
    Constructed,
    Data,
    Dict,
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
from runner.materialize import MaterializeError, draw, resolve_api, to_torch

ROOT = Path(__file__).resolve().parents[2]


def spec(shape, dtype="float32", init=None, layout=None, fw="torch", grad=False) -> TensorSpec:
    return TensorSpec(fw, tuple(shape), dtype, init if init is not None else Normal(),
                      layout if layout is not None else Layout(), grad)


def build(*values, seed: int = 0, **kw):
    drawn = draw((values, tuple(kw.items())), seed)
    args, kwargs = to_torch(drawn.args, drawn.kwargs)
    return drawn, args, kwargs


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


# -- layouts are real ----------------------------------------------------------


def test_contiguous_and_zero_dim():
    drawn, (a, b), _ = build(spec((2, 3)), spec((), "int64", IntRange()))
    ta, tb = drawn.tensors()
    assert a.is_contiguous() and a.dtype == torch.float32 and a.shape == (2, 3)
    np.testing.assert_array_equal(as_numpy(a), ta.logical())
    assert b.dim() == 0 and b.shape == () and b.item() == tb.base[()]


def test_permuted_is_a_non_contiguous_view():
    lay = Layout(LayoutKind.PERMUTED, (2, 0, 1))
    drawn, (t,), _ = build(spec((4, 2, 3), "int64", Arange(), lay))
    assert t.shape == (4, 2, 3) and not t.is_contiguous()
    assert t.stride() == (1, 12, 4)
    np.testing.assert_array_equal(as_numpy(t), next(drawn.tensors()).logical())
    np.testing.assert_array_equal(as_numpy(t), np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1))


def test_strided_is_a_step_slice():
    lay = Layout(LayoutKind.STRIDED, (2, 3))
    drawn, (t,), _ = build(spec((2, 3), "float64", Arange(), lay))
    assert next(drawn.tensors()).base.shape == (4, 9)
    assert t.shape == (2, 3) and not t.is_contiguous()
    assert t.stride() == (2 * 9, 3)
    np.testing.assert_array_equal(as_numpy(t), np.arange(36.0).reshape(4, 9)[::2, ::3])


def test_expanded_has_stride_zero():
    lay = Layout(LayoutKind.EXPANDED, (0, 2))
    drawn, (t,), _ = build(spec((3, 4, 2), "float32", Normal(), lay))
    assert t.shape == (3, 4, 2) and t.stride()[0] == 0 and t.stride()[2] == 0
    assert t.stride()[1] != 0
    np.testing.assert_array_equal(as_numpy(t), next(drawn.tensors()).logical())


@pytest.mark.parametrize("shape, fmt", [((2, 3, 4, 5), torch.channels_last),
                                        ((2, 3, 2, 4, 5), torch.channels_last_3d)])
def test_channels_last(shape, fmt):
    drawn, (t,), _ = build(spec(shape, "float32", Normal(), Layout(LayoutKind.CHANNELS_LAST)))
    assert t.shape == shape and not t.is_contiguous()
    assert t.is_contiguous(memory_format=fmt) and t.stride()[1] == 1
    np.testing.assert_array_equal(as_numpy(t), next(drawn.tensors()).logical())


# -- no aliasing ---------------------------------------------------------------


@pytest.mark.parametrize("layout", [Layout(), Layout(LayoutKind.PERMUTED, (1, 0)),
                                    Layout(LayoutKind.STRIDED, (1, 2))])
def test_in_place_mutation_does_not_reach_other_modes(layout):
    drawn = draw(((spec((3, 2), "float32", Normal(), layout),), ()), 1)
    (dt,) = drawn.tensors()
    before = dt.base.copy()
    (first,), _ = to_torch(drawn.args, drawn.kwargs)
    first.add_(100.0)
    (second,), _ = to_torch(drawn.args, drawn.kwargs)
    np.testing.assert_array_equal(dt.base, before)
    np.testing.assert_array_equal(as_numpy(second), dt.logical())
    assert first.data_ptr() != second.data_ptr()


def test_numpy_specs_become_fresh_arrays():
    drawn = draw(((spec((2, 3), "float32", Normal(), Layout(LayoutKind.PERMUTED, (1, 0)),
                        fw="numpy"),), ()), 2)
    (dt,) = drawn.tensors()
    (a,), _ = to_torch(drawn.args, drawn.kwargs)
    assert isinstance(a, np.ndarray) and a.shape == (2, 3) and a.flags.writeable
    assert not np.shares_memory(a, dt.base)
    a += 1
    (b,), _ = to_torch(drawn.args, drawn.kwargs)
    np.testing.assert_array_equal(b, dt.logical())
    assert to_torch(draw(((spec((), "int64", Fill(3), fw="numpy"),), ()), 0).args, ())[0][0] \
        .shape == ()


# -- dtypes --------------------------------------------------------------------

SPECIAL = (0.0, -0.0, 1 / 3, math.pi, 1e-40, 3e38, math.inf, -math.inf, math.nan)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"])
def test_low_precision_is_bit_exact(dtype):
    drawn, (t,), _ = build(spec((len(SPECIAL),), dtype, Data(SPECIAL)))
    (dt,) = drawn.tensors()
    assert t.dtype == getattr(torch, dtype)
    bits = t.view(torch.int16 if t.element_size() == 2 else torch.int8).numpy()
    np.testing.assert_array_equal(bits, dt.base.view(bits.dtype))


def test_bfloat16_random_and_zero_dim():
    drawn, (t, s), _ = build(spec((64,), "bfloat16"), spec((), "bfloat16", Fill(1 / 3)))
    dt, _ = drawn.tensors()
    np.testing.assert_array_equal(t.view(torch.int16).numpy(), dt.base.view(np.int16))
    assert s.shape == () and s.item() == float(ml_dtypes.bfloat16(1 / 3))


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "uint16", "int32",
                                   "uint32", "int64", "uint64", "float32", "float64",
                                   "complex64", "complex128", "complex32"])
def test_dtype_mapping(dtype):
    init = Fill(1 + 2j) if "complex" in dtype else IntRange(0, 2)
    drawn, (t,), _ = build(spec((2, 2), dtype, init))
    assert t.dtype == getattr(torch, dtype) and t.shape == (2, 2)
    if dtype != "complex32":
        np.testing.assert_array_equal(t.numpy(), next(drawn.tensors()).base)


def test_dtypes_torch_lacks_are_invalid():
    for dtype in ("int4", "float8_e4m3", "float4_e2m1fn"):
        drawn = draw(((spec((2,), dtype, Fill(1)),), ()), 0)
        with pytest.raises(MaterializeError) as info:
            to_torch(drawn.args, drawn.kwargs)
        assert info.value.reason == "invalid"


def test_requires_grad_on_float_leaves_only():
    perm = Layout(LayoutKind.PERMUTED, (1, 0))
    _, (f, p, i), _ = build(spec((2,), grad=True), spec((2, 3), "float64", Normal(), perm, grad=True),
                            spec((2,), "int64", IntRange(), grad=True))
    assert f.requires_grad and f.is_leaf
    assert p.requires_grad and p.is_leaf and not p.is_contiguous()
    assert not i.requires_grad
    (p * 2).sum().backward()
    assert torch.equal(p.grad, torch.full((2, 3), 2.0, dtype=torch.float64))
    _, (g,), _ = build(spec((2,)))
    assert not g.requires_grad


# -- other values --------------------------------------------------------------


def test_literals_sequences_dicts_dtypes():
    _, args, kwargs = build(
        Literal(2), Literal(None), Seq("list", (Literal(1), Literal(2.5))),
        Seq("tuple", (Literal(True),)), Dict(((Literal("a"), DType("torch", "int64")),)),
        dtype=DType("torch", "float32"), np_dtype=DType("numpy", "float32"),
        bf=DType("numpy", "bfloat16"), py=DType("python", "float"),
    )
    assert args == (2, None, [1, 2.5], (True,), {"a": torch.int64})
    assert kwargs == {"dtype": torch.float32, "np_dtype": np.float32,
                      "bf": ml_dtypes.bfloat16, "py": float}


def test_api_refs():
    _, args, _ = build(ApiRef("torch.channels_last"), ApiRef("torch.relu"),
                       ApiRef("torch.Tensor.sum"), ApiRef("torch.nn.functional.gelu"))
    assert args == (torch.channels_last, torch.relu, torch.Tensor.sum,
                    torch.nn.functional.gelu)
    assert resolve_api("torch.nn.Linear") is torch.nn.Linear
    for bad in (ApiRef("torch.no_such_api"), ApiRef("tf.math.abs"),
                DType("tensorflow", "int32"), DType("torch", "nonesuch"),
                spec((2,), fw="tensorflow")):
        drawn = draw(((bad,), ()), 0)
        with pytest.raises(MaterializeError) as info:
            to_torch(drawn.args, drawn.kwargs)
        assert info.value.reason == "invalid"


def test_constructed_objects_are_fresh_and_seeded():
    lin = Constructed("torch.nn.Linear", (Literal(2), Literal(3)))
    drawn = draw(((lin, Constructed("torch.abs", (spec((2,), "float32", Fill(-1.5)),))), ()), 0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    (m1, a1), _ = to_torch(drawn.args, drawn.kwargs)
    assert torch.equal(torch.rand(3), expected)  # the global RNG is restored
    (m2, _), _ = to_torch(drawn.args, drawn.kwargs)
    assert isinstance(m1, torch.nn.Linear) and (m1.in_features, m1.out_features) == (2, 3)
    assert m1 is not m2 and torch.equal(m1.weight, m2.weight)
    assert m1.weight.data_ptr() != m2.weight.data_ptr()
    assert torch.equal(a1, torch.tensor([1.5, 1.5]))
    (m3, _), _ = to_torch(drawn.args, drawn.kwargs, seed=1)
    assert not torch.equal(m1.weight, m3.weight)


def test_a_tensor_a_constructor_returns_goes_to_the_modes_device():
    # "meta" stands in for an accelerator on a machine without one: the
    # drawn tensor and the constructed one must both land there.
    made = Constructed("torch.FloatTensor", (Seq("list", (Literal(0.5), Literal(2.0))),))
    drawn = draw(((made, spec((2,), "float32")), ()), 0)
    (c, t), _ = to_torch(drawn.args, drawn.kwargs, device="meta")
    assert c.device.type == "meta" and t.device.type == "meta"
    (c, _), _ = to_torch(drawn.args, drawn.kwargs)
    assert c.device.type == "cpu" and torch.equal(c, torch.tensor([0.5, 2.0]))


def test_constructor_failure_is_invalid():
    drawn = draw(((Constructed("torch.nn.Linear", (Literal(-1), Literal(3))),), ()), 0)
    with pytest.raises(MaterializeError) as info:
        to_torch(drawn.args, drawn.kwargs)
    assert info.value.reason == "invalid" and "torch.nn.Linear" in str(info.value)
    assert info.value.__cause__ is not None


PROBE = """
import sys
from miner.records import DType, TensorSpec
from runner.materialize import draw, to_torch, MaterializeError
d = draw(((TensorSpec("torch", (2,), "bfloat16"),), ()), 0)
to_torch(d.args, d.kwargs)
for v in (DType("tensorflow", "int32"),):
    try:
        to_torch((v,), ())
    except MaterializeError:
        pass
print(sorted(x for x in ("tensorflow", "keras") if x in sys.modules))
"""


def test_torch_side_never_imports_tensorflow():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
