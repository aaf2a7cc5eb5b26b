"""The signature family: the call itself changes shape: an optional
argument dropped or added, an in-place variant, an ``out=`` variant.

Adding an argument and the ``out=`` variant need the API's signature
(:mod:`mutator.signatures`); the in-place variant needs to know that the
library has it (:attr:`MutationContext.has_api`).  A MODULE's signature is
its constructor's, so for modules these operators work on the constructor
arguments.
"""

from __future__ import annotations

import dataclasses
import random

from miner.records import (
    CallKind,
    CallRecord,
    DType,
    Fill,
    Literal,
    Seq,
    TensorSpec,
    Value,
)
from miner.schema import ArgKind, ArgSchema
from mutator.base import MutationContext, Operator, Slot, named_slots, walk
from mutator.borrow import convert_value
from mutator.signatures import ApiSignature, Param
from mutator.space import dtypes_of
from mutator.tensors import known_shape

__all__ = ["OPERATORS", "AddOptional", "DropOptional", "InPlace", "OutVariant", "Overload"]

#: Parameters never added: the output buffer has its own operator; names
#: and devices change nothing worth testing or leave the device.
_NOT_ADDED = frozenset({"out", "name", "device", "layout", "pin_memory", "memory_format"})


def _sections(record: CallRecord) -> tuple[str, str]:
    """The positional and keyword sections the signature describes."""
    if record.kind is CallKind.MODULE:
        return "init_args", "init_kwargs"
    return "args", "kwargs"


def _bound(record: CallRecord, sig: ApiSignature) -> set[str]:
    """Names of the parameters the record's arguments bind."""
    args_section, kwargs_section = _sections(record)
    return {
        name for slot, name, _ in named_slots(record, sig)
        if slot.section in (args_section, kwargs_section)
    }


class DropOptional(Operator):
    """A keyword argument (of a parameter with a default, when the
    signature is known), or the last positional argument when its
    parameter has a default, is left out."""

    name = "signature.drop_optional"
    family = "signature"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        sig = ctx.signature(record)
        args_section, kwargs_section = _sections(record)
        options: list[tuple[str, int | str]] = []
        for section in ("kwargs", "init_kwargs"):
            described = section == kwargs_section and sig is not None
            for name, _ in getattr(record, section):
                p = sig.param(name) if described else None  # type: ignore[union-attr]
                if not described or p is None or p.has_default:
                    options.append((section, name))
        positional = getattr(record, args_section)
        if sig is not None and positional:
            last = len(positional) - 1
            offset = 1 if record.kind is CallKind.METHOD else 0
            p = sig.positional(last - offset) if last >= offset else None
            if p is not None and p.has_default:
                options.append((args_section, last))
        if not options:
            return None
        section, key = rng.choice(options)
        part = getattr(record, section)
        if isinstance(key, str):
            value = tuple((k, v) for k, v in part if k != key)
        else:
            value = part[:key]
        return dataclasses.replace(record, **{section: value})


def _neighbours(p: Param, framework: str, rng: random.Random) -> list[Value]:
    """Values near a parameter's default, or typical of its name or
    annotation."""
    out: list[Value] = []
    d = p.default
    if isinstance(d, Literal):
        x = d.value
        if isinstance(x, bool):
            out.append(Literal(not x))
        elif isinstance(x, int):
            out += [Literal(x + 1), Literal(x - 1), Literal(x + 2)]
        elif isinstance(x, float):
            out += [Literal(x * 2 if x else 0.5), Literal(x / 2), Literal(x + 0.5)]
    elif isinstance(d, Seq) and d.items and all(
        isinstance(i, Literal) and type(i.value) is int for i in d.items
    ):
        bumped = tuple(Literal(i.value + 1) for i in d.items)  # type: ignore[union-attr,operator]
        out.append(Seq(d.kind, bumped))
    elif isinstance(d, DType):
        others = [n for n in dtypes_of(d.framework) if n != d.name]
        if others:
            out.append(DType(d.framework, rng.choice(others)))
    if out:
        return out
    # No usable default (often None): go by name, then annotation.
    name, ann = p.name.lower(), p.annotation.lower()
    if name in ("dim", "axis"):
        out += [Literal(0), Literal(-1)]
    elif name in ("keepdim", "keepdims", "inplace", "descending", "stable", "unbiased") or \
            name.startswith(("is_", "use_", "return_")) or "bool" in ann:
        out.append(Literal(True))
    elif name == "dtype" and dtypes_of(framework):
        out.append(DType(framework, rng.choice(dtypes_of(framework, "float"))))
    elif name in ("eps", "epsilon"):
        out.append(Literal(1e-5))
    elif "float" in ann:
        out.append(Literal(0.5))
    elif "int" in ann:
        out.append(Literal(1))
    return out


