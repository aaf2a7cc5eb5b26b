"""The shape family: size-0, size-1 and resized dimensions, 0-d tensors,
dimensions inserted and removed (up to rank :data:`~mutator.space.MAX_RANK`),
and pairs of tensors made broadcast-compatible, identical or deliberately
incompatible.

Only tensors whose shape is fully known are reshaped.  Layouts and Data
inits follow the new shape (:func:`mutator.tensors.with_shape`).
"""

from __future__ import annotations

import random

from miner.records import CallRecord, TensorSpec, Value
from mutator.base import (
    MutationContext,
    Operator,
    Slot,
    TensorOperator,
    first_of,
    put_value,
    walk,
)
from mutator.space import MAX_RANK
from mutator.tensors import known_shape, with_shape

__all__ = [
    "OPERATORS",
    "BroadcastPair",
    "HighRank",
    "IncompatiblePair",
    "InsertDim",
    "RemoveDim",
    "ResizeDim",
    "SameShape",
    "ToScalarShape",
    "UnitDim",
    "ZeroDim",
]

#: Sizes a new or resized dimension may take.
SIZES = (1, 2, 3, 4, 5, 7, 8, 16)


class _ShapeOperator(TensorOperator):
    """Rewrites one known shape with :meth:`new_shape`."""

    def accepts(self, spec: TensorSpec) -> bool:
        return known_shape(spec) is not None

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        raise NotImplementedError

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        shape = known_shape(spec)
        assert shape is not None
        new = self.new_shape(shape, rng)
        if new is None or new == shape or len(new) > max(MAX_RANK, len(shape)):
            return None
        return with_shape(spec, new)


class ZeroDim(_ShapeOperator):
    """One dimension becomes 0 (an empty tensor)."""

    name = "shape.zero_dim"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        dims = [i for i, d in enumerate(shape) if d != 0]
        if not dims:
            return None if shape else (0,)
        i = rng.choice(dims)
        return shape[:i] + (0,) + shape[i + 1 :]


class UnitDim(_ShapeOperator):
    """One dimension becomes 1."""

    name = "shape.unit_dim"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        dims = [i for i, d in enumerate(shape) if d != 1]
        if not dims:
            return None
        i = rng.choice(dims)
        return shape[:i] + (1,) + shape[i + 1 :]


class ToScalarShape(_ShapeOperator):
    """The tensor becomes 0-d."""

    name = "shape.scalar"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        return ()


class InsertDim(_ShapeOperator):
    """A dimension is inserted (size 1 or small)."""

    name = "shape.insert_dim"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        if len(shape) >= MAX_RANK:
            return None
        i = rng.randint(0, len(shape))
        return shape[:i] + (rng.choice(SIZES),) + shape[i:]


class RemoveDim(_ShapeOperator):
    """A dimension is removed."""

    name = "shape.remove_dim"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        if not shape:
            return None
        i = rng.randrange(len(shape))
        return shape[:i] + shape[i + 1 :]


