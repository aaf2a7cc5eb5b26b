"""The call-record model: the vocabulary every stage of seamfuzz speaks.

A :class:`CallRecord` is one library call as it was mined: the canonical
public API name, how it was invoked (a function, a tensor method, or a
module/layer constructed and then applied), and its arguments as *abstract
values*.  Abstract values say what an argument is without holding framework
objects: a literal, a dtype, a tensor described by its shape, dtype, how its
values are drawn and its memory layout, the result of another library call,
or :class:`Unknown` when static analysis could not tell.

Every record and value is a frozen, slotted dataclass.  They round-trip
losslessly through JSON (:func:`value_to_json` / :func:`value_from_json`,
:meth:`CallRecord.to_json` / :meth:`CallRecord.from_json`), and a record has a
content-hash :attr:`CallRecord.id` over the fields that make it a distinct
call (not over how often or where it was seen).

Note [Why abstract tensors]
    The runner must build *identical* concrete inputs in every execution mode
    from a record plus a seed.  A tensor spec therefore names a distribution
    (:class:`Normal`, :class:`Uniform`, :class:`IntRange`) or exact contents
    (:class:`Fill`, :class:`Data`, :class:`Arange`, :class:`Eye`) instead of
    holding data, and a :class:`Layout` that says how the memory is arranged
    (a transposed or strided view is a different program for a compiler).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

__all__ = [
    "ApiRef",
    "Arange",
    "CallKind",
    "CallRecord",
    "Constructed",
    "DType",
    "Data",
    "Dict",
    "Empty",
    "Eye",
    "Fill",
    "Framework",
    "Init",
    "IntRange",
    "Layout",
    "LayoutKind",
    "Linspace",
    "Literal",
    "Normal",
    "Provenance",
    "SECTIONS",
    "SPECIAL_VALUES",
    "SYNTHESIZED",
    "Seq",
    "Slot",
    "Special",
    "TensorSpec",
    "Uniform",
    "Unknown",
    "Value",
    "base_shape",
    "child_values",
    "describe",
    "describe_record",
    "is_resolved",
    "scalar_from_json",
    "scalar_key",
    "scalar_to_json",
    "get_value",
    "iter_slots",
    "iter_values",
    "map_record_values",
    "map_values",
    "put_value",
    "value_from_json",
    "value_to_json",
    "with_child_values",
]

#: Provenance entries kept per record; occurrences are counted without limit.
MAX_PROVENANCE = 8
#: The corpus name of records no code called, built from a schema.
SYNTHESIZED = "synthesized"



class Framework(str, enum.Enum):
    """The library an API (or a tensor) belongs to."""

    TORCH = "torch"
    TENSORFLOW = "tensorflow"
    NUMPY = "numpy"


class CallKind(str, enum.Enum):
    """How a record's API is invoked."""

    #: ``api(*args, **kwargs)``.
    FUNCTION = "function"
    #: ``args[0].method(*args[1:], **kwargs)``; ``api`` is the unbound method
    #: (``torch.Tensor.sum``), so calling ``api(*args, **kwargs)`` is the same.
    METHOD = "method"
    #: ``api(*init_args, **init_kwargs)(*args, **kwargs)``: a module or layer
    #: constructed, then applied.
    MODULE = "module"


# ---------------------------------------------------------------------------
# Abstract argument values
# ---------------------------------------------------------------------------

Scalar = Union[bool, int, float, complex, str, None]


@dataclass(frozen=True, slots=True)
class Literal:
    """A Python scalar: bool, int, float (NaN and infinities included),
    complex, str or None."""

    #: The value itself.  ``-0.0`` and NaN are kept exactly.
    value: Scalar

    def __eq__(self, other: object) -> bool:
        # Structural equality that tells 1 from 1.0 from True, -0.0 from 0.0,
        # and treats NaN as equal to itself (records are values, not numbers).
        return isinstance(other, Literal) and scalar_key(self.value) == scalar_key(
            other.value
        )

    def __hash__(self) -> int:
        return hash(scalar_key(self.value))


@dataclass(frozen=True, slots=True)
class Seq:
    """A list or tuple of values."""

    #: ``"list"`` or ``"tuple"``.
    kind: str
    items: tuple["Value", ...]

    def __post_init__(self) -> None:
        if self.kind not in ("list", "tuple"):
            raise ValueError(f"Seq.kind must be 'list' or 'tuple', got {self.kind!r}")


@dataclass(frozen=True, slots=True)
class Dict:
    """A dict literal; keys are values too (normally string literals)."""

    items: tuple[tuple["Value", "Value"], ...]


@dataclass(frozen=True, slots=True)
class DType:
    """A dtype object of a framework, named without its module
    (``DType("torch", "float32")`` is ``torch.float32``)."""

    framework: str
    name: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """What static analysis could not resolve.  The hint names where it came
    from (a parameter name, the source text of the expression) for humans and
    for the mutator, which may borrow a value mined for a parameter of the
    same name."""

    hint: str = ""