class AddOptional(Operator):
    """An optional parameter the call leaves out is passed by keyword, with
    a neighbour of its default, a value borrowed for its name, or a value
    typical of its name or annotation."""

    name = "signature.add_optional"
    family = "signature"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        sig = ctx.signature(record)
        if sig is None:
            return None
        bound = _bound(record, sig)
        params = [
            p for p in sig.params
            if p.keywordable and p.has_default and p.name not in bound
            and p.name not in _NOT_ADDED
        ]
        rng.shuffle(params)
        _, kwargs_section = _sections(record)
        for p in params:
            values = _neighbours(p, record.framework, rng)
            borrowed = [
                v for e in ctx.pool.get(p.name)
                if (v := convert_value(e.value, record.framework)) is not None
            ]
            if borrowed and (not values or rng.random() < 0.4):
                values = borrowed
            if not values:
                continue
            kwargs = getattr(record, kwargs_section) + ((p.name, rng.choice(values)),)
            return dataclasses.replace(record, **{kwargs_section: kwargs})
        return None


def _first_tensor(record: CallRecord) -> tuple[Slot, TensorSpec] | None:
    for slot, v in walk(record):
        if slot.section in ("args", "kwargs") and isinstance(v, TensorSpec):
            return slot, v
    return None


class InPlace(Operator):
    """The in-place variant of a torch call: ``torch.foo(x, ...)`` ->
    ``torch.Tensor.foo_(x, ...)`` (the first tensor argument becomes the
    receiver) or ``torch.foo_(x, ...)``; ``torch.Tensor.foo`` ->
    ``torch.Tensor.foo_``; ``inplace=True`` where the signature (or a
    module's constructor) has that parameter.  Variants must exist
    (:attr:`MutationContext.has_api`)."""

    name = "signature.inplace"
    family = "signature"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        if record.framework != "torch":
            return None
        options: list[CallRecord] = []
        # The trailing-underscore variants take neither an output nor a flag.
        kwargs = tuple((k, v) for k, v in record.kwargs if k not in ("out", "inplace"))
        short = record.api.rsplit(".", 1)[-1]
        if record.kind is CallKind.FUNCTION and not short.endswith("_"):
            first = next(
                (i for i, v in enumerate(record.args) if isinstance(v, TensorSpec)), None
            )
            method = f"torch.Tensor.{short}_"
            if first is not None and ctx.has_api(method):
                args = (record.args[first],) + record.args[:first] + record.args[first + 1 :]
                options.append(dataclasses.replace(
                    record, api=method, kind=CallKind.METHOD, args=args, kwargs=kwargs
                ))
            if ctx.has_api(record.api + "_"):
                options.append(dataclasses.replace(record, api=record.api + "_", kwargs=kwargs))
        elif (record.kind is CallKind.METHOD and not short.endswith("_")
              and ctx.has_api(record.api + "_")):
            options.append(dataclasses.replace(record, api=record.api + "_", kwargs=kwargs))
        sig = ctx.signature(record)
        p = sig.param("inplace") if sig is not None else None
        if sig is not None and p is not None and p.keywordable:
            _, kwargs_section = _sections(record)
            given = dict(getattr(record, kwargs_section))
            positional = "inplace" in _bound(record, sig) and "inplace" not in given
            if not positional and given.get("inplace") != Literal(True):
                part = tuple((k, v) for k, v in getattr(record, kwargs_section) if k != "inplace")
                options.append(dataclasses.replace(
                    record, **{kwargs_section: part + (("inplace", Literal(True)),)}
                ))
        options = [o for o in options if o.id != record.id]
        return rng.choice(options) if options else None


class OutVariant(Operator):
    """``out=`` a fresh tensor of the first tensor argument's dtype, of its
    shape or of shape ``(0,)`` (resized by the call), when the signature
    has an ``out`` parameter the call does not pass."""

    name = "signature.out"
    family = "signature"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        sig = ctx.signature(record)
        if sig is None or record.kind is CallKind.MODULE:
            return None
        p = sig.param("out")
        if p is None or not p.keywordable or "out" in _bound(record, sig):
            return None
        found = _first_tensor(record)
        if found is None:
            return None
        _, x = found
        shape = known_shape(x)
        if shape is None:
            return None
        out_shape = rng.choice([shape, (0,)])
        # Contents are overwritten; zeros keep the input bytes obvious.
        out = TensorSpec(x.framework, out_shape, x.dtype, Fill(0))
        return dataclasses.replace(record, kwargs=record.kwargs + (("out", out),))


