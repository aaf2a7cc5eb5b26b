"""What every mutation operator shares: addressing values inside a record,
the operator interface, and the context an operator reads.

An operator is a small stateless object with a :attr:`~Operator.name` and a
:attr:`~Operator.family`.  Its public :meth:`~Operator.apply` calls the
subclass's :meth:`~Operator.do_apply` and then validates the result with
:func:`mutator.check.check_record`: a mutant that fails validation is
reported as "not applicable" (None), never handed out malformed.  All
randomness comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from miner.records import (
    CallKind,
    CallRecord,
    Constructed,
    Dict,
    Seq,
    TensorSpec,
    Unknown,
    Value,
    value_to_json,
)
from mutator.check import check_record
from mutator.signatures import ApiSignature, ParamKind
from mutator.space import FAMILIES
from runner.materialize import DEFAULT_MAX_ELEMENTS

__all__ = [
    "BorrowEntry",
    "BorrowPool",
    "MutationContext",
    "Operator",
    "Slot",
    "TensorOperator",
    "get_value",
    "is_receiver",
    "named_slots",
    "put_value",
    "walk",
]

T = TypeVar("T")

#: The parts of a record that hold arguments, in draw order (constructor
#: arguments first, as :meth:`~miner.records.CallRecord.values` yields them).
SECTIONS = ("init_args", "init_kwargs", "args", "kwargs")


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a value sits in a record."""

    #: One of :data:`SECTIONS`.
    section: str
    #: The position (``*_args``) or keyword (``*_kwargs``) of the top-level
    #: argument.
    key: int | str
    #: Child indices below it (:func:`children` order: a sequence's items, a
    #: dict's values, a constructed call's positional then keyword values).
    path: tuple[int, ...] = ()


def children(v: Value) -> tuple[Value, ...]:
    """The values directly inside ``v`` that operators may replace (dict
    keys are left alone)."""
    if isinstance(v, Seq):
        return v.items
    if isinstance(v, Dict):
        return tuple(x for _, x in v.items)
    if isinstance(v, Constructed):
        return v.args + tuple(x for _, x in v.kwargs)
    return ()


def with_child(v: Value, i: int, new: Value) -> Value:
    if isinstance(v, Seq):
        return Seq(v.kind, v.items[:i] + (new,) + v.items[i + 1 :])
    if isinstance(v, Dict):
        items = list(v.items)
        items[i] = (items[i][0], new)
        return Dict(tuple(items))
    if isinstance(v, Constructed):
        n = len(v.args)
        if i < n:
            return Constructed(v.api, v.args[:i] + (new,) + v.args[i + 1 :], v.kwargs)
        kwargs = list(v.kwargs)
        kwargs[i - n] = (kwargs[i - n][0], new)
        return Constructed(v.api, v.args, tuple(kwargs))
    raise IndexError(f"{type(v).__name__} has no children")


def _top(record: CallRecord) -> Iterator[tuple[Slot, Value]]:
    for section in SECTIONS:
        part = getattr(record, section)
        if section.endswith("kwargs"):
            for name, v in part:
                yield Slot(section, name), v
        else:
            for i, v in enumerate(part):
                yield Slot(section, i), v


def walk(record: CallRecord) -> list[tuple[Slot, Value]]:
    """Every argument value of ``record`` and every value nested in one,
    depth first, with its slot."""
    out: list[tuple[Slot, Value]] = []

    def visit(slot: Slot, v: Value) -> None:
        out.append((slot, v))
        for i, x in enumerate(children(v)):
            visit(Slot(slot.section, slot.key, slot.path + (i,)), x)

    for slot, v in _top(record):
        visit(slot, v)
    return out


def get_value(record: CallRecord, slot: Slot) -> Value:
    part = getattr(record, slot.section)
    v = dict(part)[slot.key] if slot.section.endswith("kwargs") else part[slot.key]
    for i in slot.path:
        v = children(v)[i]
    return v


def put_value(record: CallRecord, slot: Slot, new: Value) -> CallRecord:
    """``record`` with the value at ``slot`` replaced."""

    def rebuild(v: Value, path: tuple[int, ...]) -> Value:
        if not path:
            return new
        return with_child(v, path[0], rebuild(children(v)[path[0]], path[1:]))

    part = getattr(record, slot.section)
    if slot.section.endswith("kwargs"):
        value = tuple(
            (k, rebuild(v, slot.path) if k == slot.key else v) for k, v in part
        )
    else:
        i = slot.key
        assert isinstance(i, int)
        value = part[:i] + (rebuild(part[i], slot.path),) + part[i + 1 :]
    return dataclasses.replace(record, **{slot.section: value})


def is_receiver(record: CallRecord, slot: Slot) -> bool:
    """Whether ``slot`` is a METHOD record's receiver (``args[0]``) itself."""
    return (
        record.kind is CallKind.METHOD
        and slot.section == "args"
        and slot.key == 0
        and not slot.path
    )


def named_slots(
    record: CallRecord, sig: ApiSignature | None
) -> list[tuple[Slot, str, Value]]:
    """Top-level arguments with the parameter name they bind to: keywords by
    their name, positional arguments by ``sig`` (a METHOD's receiver and
    arguments caught by ``*args`` have no name; neither have a MODULE's call
    arguments, whose signature is not the constructor's)."""
    out: list[tuple[Slot, str, Value]] = []
    module = record.kind is CallKind.MODULE
    offset = 1 if record.kind is CallKind.METHOD else 0
    for slot, v in _top(record):
        if isinstance(slot.key, str):
            out.append((slot, slot.key, v))
            continue
        if sig is None or (module and slot.section == "args"):
            continue
        i = slot.key - offset
        p = sig.positional(i) if i >= 0 else None
        if p is not None and p.kind is not ParamKind.VAR_POSITIONAL:
            out.append((slot, p.name, v))
    return out


