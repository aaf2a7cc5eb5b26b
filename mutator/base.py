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

from typing import Any

import abc
import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from miner.records import (
    SECTIONS,
    CallKind,
    CallRecord,
    Slot,
    TensorSpec,
    Unknown,
    Value,
    get_value,
    iter_slots,
    iter_values,
    put_value,
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
    "SECTIONS",
    "Slot",
    "TensorOperator",
    "get_value",
    "is_receiver",
    "named_slots",
    "put_value",
    "walk",
]

T = TypeVar("T")


def walk(record: CallRecord) -> list[tuple[Slot, Value]]:
    """Every argument value of ``record`` and every value nested in one,
    depth first, with its slot; dict keys are left alone
    (:func:`miner.records.iter_slots` with ``dict_keys=False``)."""
    return list(iter_slots(record, dict_keys=False))


def _top(record: CallRecord) -> Iterator[tuple[Slot, str | None, Value]]:
    """Top-level arguments: slot, keyword name (None when positional),
    value."""
    for section in SECTIONS:
        keyword = section.endswith("kwargs")
        for i, item in enumerate(getattr(record, section)):
            if keyword:
                yield Slot(section, i), item[0], item[1]
            else:
                yield Slot(section, i), None, item


def is_receiver(record: CallRecord, slot: Slot) -> bool:
    """Whether ``slot`` is a METHOD record's receiver (``args[0]``) itself."""
    return (
        record.kind is CallKind.METHOD
        and slot.section == "args"
        and slot.index == 0
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
    for slot, keyword, v in _top(record):
        if keyword is not None:
            out.append((slot, keyword, v))
            continue
        if sig is None or (module and slot.section == "args"):
            continue
        i = slot.index - offset
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
                if any(isinstance(x, Unknown) for x in iter_values(v)):
                    continue
                key = (rec.api, json.dumps(value_to_json(v), sort_keys=True))
                found.setdefault(name, {}).setdefault(key, BorrowEntry(rec.api, rec.framework, v))
        return cls({name: tuple(d.values()) for name, d in sorted(found.items())})


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
    #: ``(api, kind)`` -> schema: every overload, typed (:mod:`miner.schema`).
    schemas: Mapping[tuple[str, str], Any] = field(default_factory=dict)

    def signature(self, record: CallRecord) -> ApiSignature | None:
        return signature_for(self.signatures, record)

    def schema(self, record: CallRecord) -> Any:
        """The schema of ``record``'s API for its kind of call, or None."""
        return self.schemas.get((record.api, record.kind.value))


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