def _rank(record: CallRecord) -> int | None:
    first = _first_tensor(record)
    return None if first is None else len(first[1].shape)


def _typed_value(arg: ArgSchema, record: CallRecord, rng: random.Random,
                 required: bool) -> Value | None:
    """A value for a parameter the call leaves out, from its schema: a
    valid dimension of the first tensor for ``dim``-like parameters, an int
    list of the declared length, the flag opposite to its default, a dtype
    of the allowed set; None when the schema says too little."""
    kind, name = arg.kind, arg.name
    rank = _rank(record)
    dims = name in ("dim", "axis", "dims", "axes") or name.endswith("_dim")
    if kind is ArgKind.INT_LIST and dims:
        if not rank:
            return None
        n = max(1, min(arg.length or rng.choice([1, 1, 2]), rank))
        chosen = sorted(rng.sample(range(rank), n))
        return Seq("list", tuple(Literal(d - rank if rng.random() < 0.3 else d)
                                 for d in chosen))
    if kind is ArgKind.INT and dims:
        if not rank:
            return None
        return Literal(rng.randrange(-rank, rank))
    if kind is ArgKind.BOOL:
        d = arg.default
        if isinstance(d, Literal) and isinstance(d.value, bool):
            return Literal(not d.value)
        return Literal(rng.random() < 0.5)
    if kind is ArgKind.DTYPE:
        names = [n for n in (arg.dtypes or dtypes_of(record.framework, "float")) if n]
        return DType(record.framework, rng.choice(names)) if names else None
    if kind is ArgKind.TENSOR and required:
        first = _first_tensor(record)
        return None if first is None else first[1]
    if kind is ArgKind.INT:
        d = arg.default
        if isinstance(d, Literal) and type(d.value) is int:
            return Literal(d.value + rng.choice([1, 2]))
        return Literal(rng.choice([1, 2])) if required else None
    if kind is ArgKind.INT_LIST and arg.length:
        return Seq("list", (Literal(rng.choice([1, 2])),) * arg.length) if required else None
    if kind in (ArgKind.FLOAT, ArgKind.SCALAR):
        d = arg.default
        if isinstance(d, Literal) and isinstance(d.value, (int, float)) and \
                not isinstance(d.value, bool):
            return Literal(float(d.value) * 2 or 0.5)
        return Literal(0.5) if required else None
    return None


class Overload(Operator):
    """The call is moved to another overload of its API (from the schema,
    :mod:`miner.schema`): the parameters it requires that the call does
    not pass are added with values of their declared type, and one or two
    of its optional ones with a value other than the default.  So a
    ``torch.sum(x)`` seen in code is also tried as ``torch.sum(x, dim=[1],
    keepdim=True)``, an overload no record mentions."""

    name = "signature.overload"
    family = "signature"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        schema = ctx.schema(record)
        if schema is None or not schema.overloads:
            return None
        args_section, kwargs_section = "args", "kwargs"
        if record.kind is CallKind.MODULE:
            return None  # a module's overloads are its forward's: one
        offset = 1 if record.kind is CallKind.METHOD else 0
        n_pos = len(record.args) - offset
        passed = {k for k, _ in record.kwargs}
        overloads = list(schema.overloads)
        rng.shuffle(overloads)
        for o in overloads:
            positional = [a for a in o.args if not a.keyword_only]
            if n_pos > len(positional) and not o.var_positional:
                continue
            names = {a.name for a in o.args}
            if not passed <= names and not o.var_keyword:
                continue
            bound = {a.name for a in positional[:n_pos]} | passed
            free = [a for a in o.args if a.name not in bound and a.name not in _NOT_ADDED
                    and not a.mutates]
            required = [a for a in free if not a.has_default]
            optional = [a for a in free if a.has_default]
            added: list[tuple[str, Value]] = []
            ok = True
            for a in required:
                v = _typed_value(a, record, rng, True)
                if v is None:
                    ok = False
                    break
                added.append((a.name, v))
            if not ok:
                continue
            rng.shuffle(optional)
            for a in optional[: rng.choice([1, 1, 2])]:
                v = _typed_value(a, record, rng, False)
                if v is not None:
                    added.append((a.name, v))
            if not added:
                continue
            kwargs = getattr(record, kwargs_section) + tuple(added)
            return dataclasses.replace(record, **{args_section: record.args,
                                                  kwargs_section: kwargs})
        return None


OPERATORS: tuple[Operator, ...] = (DropOptional(), AddOptional(), InPlace(), OutVariant(),
                                   Overload())