@dataclass(frozen=True, slots=True)
class Constructed:
    """The result of calling another library API, built before the call under
    test (``torch.device("cpu")``, ``torch.Generator()``, ``nn.Linear(2, 3)``
    passed as an argument, ``torch.abs(x)`` as an input).  The runner builds
    it once, in the reference framework, and hands a copy to every mode."""

    #: Canonical public API name.
    api: str
    args: tuple["Value", ...] = ()
    kwargs: tuple[tuple[str, "Value"], ...] = ()


@dataclass(frozen=True, slots=True)
class ApiRef:
    """A library object passed by reference, not called: a function
    (``activation=torch.relu``) or another named object
    (``memory_format=torch.channels_last``).  The runner looks it up by name."""

    #: Canonical public API name.
    api: str


# --- how a tensor's values are drawn -------------------------------------


@dataclass(frozen=True, slots=True)
class Normal:
    """Values drawn from a normal distribution (``randn``)."""

    mean: float = 0.0
    std: float = 1.0


@dataclass(frozen=True, slots=True)
class Uniform:
    """Values drawn uniformly from ``[low, high)`` (``rand``)."""

    low: float = 0.0
    high: float = 1.0


@dataclass(frozen=True, slots=True)
class IntRange:
    """Integers drawn uniformly from ``[low, high)`` (``randint``); also used
    for integer tensors whose values are not otherwise known."""

    low: int = 0
    high: int = 10


@dataclass(frozen=True, slots=True)
class Fill:
    """Every element equal to one value (``zeros``, ``ones``, ``full``)."""

    value: Scalar

    def __eq__(self, other: object) -> bool:
        # As Literal: full(nan) equals itself, full(1) is not full(True).
        return isinstance(other, Fill) and scalar_key(self.value) == scalar_key(other.value)

    def __hash__(self) -> int:
        return hash(scalar_key(self.value))


@dataclass(frozen=True, slots=True)
class Data:
    """Exact contents, flattened in row-major order (``torch.tensor([...])``,
    ``tf.constant([...])``, ``np.array([...])``).  Kept small by the miner."""

    values: tuple[Scalar, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and tuple(map(scalar_key, self.values)) == tuple(
            map(scalar_key, other.values)
        )

    def __hash__(self) -> int:
        return hash(tuple(map(scalar_key, self.values)))


@dataclass(frozen=True, slots=True)
class Arange:
    """``start, start + step, ...`` in row-major order (``arange``, ``range``)."""

    start: float = 0
    step: float = 1


@dataclass(frozen=True, slots=True)
class Linspace:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""

    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True, slots=True)
class Eye:
    """Ones on the main diagonal of the last two dimensions, zeros elsewhere."""


@dataclass(frozen=True, slots=True)
class Empty:
    """Uninitialised memory (``torch.empty``).  The runner fills it
    deterministically; an API whose result depends on it is nondeterministic
    by nature."""


