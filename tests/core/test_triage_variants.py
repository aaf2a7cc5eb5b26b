"""Record rewrites for triage (pinned, widened, contiguous) and the shrink
passes' proposals, on plain data: no framework is imported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from miner.records import (
    CallKind,
    CallRecord,
    Data,
    Dict,
    Layout,
    LayoutKind,
    Literal,
    Normal,
    Seq,
    Special,
    TensorSpec,
    iter_values,
)
from runner import materialize
from triage.shrink import candidates, size
from triage.variants import concrete, contiguous, widened

T = TensorSpec("torch", (3, 4), "float32", Normal(), Layout(LayoutKind.PERMUTED, (1, 0)))
REC = CallRecord("torch.cumsum", "torch", args=(T,), kwargs=(("dim", Literal(1)),))


def _logical(record, seed):
    drawn = materialize.draw((record.args, record.kwargs), seed)
    return [t.logical() for t in drawn.tensors()]


def test_concrete_pins_the_drawn_values_and_keeps_the_layout():
    pinned = concrete(REC, 5)
    (spec,) = pinned.args
    assert isinstance(spec.init, Data) and spec.layout == T.layout
    # Any seed now gives the values seed 5 drew.
    np.testing.assert_array_equal(_logical(pinned, 0)[0], _logical(REC, 5)[0])


def test_widened_keeps_values_exactly_in_float64():
    wide = widened(REC, 5)
    (spec,) = wide.args
    assert spec.dtype == "float64" and spec.layout == T.layout
    (got,), (want,) = _logical(wide, 0), _logical(REC, 5)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want.astype(np.float64))
    assert widened(CallRecord("torch.abs", "torch", args=(
        TensorSpec("torch", (2,), "int64"),)), 0) is None  # nothing to widen


def test_contiguous_is_a_dense_copy_of_the_same_logical_values():
    dense = contiguous(REC, 5)
    (spec,) = dense.args
    assert spec.layout.kind is LayoutKind.CONTIGUOUS and spec.shape == T.shape
    np.testing.assert_array_equal(_logical(dense, 0)[0], _logical(REC, 5)[0])
    assert contiguous(dense, 0) is None  # already dense


def test_shrink_proposals_are_strictly_smaller_and_drawable():
    rec = CallRecord("torch.cumsum", "torch", args=(
        TensorSpec("torch", (6, 5), "float64", Special(("nan", "inf"), 0.3),
                   Layout(LayoutKind.PERMUTED, (1, 0))),), kwargs=(("dim", Literal(1)),))
    props = candidates(rec)
    assert props and all(size(p) < size(rec) for p in props)
    assert len({p.id for p in props}) == len(props)
    for p in props:
        materialize.draw((p.args, p.kwargs), 0)  # well-formed: no MaterializeError
    kinds = {(p.args[0].layout.kind, p.args[0].dtype, p.args[0].shape, len(p.kwargs))
             for p in props}
    assert (LayoutKind.PERMUTED, "float64", (6, 5), 0) in kinds  # kwarg dropped
    assert (LayoutKind.CONTIGUOUS, "float64", (6, 5), 1) in kinds  # made dense
    assert (LayoutKind.PERMUTED, "float32", (6, 5), 1) in kinds  # narrowed
    assert any(k[2] == (1, 5) for k in kinds)  # a dim to 1
    # A special-value mix loses one value at a time, so the one that matters stays.
    mixes = {p.args[0].init.values for p in props if isinstance(p.args[0].init, Special)}
    assert {("nan",), ("inf",)} <= mixes


def test_widened_covers_every_narrow_float_and_complex_of_the_table():
    for dtype, wide in (("bfloat16", "float64"), ("float8_e4m3fn", "float64"),
                        ("float16", "float64"), ("complex64", "complex128")):
        rec = CallRecord("torch.abs", "torch", args=(TensorSpec("torch", (3,), dtype),))
        (spec,) = widened(rec, 1).args
        assert spec.dtype == wide
        (got,), (want,) = _logical(widened(rec, 1), 0), _logical(rec, 1)
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def test_shrink_reaches_tensors_everywhere_and_counts_every_dtype_width():
    t = TensorSpec("torch", (2,), "float64")
    rec = CallRecord("torch.nn.Linear", "torch", kind=CallKind.MODULE,
                     init_args=(Literal(2),),
                     args=(Seq("list", (t,)),), kwargs=(("x", Dict(((Literal("k"), t),))),))
    narrowed = [p for p in candidates(rec)
                if [s.dtype for v in p.values() for s in iter_values(v)
                    if isinstance(s, TensorSpec)].count("float32") == 1]
    assert len(narrowed) == 2  # the list item and the dict value, one at a time
    # Narrow dtypes the old width table lacked still order by their width.
    small = CallRecord("torch.abs", "torch", args=(TensorSpec("torch", (2,), "float8_e5m2"),))
    wide = CallRecord("torch.abs", "torch", args=(TensorSpec("torch", (2,), "uint16"),))
    assert size(small) < size(wide)


def test_the_rewrites_import_no_framework():
    code = ("import sys, triage.variants, triage.shrink, triage.attribute; "
            "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
