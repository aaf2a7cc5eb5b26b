"""The layout family: the same logical tensor in another memory
arrangement (permuted, strided, expanded, channels-last, contiguous).

Only torch tensors are touched: TensorFlow has no memory layouts (the
runner builds a TF tensor from the logical values), so a layout mutant of
a TF record would be a duplicate under another name.  A Data init follows
its base (:func:`mutator.tensors.with_layout`).
"""

from __future__ import annotations

import random

from miner.records import CallRecord, Layout, LayoutKind, TensorSpec, Value
from mutator.base import MutationContext, Operator, TensorOperator
from mutator.tensors import known_shape, with_layout

__all__ = [
    "OPERATORS",
    "ChannelsLast",
    "Contiguous",
    "Expanded",
    "Permuted",
    "Strided",
]


class _LayoutOperator(TensorOperator):
    """Gives one torch tensor of known shape the layout :meth:`new_layout`
    draws for its rank."""

    min_rank = 1

    def accepts(self, spec: TensorSpec) -> bool:
        shape = known_shape(spec)
        return spec.framework == "torch" and shape is not None and len(shape) >= self.min_rank

    def new_layout(self, shape: tuple[int, ...], rng: random.Random) -> Layout | None:
        raise NotImplementedError

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        shape = known_shape(spec)
        assert shape is not None
        layout = self.new_layout(shape, rng)
        if layout is None or layout == spec.layout:
            return None
        return with_layout(spec, layout)


class Permuted(_LayoutOperator):
    """A transposed view: a random non-identity permutation."""

    name = "layout.permuted"
    family = "layout"
    min_rank = 2

    def new_layout(self, shape: tuple[int, ...], rng: random.Random) -> Layout | None:
        perm = list(range(len(shape)))
        if len(shape) == 2 or rng.random() < 0.3:
            i, j = rng.sample(range(len(shape)), 2)  # a transpose of two dims
            perm[i], perm[j] = perm[j], perm[i]
        else:
            while perm == sorted(perm):
                rng.shuffle(perm)
        return Layout(LayoutKind.PERMUTED, tuple(perm))


class Strided(_LayoutOperator):
    """A strided slice: steps of 2 or 3 on some dimensions."""

    name = "layout.strided"
    family = "layout"

    def new_layout(self, shape: tuple[int, ...], rng: random.Random) -> Layout | None:
        n = len(shape)
        chosen = rng.sample(range(n), rng.randint(1, n))
        steps = tuple(rng.choice((2, 3)) if i in chosen else 1 for i in range(n))
        return Layout(LayoutKind.STRIDED, steps)


class Expanded(_LayoutOperator):
    """A broadcast view: stride 0 in some dimensions (the base has size 1
    there)."""

    name = "layout.expanded"
    family = "layout"

    def new_layout(self, shape: tuple[int, ...], rng: random.Random) -> Layout | None:
        # Expanding a size-1 dimension changes nothing: prefer the others.
        dims = [i for i, d in enumerate(shape) if d != 1] or list(range(len(shape)))
        chosen = sorted(rng.sample(dims, rng.randint(1, len(dims))))
        return Layout(LayoutKind.EXPANDED, tuple(chosen))


class ChannelsLast(_LayoutOperator):
    """Channels-last memory format (rank 4 or 5 only)."""

    name = "layout.channels_last"
    family = "layout"
    min_rank = 4

    def new_layout(self, shape: tuple[int, ...], rng: random.Random) -> Layout | None:
        return Layout(LayoutKind.CHANNELS_LAST) if len(shape) in (4, 5) else None


class Contiguous(_LayoutOperator):
    """Back to a plain contiguous tensor."""

    name = "layout.contiguous"
    family = "layout"

    def accepts(self, spec: TensorSpec) -> bool:
        return known_shape(spec) is not None and spec.layout.kind is not LayoutKind.CONTIGUOUS

    def new_layout(self, shape: tuple[int, ...], rng: random.Random) -> Layout | None:
        return Layout()


OPERATORS: tuple[Operator, ...] = (Permuted(), Strided(), Expanded(), ChannelsLast(), Contiguous())
