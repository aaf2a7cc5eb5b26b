"""Validation of mutants: what every operator's output must satisfy.

:func:`check_record` answers, without drawing anything, whether
:func:`runner.materialize.draw` would build a record's tensors (once its
unknowns are resolved) and whether the record stays inside the mutation
space: dtypes of the framework's list (:data:`mutator.space.DTYPES`), inits
that fit their dtype and base size, layouts that fit their rank, and at
most ``max_elements`` input elements.

A tensor spec or dtype that the parent record already had is exempt: a
mined seed may carry what mutations never produce (a float8 dtype, a
rank-8 tensor), and a mutation that leaves it alone must not be rejected
for it.
"""

from __future__ import annotations

import math
from numbers import Real

from infra.dtypes import dtype_category, storage_dtype
from miner.records import (
    Arange,
    CallKind,
    CallRecord,
    Data,
    DType,
    Fill,
    IntRange,
    LayoutKind,
    Linspace,
    Normal,
    TensorSpec,
    Uniform,
    iter_values,
)
from mutator.space import DTYPES, base_shape, record_elements, tensor_specs

__all__ = ["check_record", "check_spec"]

#: IntRange bounds must fit the int64 draw (``high`` is exclusive).
_INT64_LOW, _INT64_HIGH = -(2**63), 2**63


def _number_ok(v: object, cat: str) -> bool:
    """Whether a Fill/Data scalar can be cast to a dtype of category ``cat``."""
    if isinstance(v, int):  # bool included
        # Integers saturate in integer dtypes, but one beside a float goes
        # through float64 first.
        return abs(v) < 2**1023
    if isinstance(v, float):
        return True
    if isinstance(v, complex):
        return cat == "complex"
    return False


def _finite(*xs: object) -> bool:
    return all(isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x) for x in xs)


def check_spec(
    spec: TensorSpec, extra_dtypes: frozenset[tuple[str, str]] = frozenset()
) -> str | None:
    """Why ``spec`` is not a well-formed mutant tensor, or None."""
    fw, dtype = spec.framework, spec.dtype
    if fw not in DTYPES:
        return f"unknown framework {fw!r}"
    if dtype not in DTYPES[fw] and (fw, dtype) not in extra_dtypes:
        return f"{fw} dtype {dtype!r} is outside the mutation space"
    try:
        cat = dtype_category(dtype)
        storage_dtype(dtype)
    except ValueError:
        return f"unknown dtype {dtype!r}"
    lay = spec.layout
    if lay.kind is LayoutKind.EXPANDED and len(set(lay.dims)) != len(lay.dims):
        return f"expanded dims repeat: {lay.dims}"
    init = spec.init
    if isinstance(init, Data):
        bshape = base_shape(spec.shape, lay)
        if None not in bshape and len(init.values) != math.prod(bshape):  # type: ignore[arg-type]
            return f"{len(init.values)} data values for base shape {bshape}"
        if not all(_number_ok(v, cat) for v in init.values):
            return f"data values do not fit {dtype}"
    elif isinstance(init, Fill):
        if not _number_ok(init.value, cat):
            return f"fill value {init.value!r} does not fit {dtype}"
    elif isinstance(init, IntRange):
        if not (_INT64_LOW <= init.low < init.high <= _INT64_HIGH):
            return f"bad int range [{init.low}, {init.high})"
    elif isinstance(init, Uniform):
        if not (_finite(init.low, init.high) and math.isfinite(init.high - init.low)):
            return f"bad uniform range [{init.low}, {init.high})"
    elif isinstance(init, Normal):
        if not (_finite(init.mean, init.std) and init.std >= 0):
            return f"bad normal({init.mean}, {init.std})"
    elif isinstance(init, (Arange, Linspace)):
        a, b = (init.start, init.step) if isinstance(init, Arange) else (init.start, init.end)
        if not _finite(a, b):
            return f"bad {type(init).__name__.lower()} parameters"
    return None


def check_record(
    record: CallRecord, max_elements: int, parent: CallRecord | None = None
) -> str | None:
    """Why ``record`` is not a well-formed mutant (of ``parent``), or None."""
    kept: set[TensorSpec] = set()
    extra: set[tuple[str, str]] = set()
    if parent is not None:
        kept = set(tensor_specs(parent))
        extra = {(s.framework, s.dtype) for s in kept}
        extra |= {
            (x.framework, x.name)
            for v in parent.values() for x in iter_values(v) if isinstance(x, DType)
        }
        if (
            parent.kind is CallKind.METHOD
            and isinstance(parent.args[0], TensorSpec)
            and (record.kind is not CallKind.METHOD or not isinstance(record.args[0], TensorSpec))
        ):
            return "a method's receiver must stay a tensor"
    frozen_extra = frozenset(extra)
    for spec in tensor_specs(record):
        if spec in kept:
            continue
        reason = check_spec(spec, frozen_extra)
        if reason is not None:
            return reason
    for v in record.values():
        for x in iter_values(v):
            if (
                isinstance(x, DType)
                and x.framework in ("torch", "tensorflow")
                and x.name not in DTYPES[x.framework]
                and (x.framework, x.name) not in frozen_extra
            ):
                return f"dtype {x.framework}.{x.name} is outside the mutation space"
    total = record_elements(record)
    if total > max_elements:
        return f"{total} input elements exceed the cap of {max_elements}"
    return None