#: The names a :class:`Special` init may place, in a fixed order.  They are
#: resolved per dtype when the tensor is drawn (see
#: :func:`runner.materialize.draw`, Note [Value generation and casting]):
#:
#: - ``nan``, ``inf``, ``-inf``, ``0``, ``-0`` (negative zero), ``1``, ``-1``;
#: - ``max``: the largest finite value; ``min``: the most negative finite value
#:   (numpy's ``finfo.min`` / ``iinfo.min``, C++'s ``lowest``; 0 for unsigned
#:   dtypes and False for ``bool``);
#: - ``tiny``: the smallest positive normal; ``denormal`` / ``-denormal``: the
#:   smallest positive subnormal and its negation; ``eps``: the distance from
#:   1 to the next value;
#: - ``huge`` / ``-huge``: ``2 ** (maxexp // 2)``, finite, but its square
#:   overflows (256 in float16, 2**64 in float32 and bfloat16, 2**512 in
#:   float64).
#:
#: Floating-point names of integer and ``bool`` dtypes are their float64
#: values cast with the usual saturating rules (``nan`` is 0, ``inf`` the
#: maximum, ``tiny`` 0, ``huge`` the maximum); complex dtypes take the value of
#: their component dtype as the real part, with imaginary part 0.
SPECIAL_VALUES = (
    "nan", "inf", "-inf", "0", "-0", "1", "-1", "max", "min",
    "tiny", "denormal", "-denormal", "eps", "huge", "-huge",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Special:
    """Random values with a fraction of elements replaced by special values
    (NaN, infinities, signed zeros, dtype bounds, subnormals...).

    The other elements are the dtype's default random draw: Normal(0, 1) for
    floating and complex dtypes (real, then imaginary parts), integers in
    ``[0, 10)`` for integer dtypes, 0/1 for ``bool``.  Then
    ``ceil(density * numel)`` distinct elements are chosen at random and the
    ``j``-th of them gets ``values[j % len(values)]``, so every value appears
    once there are enough elements.  Both choices come from the seed."""

    #: Names from :data:`SPECIAL_VALUES`, distinct, at least one.
    values: tuple[str, ...]
    #: The fraction of elements replaced, in ``(0, 1]``.
    density: float = 0.1

    def __post_init__(self) -> None:
        values = self.values
        if isinstance(values, str) or not isinstance(values, (tuple, list)):
            raise ValueError(f"Special.values must be a tuple of names, got {values!r}")
        values = tuple(values)
        object.__setattr__(self, "values", values)
        if not values:
            raise ValueError("Special.values is empty")
        unknown = [v for v in values if v not in SPECIAL_VALUES]
        if unknown:
            raise ValueError(
                f"unknown special values {unknown!r}; known: {', '.join(SPECIAL_VALUES)}"
            )
        if len(set(values)) != len(values):
            raise ValueError(f"Special.values has duplicates: {values!r}")
        d = self.density
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < d <= 1.0:
            # (NaN fails the comparison too.)
            raise ValueError(f"Special.density must be in (0, 1], got {d!r}")
        object.__setattr__(self, "density", float(d))


Init = Union[Normal, Uniform, IntRange, Fill, Data, Arange, Linspace, Eye, Empty, Special]


class LayoutKind(str, enum.Enum):
    """How a tensor's memory is arranged relative to its logical shape."""

    #: Row-major, dense.
    CONTIGUOUS = "contiguous"
    #: A permutation (``.T``, ``.permute``, ``.transpose``) of a contiguous
    #: tensor: ``base.permute(perm)`` where ``base.shape[perm[i]] == shape[i]``.
    PERMUTED = "permuted"
    #: A strided slice ``base[::step0, ::step1, ...]`` of a larger contiguous
    #: tensor whose dimension ``i`` has ``shape[i] * step[i]`` elements.
    STRIDED = "strided"
    #: A broadcast view with stride 0 in the ``expanded`` dimensions
    #: (``.expand``): the base has size 1 there.
    EXPANDED = "expanded"
    #: Channels-last memory format (4-d NHWC or 5-d NDHWC strides).
    CHANNELS_LAST = "channels_last"


@dataclass(frozen=True, slots=True)
class Layout:
    """A tensor's memory layout; see :class:`LayoutKind` for the meaning of
    ``dims`` in each kind."""

    kind: LayoutKind = LayoutKind.CONTIGUOUS
    #: PERMUTED: the permutation; STRIDED: the step per dimension; EXPANDED:
    #: the dimensions with stride 0; otherwise empty.
    dims: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        kind = LayoutKind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind in (LayoutKind.CONTIGUOUS, LayoutKind.CHANNELS_LAST) and self.dims:
            raise ValueError(f"layout {kind.value} takes no dims, got {self.dims}")
        if kind is LayoutKind.PERMUTED and sorted(self.dims) != list(range(len(self.dims))):
            raise ValueError(f"not a permutation: {self.dims}")
        if kind is LayoutKind.STRIDED and any(s < 1 for s in self.dims):
            raise ValueError(f"strides must be >= 1: {self.dims}")


CONTIGUOUS = Layout()


def base_shape(shape: tuple[int | None, ...], layout: Layout) -> tuple[int | None, ...]:
    """The shape of the contiguous base a layout's view is taken from
    (runner.materialize, Note [An init fills the base]): the unpermuted
    shape, each dimension times its step, size 1 in expanded dimensions;
    an unknown dimension stays unknown."""
    kind, dims = layout.kind, layout.dims
    if kind is LayoutKind.PERMUTED:
        inverse = [0] * len(dims)
        for i, p in enumerate(dims):
            inverse[p] = i
        return tuple(shape[inverse[j]] for j in range(len(dims)))
    if kind is LayoutKind.STRIDED:
        return tuple(None if s is None else s * k for s, k in zip(shape, dims))
    if kind is LayoutKind.EXPANDED:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(shape)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor described, not held: what the runner needs to build the same
    tensor from a seed in any mode."""

    #: The framework whose tensor type this is (``numpy`` for ``np.ndarray``).
    framework: str
    #: Logical shape; ``None`` marks a dimension the miner could not resolve.
    shape: tuple[int | None, ...]
    #: Dtype name without module (``float32``, ``int64``, ``bool``,
    #: ``complex64``, ``bfloat16``).
    dtype: str
    init: Init = field(default_factory=Normal)
    layout: Layout = CONTIGUOUS
    requires_grad: bool = False

    def __post_init__(self) -> None:
        if any(d is not None and (not isinstance(d, int) or d < 0) for d in self.shape):
            raise ValueError(f"bad shape {self.shape!r}")
        n = len(self.shape)
        lay = self.layout
        if lay.kind in (LayoutKind.PERMUTED, LayoutKind.STRIDED) and len(lay.dims) != n:
            raise ValueError(f"layout {lay} does not match rank {n}")
        if lay.kind is LayoutKind.EXPANDED and any(not 0 <= d < n for d in lay.dims):
            raise ValueError(f"layout {lay} does not match rank {n}")
        if lay.kind is LayoutKind.CHANNELS_LAST and n not in (4, 5):
            raise ValueError(f"channels_last needs rank 4 or 5, got rank {n}")

    @property
    def base_shape(self) -> tuple[int | None, ...]:
        """:func:`base_shape` of this spec's shape and layout."""
        return base_shape(self.shape, self.layout)

    @property
    def numel(self) -> int | None:
        """Element count, or None when a dimension is unknown."""
        total = 1
        for d in self.shape:
            if d is None:
                return None
            total *= d
        return total


Value = Union[Literal, Seq, Dict, DType, Unknown, Constructed, ApiRef, TensorSpec]


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a record was seen."""

    #: The corpus: a path given to ``seamfuzz mine``, or ``docs:torch``.
    corpus: str
    #: File (relative to the corpus) or, for docstrings, the documented API.
    file: str
    #: 1-based line of the call in that file (0 when not known).
    line: int


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One API call as mined: what is called, how, and with what."""

    __test__ = False

    #: Canonical public name, written as users write it (``torch.nn.Conv2d``,
    #: ``torch.Tensor.sum``, ``tf.math.abs``).
    api: str
    #: ``torch`` or ``tensorflow``.
    framework: str
    kind: CallKind = CallKind.FUNCTION
    #: Positional arguments of the call (for METHOD, ``args[0]`` is self).
    args: tuple[Value, ...] = ()
    #: Keyword arguments in source order.
    kwargs: tuple[tuple[str, Value], ...] = ()
    #: MODULE only: the constructor's arguments.
    init_args: tuple[Value, ...] = ()
    init_kwargs: tuple[tuple[str, Value], ...] = ()
    #: How many times this exact call was seen.
    occurrences: int = 1
    #: Where it was seen (at most :data:`MAX_PROVENANCE` entries).
    provenance: tuple[Provenance, ...] = ()
    #: Where values that mining left unknown came from: ``(slot, origin)``
    #: pairs, the slot written ``args[0]/1`` (section, index, child path) and
    #: the origin one of ``schema``, ``shape-solved``, ``flowed``,
    #: ``borrowed``, ``synthesized`` (see :mod:`runner.solve`).  A slot not
    #: listed was mined.  Not part of the identity: the call is the same
    #: whoever found its values.
    origins: tuple[tuple[str, str], ...] = ()
    #: Cache of :attr:`id` (not part of equality).
    _id: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CallKind(self.kind))
        if self.kind is not CallKind.MODULE and (self.init_args or self.init_kwargs):
            raise ValueError("only MODULE records have constructor arguments")
        if self.kind is CallKind.METHOD and not self.args:
            raise ValueError("a METHOD record needs its receiver as args[0]")
        if self.occurrences < 1:
            raise ValueError(f"occurrences must be >= 1, got {self.occurrences}")

    # -- identity ---------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """The JSON of the fields that make this call distinct."""
        return {
            "api": self.api,
            "framework": self.framework,
            "kind": self.kind.value,
            "args": [value_to_json(v) for v in self.args],
            "kwargs": [[k, value_to_json(v)] for k, v in self.kwargs],
            "init_args": [value_to_json(v) for v in self.init_args],
            "init_kwargs": [[k, value_to_json(v)] for k, v in self.init_kwargs],
        }

    @property
    def id(self) -> str:
        """Content hash of :meth:`identity`: equal calls share an id."""
        if not self._id:
            text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
            object.__setattr__(self, "_id", hashlib.sha256(text.encode()).hexdigest()[:20])
        return self._id

    def merged(self, other: "CallRecord") -> "CallRecord":
        """This record seen again: occurrences add up, provenance is capped."""
        if other.id != self.id:
            raise ValueError("can only merge records of the same call")
        prov = self.provenance + tuple(p for p in other.provenance if p not in self.provenance)
        return CallRecord(
            **{
                **self._fields(),
                "occurrences": self.occurrences + other.occurrences,
                "provenance": prov[:MAX_PROVENANCE],
                # The version with more of its values mined speaks for both.
                "origins": min(self.origins, other.origins, key=len),
            }
        )

    def values(self) -> Iterator[Value]:
        """Every top-level argument value (constructor's first)."""
        yield from self.init_args
        for _, v in self.init_kwargs:
            yield v
        yield from self.args
        for _, v in self.kwargs:
            yield v

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, f in self.__dataclass_fields__.items()
                if f.init}

    # -- JSON ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Lossless JSON-able dict (identity, occurrences, provenance)."""
        out = self.identity()
        out["occurrences"] = self.occurrences
        out["provenance"] = [[p.corpus, p.file, p.line] for p in self.provenance]
        if self.origins:
            out["origins"] = [[k, o] for k, o in self.origins]
        return out

    @property
    def synthesized(self) -> bool:
        """Whether no code called this: the record was built from the API's
        schema alone (:func:`runner.solve.skeleton`)."""
        return any(p.corpus == SYNTHESIZED for p in self.provenance)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "CallRecord":
        """Inverse of :meth:`to_json`; raises ValueError on malformed input."""
        try:
            return cls(
                api=str(obj["api"]),
                framework=str(obj["framework"]),
                kind=CallKind(obj.get("kind", "function")),
                args=tuple(value_from_json(v) for v in obj.get("args", ())),
                kwargs=tuple((str(k), value_from_json(v)) for k, v in obj.get("kwargs", ())),
                init_args=tuple(value_from_json(v) for v in obj.get("init_args", ())),
                init_kwargs=tuple(
                    (str(k), value_from_json(v)) for k, v in obj.get("init_kwargs", ())
                ),
                occurrences=int(obj.get("occurrences", 1)),
                provenance=tuple(
                    Provenance(str(c), str(f), int(n)) for c, f, n in obj.get("provenance", ())
                ),
                origins=tuple((str(k), str(o)) for k, o in obj.get("origins", ())),
            )
        except (KeyError, TypeError, OverflowError) as exc:  # int(1e999) overflows
            raise ValueError(f"malformed call record: {exc!r}") from exc


