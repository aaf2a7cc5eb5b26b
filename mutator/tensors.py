"""Rewriting a tensor spec while keeping it consistent: a new shape, layout
or dtype carries its init and layout along.

Note [Keeping inits consistent]
    A :class:`~miner.records.Data` init holds exactly one value per element
    of the *base* (runner.materialize Note [An init fills the base]).  When
    a shape or layout change alters the base size, the data is resized:
    repeated cyclically or cut, which keeps its values (an index tensor
    stays in range); empty data becomes the dtype's default random init.
    When a dtype becomes real, complex Fill/Data values keep their real
    part.  A layout that no longer fits the new rank becomes contiguous; an
    EXPANDED layout keeps the dims still in range.
"""

from __future__ import annotations

import math

from miner.records import (
    CONTIGUOUS,
    Data,
    Fill,
    Init,
    IntRange,
    Layout,
    LayoutKind,
    Normal,
    Scalar,
    TensorSpec,
)
from mutator.space import base_shape, dtype_kind

__all__ = [
    "default_init",
    "fit_init",
    "known_shape",
    "with_dtype",
    "with_layout",
    "with_shape",
]


def known_shape(spec: TensorSpec) -> tuple[int, ...] | None:
    """The shape when every dimension is known."""
    if None in spec.shape:
        return None
    return tuple(spec.shape)  # type: ignore[arg-type]


def default_init(dtype: str) -> Init:
    """The init a tensor of ``dtype`` gets when nothing else fits."""
    kind = dtype_kind(dtype)
    if kind in ("float", "complex"):
        return Normal()
    return IntRange(0, 2) if kind == "bool" else IntRange(0, 10)


def _real(v: Scalar) -> Scalar:
    return v.real if isinstance(v, complex) else v


def fit_init(init: Init, dtype: str, base: tuple[int | None, ...]) -> Init:
    """``init`` adapted to ``dtype`` and a base of shape ``base`` (see
    Note [Keeping inits consistent])."""
    real = dtype_kind(dtype) != "complex"
    if isinstance(init, Fill):
        return Fill(_real(init.value)) if real else init
    if isinstance(init, Data):
        values = tuple(_real(v) for v in init.values) if real else init.values
        if None in base:
            return Data(values)
        n = math.prod(base)  # type: ignore[arg-type]
        if len(values) == n:
            return Data(values)
        if n == 0:
            return Data(())
        if not values:
            return default_init(dtype)
        return Data(tuple(values[i % len(values)] for i in range(n)))
    return init


def _fit_layout(layout: Layout, rank: int) -> Layout:
    kind = layout.kind
    if kind in (LayoutKind.PERMUTED, LayoutKind.STRIDED):
        return layout if len(layout.dims) == rank else CONTIGUOUS
    if kind is LayoutKind.EXPANDED:
        dims = tuple(d for d in layout.dims if d < rank)
        return Layout(kind, dims) if dims else CONTIGUOUS
    if kind is LayoutKind.CHANNELS_LAST:
        return layout if rank in (4, 5) else CONTIGUOUS
    return layout


def with_shape(spec: TensorSpec, shape: tuple[int, ...]) -> TensorSpec:
    """``spec`` with a new logical shape; layout and init follow."""
    layout = _fit_layout(spec.layout, len(shape))
    init = fit_init(spec.init, spec.dtype, base_shape(shape, layout))
    return TensorSpec(spec.framework, shape, spec.dtype, init, layout, spec.requires_grad)


def with_layout(spec: TensorSpec, layout: Layout) -> TensorSpec:
    """``spec`` with a new layout (which must fit its rank); a Data init is
    resized to the new base."""
    init = fit_init(spec.init, spec.dtype, base_shape(spec.shape, layout))
    return TensorSpec(spec.framework, spec.shape, spec.dtype, init, layout, spec.requires_grad)


def with_dtype(spec: TensorSpec, dtype: str) -> TensorSpec:
    """``spec`` with a new dtype; complex values become real for a real
    dtype."""
    init = fit_init(spec.init, dtype, base_shape(spec.shape, spec.layout))
    return TensorSpec(spec.framework, spec.shape, dtype, init, spec.layout, spec.requires_grad)
