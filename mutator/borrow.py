"""The borrow family: an argument takes a value mined for a parameter of
the same name in another API (FreeFuzz's database mutation), preferring
similar APIs.

Note [Which API to borrow from]
    Every candidate value is weighted by how alike its API is to the
    mutated one: ``1 + 2 * shared module components + 4 * name
    similarity`` (``difflib`` ratio of the last components), times 4 when
    it is of the same framework.  ``torch.cumprod`` thus borrows ``dim``
    from ``torch.cumsum`` far more often than from ``torch.nn.functional.
    softmax``, yet any API stays possible.  Values from the other framework
    are converted (a tensor or dtype changes framework when its dtype
    exists there); library objects of the other framework (constructed
    calls, API references) are not borrowed across.  An unknown argument
    is three times as likely to be the one replaced: borrowing is how a
    record with an unresolved argument becomes runnable.
"""

from __future__ import annotations

import difflib
import functools
import random

from miner.records import (
    ApiRef,
    CallRecord,
    Constructed,
    Dict,
    DType,
    Seq,
    TensorSpec,
    Unknown,
    Value,
)
from mutator.base import (
    BorrowEntry,
    MutationContext,
    Operator,
    is_receiver,
    named_slots,
    put_value,
)
from mutator.space import DTYPES

__all__ = ["OPERATORS", "BorrowSameName", "api_similarity", "convert_value"]


@functools.lru_cache(maxsize=1 << 16)
def api_similarity(a: str, b: str) -> float:
    """See Note [Which API to borrow from] (without the framework factor)."""
    pa, pb = a.split("."), b.split(".")
    shared = 0
    for x, y in zip(pa[:-1], pb[:-1]):
        if x != y:
            break
        shared += 1
    ratio = difflib.SequenceMatcher(None, pa[-1], pb[-1]).ratio()
    return 1.0 + 2.0 * shared + 4.0 * ratio


def convert_value(v: Value, framework: str) -> Value | None:
    """``v`` as a value of a ``framework`` record, or None when it cannot
    cross (see Note [Which API to borrow from])."""
    if isinstance(v, TensorSpec):
        if v.framework == framework or v.framework not in ("torch", "tensorflow"):
            return v
        if v.dtype not in DTYPES.get(framework, ()):
            return None
        return TensorSpec(framework, v.shape, v.dtype, v.init, v.layout, v.requires_grad)
    if isinstance(v, DType):
        if v.framework == framework or v.framework not in ("torch", "tensorflow"):
            return v
        return DType(framework, v.name) if v.name in DTYPES.get(framework, ()) else None
    if isinstance(v, (Constructed, ApiRef)):
        return None
    if isinstance(v, Seq):
        items = [convert_value(x, framework) for x in v.items]
        if any(x is None for x in items):
            return None
        return Seq(v.kind, tuple(items))  # type: ignore[arg-type]
    if isinstance(v, Dict):
        pairs = [(convert_value(k, framework), convert_value(x, framework)) for k, x in v.items]
        if any(k is None or x is None for k, x in pairs):
            return None
        return Dict(tuple(pairs))  # type: ignore[arg-type]
    return v


class BorrowSameName(Operator):
    """A named argument takes a value another API's seed records pass for
    a parameter of the same name."""

    name = "borrow.same_name"
    family = "borrow"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        sig = ctx.signature(record)
        slots = [
            (slot, name, v) for slot, name, v in named_slots(record, sig)
            if ctx.pool.get(name) and not is_receiver(record, slot)
        ]
        tried: set[int] = set()
        while len(tried) < len(slots):
            weights = [
                0.0 if i in tried else (3.0 if isinstance(v, Unknown) else 1.0)
                for i, (_, _, v) in enumerate(slots)
            ]
            i = rng.choices(range(len(slots)), weights)[0]
            tried.add(i)
            slot, name, current = slots[i]
            out = self._borrow(record, slot, name, current, rng, ctx)
            if out is not None:
                return out
        return None

    def _borrow(
        self, record: CallRecord, slot, name: str, current: Value,
        rng: random.Random, ctx: MutationContext,
    ) -> CallRecord | None:
        candidates: list[tuple[Value, float]] = []
        for entry in ctx.pool.get(name):
            if entry.api == record.api:
                continue
            v = convert_value(entry.value, record.framework)
            if v is None or v == current:
                continue
            candidates.append((v, _weight(entry, record)))
        if not candidates:
            return None
        values, weights = zip(*candidates)
        return put_value(record, slot, rng.choices(values, weights)[0])


def _weight(entry: BorrowEntry, record: CallRecord) -> float:
    w = api_similarity(entry.api, record.api)
    return w * 4.0 if entry.framework == record.framework else w


OPERATORS: tuple[Operator, ...] = (BorrowSameName(),)