# ---------------------------------------------------------------------------
# JSON encoding of values
# ---------------------------------------------------------------------------


def scalar_key(v: Scalar) -> tuple:
    """A hashable key telling apart values Python's == conflates."""
    if isinstance(v, float):
        if math.isnan(v):
            return ("float", "nan")
        return ("float", v, math.copysign(1.0, v))
    if isinstance(v, complex):
        return ("complex", scalar_key(v.real), scalar_key(v.imag))
    return (type(v).__name__, v)


def scalar_to_json(v: Scalar) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)} if abs(v) > 2**53 else v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return {"float": repr(v)}  # 'nan', 'inf', '-inf'
        return {"float": v}
    if isinstance(v, complex):
        return {"complex": [scalar_to_json(v.real), scalar_to_json(v.imag)]}
    raise TypeError(f"not a scalar literal: {v!r}")


def scalar_from_json(o: Any) -> Scalar:
    if o is None or isinstance(o, (bool, str, int)):
        return o
    if isinstance(o, float):  # tolerate plain floats in hand-written JSON
        return o
    if isinstance(o, dict):
        if "float" in o:
            f = o["float"]
            return float(f)
        if "int" in o:
            return int(o["int"])
        if "complex" in o:
            re, im = o["complex"]
            return complex(scalar_from_json(re), scalar_from_json(im))
    raise ValueError(f"not a scalar literal in JSON: {o!r}")


