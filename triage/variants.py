"""Records rewritten for triage: concrete contents, float64, contiguous.

To ask "does a float64 input also differ?" or "does a contiguous copy also
differ?" the *same values* must go in, only widened or laid out densely.
A record's tensors are drawn from its seed, so these rewrites first draw
them (:func:`runner.materialize.draw`, exactly as the runner does) and then
pin the drawn values into the record as :class:`~miner.records.Data`:

- :func:`concrete`: every tensor's drawn base values, same dtype and layout
  (the same case, with its seed no longer needed);
- :func:`widened`: floating tensors below float64 as float64 with the same
  values (exact: widening never rounds); complex64 as complex128;
- :func:`contiguous`: every tensor as a dense copy of its logical values.

A rewrite that has nothing to change returns None.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from miner.records import (
    CONTIGUOUS,
    CallRecord,
    Constructed,
    Data,
    Dict,
    LayoutKind,
    Seq,
    TensorSpec,
)
from runner import materialize
from runner.execute import DEFAULT_MAX_ELEMENTS, INIT_SEED_OFFSET
from runner.observation import dtype_category

__all__ = ["concrete", "widened", "contiguous", "MAX_PINNED"]

#: Tensors larger than this are not pinned (the record would be huge).
MAX_PINNED = 1 << 16

_WIDER = {"float16": "float64", "bfloat16": "float64", "float32": "float64",
          "complex64": "complex128", "complex32": "complex128"}


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


def _walk(v: Any, d: Any, fn: Callable[[TensorSpec, Any], TensorSpec]) -> Any:
    """``v`` with every TensorSpec replaced by ``fn(spec, drawn)``, where
    ``d`` is the same value as :func:`materialize.draw` returned it."""
    if isinstance(v, TensorSpec):
        return fn(v, d)
    if isinstance(v, Seq):
        return Seq(v.kind, tuple(_walk(x, y, fn) for x, y in zip(v.items, d.items)))
    if isinstance(v, Dict):
        return Dict(tuple((_walk(k, dk, fn), _walk(x, dx, fn))
                          for (k, x), (dk, dx) in zip(v.items, d.items)))
    if isinstance(v, Constructed):
        return Constructed(v.api, tuple(_walk(x, y, fn) for x, y in zip(v.args, d.args)),
                           tuple((n, _walk(x, y, fn))
                                 for (n, x), (_, y) in zip(v.kwargs, d.kwargs)))
    return v


def _rewrite(record: CallRecord, seed: int,
             fn: Callable[[TensorSpec, Any], TensorSpec]) -> Optional[CallRecord]:
    try:
        call = materialize.draw((record.args, record.kwargs), seed,
                                max_elements=DEFAULT_MAX_ELEMENTS)
        init = materialize.draw((record.init_args, record.init_kwargs),
                                seed + INIT_SEED_OFFSET, max_elements=DEFAULT_MAX_ELEMENTS)
    except materialize.MaterializeError:
        return None
    if any(t.base.size > MAX_PINNED for t in (*call.tensors(), *init.tensors())):
        return None
    new = dataclasses.replace(
        record,
        args=tuple(_walk(v, d, fn) for v, d in zip(record.args, call.args)),
        kwargs=tuple((n, _walk(v, d, fn)) for (n, v), (_, d) in zip(record.kwargs, call.kwargs)),
        init_args=tuple(_walk(v, d, fn) for v, d in zip(record.init_args, init.args)),
        init_kwargs=tuple((n, _walk(v, d, fn))
                          for (n, v), (_, d) in zip(record.init_kwargs, init.kwargs)),
        occurrences=1, provenance=())
    return new


def concrete(record: CallRecord, seed: int) -> Optional[CallRecord]:
    """The record with every tensor's drawn values pinned (same dtype and
    layout): the same case, independent of the seed."""
    return _rewrite(record, seed, lambda s, d: dataclasses.replace(
        s, init=Data(_scalars(d.base, s.dtype))))


def widened(record: CallRecord, seed: int) -> Optional[CallRecord]:
    """Floating and complex tensors below 64 bits widened, values kept."""
    changed = [False]

    def widen(s: TensorSpec, d: Any) -> TensorSpec:
        wide = _WIDER.get(s.dtype)
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
