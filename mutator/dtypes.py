"""The dtype family: tensors and dtype arguments take another dtype of
their framework (float16 and bfloat16 included).

A new dtype is drawn kind first (float, int, uint, bool, complex), then
within the kind, so that each kind is tried as often, whatever the number
of widths it has.
"""

from __future__ import annotations

import random

from miner.records import CallRecord, DType, TensorSpec, Value
from mutator.base import (
    MutationContext,
    Operator,
    TensorOperator,
    first_of,
    put_value,
    walk,
)
from mutator.space import CATEGORIES, dtype_kind, dtypes_of
from mutator.tensors import with_dtype

__all__ = ["OPERATORS", "AllTensorsDtype", "DtypeArgument", "TensorDtype", "TensorPrecision"]


def draw_dtype(framework: str, current: str, rng: random.Random) -> str | None:
    """Another dtype of the framework: a kind, then a width."""
    kinds = [k for k in CATEGORIES if [d for d in dtypes_of(framework, k) if d != current]]
    if not kinds:
        return None
    kind = rng.choice(kinds)
    return rng.choice([d for d in dtypes_of(framework, kind) if d != current])


class TensorDtype(TensorOperator):
    """One tensor gets a dtype of any kind."""

    name = "dtype.tensor"
    family = "dtype"

    def accepts(self, spec: TensorSpec) -> bool:
        return bool(dtypes_of(spec.framework))

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        new = draw_dtype(spec.framework, spec.dtype, rng)
        return None if new is None else with_dtype(spec, new)


class TensorPrecision(TensorOperator):
    """One tensor gets another width of its kind (float32 -> float16,
    bfloat16 or float64; int64 -> int8...)."""

    name = "dtype.precision"
    family = "dtype"

    def accepts(self, spec: TensorSpec) -> bool:
        return spec.dtype in dtypes_of(spec.framework)

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        same = [d for d in dtypes_of(spec.framework, dtype_kind(spec.dtype)) if d != spec.dtype]
        return with_dtype(spec, rng.choice(same)) if same else None


class AllTensorsDtype(Operator):
    """Every tensor sharing one tensor's dtype takes a new dtype together
    (binary operators usually want their inputs alike)."""

    name = "dtype.all_tensors"
    family = "dtype"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        specs = [(s, v) for s, v in walk(record) if isinstance(v, TensorSpec)]
        groups = sorted({(v.framework, v.dtype) for _, v in specs if dtypes_of(v.framework)})
        if not groups:
            return None
        framework, old = rng.choice(groups)
        new = draw_dtype(framework, old, rng)
        if new is None:
            return None
        out = record
        for slot, v in specs:
            assert isinstance(v, TensorSpec)
            if (v.framework, v.dtype) == (framework, old):
                out = put_value(out, slot, with_dtype(v, new))
        return out


class DtypeArgument(Operator):
    """A dtype argument (``dtype=torch.float32``) names another dtype."""

    name = "dtype.argument"
    family = "dtype"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        slots = [(s, v) for s, v in walk(record) if isinstance(v, DType) and dtypes_of(v.framework)]

        def attempt(item: tuple) -> CallRecord | None:
            slot, v = item
            new = draw_dtype(v.framework, v.name, rng)
            return None if new is None else put_value(record, slot, DType(v.framework, new))

        return first_of(rng, slots, attempt)


OPERATORS: tuple[Operator, ...] = (
    TensorDtype(), TensorPrecision(), AllTensorsDtype(), DtypeArgument(),
)