def _num_to_json(v: float | int, as_float: bool) -> Any:
    return scalar_to_json(float(v) if as_float else v)


def _init_to_json(init: Init) -> dict[str, Any]:
    # Parameters are coerced as _init_from_json does (Normal(0, 1) keeps its
    # id when read back as Normal(0.0, 1.0)) and tagged like literals, so NaN,
    # infinities and -0.0 survive and the JSON stays strict.
    if isinstance(init, Normal):
        return {"t": "normal", "mean": _num_to_json(init.mean, True),
                "std": _num_to_json(init.std, True)}
    if isinstance(init, Uniform):
        return {"t": "uniform", "low": _num_to_json(init.low, True),
                "high": _num_to_json(init.high, True)}
    if isinstance(init, IntRange):
        return {"t": "intrange", "low": int(init.low), "high": int(init.high)}
    if isinstance(init, Fill):
        return {"t": "fill", "value": scalar_to_json(init.value)}
    if isinstance(init, Data):
        return {"t": "data", "values": [scalar_to_json(v) for v in init.values]}
    if isinstance(init, Arange):
        return {"t": "arange", "start": scalar_to_json(init.start),
                "step": scalar_to_json(init.step)}
    if isinstance(init, Linspace):
        return {"t": "linspace", "start": _num_to_json(init.start, True),
                "end": _num_to_json(init.end, True)}
    if isinstance(init, Eye):
        return {"t": "eye"}
    if isinstance(init, Empty):
        return {"t": "empty"}
    if isinstance(init, Special):
        return {"t": "special", "values": list(init.values),
                "density": _num_to_json(init.density, True)}
    raise TypeError(f"not a tensor init: {init!r}")


def _float_from_json(o: Any) -> float:
    v = scalar_from_json(o)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ValueError(f"expected a number, got {o!r}")
    return float(v)