# ---------------------------------------------------------------------------
# Borrow pool and context
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BorrowEntry:
    """A value mined for a parameter of some API."""

    #: The API whose seed record passed it.
    api: str
    #: That record's framework.
    framework: str
    value: Value


@dataclass(frozen=True, slots=True, eq=False)
class BorrowPool:
    """Parameter name -> the distinct values seed records pass for it, with
    the API each came from, in a deterministic order (by API, then as
    met)."""

    entries: Mapping[str, tuple[BorrowEntry, ...]] = field(default_factory=dict)

    def get(self, name: str) -> tuple[BorrowEntry, ...]:
        return self.entries.get(name, ())

    @classmethod
    def build(
        cls,
        records: Sequence[CallRecord] | Mapping[str, Sequence[CallRecord]],
        signatures: Mapping[str, ApiSignature],
    ) -> BorrowPool:
        """The pool of every named argument of ``records`` (a flat sequence
        or records grouped by API); :class:`~miner.records.Unknown` values
        are not worth borrowing."""
        flat = (
            [r for group in records.values() for r in group]
            if isinstance(records, Mapping) else list(records)
        )
        found: dict[str, dict[tuple[str, str], BorrowEntry]] = {}
        for rec in sorted(flat, key=lambda r: (r.api, r.id)):
            sig = signature_for(signatures, rec)
            for _, name, v in named_slots(rec, sig):
                if any(isinstance(x, Unknown) for x in _values_in(v)):
                    continue
                key = (rec.api, json.dumps(value_to_json(v), sort_keys=True))
                found.setdefault(name, {}).setdefault(key, BorrowEntry(rec.api, rec.framework, v))
        return cls({name: tuple(d.values()) for name, d in sorted(found.items())})


def _values_in(v: Value) -> Iterator[Value]:
    yield v
    for x in children(v):
        yield from _values_in(x)


def signature_for(
    signatures: Mapping[str, ApiSignature], record: CallRecord
) -> ApiSignature | None:
    """The signature of ``record``'s API when it was read for the same kind
    of call."""
    sig = signatures.get(record.api)
    return sig if sig is not None and sig.kind is record.kind else None


def _no_api(name: str) -> bool:
    return False


@dataclass(frozen=True, slots=True, eq=False)
class MutationContext:
    """What operators may consult besides the record itself."""

    #: API name -> signature (see :mod:`mutator.signatures`).
    signatures: Mapping[str, ApiSignature] = field(default_factory=dict)
    #: Values mined for each parameter name, for the borrow family.
    pool: BorrowPool = field(default_factory=BorrowPool)
    #: No mutant holds more input elements than this
    #: (:func:`mutator.space.record_elements`).
    max_elements: int = DEFAULT_MAX_ELEMENTS
    #: Whether the installed libraries have an API (in-place variants).
    has_api: Callable[[str], bool] = _no_api

    def signature(self, record: CallRecord) -> ApiSignature | None:
        return signature_for(self.signatures, record)


# ---------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------


class Operator(abc.ABC):
    """One kind of mutation.  Subclasses set :attr:`name` and :attr:`family`
    and implement :meth:`do_apply`."""

    #: Unique, ``family.what`` (``dtype.tensor``, ``layout.permuted``).
    name: ClassVar[str]
    #: One of :data:`mutator.space.FAMILIES`.
    family: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        family = cls.__dict__.get("family")
        if family is not None and family not in FAMILIES:
            raise TypeError(f"{cls.__name__}: unknown family {family!r}")

    def apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        """A mutant of ``record``, or None when the operator does not apply
        to it or its result fails validation (or changes nothing)."""
        out = self.do_apply(record, rng, ctx)
        if out is None or out.id == record.id:
            return None
        if check_record(out, ctx.max_elements, parent=record) is not None:
            return None
        return out

    @abc.abstractmethod
    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        """Draw one mutation of ``record`` (unvalidated), or None."""

    def __repr__(self) -> str:
        return f"<operator {self.name}>"


def first_of(
    rng: random.Random, items: Sequence[T], attempt: Callable[[T], CallRecord | None]
) -> CallRecord | None:
    """``attempt`` on ``items`` in a random order until one gives a record."""
    order = list(items)
    rng.shuffle(order)
    for item in order:
        out = attempt(item)
        if out is not None:
            return out
    return None


class TensorOperator(Operator):
    """An operator that rewrites one tensor spec: :meth:`accepts` picks the
    candidates, :meth:`transform` rewrites one (None: try another)."""

    #: Whether a METHOD's receiver may be rewritten.
    receiver_ok: ClassVar[bool] = True

    def accepts(self, spec: TensorSpec) -> bool:
        return True

    @abc.abstractmethod
    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        """The replacement of ``spec`` (usually a spec), or None."""

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        slots = [
            (slot, v) for slot, v in walk(record)
            if isinstance(v, TensorSpec) and self.accepts(v)
            and (self.receiver_ok or not is_receiver(record, slot))
        ]

        def attempt(item: tuple[Slot, Value]) -> CallRecord | None:
            slot, spec = item
            assert isinstance(spec, TensorSpec)
            new = self.transform(spec, rng, ctx, record)
            if new is None or new == spec:
                return None
            out = put_value(record, slot, new)
            return out if check_record(out, ctx.max_elements, parent=record) is None else None

        return first_of(rng, slots, attempt)
