"""Shrinking: the smallest case that still shows the same discrepancy.

Deterministic passes propose smaller variants of a cluster's representative
record; a variant is kept when re-running it (through the :data:`Probe`)
gives a finding with the cluster's *signature* key, so the result is never
different in kind.  Passes, in order, each repeated until it makes no more
progress:

1. drop keyword arguments;
2. make non-contiguous tensors contiguous;
3. narrow dtypes (:func:`infra.dtypes.narrower`: float64 to float32,
   complex128 to complex64, int64 to int32);
4. lower ranks (drop one dimension);
5. shrink sizes (a dimension to 1, else to half, else to 0);
6. simplify tensor contents (toward all-0 and all-1 fills and small
   integers; a mix of special values loses one value at a time, so the
   special values that matter stay);
7. simplify scalar arguments (toward 0 and 1).

Every variant a pass proposes is strictly smaller under :func:`size` (more
elements, rank, arguments, non-contiguity, bits, or value complexity all
count), which bounds the search; the whole shrink stops at a time budget,
returning the smallest case found so far.  Candidates of one pass are
probed together as one batch, so the executor runs them in parallel.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from infra.dtypes import bits, dtype_category, narrower
from miner.records import (
    CONTIGUOUS,
    CallRecord,
    Data,
    Empty,
    Fill,
    IntRange,
    LayoutKind,
    Literal,
    Slot,
    TensorSpec,
    iter_slots,
    iter_values,
    put_value,
)
from triage.probe import Probe, ProbeCase, finding_of
from triage.signature import Finding, signature

__all__ = ["ShrinkResult", "shrink", "size", "candidates"]

#: The width :func:`size` counts for a dtype not in the table.
_UNKNOWN_BITS = 32


@dataclass(frozen=True, slots=True)
class ShrinkResult:
    """The smallest record found, how many variants were tried and kept."""

    record: CallRecord
    seed: int
    tried: int
    kept: int
    seconds: float
    #: The budget ran out before the passes were done.
    timed_out: bool
    #: What the last kept variant's re-run found (None when nothing was
    #: kept: the original finding stands).
    finding: Optional[Finding] = None


# ---------------------------------------------------------------------------
# Walking the tensors of a record
# ---------------------------------------------------------------------------


def _specs(record: CallRecord) -> list[TensorSpec]:
    return [x for v in record.values() for x in iter_values(v) if isinstance(x, TensorSpec)]


def _spec_slots(record: CallRecord) -> list[tuple[Slot, TensorSpec]]:
    """Every tensor spec of ``record`` with its slot, in :func:`_specs`
    order."""
    return [(slot, v) for slot, v in iter_slots(record) if isinstance(v, TensorSpec)]


def _bits(dtype: str) -> int:
    try:
        return bits(dtype)
    except ValueError:
        return _UNKNOWN_BITS


def _base_numel(spec: TensorSpec) -> int:
    return math.prod(d or 0 for d in spec.base_shape)


def _with_shape(spec: TensorSpec, shape: tuple[int, ...]) -> Optional[TensorSpec]:
    """``spec`` with a new shape: a layout that no longer fits becomes
    contiguous, Data is cut or padded (with its last value) to fit."""
    layout = spec.layout
    if len(shape) != len(spec.shape) and layout.kind is not LayoutKind.CONTIGUOUS:
        layout = CONTIGUOUS
    if layout.kind is LayoutKind.CHANNELS_LAST and len(shape) not in (4, 5):
        layout = CONTIGUOUS
    try:
        new = dataclasses.replace(spec, shape=shape, layout=layout)
    except ValueError:
        return None
    if isinstance(spec.init, Data):
        n = _base_numel(new)
        vals = spec.init.values[:n]
        if len(vals) < n:
            vals = vals + (vals[-1] if vals else 0,) * (n - len(vals))
        new = dataclasses.replace(new, init=Data(vals))
    return new


def _value_weight(init: Any) -> int:
    if isinstance(init, Fill):
        return 0
    if isinstance(init, IntRange):
        return 1
    if isinstance(init, Data):
        return 2 + len(set(map(repr, init.values)))
    values = getattr(init, "values", None)  # a mix of special values
    if isinstance(values, tuple):
        return 3 + len(values)
    return 3


def size(record: CallRecord) -> tuple:
    """Lexicographic size: what shrinking makes smaller."""
    specs = _specs(record)
    literal_weight = sum(0 if (isinstance(x, Literal) and x.value in (0, 1, None, True, False))
                         else 1 for v in record.values() for x in iter_values(v)
                         if isinstance(x, Literal))
    return (sum(_base_numel(s) for s in specs), sum(len(s.shape) for s in specs),
            len(record.kwargs) + len(record.init_kwargs),
            sum(s.layout.kind is not LayoutKind.CONTIGUOUS for s in specs),
            sum(_bits(s.dtype) for s in specs),
            sum(_value_weight(s.init) for s in specs), literal_weight)


# ---------------------------------------------------------------------------
# Passes
# ---------------------------------------------------------------------------


def _drop_kwargs(rec: CallRecord) -> Iterator[CallRecord]:
    for i in range(len(rec.kwargs)):
        yield dataclasses.replace(rec, kwargs=rec.kwargs[:i] + rec.kwargs[i + 1:])
    for i in range(len(rec.init_kwargs)):
        yield dataclasses.replace(rec, init_kwargs=rec.init_kwargs[:i] + rec.init_kwargs[i + 1:])


def _contiguous(rec: CallRecord) -> Iterator[CallRecord]:
    for slot, s in _spec_slots(rec):
        if s.layout.kind is not LayoutKind.CONTIGUOUS:
            new = _with_shape(dataclasses.replace(s, layout=CONTIGUOUS), tuple(s.shape))
            if new is not None:
                yield put_value(rec, slot, new)


def _narrow(rec: CallRecord) -> Iterator[CallRecord]:
    for slot, s in _spec_slots(rec):
        try:
            narrow = narrower(s.dtype)
        except ValueError:  # a dtype not in the table
            continue
        if narrow is not None:
            yield put_value(rec, slot, dataclasses.replace(s, dtype=narrow))


def _lower_rank(rec: CallRecord) -> Iterator[CallRecord]:
    for slot, s in _spec_slots(rec):
        for d in range(len(s.shape)):
            new = _with_shape(s, tuple(s.shape[:d]) + tuple(s.shape[d + 1:]))
            if new is not None:
                yield put_value(rec, slot, new)


def _smaller_sizes(rec: CallRecord) -> Iterator[CallRecord]:
    for target in ("one", "half", "zero"):
        for slot, s in _spec_slots(rec):
            for d, n in enumerate(s.shape):
                if n is None:
                    continue
                m = {"one": 1, "half": n // 2, "zero": 0}[target]
                if m >= n or (target == "half" and m <= 1):
                    continue
                new = _with_shape(s, tuple(s.shape[:d]) + (m,) + tuple(s.shape[d + 1:]))
                if new is not None:
                    yield put_value(rec, slot, new)


def _simpler_values(rec: CallRecord) -> Iterator[CallRecord]:
    for slot, s in _spec_slots(rec):
        init = s.init
        if isinstance(init, Empty):
            continue
        values = getattr(init, "values", None)
        if isinstance(values, tuple) and not isinstance(init, Data) and len(values) > 1:
            for j in range(len(values)):  # a special-value mix loses one value
                try:
                    yield put_value(rec, slot, dataclasses.replace(
                        s, init=dataclasses.replace(init, values=values[:j] + values[j + 1:])))
                except (ValueError, TypeError):
                    pass
        cat = dtype_category(s.dtype)
        zero, one = (False, True) if cat == "bool" else (0, 1) if cat == "int" else (0.0, 1.0)
        for simple in (Fill(zero), Fill(one), IntRange(0, 3)):
            if _value_weight(simple) < _value_weight(init):
                yield put_value(rec, slot, dataclasses.replace(s, init=simple))


def _simpler_literals(rec: CallRecord) -> Iterator[CallRecord]:
    def options(v: Literal) -> list[Literal]:
        x = v.value
        if isinstance(x, bool) or x is None or not isinstance(x, (int, float)):
            return []
        if isinstance(x, int):
            return [Literal(c) for c in (0, 1) if c != x and abs(c) < abs(x)]
        return [Literal(c) for c in (0.0, 1.0) if not (c == x)]

    for i, v in enumerate(rec.args):
        if isinstance(v, Literal):
            for o in options(v):
                yield dataclasses.replace(rec, args=rec.args[:i] + (o,) + rec.args[i + 1:])
    for i, (k, v) in enumerate(rec.kwargs):
        if isinstance(v, Literal):
            for o in options(v):
                yield dataclasses.replace(rec, kwargs=rec.kwargs[:i] + ((k, o),) +
                                          rec.kwargs[i + 1:])


PASSES = (_drop_kwargs, _contiguous, _narrow, _lower_rank, _smaller_sizes, _simpler_values,
          _simpler_literals)


def candidates(record: CallRecord) -> list[CallRecord]:
    """Every variant the passes propose for ``record`` that is strictly
    smaller, in pass order (for tests and for :func:`shrink`)."""
    out = []
    for p in PASSES:
        out.extend(_strictly_smaller(record, p(record)))
    return out


def _strictly_smaller(record: CallRecord, proposals: Iterator[CallRecord]) -> list[CallRecord]:
    base = size(record)
    seen = set()
    out = []
    for c in proposals:
        if c.id in seen or c.id == record.id or not size(c) < base:
            continue
        seen.add(c.id)
        out.append(c)
    return out


def shrink(finding: Finding, probe: Probe, *, seconds: float = 60.0, batch: int = 8
           ) -> ShrinkResult:
    """Shrink ``finding``'s case while its signature stays the same (module
    docstring); at most ``seconds`` of probing."""
    start = time.monotonic()
    key = signature(finding).key
    modes = (finding.reference, finding.target)
    current = finding.record
    last: Optional[Finding] = None
    tried = kept = 0
    timed_out = False
    progress = True
    while progress:
        progress = False
        for p in PASSES:
            while True:
                proposals = _strictly_smaller(current, p(current))
                accepted = None
                for i in range(0, len(proposals), batch):
                    if time.monotonic() - start > seconds:
                        timed_out = True
                        break
                    chunk = proposals[i:i + batch]
                    cases = [ProbeCase(c, finding.seed, modes) for c in chunk]
                    results = probe(cases)
                    tried += len(chunk)
                    for case, result in zip(cases, results):
                        found = finding_of(case, result, finding.target)
                        if found is not None and signature(found).key == key:
                            accepted, last = case.record, found
                            break
                    if accepted is not None:
                        break
                if accepted is None:
                    break
                current, kept, progress = accepted, kept + 1, True
                if timed_out:
                    break
            if timed_out:
                break
        if timed_out:
            break
    return ShrinkResult(current, finding.seed, tried, kept, time.monotonic() - start,
                        timed_out, last)