def _init_from_json(o: dict[str, Any]) -> Init:
    t = o["t"]
    if t == "normal":
        return Normal(_float_from_json(o["mean"]), _float_from_json(o["std"]))
    if t == "uniform":
        return Uniform(_float_from_json(o["low"]), _float_from_json(o["high"]))
    if t == "intrange":
        return IntRange(int(o["low"]), int(o["high"]))
    if t == "fill":
        return Fill(scalar_from_json(o["value"]))
    if t == "data":
        return Data(tuple(scalar_from_json(v) for v in o["values"]))
    if t == "arange":
        start, step = scalar_from_json(o["start"]), scalar_from_json(o["step"])
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (start, step)):
            raise ValueError(f"bad arange {o!r}")
        return Arange(start, step)  # type: ignore[arg-type]
    if t == "linspace":
        return Linspace(_float_from_json(o["start"]), _float_from_json(o["end"]))
    if t == "eye":
        return Eye()
    if t == "empty":
        return Empty()
    if t == "special":
        values = o["values"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"bad special values {o!r}")
        return Special(tuple(values), _float_from_json(o["density"]))
    raise ValueError(f"unknown tensor init {t!r}")


def value_to_json(v: Value) -> Any:
    """Encode a value as JSON-able data (tagged with ``"t"``)."""
    if isinstance(v, Literal):
        return {"t": "lit", "v": scalar_to_json(v.value)}
    if isinstance(v, Seq):
        return {"t": v.kind, "items": [value_to_json(x) for x in v.items]}
    if isinstance(v, Dict):
        return {"t": "dict", "items": [[value_to_json(k), value_to_json(x)] for k, x in v.items]}
    if isinstance(v, DType):
        return {"t": "dtype", "fw": v.framework, "name": v.name}
    if isinstance(v, Unknown):
        return {"t": "unknown", "hint": v.hint}
    if isinstance(v, Constructed):
        return {
            "t": "call",
            "api": v.api,
            "args": [value_to_json(x) for x in v.args],
            "kwargs": [[k, value_to_json(x)] for k, x in v.kwargs],
        }
    if isinstance(v, ApiRef):
        return {"t": "api", "api": v.api}
    if isinstance(v, TensorSpec):
        out: dict[str, Any] = {
            "t": "tensor",
            "fw": v.framework,
            "shape": list(v.shape),
            "dtype": v.dtype,
            "init": _init_to_json(v.init),
        }
        if v.layout != CONTIGUOUS:
            out["layout"] = {"kind": v.layout.kind.value, "dims": list(v.layout.dims)}
        if v.requires_grad:
            out["requires_grad"] = True
        return out
    raise TypeError(f"not a record value: {v!r}")


def value_from_json(o: Any) -> Value:
    """Decode :func:`value_to_json` output; raises ValueError when malformed."""
    try:
        t = o["t"]
        if t == "lit":
            return Literal(scalar_from_json(o["v"]))
        if t in ("list", "tuple"):
            return Seq(t, tuple(value_from_json(x) for x in o["items"]))
        if t == "dict":
            return Dict(tuple((value_from_json(k), value_from_json(x)) for k, x in o["items"]))
        if t == "dtype":
            return DType(str(o["fw"]), str(o["name"]))
        if t == "unknown":
            return Unknown(str(o.get("hint", "")))
        if t == "call":
            return Constructed(
                str(o["api"]),
                tuple(value_from_json(x) for x in o.get("args", ())),
                tuple((str(k), value_from_json(x)) for k, x in o.get("kwargs", ())),
            )
        if t == "api":
            return ApiRef(str(o["api"]))
        if t == "tensor":
            lay = o.get("layout")
            layout = (
                Layout(LayoutKind(lay["kind"]), tuple(int(d) for d in lay["dims"]))
                if lay
                else CONTIGUOUS
            )
            return TensorSpec(
                framework=str(o["fw"]),
                shape=tuple(None if d is None else int(d) for d in o["shape"]),
                dtype=str(o["dtype"]),
                init=_init_from_json(o["init"]),
                layout=layout,
                requires_grad=bool(o.get("requires_grad", False)),
            )
    except (KeyError, TypeError, IndexError, OverflowError) as exc:
        raise ValueError(f"malformed value {o!r}: {exc!r}") from exc
    raise ValueError(f"unknown value tag in {o!r}")


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


def iter_values(v: Value) -> Iterator[Value]:
    """``v`` and every value nested inside it, depth first."""
    yield v
    for x in child_values(v):
        yield from iter_values(x)


# ---------------------------------------------------------------------------
# Rewriting value trees
# ---------------------------------------------------------------------------
#
# Note [One walker]
#     Every rewrite of a record's values (drawing tensors, widening them,
#     shrinking, mutating one argument) goes through the functions below, so
#     that all of them agree on what a value's children are and in which
#     order they come: a :class:`Seq`'s items; a :class:`Dict`'s key 0,
#     value 0, key 1, value 1...; a :class:`Constructed`'s positional then
#     keyword values.  That is :func:`iter_values`' order and the runner's
#     draw order, so the ``n``-th tensor spec met by :func:`map_values` is
#     the ``n``-th tensor drawn.  Any other node (a leaf value, or whatever
#     non-record object a caller put in a tree, such as a drawn tensor) has
#     no children.

