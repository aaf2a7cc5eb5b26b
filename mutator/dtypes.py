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

__all__ = ["OPERATORS", "AllTensorsDtype", "AllowedDtype", "DtypeArgument", "TensorDtype",
           "TensorPrecision"]


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


def _typed_tensors(record: CallRecord, schema: object) -> list[tuple[object, TensorSpec, tuple]]:
    """Top-level tensor arguments with the dtypes their parameter allows
    (in the first overload that names it), when the schema says."""
    from miner.records import CallKind, Slot

    overloads = getattr(schema, "overloads", ()) or ()
    out = []
    offset = 1 if record.kind is CallKind.METHOD else 0
    for i, v in enumerate(record.args):
        if isinstance(v, TensorSpec) and i >= offset:
            for o in overloads:
                a = o.positional(i - offset)
                if a is not None and a.dtypes:
                    out.append((Slot("args", i), v, a.dtypes))
                    break
    for i, (name, v) in enumerate(record.kwargs):
        if isinstance(v, TensorSpec):
            for o in overloads:
                a = o.arg(name)
                if a is not None and a.dtypes:
                    out.append((Slot("kwargs", i), v, a.dtypes))
                    break
    return out


class AllowedDtype(Operator):
    """The tensors of one of the op's type attributes (those whose
    parameters allow the same dtypes, from the schema's OpDef) take
    together a dtype the op allows, or, one time in four, one just outside
    the set (a dtype of an allowed kind the op leaves out, else any other):
    the edge of the op's domain, where kernels and compilers disagree on
    what to accept."""

    name = "dtype.allowed"
    family = "dtype"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        typed = [t for t in _typed_tensors(record, ctx.schema(record))
                 if dtypes_of(t[1].framework)]
        if not typed:
            return None
        _, first, allowed = rng.choice(typed)
        mutable = set(dtypes_of(first.framework))
        inside = [d for d in allowed if d in mutable and d != first.dtype]
        kinds = {dtype_kind(d) for d in allowed if d in mutable}
        outside = [d for d in sorted(mutable - set(allowed)) if dtype_kind(d) in kinds] or \
            sorted(mutable - set(allowed))
        pool = outside if (rng.random() < 0.25 and outside) or not inside else inside
        if not pool:
            return None
        new = rng.choice(pool)
        out = record
        for slot, v, dts in typed:
            if dts == allowed:
                out = put_value(out, slot, with_dtype(v, new))
        return out


OPERATORS: tuple[Operator, ...] = (
    TensorDtype(), TensorPrecision(), AllTensorsDtype(), DtypeArgument(), AllowedDtype(),
)
