"""Resolving what mining left unknown, by asking the library (in a worker).

A mined record whose tensor comes from a function parameter holds an
:class:`~miner.records.Unknown` there; so does a skeleton record synthesized
for an API nobody called.  :func:`solve` replaces every unknown with a
concrete value the API accepts: it builds candidate values from the
parameter's schema (:mod:`miner.schema`), from what the record itself
knows, and from other records of the same API and parameter (donors), then
lets the library decide, by running the call on small inputs in the
reference mode, until one combination returns.

Every value it fills in is tagged with its origin (:data:`ORIGINS`), kept
on the record (:attr:`~miner.records.CallRecord.origins`), so reports can
say how much of a case came from real code.

Note [Solving by running the eager kernel]
    The issue that asked for this suggested the libraries' shape inference
    on abstract tensors (meta tensors, concrete functions).  The solver
    instead runs the eager kernel on tiny concrete tensors (at most a few
    hundred elements): that is exactly the check the reference mode makes
    of every case, so a solved record is valid by construction; meta
    kernels accept calls whose checks are value-dependent (index ranges,
    positive-definiteness) and a tenth of aten ops have none, and tracing a
    TF concrete function per candidate costs tens of milliseconds against
    tens of microseconds for an eager call on a 2x3 tensor.  The solver is
    only ever run in a sandboxed worker, never in the mining process, and
    never on a denied API.

Note [Search order]
    Most calls take their tensors broadcast-compatible, so all unknown
    tensors of a record first take *one* shape candidate together; the
    shapes are built from the sizes the record already knows (a ``Linear``'s
    ``in_features``, a convolution weight's channels, literals among the
    arguments) placed at the second and last dimension, then generic ones,
    rank 2 and 4 first.  Then each slot alone walks its own candidates with
    the others held at their first.  The first combination the library
    accepts wins; :data:`MAX_ATTEMPTS` bounds the search per record.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional

from miner.records import (
    CallKind,
    CallRecord,
    Constructed,
    DType,
    Eye,
    IntRange,
    Literal,
    Normal,
    Seq,
    Slot,
    TensorSpec,
    Unknown,
    Value,
    child_values,
    get_value,
    iter_slots,
    put_value,
)
from miner.schema import ApiSchema, ArgKind, ArgSchema, tensor_name

__all__ = ["MAX_ATTEMPTS", "ORIGINS", "SolveTask", "SolveResult", "param_of", "skeleton",
           "solve", "solve_batch", "solve_task"]

#: Origins of a value in a record (:attr:`CallRecord.origins`): read from
#: code, the schema's default or type, solved against the library, flowed
#: from an earlier call (a nested ``Constructed``), borrowed from another
#: record of the same API and parameter.
ORIGINS = ("mined", "schema", "shape-solved", "flowed", "borrowed", "synthesized")

#: Calls tried per record before giving up.
MAX_ATTEMPTS = 80
#: Seconds one record's search may take (a slow op makes fewer attempts).
MAX_SECONDS = 8.0
#: Default size of a dimension nothing constrains.
_SIZE = 4
#: Spatial size: big enough for a 7x7 kernel with stride 2.
_SPATIAL = 8


@dataclass(frozen=True, slots=True)
class SolveTask:
    """Resolve one record: its schemas (of its API and of the APIs its
    arguments are built with) and donor values per ``(api, parameter)``."""

    record: CallRecord
    schemas: tuple[ApiSchema, ...] = ()
    #: ``((api, parameter), values)`` pairs: fully known values other
    #: records passed for that parameter.
    donors: tuple[tuple[tuple[str, str], tuple[Value, ...]], ...] = ()
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SolveResult:
    """What :func:`solve` made of one record."""

    record_id: str
    #: The record with every unknown filled, or None.
    solved: Optional[CallRecord]
    #: Calls tried.
    attempts: int
    seconds: float
    #: Why it failed (the last error), or "".
    reason: str = ""


# ---------------------------------------------------------------------------
# Which parameter a slot is
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Need:
    """An unknown slot and what is known of what it must be."""

    slot: Slot
    api: str
    param: str
    arg: Optional[ArgSchema]
    #: Inside a Constructed argument (a value flowing from an earlier call).
    nested: bool
    #: A tensor spec with unknown dimensions (None: the slot is Unknown).
    partial: Optional[TensorSpec] = None


def param_of(schema: Optional[ApiSchema], section: str, index: int, name: str,
             method: bool) -> tuple[str, Optional[ArgSchema]]:
    """The parameter an argument binds to: its name (``#i`` when the schema
    does not say) and its schema, looked up in the first overload that has
    it.  ``name`` for a keyword argument, else the position ``index`` in
    ``section`` (for a METHOD's ``args``, 0 is the receiver)."""
    if schema is None:
        return name or f"#{index}", None
    overloads = ((schema.init,) if section.startswith("init") else schema.overloads)
    for o in overloads:
        if o is None:
            continue
        if name:
            a = o.arg(name)
        else:
            if method:
                if index == 0:
                    return "self", ArgSchema("self", ArgKind.TENSOR)
                index -= 1
            a = o.positional(index)
        if a is not None:
            return a.name, a
    return name or f"#{index}", None


def _needs(record: CallRecord, schemas: dict[tuple[str, str], ApiSchema]) -> list[_Need]:
    """Every Unknown in ``record`` with the parameter it fills."""
    out: list[_Need] = []
    top = schemas.get((record.api, record.kind.value))
    for slot, v in iter_slots(record):
        partial = v if isinstance(v, TensorSpec) and None in v.shape else None
        if not isinstance(v, Unknown) and partial is None:
            continue
        # Walk down from the top-level argument, following Constructed calls.
        item = getattr(record, slot.section)[slot.index]
        name = item[0] if slot.is_keyword else ""
        api, schema, section, index = record.api, top, slot.section, slot.index
        method = record.kind is CallKind.METHOD
        cur: Any = item[1] if slot.is_keyword else item
        nested = False
        arg: Optional[ArgSchema] = None
        pname, arg = param_of(schema, section, index, name, method and section == "args")
        list_of: Optional[ArgSchema] = None
        for step in slot.path:
            if isinstance(cur, Constructed):
                nested = True
                api = cur.api
                schema = (schemas.get((api, "function")) or schemas.get((api, "method"))
                          or schemas.get((api, "module")))
                n_pos = len(cur.args)
                method = schema is not None and schema.kind is CallKind.METHOD
                sect = "init_args" if schema is not None and schema.kind is CallKind.MODULE else "args"
                if step < n_pos:
                    pname, arg = param_of(schema, sect, step, "", method)
                else:
                    pname, arg = param_of(schema, sect, 0, cur.kwargs[step - n_pos][0], method)
                list_of = None
            elif isinstance(cur, Seq):
                list_of = arg
            cur = child_values(cur)[step]
        if list_of is not None:
            elem = {ArgKind.TENSOR_LIST: ArgKind.TENSOR, ArgKind.INT_LIST: ArgKind.INT,
                    ArgKind.FLOAT_LIST: ArgKind.FLOAT}.get(list_of.kind, ArgKind.ANY)
            # An element: donors of the whole parameter do not apply.
            pname = f"{pname}[]"
            arg = ArgSchema(pname, elem, dtypes=list_of.dtypes)
        out.append(_Need(slot, api, pname, arg, nested, partial))
    return out


# ---------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------


def _known_sizes(record: CallRecord) -> list[int]:
    """Sizes the record already knows, the most telling first: constructor
    literals, then tensor dimensions, then other int literals."""
    init: list[int] = []
    dims: list[int] = []
    other: list[int] = []
    for slot, v in iter_slots(record):
        target = init if slot.section.startswith("init") else other
        if isinstance(v, Literal) and isinstance(v.value, int) and not isinstance(v.value, bool):
            target.append(v.value)
        elif isinstance(v, TensorSpec):
            dims.extend(d for d in v.shape if d is not None)
    seen: list[int] = []
    for n in init + dims + other:
        if 2 <= n <= 4096 and n not in seen and n != _SIZE:
            seen.append(n)
    return seen[:4]


def _shapes(known: list[int]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for k in known:
        out += [(2, k), (2, k, _SPATIAL, _SPATIAL), (2, k, _SPATIAL), (2, _SPATIAL, k), (k,),
                (2, _SPATIAL, _SPATIAL, k), (2, k, _SPATIAL, _SPATIAL, _SPATIAL)]
    out += [(2, _SIZE), (2, 3, _SPATIAL, _SPATIAL), (2, 3, _SPATIAL), (_SIZE,), (),
            (_SIZE, _SIZE), (2, 3, 4, 4, 4), (1, _SIZE)]
    unique: list[tuple[int, ...]] = []
    for s in out:
        if s not in unique:
            unique.append(s)
    return unique


_FLOAT_FIRST = ("float32", "int64", "bool", "float64", "int32", "complex64")


def _init_for(dtype: str) -> Any:
    if dtype == "bool" or dtype.startswith(("int", "uint")):
        return IntRange(0, 2)
    return Normal()


def _dtypes(framework: str, arg: Optional[ArgSchema], name: str) -> list[str]:
    allowed = [d for d in (arg.dtypes if arg else ()) if d not in ("string", "resource",
                                                                   "variant", "qint8", "quint8",
                                                                   "qint32", "qint16", "quint16")]
    if allowed:
        ordered = [d for d in _FLOAT_FIRST if d in allowed] + [d for d in allowed
                                                                if d not in _FLOAT_FIRST]
        return ordered[:3]
    if name in ("indices", "index", "target", "labels", "ids", "idx") or name.endswith("_ids"):
        return ["int64", "float32"]
    if name in ("mask", "condition"):
        return ["bool", "float32"]
    return ["float32", "int64", "bool"]


def _tensor_candidates(framework: str, need: _Need, known: list[int]) -> list[TensorSpec]:
    fw = "torch" if framework == "torch" else "tensorflow"
    dts = _dtypes(framework, need.arg, need.param)
    out = [TensorSpec(fw, s, dts[0], _init_for(dts[0])) for s in _shapes(known)]
    if dts[0].startswith(("float", "complex")):
        # Linear algebra wants an invertible, positive-definite matrix.
        out.insert(min(len(out), 4), TensorSpec(fw, (_SIZE, _SIZE), dts[0], Eye()))
    for d in dts[1:]:
        out += [TensorSpec(fw, s, d, _init_for(d)) for s in _shapes(known)[:6]]
    return out


def _scalar_candidates(framework: str, need: _Need, known: list[int]) -> list[Value]:
    arg, name = need.arg, need.param
    kind = arg.kind if arg is not None else ArgKind.ANY
    if kind is ArgKind.ANY and tensor_name(name):
        kind = ArgKind.TENSOR
    dims = name in ("dim", "axis", "dims", "axes", "dim0", "dim1", "start_dim", "end_dim")
    if kind is ArgKind.INT:
        # A size that matches the default tensor dimension first (a Linear's
        # in_features next to a (2, 4) input).
        return [Literal(x) for x in ([1, -1, 0] if dims else [_SIZE, 2, 1, 3, 0] + known[:2])]
    if kind is ArgKind.INT_LIST:
        n = arg.length if arg is not None and arg.length else 0
        if dims:
            return [Seq("list", (Literal(1),) * max(n, 1)), Seq("list", (Literal(-1),) * max(n, 1))]
        lengths = [n] if n else [1, 2]
        values = (1, 2) if n >= 4 else (2, 1)
        return [Seq("list", (Literal(v),) * ln) for ln in lengths for v in values]
    if kind is ArgKind.FLOAT:
        return [Literal(0.5), Literal(1.0), Literal(0.0)]
    if kind is ArgKind.FLOAT_LIST:
        return [Seq("list", (Literal(0.5),) * (arg.length if arg and arg.length else 2))]
    if kind is ArgKind.BOOL:
        return [Literal(False), Literal(True)]
    if kind is ArgKind.SCALAR:
        return [Literal(2), Literal(0.5)]
    if kind is ArgKind.DTYPE:
        dts = list(arg.dtypes) if arg is not None and arg.dtypes else ["float32", "int64"]
        fw = "torch" if framework == "torch" else "tensorflow"
        return [DType(fw, d) for d in _dtypes(framework, arg, "")[:2] if d in dts or not arg or not arg.dtypes] or [DType(fw, dts[0])]
    if kind is ArgKind.STR:
        return [Literal(c) for c in (arg.choices if arg is not None else ())[:3]]
    if kind is ArgKind.TENSOR_LIST:
        fw = "torch" if framework == "torch" else "tensorflow"
        dt = _dtypes(framework, arg, name)[0]
        return [Seq("list", (TensorSpec(fw, s, dt, _init_for(dt)),) * 2)
                for s in _shapes(known)[:6]]
    return []


def _candidates(framework: str, need: _Need, known: list[int],
                donors: dict[tuple[str, str], tuple[Value, ...]]) -> list[tuple[Value, str]]:
    """``(value, origin)`` pairs in the order they are tried."""
    solved = "flowed" if need.nested else "shape-solved"
    if need.partial is not None:
        sizes = [_SIZE, 2, _SPATIAL] + [k for k in known if k not in (_SIZE, 2, _SPATIAL)]
        return [(replace(need.partial, shape=tuple(d if d is not None else k
                                                   for d in need.partial.shape)), solved)
                for k in sizes]
    out: list[tuple[Value, str]] = [(v, "borrowed") for v in donors.get((need.api, need.param), ())]
    kind = need.arg.kind if need.arg is not None else ArgKind.ANY
    if kind is ArgKind.ANY and (tensor_name(need.param) or need.param == "self"):
        kind = ArgKind.TENSOR
    if kind is ArgKind.TENSOR:
        out += [(t, solved) for t in _tensor_candidates(framework, need, known)]
    elif kind is ArgKind.ANY:
        out += [(t, solved) for t in _tensor_candidates(framework, need, known)]
        out += [(Literal(_SIZE), "schema"), (Literal(0.5), "schema")]
    else:
        out += [(v, "schema") for v in _scalar_candidates(framework, need, known)]
        if need.param == "device":
            out.append((Literal("cpu"), "schema"))
        if need.arg is not None and need.arg.optional:
            out.append((Literal(None), "schema"))
    # The parameter's default is always acceptable to the library's checks.
    arg = need.arg
    if arg is not None and arg.has_default and arg.default is not None and \
            all(arg.default != v for v, _ in out):
        out.append((arg.default, "schema"))
    return out


# ---------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------


def _assign(record: CallRecord, choice: list[tuple[_Need, Value, str]]) -> CallRecord:
    # Deepest slots first, so that a parent's path stays valid.
    for need, value, _ in sorted(choice, key=lambda c: -len(c[0].slot.path)):
        record = put_value(record, need.slot, value)
    origins = dict(record.origins)
    for need, _, origin in choice:
        origins[_slot_key(need.slot)] = origin
    return replace(record, origins=tuple(sorted(origins.items())))


def _slot_key(slot: Slot) -> str:
    return f"{slot.section}[{slot.index}]" + "".join(f"/{i}" for i in slot.path)


def _plans(needs: list[_Need], cands: list[list[tuple[Value, str]]]) -> Iterator[list[int]]:
    """Index vectors into ``cands``, in the order of Note [Search order]."""
    n = len(needs)
    tensor_slots = [i for i in range(n) if cands[i] and isinstance(cands[i][0][0], TensorSpec)]
    first = [0] * n
    seen: set[tuple[int, ...]] = set()

    def emit(v: list[int]) -> Iterator[list[int]]:
        t = tuple(v)
        if t not in seen:
            seen.add(t)
            yield list(v)

    yield from emit(first)
    # All tensor slots move together over the shape candidates.
    if tensor_slots:
        depth = max(len(cands[i]) for i in tensor_slots)
        for j in range(depth):
            v = list(first)
            for i in tensor_slots:
                v[i] = min(j, len(cands[i]) - 1)
            yield from emit(v)
            # With the scalars' other candidates.
            for i in range(n):
                if i in tensor_slots:
                    continue
                for k in range(1, min(len(cands[i]), 4)):
                    w = list(v)
                    w[i] = k
                    yield from emit(w)
    # Each slot alone.
    for i in range(n):
        for k in range(1, len(cands[i])):
            v = list(first)
            v[i] = k
            yield from emit(v)
    # Pairs of scalar choices (small spaces only).
    if n <= 4:
        for v in itertools.product(*(range(min(len(c), 3)) for c in cands)):
            yield from emit(list(v))


def solve(task: SolveTask, mode: Any, deadline_s: float = MAX_SECONDS,
          max_attempts: int = MAX_ATTEMPTS) -> SolveResult:
    """Fill every Unknown of ``task.record`` with a value ``mode`` (the
    framework's eager reference, built by the caller) accepts; see the
    module's notes.  Runs library code: call it in a worker only."""
    from runner.call import observe_call
    from runner.deny import denied_record

    start = time.perf_counter()
    record = task.record
    why = denied_record(record)
    if why:
        return SolveResult(record.id, None, 0, 0.0, f"denied: {why}")
    schemas = {(s.api, s.kind.value): s for s in task.schemas}
    donors = dict(task.donors)
    needs = _needs(record, schemas)
    known = _known_sizes(record)
    cands = [_candidates(record.framework, n, known, donors) for n in needs]
    if any(not c for c in cands):
        missing = [n.param for n, c in zip(needs, cands) if not c]
        return SolveResult(record.id, None, 0, 0.0,
                           f"nothing to try for {', '.join(missing)}")
    attempts = 0
    reason = ""
    for plan in _plans(needs, cands):
        if attempts >= max_attempts or time.perf_counter() - start > deadline_s:
            break
        choice = [(n, cands[i][plan[i]][0], cands[i][plan[i]][1]) for i, n in enumerate(needs)]
        candidate = _assign(record, choice)
        if denied_record(candidate):
            continue
        attempts += 1
        try:
            out, _ = observe_call(candidate, task.seed, mode, max_elements=1 << 16)
        except Exception as exc:  # noqa: BLE001 - materialisation refused the candidate
            out = exc
        if not isinstance(out, BaseException):
            return SolveResult(record.id, candidate, attempts, time.perf_counter() - start)
        reason = f"{type(out).__name__}: {str(out).strip().splitlines()[0][:200] if str(out).strip() else ''}"
    return SolveResult(record.id, None, attempts, time.perf_counter() - start,
                       reason or "no candidate")


_EAGER: dict[str, Any] = {}


def solve_task(task: SolveTask) -> SolveResult:
    """Worker entry: :func:`solve` in the framework's eager reference mode."""
    from runner.modes import load_mode

    fw = task.record.framework
    mode = _EAGER.get(fw)
    if mode is None:
        mode = _EAGER[fw] = load_mode("torch.eager" if fw == "torch" else "tf.eager")
    return solve(task, mode)


def solve_batch(tasks: list[SolveTask]) -> list[SolveResult]:
    """Worker entry for a batch of records (see :func:`solve_task`)."""
    return [solve_task(t) for t in tasks]


# ---------------------------------------------------------------------------
# Skeletons of APIs nobody called
# ---------------------------------------------------------------------------


_NUMERIC = (ArgKind.INT, ArgKind.FLOAT, ArgKind.INT_LIST, ArgKind.SCALAR, ArgKind.FLOAT_LIST)


def skeleton(schema: ApiSchema) -> list[CallRecord]:
    """Records of ``schema``'s API with every required parameter Unknown
    (named by the parameter), one per distinct overload shape, for
    :func:`solve` to fill: what synthesis starts from."""
    out: list[CallRecord] = []
    seen: set[str] = set()
    init_args: tuple[Value, ...] = ()
    init_kwargs: tuple[tuple[str, Value], ...] = ()
    if schema.kind is CallKind.MODULE:
        if schema.init is None:
            return []
        if any(a.kind is ArgKind.OTHER for a in schema.init.required):
            return []
        init_args = tuple(Unknown(a.name) for a in schema.init.required if not a.keyword_only)
        init_kwargs = tuple((a.name, Unknown(a.name)) for a in schema.init.required
                            if a.keyword_only)
    overloads = schema.overloads or ()
    for o in overloads:
        req = o.required
        if any(a.kind is ArgKind.OTHER for a in req):
            continue
        args: tuple[Value, ...] = tuple(Unknown(a.name) for a in req if not a.keyword_only)
        kwargs = tuple((a.name, Unknown(a.name)) for a in req if a.keyword_only)
        if schema.kind is CallKind.METHOD:
            args = (Unknown("self"),) + args
        variants = [kwargs]
        # Some calls need one of their optional parameters (interpolate's
        # size or scale_factor): one variant per such parameter, few.
        optional = [a for a in o.args if a.has_default and isinstance(a.default, Literal)
                    and a.default.value is None and a.kind in _NUMERIC][:2]
        variants += [kwargs + ((a.name, Unknown(a.name)),) for a in optional]
        for kw in variants:
            rec = CallRecord(schema.api, schema.framework, schema.kind, args, kw,
                             init_args, init_kwargs)
            if rec.id not in seen:
                seen.add(rec.id)
                out.append(rec)
    if not out and schema.kind is CallKind.MODULE and not overloads:
        return []
    return out