#: The parts of a record that hold argument values, in the order
#: :meth:`CallRecord.values` yields them (constructor arguments first).
SECTIONS = ("init_args", "init_kwargs", "args", "kwargs")


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a value sits in a record: a top-level argument by its position,
    then a path of child indices down to the value."""

    #: One of :data:`SECTIONS`.
    section: str
    #: The top-level argument's position in its section's tuple (for
    #: ``*_kwargs``, of its ``(name, value)`` pair: a keyword given twice
    #: still has two slots).
    index: int
    #: Indices into :func:`child_values`, from the top-level argument down.
    path: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.section not in SECTIONS:
            raise ValueError(f"Slot.section must be one of {SECTIONS}, got {self.section!r}")
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"Slot.index must be an int >= 0, got {self.index!r}")
        object.__setattr__(self, "path", tuple(self.path))

    @property
    def is_keyword(self) -> bool:
        """Whether the top-level argument is a keyword argument."""
        return self.section.endswith("kwargs")

    def child(self, i: int) -> "Slot":
        """The slot of this value's ``i``-th child."""
        return Slot(self.section, self.index, self.path + (i,))


def child_values(v: Any) -> tuple[Any, ...]:
    """The values directly inside ``v``, in :func:`iter_values` order (see
    Note [One walker]); ``()`` for a leaf."""
    if isinstance(v, Seq):
        return v.items
    if isinstance(v, Dict):
        return tuple(x for pair in v.items for x in pair)
    if isinstance(v, Constructed):
        return v.args + tuple(x for _, x in v.kwargs)
    return ()


def with_child_values(v: Any, new: tuple[Any, ...]) -> Any:
    """``v`` rebuilt with ``new`` in place of :func:`child_values` (as many,
    in the same order)."""
    old = child_values(v)
    if len(new) != len(old):
        raise ValueError(f"{type(v).__name__} has {len(old)} children, got {len(new)}")
    if not old:
        return v
    if isinstance(v, Seq):
        return Seq(v.kind, tuple(new))
    if isinstance(v, Dict):
        return Dict(tuple((new[i], new[i + 1]) for i in range(0, len(new), 2)))
    if not isinstance(v, Constructed):
        raise TypeError(f"not a record container: {v!r}")
    n = len(v.args)
    return Constructed(v.api, tuple(new[:n]),
                       tuple((name, x) for (name, _), x in zip(v.kwargs, new[n:])))


def map_values(v: Any, fn: Callable[[Any], Any], types: type | tuple[type, ...] | None = None
               ) -> Any:
    """``v`` rebuilt bottom-up: every node's children are mapped first (left
    to right, in :func:`iter_values` order), then ``fn`` is applied to the
    node, or only to nodes that are instances of ``types`` when given.  A
    container whose children all come back unchanged (``is``) is kept as
    it is, so ``map_values(v, lambda x: x)`` returns ``v`` itself."""
    old = child_values(v)
    if old:
        new = tuple(map_values(x, fn, types) for x in old)
        if any(a is not b for a, b in zip(new, old)):
            v = with_child_values(v, new)
    if types is None or isinstance(v, types):
        return fn(v)
    return v


def map_record_values(record: "CallRecord", fn: Callable[[Any], Any],
                      types: type | tuple[type, ...] | None = None, *,
                      include_init: bool = True) -> "CallRecord":
    """``record`` with :func:`map_values` applied to every top-level
    argument, in :data:`SECTIONS` order (constructor arguments first, unless
    ``include_init`` is False: then they are left alone).  Occurrences and
    provenance are kept."""
    changes: dict[str, tuple] = {}
    for section in SECTIONS:
        if not include_init and section.startswith("init"):
            continue
        part = getattr(record, section)
        if section.endswith("kwargs"):
            changes[section] = tuple((k, map_values(x, fn, types)) for k, x in part)
        else:
            changes[section] = tuple(map_values(x, fn, types) for x in part)
    return CallRecord(**{**record._fields(), **changes})


def iter_slots(record: "CallRecord", *, dict_keys: bool = True
               ) -> Iterator[tuple[Slot, Value]]:
    """Every argument value of ``record`` and every value nested in one,
    depth first in :data:`SECTIONS` order, with its :class:`Slot`.  With
    ``dict_keys`` False a :class:`Dict`'s keys (and what is inside them) are
    skipped; the paths of the other values stay the same."""

    def visit(slot: Slot, v: Value) -> Iterator[tuple[Slot, Value]]:
        yield slot, v
        skip_keys = not dict_keys and isinstance(v, Dict)
        for i, x in enumerate(child_values(v)):
            if not (skip_keys and i % 2 == 0):
                yield from visit(slot.child(i), x)

    for section in SECTIONS:
        keyword = section.endswith("kwargs")
        for i, item in enumerate(getattr(record, section)):
            yield from visit(Slot(section, i), item[1] if keyword else item)


def get_value(record: "CallRecord", slot: Slot) -> Value:
    """The value at ``slot``; raises IndexError when there is none."""
    item = getattr(record, slot.section)[slot.index]
    v = item[1] if slot.is_keyword else item
    for i in slot.path:
        v = child_values(v)[i]
    return v


