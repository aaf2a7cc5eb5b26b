"""The type family: an argument keeps its meaning but changes its Python
type: int <-> float <-> bool literals, a scalar or a list becomes a tensor
(and back), a list becomes a tuple (and back), an optional parameter gets
``None``.
"""

from __future__ import annotations

import math
import random

from miner.records import (
    CallKind,
    CallRecord,
    Data,
    Fill,
    LayoutKind,
    Literal,
    Seq,
    TensorSpec,
    Value,
)
from mutator.base import (
    MutationContext,
    Operator,
    TensorOperator,
    first_of,
    is_receiver,
    named_slots,
    put_value,
    walk,
)
from mutator.space import dtype_kind, dtypes_of
from mutator.tensors import known_shape

__all__ = [
    "OPERATORS",
    "LiteralType",
    "SeqKind",
    "TensorToList",
    "TensorToScalar",
    "ToNone",
    "ToTensor",
]

#: Tensors with at most this many elements may become Python lists.
MAX_LIST_ELEMENTS = 64


def is_number(v: object) -> bool:
    return isinstance(v, (bool, int, float, complex))


def natural_dtype(framework: str, v: object) -> str | None:
    """The dtype a framework gives a Python scalar (torch: int64, float32;
    TensorFlow: int32, float32)."""
    if isinstance(v, bool):
        name = "bool"
    elif isinstance(v, int):
        name = "int32" if framework == "tensorflow" else "int64"
    elif isinstance(v, float):
        name = "float32"
    elif isinstance(v, complex):
        name = "complex64"
    else:
        return None
    return name if name in dtypes_of(framework) else None


def _widest(values: list[object]) -> object:
    """A representative of the widest Python type among numbers."""
    for t in (complex, float, int):
        for v in values:
            if isinstance(v, t) and not (t is int and isinstance(v, bool)):
                return v
    return values[0]


class LiteralType(Operator):
    """A bool, int or float literal becomes one of the other two types
    (``2`` -> ``2.0`` or ``True``; ``0.5`` -> ``0``)."""

    name = "type.literal"
    family = "type"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        slots = [
            (s, v) for s, v in walk(record)
            if isinstance(v, Literal) and isinstance(v.value, (bool, int, float))
        ]

        def attempt(item: tuple) -> CallRecord | None:
            slot, lit = item
            x = lit.value
            options: list[object] = []
            if isinstance(x, bool):
                options = [int(x), float(x)]
            elif isinstance(x, int):
                options = [bool(x)] + ([float(x)] if abs(x) < 2**1023 else [])
            elif math.isfinite(x):
                options = [int(x), bool(x)]
            else:
                options = [bool(x)]
            return put_value(record, slot, Literal(rng.choice(options)))  # type: ignore[arg-type]

        return first_of(rng, slots, attempt)


class ToTensor(Operator):
    """A number becomes a 0-d or 1-element tensor, a flat or rectangular
    list of numbers a tensor of its values, in the record's framework."""

    name = "type.to_tensor"
    family = "type"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        fw = record.framework
        if not dtypes_of(fw):
            return None
        slots = [(s, v) for s, v in walk(record) if isinstance(v, (Literal, Seq))]

        def attempt(item: tuple) -> CallRecord | None:
            slot, v = item
            if isinstance(v, Literal):
                dtype = natural_dtype(fw, v.value)
                if dtype is None:
                    return None
                shape: tuple[int, ...] = rng.choice([(), (1,)])
                values: tuple = (v.value,)
            else:
                flat = _rectangular(v)
                if flat is None:
                    return None
                shape, values = flat
                dtype = natural_dtype(fw, _widest(list(values))) if values else "float32"
                if dtype is None:
                    return None
            return put_value(record, slot, TensorSpec(fw, shape, dtype, Data(values)))

        return first_of(rng, slots, attempt)


def _rectangular(v: Seq) -> tuple[tuple[int, ...], tuple] | None:
    """Shape and row-major values of a 1-d or 2-d rectangular list of
    numbers, or None."""
    items = v.items
    if all(isinstance(x, Literal) and is_number(x.value) for x in items):
        return (len(items),), tuple(x.value for x in items)  # type: ignore[union-attr]
    rows = [x for x in items if isinstance(x, Seq)]
    if not items or len(rows) != len(items):
        return None
    flat = [_rectangular(r) for r in rows]
    if any(f is None or len(f[0]) != 1 for f in flat):
        return None
    widths = {f[0] for f in flat if f is not None}
    if len(widths) != 1:
        return None
    (width,) = widths
    values = tuple(x for f in flat if f is not None for x in f[1])
    return (len(items), width[0]), values