class ResizeDim(_ShapeOperator):
    """A dimension grows, shrinks or takes a small size."""

    name = "shape.resize_dim"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        if not shape:
            return None
        i = rng.randrange(len(shape))
        d = shape[i]
        new = rng.choice([d * 2, d // 2, d + 1, max(d - 1, 0), rng.choice(SIZES)])
        return shape[:i] + (new,) + shape[i + 1 :]


class HighRank(_ShapeOperator):
    """Dimensions of size 1 to 3 are inserted until the rank is 4, 5 or 6
    (compilers tile and vectorise high ranks differently)."""

    name = "shape.high_rank"
    family = "shape"

    def new_shape(self, shape: tuple[int, ...], rng: random.Random) -> tuple[int, ...] | None:
        target = rng.choice([r for r in (4, 5, MAX_RANK) if r > len(shape)] or [0])
        if not target:
            return None
        out = list(shape)
        while len(out) < target:
            out.insert(rng.randint(0, len(out)), rng.choice((1, 2, 3)))
        return tuple(out)


# ---------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------


class _PairOperator(Operator):
    """Rewrites the shape of one tensor (``b``) relative to another's
    (``a``), both of known shape."""

    def pair_shape(
        self, a: tuple[int, ...], b: tuple[int, ...], rng: random.Random
    ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """New shapes for ``(a, b)``, or None."""
        raise NotImplementedError

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        specs = [
            (s, v) for s, v in walk(record)
            if isinstance(v, TensorSpec) and known_shape(v) is not None
        ]
        pairs = [(x, y) for x in specs for y in specs if x[0] != y[0]]

        def attempt(pair: tuple[tuple[Slot, Value], tuple[Slot, Value]]) -> CallRecord | None:
            (slot_a, a), (slot_b, b) = pair
            assert isinstance(a, TensorSpec) and isinstance(b, TensorSpec)
            shape_a, shape_b = known_shape(a), known_shape(b)
            assert shape_a is not None and shape_b is not None
            new = self.pair_shape(shape_a, shape_b, rng)
            if new is None:
                return None
            new_a, new_b = new
            if (new_a, new_b) == (shape_a, shape_b) or max(len(new_a), len(new_b)) > MAX_RANK:
                return None
            out = record
            if new_a != shape_a:
                out = put_value(out, slot_a, with_shape(a, new_a))
            if new_b != shape_b:
                out = put_value(out, slot_b, with_shape(b, new_b))
            return out

        return first_of(rng, pairs, attempt)


def broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether two shapes broadcast together (numpy rules)."""
    for x, y in zip(reversed(a), reversed(b)):
        if x != y and x != 1 and y != 1:
            return False
    return True


class BroadcastPair(_PairOperator):
    """``b`` becomes broadcastable to ``a``: a suffix of ``a``'s shape with
    some dimensions set to 1 (or ``a``'s with leading size-1 dims)."""

    name = "shape.broadcast_pair"
    family = "shape"

    def pair_shape(
        self, a: tuple[int, ...], b: tuple[int, ...], rng: random.Random
    ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        if rng.random() < 0.2 and len(a) < MAX_RANK:
            extra = rng.randint(1, MAX_RANK - len(a))
            new_b = (1,) * extra + a
        else:
            keep = rng.randint(0, len(a))
            new_b = tuple(1 if rng.random() < 0.5 else d for d in a[len(a) - keep :])
        return (a, new_b) if new_b != b else None


class SameShape(_PairOperator):
    """``b`` takes ``a``'s shape."""

    name = "shape.same_shape"
    family = "shape"

    def pair_shape(
        self, a: tuple[int, ...], b: tuple[int, ...], rng: random.Random
    ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        return (a, a) if a != b else None


class IncompatiblePair(_PairOperator):
    """``b`` takes ``a``'s shape with one dimension changed so that the two
    no longer broadcast (where every dim of ``a`` is 1, ``a`` gets a 2)."""

    name = "shape.incompatible_pair"
    family = "shape"

    def pair_shape(
        self, a: tuple[int, ...], b: tuple[int, ...], rng: random.Random
    ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        if not a:
            return None
        dims = [i for i, d in enumerate(a) if d != 1]
        if dims:
            i = rng.choice(dims)
            new_a = a
        else:
            i = rng.randrange(len(a))
            new_a = a[:i] + (2,) + a[i + 1 :]
        d = new_a[i]
        other = d + rng.choice((1, 2)) if d else 2
        new_b = new_a[:i] + (other,) + new_a[i + 1 :]
        assert not broadcasts(new_a, new_b)
        return new_a, new_b


OPERATORS: tuple[Operator, ...] = (
    ZeroDim(), UnitDim(), ToScalarShape(), InsertDim(), RemoveDim(), ResizeDim(), HighRank(),
    BroadcastPair(), SameShape(), IncompatiblePair(),
)