def put_value(record: "CallRecord", slot: Slot, new: Value) -> "CallRecord":
    """``record`` with the value at ``slot`` replaced by ``new`` (its
    containers rebuilt); raises IndexError when there is no such value."""

    def rebuild(v: Value, path: tuple[int, ...]) -> Value:
        if not path:
            return new
        kids = list(child_values(v))
        kids[path[0]] = rebuild(kids[path[0]], path[1:])
        return with_child_values(v, tuple(kids))

    part = getattr(record, slot.section)
    item = part[slot.index]
    if slot.is_keyword:
        item = (item[0], rebuild(item[1], slot.path))
    else:
        item = rebuild(item, slot.path)
    value = part[:slot.index] + (item,) + part[slot.index + 1:]
    return CallRecord(**{**record._fields(), slot.section: value})


def is_resolved(v: Value) -> bool:
    """True when nothing in ``v`` is :class:`Unknown` or an unknown shape."""
    for x in iter_values(v):
        if isinstance(x, Unknown):
            return False
        if isinstance(x, TensorSpec) and None in x.shape:
            return False
    return True


# ---------------------------------------------------------------------------
# Compact rendering (for humans: rule examples, tables, reports)
# ---------------------------------------------------------------------------

_DTYPE_MODULE = {"torch": "torch", "tensorflow": "tf", "numpy": "np", "python": ""}


def _describe_scalar(v: Scalar) -> str:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return f"float({repr(v)!r})"
    return repr(v)


def _describe_init(init: Init) -> str:
    if isinstance(init, Normal):
        return "normal" if (init.mean, init.std) == (0.0, 1.0) else \
            f"normal({init.mean:g}, {init.std:g})"
    if isinstance(init, Uniform):
        return "uniform" if (init.low, init.high) == (0.0, 1.0) else \
            f"uniform({init.low:g}, {init.high:g})"
    if isinstance(init, IntRange):
        return f"randint({init.low}, {init.high})"
    if isinstance(init, Fill):
        return f"fill({_describe_scalar(init.value)})"
    if isinstance(init, Data):
        vals = ", ".join(_describe_scalar(v) for v in init.values[:6])
        return f"data({vals}{', ...' if len(init.values) > 6 else ''})"
    if isinstance(init, Arange):
        return f"arange({init.start}, step={init.step})"
    if isinstance(init, Linspace):
        return f"linspace({init.start:g}, {init.end:g})"
    if isinstance(init, Special):
        return f"special({', '.join(init.values)}; {init.density:g})"
    return type(init).__name__.lower()


def describe(v: Value) -> str:
    """A short, unambiguous rendering of a value:
    ``Tensor[torch 3x4 float32 normal permuted(1,0)]``, ``torch.float32``,
    ``?batch`` (unknown), ``torch.abs(...)`` (constructed)."""
    if isinstance(v, Literal):
        return _describe_scalar(v.value)
    if isinstance(v, Seq):
        inner = ", ".join(describe(x) for x in v.items)
        if v.kind == "list":
            return f"[{inner}]"
        return f"({inner}{',' if len(v.items) == 1 else ''})"
    if isinstance(v, Dict):
        return "{" + ", ".join(f"{describe(k)}: {describe(x)}" for k, x in v.items) + "}"
    if isinstance(v, DType):
        mod = _DTYPE_MODULE.get(v.framework, v.framework)
        return f"{mod}.{v.name}" if mod else v.name
    if isinstance(v, Unknown):
        return f"?{v.hint}"
    if isinstance(v, ApiRef):
        return v.api
    if isinstance(v, Constructed):
        return f"{v.api}({_describe_args(v.args, v.kwargs)})"
    if isinstance(v, TensorSpec):
        shape = "x".join("?" if d is None else str(d) for d in v.shape) or "scalar"
        parts = [v.framework, shape, v.dtype, _describe_init(v.init)]
        if v.layout.kind is not LayoutKind.CONTIGUOUS:
            dims = ",".join(map(str, v.layout.dims))
            parts.append(f"{v.layout.kind.value}({dims})" if dims else v.layout.kind.value)
        if v.requires_grad:
            parts.append("requires_grad")
        return f"Tensor[{' '.join(parts)}]"
    raise TypeError(f"not a record value: {v!r}")


def _describe_args(args: tuple, kwargs: tuple) -> str:
    return ", ".join([describe(a) for a in args] + [f"{k}={describe(x)}" for k, x in kwargs])


def describe_record(rec: CallRecord) -> str:
    """``torch.cumsum(Tensor[...], dim=-1)``; a module as
    ``torch.nn.Conv2d(3, 16, 3)(Tensor[...])``."""
    call = f"({_describe_args(rec.args, rec.kwargs)})"
    if rec.kind is CallKind.MODULE:
        return f"{rec.api}({_describe_args(rec.init_args, rec.init_kwargs)}){call}"
    return rec.api + call