def _sample_scalar(kind: str, rng: random.Random) -> object:
    if kind == "float":
        return rng.choice([0.5, -1.5, 2.0, 1.0, 0.0])
    if kind in ("int", "uint"):
        return rng.randint(0, 5)
    if kind == "bool":
        return rng.random() < 0.5
    return complex(rng.choice([1.0, -0.5]), rng.choice([1.0, 0.0]))


def _cast_scalar(v: object, kind: str) -> object:
    """A Python scalar of the type a tensor of ``kind`` gives ``.item()``."""
    if kind == "complex":
        return complex(v)  # type: ignore[arg-type]
    if isinstance(v, complex):
        v = v.real
    if kind == "float":
        return float(v)  # type: ignore[arg-type]
    if kind == "bool":
        return bool(v)
    assert isinstance(v, (bool, int, float))
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else 0
    return int(v)


class TensorToScalar(TensorOperator):
    """A tensor becomes a Python number of its dtype's kind (its value when
    it has a single known one)."""

    name = "type.to_scalar"
    family = "type"
    receiver_ok = False

    def accepts(self, spec: TensorSpec) -> bool:
        return bool(dtypes_of(spec.framework)) and spec.dtype in dtypes_of(spec.framework)

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        kind = dtype_kind(spec.dtype)
        init = spec.init
        if isinstance(init, Fill) and is_number(init.value):
            v = init.value
        elif isinstance(init, Data) and len(init.values) == 1 and is_number(init.values[0]):
            v = init.values[0]
        else:
            v = _sample_scalar(kind, rng)
        return Literal(_cast_scalar(v, kind))  # type: ignore[arg-type]


class TensorToList(TensorOperator):
    """A small 1-d or 2-d tensor becomes a nested Python list of its values
    (known ones when it has them, small numbers of its kind otherwise)."""

    name = "type.to_list"
    family = "type"
    receiver_ok = False

    def accepts(self, spec: TensorSpec) -> bool:
        shape = known_shape(spec)
        return (
            shape is not None and 1 <= len(shape) <= 2 and math.prod(shape) <= MAX_LIST_ELEMENTS
            and spec.dtype in dtypes_of(spec.framework)
        )

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        shape = known_shape(spec)
        assert shape is not None
        kind = dtype_kind(spec.dtype)
        n = math.prod(shape)
        init = spec.init
        contiguous = spec.layout.kind is LayoutKind.CONTIGUOUS
        if isinstance(init, Data) and len(init.values) == n and contiguous:
            flat = list(init.values)
        elif isinstance(init, Fill) and is_number(init.value):
            flat = [init.value] * n
        else:
            flat = [_sample_scalar(kind, rng) for _ in range(n)]
        lits = [Literal(_cast_scalar(v, kind)) for v in flat]  # type: ignore[arg-type]
        if len(shape) == 1:
            return Seq("list", tuple(lits))
        rows, cols = shape
        return Seq("list", tuple(Seq("list", tuple(lits[r * cols:(r + 1) * cols]))
                                 for r in range(rows)))


class SeqKind(Operator):
    """A list becomes a tuple, a tuple a list."""

    name = "type.seq_kind"
    family = "type"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        slots = [(s, v) for s, v in walk(record) if isinstance(v, Seq)]
        if not slots:
            return None
        slot, v = rng.choice(slots)
        assert isinstance(v, Seq)
        return put_value(record, slot, Seq("tuple" if v.kind == "list" else "list", v.items))


class ToNone(Operator):
    """An argument of a parameter that has a default becomes ``None``
    (needs the API's signature)."""

    name = "type.none"
    family = "type"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        sig = ctx.signature(record)
        if sig is None:
            return None
        # A MODULE's signature is its constructor's; its call arguments are
        # not named by it (named_slots leaves them out).
        slots = [
            slot for slot, name, v in named_slots(record, sig)
            if (p := sig.param(name)) is not None and p.has_default
            and v != Literal(None) and not is_receiver(record, slot)
            and not (record.kind is CallKind.MODULE and slot.section == "kwargs")
        ]
        if not slots:
            return None
        return put_value(record, rng.choice(slots), Literal(None))


OPERATORS: tuple[Operator, ...] = (
    LiteralType(), ToTensor(), TensorToScalar(), TensorToList(), SeqKind(), ToNone(),
)
