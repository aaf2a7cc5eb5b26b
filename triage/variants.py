"""Records rewritten for triage: concrete contents, float64, contiguous.

To ask "does a float64 input also differ?" or "does a contiguous copy also
differ?" the *same values* must go in, only widened or laid out densely.
A record's tensors are drawn from its seed, so these rewrites first draw
them (:func:`runner.materialize.draw`, exactly as the runner does) and then
pin the drawn values into the record as :class:`~miner.records.Data`:

- :func:`concrete`: every tensor's drawn base values, same dtype and layout
  (the same case, with its seed no longer needed);
- :func:`widened`: floating tensors below float64 as float64 with the same
  values (exact: widening never rounds); complex32 and complex64 as
  complex128 (:func:`infra.dtypes.wider`);
- :func:`contiguous`: every tensor as a dense copy of its logical values.

A rewrite that has nothing to change returns None.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from infra.dtypes import dtype_category, wider
from infra.errors import InternalError
from miner.records import (
    CONTIGUOUS,
    CallRecord,
    Data,
    LayoutKind,
    TensorSpec,
    map_record_values,
)
from runner import materialize
from runner.execute import DEFAULT_MAX_ELEMENTS, INIT_SEED_OFFSET

__all__ = ["concrete", "widened", "contiguous", "MAX_PINNED"]

#: Tensors larger than this are not pinned (the record would be huge).
MAX_PINNED = 1 << 16


def _scalars(array: np.ndarray, dtype: str) -> tuple:
    cat = dtype_category(dtype)
    flat = array.reshape(-1)
    if cat == "float":
        return tuple(float(x) for x in flat.astype(np.float64))
    if cat == "complex":
        return tuple(complex(x) for x in flat.astype(np.complex128))
    if cat == "bool":
        return tuple(bool(x) for x in flat)
    return tuple(int(x) for x in flat)


def _rewrite(record: CallRecord, seed: int,
             fn: Callable[[TensorSpec, Any], TensorSpec]) -> Optional[CallRecord]:
    """``record`` with every TensorSpec replaced by ``fn(spec, drawn)``,
    ``drawn`` being that spec's tensor as the runner draws it; None when the
    record cannot be drawn or a tensor is too large to pin."""
    try:
        call = materialize.draw((record.args, record.kwargs), seed,
                                max_elements=DEFAULT_MAX_ELEMENTS)
        init = materialize.draw((record.init_args, record.init_kwargs),
                                seed + INIT_SEED_OFFSET, max_elements=DEFAULT_MAX_ELEMENTS)
    except materialize.MaterializeError:
        return None
    # Constructor arguments come first in a record's value order, and each
    # part's tensors in draw order (miner.records, Note [One walker]).
    drawn = [*init.tensors(), *call.tensors()]
    if any(t.base.size > MAX_PINNED for t in drawn):
        return None
    tensors = iter(drawn)
    new = map_record_values(record, lambda s: fn(s, next(tensors)), TensorSpec)
    if next(tensors, None) is not None:
        raise InternalError("drawn tensors and tensor specs disagree")
    return dataclasses.replace(new, occurrences=1, provenance=())


def concrete(record: CallRecord, seed: int) -> Optional[CallRecord]:
    """The record with every tensor's drawn values pinned (same dtype and
    layout): the same case, independent of the seed."""
    return _rewrite(record, seed, lambda s, d: dataclasses.replace(
        s, init=Data(_scalars(d.base, s.dtype))))


def widened(record: CallRecord, seed: int) -> Optional[CallRecord]:
    """Floating and complex tensors below 64 bits widened, values kept."""
    changed = [False]

    def widen(s: TensorSpec, d: Any) -> TensorSpec:
        wide = wider(s.dtype)
        if wide is None:
            return dataclasses.replace(s, init=Data(_scalars(d.base, s.dtype)))
        changed[0] = True
        return dataclasses.replace(s, dtype=wide, init=Data(_scalars(d.base, s.dtype)))

    new = _rewrite(record, seed, widen)
    return new if changed[0] else None


def contiguous(record: CallRecord, seed: int) -> Optional[CallRecord]:
    """Every tensor as a dense copy of its logical values."""
    changed = [False]

    def densify(s: TensorSpec, d: Any) -> TensorSpec:
        if s.layout.kind is LayoutKind.CONTIGUOUS:
            return dataclasses.replace(s, init=Data(_scalars(d.base, s.dtype)))
        changed[0] = True
        return dataclasses.replace(s, layout=CONTIGUOUS,
                                   init=Data(_scalars(d.logical(), s.dtype)))

    new = _rewrite(record, seed, densify)
    return new if changed[0] else None
