"""The contract: does a target mode preserve what its reference mode did?

:func:`judge` takes what the reference and the target observed for one case
(:class:`~runner.observation.Observation`) and returns one :class:`Verdict`
naming the :class:`Boundary`.  It never raises for well-formed observations
and does no I/O; it imports no framework.

Values are compared by a chain of pair classes (:data:`PAIRS`), as in
``torch.testing``: each class either claims a (reference, target) pair of
output-tree nodes or raises :class:`UnsupportedInputs`, and the first that
claims compares them, recursing into containers.  Leaves are compared dtype
first, then shape, then values; value tolerances come from a per-dtype
:class:`ToleranceTable`, with float64 arbitration where they fail.

Note [Order of judgement]
    The first rule that applies decides:

    1. either side INTERNAL: INTERNAL.  seamfuzz itself failed (building the
       inputs, converting the output, a worker that raised); that is never
       an observation of the library, so it outranks everything;
    2. either side SANDBOXED: SANDBOXED.  The call tried a write outside its
       temporary folder or the network and the sandbox stopped it; what it
       would have done unconfined is unknown, so nothing is judged;
    3. either side SKIPPED: TOO_LARGE when its detail mentions
       ``too_large``, else SKIPPED;
    4. either side's mode is unavailable on this machine (an UNSUPPORTED
       observation that carries no exception, only the reason in its
       detail: no CUDA device, no GPU): UNSUPPORTED (the target first);
    5. the reference crashed or timed out: INVALID.  The boundary cannot be
       judged without a reference result; a crashing reference is a bug of the
       reference mode, which its own Observation in the store still shows;
    6. the target crashed or timed out where the reference finished: CRASH /
       TIMEOUT, always (even when the reference is flaky);
    7. a repeat run of the reference ended differently (returned once, raised
       once): NONDETERMINISTIC; a repeat that was INTERNAL, SANDBOXED,
       SKIPPED or unavailable is not used;
    8. status, see Note [Who may say unsupported]:
       the reference raised and the target raised or declared a limit:
       INVALID (the input is outside the API's domain; differing exception
       types are named in the detail but are not a bug);
       the reference raised and the target returned: STATUS with
       ``accepts_invalid`` (eager's ``NotImplementedError: "softmax" not
       implemented for 'Long'`` against a compiled mode that returns a
       tensor is such a case);
       the reference returned and the target declared a limit of its own
       (an UNSUPPORTED observation with an exception): UNSUPPORTED;
       the reference returned and the target raised: STATUS, whatever the
       message says ("not implemented", "not supported" included);
    9. both returned: the output tree, then the mutated inputs, are compared.
       A repeat run of the reference is compared to the first exactly (NaN
       equals NaN; -0.0 equals 0.0): if their dtypes or shapes differ the
       verdict is NONDETERMINISTIC; if only values differ, or the API is
       declared nondeterministic, values cannot be judged, but dtypes and
       shapes still can (a random API's result type is deterministic), so a
       DTYPE / SHAPE mismatch is reported and otherwise the verdict is
       NONDETERMINISTIC.  Of several mismatches, the first DTYPE, else the
       first SHAPE, else the first VALUE (in tree order) is the verdict; the
       detail counts the others.

Note [Who may say unsupported]
    ``unsupported`` is only for a limit the *target mode itself declares*
    (a graph break under ``fullgraph``, data-dependent control flow, an op
    with no XLA kernel): the worker asks the mode and records such an error
    as an UNSUPPORTED observation with the reason in its detail; every
    other error is RAISED.  The contract never guesses from a message: a
    compiled mode that raises "not implemented" where eager returned has
    broken the boundary, and a message-based guess once hid exactly those.
    A reference mode declares no limits (it *is* the semantics), so an
    UNSUPPORTED reference observation that carries an exception counts as
    the reference raising.  A mode that is unavailable on this machine is
    recorded as UNSUPPORTED with no exception and stays ``unsupported`` on
    either side.

Note [Structure]
    A list, a tuple and a named tuple with the same items agree: torch ops
    return ``torch.return_types`` named tuples in eager mode and plain tuples
    from some compiled paths, and that is no bug.  A length or key-set
    difference is a SHAPE mismatch.  Two leaves of different kinds (an array
    against a Python float, an int against a float, ``None`` against
    anything) are a DTYPE mismatch; a leaf against a container, or a sequence
    against a mapping, is a SHAPE mismatch.  Opaque leaves compare by type
    name only, and the verdict's detail says so.

Note [Opaque results]
    A result that holds objects which are not values (a dataset, a device
    spec, a TensorArray: opaque leaves) is outside what the contract can
    judge: when its comparison finds any mismatch, the verdict is UNSUPPORTED
    with the mismatch in the detail, since graph modes legitimately wrap or
    convert such objects and no silent wrong *value* can be told from that.

Note [Tolerances]
    The defaults are those of ``torch.testing.assert_close`` (float16
    (1e-3, 1e-5), bfloat16 (1.6e-2, 1e-5), float32 (1.3e-6, 1e-5), float64
    (1e-7, 1e-7), complex like its component type).  For the 8-, 6- and 4-bit
    floats, which torch.testing has no figures for, rtol is the format's
    machine epsilon and atol its smallest subnormal: one unit in the last
    place, relative and near zero.  An element passes when
    ``|target - ref| <= atol + rtol * |ref|`` (the reference is the expected
    value).  Python floats (``python_float``) have no dtype to go by; they
    nearly always come from a tensor of the default dtype (``.item()``,
    ``.tolist()``), so they get float32's tolerance, not float64's, which a
    1-ulp float32 difference would fail.  Per-API overrides come through
    :meth:`ToleranceTable.with_overrides`.

Note [float64 arbitration]
    Fixed tolerances are wrong both ways: tight enough to catch a real bug in
    float16 they also flag a compiled kernel that fuses two ops and keeps the
    intermediate in float32, and is therefore *more* accurate than eager
    (measured: in half precision the compiled mode was the more accurate one
    every time).  So, as ``torch._dynamo.utils.same`` does with its
    ``fp64_ref``, where the tolerance fails and the runner supplies an
    *oracle* (the reference mode re-run with float64 inputs), an element is
    accepted when the target is not much further from the float64 result
    than the reference is:
    ``|target - fp64| <= multiplier * |ref - fp64| + atol`` (multiplier 2 by
    default).  A target that is merely differently rounded passes; one that
    is wrong is far from both.  NaN and infinities count as an infinite
    error unless they equal the float64 value, so a target that matches
    float64 where the reference overflowed passes; where the reference error
    is infinite it gives no scale, and the target must then be within
    ``multiplier * (atol + rtol * |fp64|)`` of the float64 value.  Complex
    values are arbitrated per component.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from infra.dtypes import complex_component, dtype_category, storage_dtype
from infra.errors import InternalError, InvalidArgument
from runner.observation import (
    SKIP_TOO_LARGE,
    ArrayLeaf,
    MapNode,
    Node,
    Observation,
    OpaqueLeaf,
    Outcome,
    ScalarLeaf,
    SeqNode,
    known_dtypes,
)

__all__ = [
    "BREAKING",
    "DEFAULT_TOLERANCES",
    "PAIRS",
    "Boundary",
    "Mismatch",
    "Pair",
    "ToleranceTable",
    "UnsupportedInputs",
    "Verdict",
    "VerdictKind",
    "compare_nodes",
    "judge",
]


class VerdictKind(str, enum.Enum):
    """What the contract concluded about one case on one boundary."""

    #: The target preserved the reference's result.
    AGREE = "agree"
    #: Values differ beyond tolerance and float64 arbitration.
    VALUE = "value"
    #: One side returned and the other raised.
    STATUS = "status"
    #: An output's dtype (or leaf type) differs.
    DTYPE = "dtype"
    #: An output's shape, a sequence's length or a mapping's keys differ.
    SHAPE = "shape"
    #: The target crashed where the reference finished.
    CRASH = "crash"
    #: The target hung where the reference finished.
    TIMEOUT = "timeout"
    #: The case cannot be judged: both raised (input outside the API's
    #: domain; a target's declared limit counts as raising here) or the
    #: reference itself crashed or hung.
    INVALID = "invalid"
    #: The target declared this case one of its own limits (see Note [Who
    #: may say unsupported]), or a mode is unavailable on this machine.
    UNSUPPORTED = "unsupported"
    #: The reference disagrees with itself, or the API is random by nature.
    NONDETERMINISTIC = "nondeterministic"
    #: Not run: the inputs exceed the memory cap.
    TOO_LARGE = "too_large"
    #: Not run for another reason (a denied API).
    SKIPPED = "skipped"
    #: seamfuzz failed on this case (an internal error): counted and shown
    #: apart, never judged as the library's behaviour.
    INTERNAL = "internal"
    #: A mode's call was stopped by the sandbox (a write outside its
    #: temporary folder, the network): not judged.
    SANDBOXED = "sandboxed"


#: The kinds that are reported as bugs of the target.  INTERNAL and
#: SANDBOXED are not: a failure of seamfuzz, or an effect the sandbox
#: stopped, says nothing about the library.
BREAKING = frozenset(
    {
        VerdictKind.VALUE,
        VerdictKind.STATUS,
        VerdictKind.DTYPE,
        VerdictKind.SHAPE,
        VerdictKind.CRASH,
        VerdictKind.TIMEOUT,
    }
)


@dataclass(frozen=True, slots=True)
class Boundary:
    """A reference mode paired with the target mode judged against it."""

    #: Registry name of the reference mode (normally eager on CPU).
    reference: str
    #: Registry name of the target mode (compiled, graph, XLA, a device).
    target: str

    def __post_init__(self) -> None:
        if not self.reference or not self.target:
            raise InvalidArgument(f"a boundary needs two mode names, got {self!r}")

    def __str__(self) -> str:
        return f"{self.reference} -> {self.target}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The contract's conclusion for one case on one boundary."""

    #: Reference mode name.
    reference: str
    #: Target mode name.
    target: str
    kind: VerdictKind
    #: One line for humans: what differs, where, by how much.
    detail: str
    #: Where in the output tree the (first) mismatch is: ``""`` for the root,
    #: ``[0].values``, ``mutated[1]``.
    path: str = ""
    #: STATUS only: the target returned on an input the reference rejects.
    accepts_invalid: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", VerdictKind(self.kind))

    @property
    def breaking(self) -> bool:
        """True when this verdict reports a bug of the target."""
        return self.kind in BREAKING

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "reference": self.reference,
            "target": self.target,
            "kind": self.kind.value,
            "detail": self.detail,
            "path": self.path,
            "accepts_invalid": self.accepts_invalid,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Verdict":
        """Inverse of :meth:`to_json`; raises ValueError when malformed."""
        try:
            return cls(
                str(obj["reference"]),
                str(obj["target"]),
                VerdictKind(obj["kind"]),
                str(obj["detail"]),
                str(obj.get("path", "")),
                bool(obj.get("accepts_invalid", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed verdict: {exc!r}") from exc


# ---------------------------------------------------------------------------
# Tolerances
# ---------------------------------------------------------------------------

#: Tolerance keys for Python scalars, which carry no dtype.
PYTHON_FLOAT = "python_float"
PYTHON_COMPLEX = "python_complex"

# torch.testing's figures (see Note [Tolerances]).
_TORCH_LIKE = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex32": (1e-3, 1e-5),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
    PYTHON_FLOAT: (1.3e-6, 1e-5),
    PYTHON_COMPLEX: (1.3e-6, 1e-5),
}


def _inexact_keys() -> list[str]:
    names = [n for n in known_dtypes() if dtype_category(n) in ("float", "complex")]
    return names + [PYTHON_FLOAT, PYTHON_COMPLEX]


def _default_entries() -> tuple[tuple[str, float, float], ...]:
    import ml_dtypes

    out = []
    for name in _inexact_keys():
        if name in _TORCH_LIKE:
            rtol, atol = _TORCH_LIKE[name]
        else:  # a low-precision float: one ulp (see Note [Tolerances])
            fi = ml_dtypes.finfo(storage_dtype(name))
            rtol, atol = float(fi.eps), float(fi.smallest_subnormal)
        out.append((name, rtol, atol))
    return tuple(out)


def _check_tolerance(what: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise InvalidArgument(f"{what} must be a finite number >= 0, got {v!r}")
    return float(v)


@dataclass(frozen=True, slots=True)
class ToleranceTable:
    """Per-dtype ``(rtol, atol)`` for inexact values, and the float64
    arbitration multiplier.  Integers and booleans always compare exactly."""

    #: ``(dtype name, rtol, atol)`` for every float and complex dtype, plus
    #: ``python_float`` and ``python_complex`` for Python scalars.
    entries: tuple[tuple[str, float, float], ...] = field(default_factory=_default_entries)
    #: See Note [float64 arbitration]; at least 1 (a target exactly as far
    #: from float64 as the reference must pass).
    oracle_multiplier: float = 2.0
    _index: dict[str, tuple[float, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        allowed = set(_inexact_keys())
        index: dict[str, tuple[float, float]] = {}
        for name, rtol, atol in self.entries:
            if name not in allowed:
                raise InvalidArgument(
                    f"no tolerance applies to {name!r}: integers and booleans compare "
                    f"exactly; inexact dtypes are {', '.join(sorted(allowed))}"
                )
            if name in index:
                raise InvalidArgument(f"two tolerance entries for {name!r}")
            index[name] = (_check_tolerance(f"rtol of {name}", rtol),
                           _check_tolerance(f"atol of {name}", atol))
        object.__setattr__(self, "entries", tuple((n, r, a) for n, (r, a) in index.items()))
        object.__setattr__(self, "_index", index)
        m = self.oracle_multiplier
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not (1 <= m < math.inf):
            raise InvalidArgument(f"oracle_multiplier must be finite and >= 1, got {m!r}")
        object.__setattr__(self, "oracle_multiplier", float(m))

    def get(self, dtype: str) -> tuple[float, float]:
        """``(rtol, atol)`` for a dtype name (``(0, 0)`` for integers and
        booleans).  Raises InvalidArgument for a dtype the table lacks."""
        hit = self._index.get(dtype)
        if hit is not None:
            return hit
        if dtype not in (PYTHON_FLOAT, PYTHON_COMPLEX):
            try:
                if dtype_category(dtype) in ("bool", "int"):
                    return (0.0, 0.0)
            except ValueError:
                pass
        raise InvalidArgument(f"no tolerance for dtype {dtype!r} in this table")

    def with_overrides(
        self,
        overrides: Mapping[str, tuple[float | None, float | None]],
        *,
        oracle_multiplier: float | None = None,
    ) -> "ToleranceTable":
        """A copy with some ``{dtype: (rtol, atol)}`` replaced.  Give both
        tolerances or neither (``(None, None)`` keeps the entry), as
        ``torch.testing`` asks: a lone rtol with a default atol is rarely what
        was meant."""
        index = dict(self._index)
        for name, pair in overrides.items():
            try:
                rtol, atol = pair
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"tolerance override for {name!r} must be (rtol, atol), got {pair!r}"
                ) from None
            if (rtol is None) != (atol is None):
                raise InvalidArgument(
                    f"give both rtol and atol for {name!r} or neither, got {pair!r}"
                )
            if rtol is None:
                continue
            index[name] = (rtol, atol)  # validated by __post_init__
        return ToleranceTable(
            tuple((n, r, a) for n, (r, a) in index.items()),
            self.oracle_multiplier if oracle_multiplier is None else oracle_multiplier,
        )

    @classmethod
    def exact(cls) -> "ToleranceTable":
        """Zero tolerances: values must be equal (NaN equals NaN, -0.0 equals
        0.0).  Used to compare the reference with its own repeat run."""
        return cls(tuple((n, 0.0, 0.0) for n in _inexact_keys()))


#: torch.testing-like defaults (see Note [Tolerances]).
DEFAULT_TOLERANCES = ToleranceTable()
_EXACT = ToleranceTable.exact()


# ---------------------------------------------------------------------------
# Comparator chain
# ---------------------------------------------------------------------------


class UnsupportedInputs(Exception):
    """Raised by a :class:`Pair` constructor that does not claim its nodes;
    the chain then tries the next class."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference a pair found."""

    #: DTYPE, SHAPE or VALUE.
    kind: VerdictKind
    #: Where in the tree (``""`` for the root).
    path: str
    #: What differs, without the path.
    detail: str

    def describe(self) -> str:
        """The detail prefixed with the path."""
        return f"{self.path}: {self.detail}" if self.path else self.detail


class _Run:
    """Settings and side findings of one tree comparison."""

    __slots__ = ("tolerances", "values", "notes")

    def __init__(self, tolerances: ToleranceTable, values: bool) -> None:
        self.tolerances = tolerances
        #: False: only dtypes, shapes and structure are compared.
        self.values = values
        #: What an AGREE verdict should still mention (opaque leaves,
        #: elements accepted by arbitration).
        self.notes: list[str] = []

    def note(self, path: str, text: str) -> None:
        self.notes.append(f"{path}: {text}" if path else text)


class Pair:
    """A (reference, target) pair of nodes of one kind, with the oracle's
    node at the same place (or None).  Subclasses claim in :meth:`_claim`
    and compare in :meth:`compare`."""

    __slots__ = ("ref", "tgt", "oracle", "path", "run")

    def __init__(self, ref: Node, tgt: Node, oracle: Node | None, path: str, run: _Run) -> None:
        self.ref = ref
        self.tgt = tgt
        self.oracle = oracle
        self.path = path
        self.run = run
        if not self._claim():
            raise UnsupportedInputs

    def _claim(self) -> bool:
        raise NotImplementedError

    def compare(self) -> Iterator[Mismatch]:
        """Yield every mismatch in this pair's subtree, in tree order."""
        raise NotImplementedError

    def _mismatch(self, kind: VerdictKind, detail: str) -> Mismatch:
        return Mismatch(kind, self.path, detail)


def _scalar_of(node: Node, *types: type) -> bool:
    return isinstance(node, ScalarLeaf) and type(node.value) in types


class NonePair(Pair):
    """Both ``None``: equal."""

    __slots__ = ()

    def _claim(self) -> bool:
        return _scalar_of(self.ref, type(None)) and _scalar_of(self.tgt, type(None))

    def compare(self) -> Iterator[Mismatch]:
        return iter(())


class BoolPair(Pair):
    """Two Python bools: equal or not."""

    __slots__ = ()

    def _claim(self) -> bool:
        return _scalar_of(self.ref, bool) and _scalar_of(self.tgt, bool)

    def compare(self) -> Iterator[Mismatch]:
        r, t = self.ref.value, self.tgt.value  # type: ignore[union-attr]
        if self.run.values and r != t:
            yield self._mismatch(VerdictKind.VALUE, f"ref {r}, target {t}")


class StrPair(Pair):
    """Two Python strings: equal or not."""

    __slots__ = ()

    def _claim(self) -> bool:
        return _scalar_of(self.ref, str) and _scalar_of(self.tgt, str)

    def compare(self) -> Iterator[Mismatch]:
        r, t = self.ref.value, self.tgt.value  # type: ignore[union-attr]
        if self.run.values and r != t:
            yield self._mismatch(VerdictKind.VALUE, f"ref {r!r:.200}, target {t!r:.200}")


class NumberPair(Pair):
    """Two Python numbers (int, float, complex; not bool).  The Python type
    must match; ints compare exactly, floats and complex numbers like 0-d
    float64 / complex128 arrays with the ``python_float`` /
    ``python_complex`` tolerance."""

    __slots__ = ()

    def _claim(self) -> bool:
        return _scalar_of(self.ref, int, float, complex) and _scalar_of(
            self.tgt, int, float, complex
        )

    def compare(self) -> Iterator[Mismatch]:
        r, t = self.ref.value, self.tgt.value  # type: ignore[union-attr]
        if type(r) is not type(t):
            yield self._mismatch(
                VerdictKind.DTYPE, f"Python {type(r).__name__} vs Python {type(t).__name__}"
            )
            return
        if not self.run.values:
            return
        if isinstance(r, int):
            if r != t:
                yield self._mismatch(VerdictKind.VALUE, f"ref {r}, target {t}")
            return
        is_complex = isinstance(r, complex)
        key = PYTHON_COMPLEX if is_complex else PYTHON_FLOAT
        wide = np.complex128 if is_complex else np.float64
        detail = _compare_inexact(
            np.array(r, dtype=wide),
            np.array(t, dtype=wide),
            self.oracle,
            self.run,
            self.path,
            tolerance=self.run.tolerances.get(key),
            component=np.dtype(np.float64),
        )
        if detail:
            yield self._mismatch(VerdictKind.VALUE, detail)


class ArrayPair(Pair):
    """Two arrays: dtype, then shape, then values (exact for bool and int
    dtypes, tolerance and float64 arbitration for float and complex)."""

    __slots__ = ()

    def _claim(self) -> bool:
        return isinstance(self.ref, ArrayLeaf) and isinstance(self.tgt, ArrayLeaf)

    def compare(self) -> Iterator[Mismatch]:
        ref, tgt = self.ref, self.tgt
        assert isinstance(ref, ArrayLeaf) and isinstance(tgt, ArrayLeaf)
        if ref.dtype != tgt.dtype:
            yield self._mismatch(VerdictKind.DTYPE, f"dtype {ref.dtype} vs {tgt.dtype}")
            return
        if ref.shape != tgt.shape:
            yield self._mismatch(
                VerdictKind.SHAPE, f"shape {_fmt_shape(ref.shape)} vs {_fmt_shape(tgt.shape)}"
            )
            return
        if not self.run.values or ref.size == 0:
            return
        category = dtype_category(ref.dtype)
        r, t = ref.to_numpy(), tgt.to_numpy()
        if category in ("bool", "int"):
            detail = _compare_exact(r, t, category == "bool")
        else:
            r, t = _widen(r, category), _widen(t, category)
            detail = _compare_inexact(
                r,
                t,
                self.oracle,
                self.run,
                self.path,
                tolerance=self.run.tolerances.get(ref.dtype),
                component=_component_dtype(ref.dtype),
            )
        if detail:
            yield self._mismatch(VerdictKind.VALUE, detail)


class SequencePair(Pair):
    """Two sequences: lengths, then items pairwise.  list, tuple and named
    tuple agree with each other (Note [Structure])."""

    __slots__ = ()

    def _claim(self) -> bool:
        return isinstance(self.ref, SeqNode) and isinstance(self.tgt, SeqNode)

    def compare(self) -> Iterator[Mismatch]:
        ref, tgt = self.ref, self.tgt
        assert isinstance(ref, SeqNode) and isinstance(tgt, SeqNode)
        if len(ref.items) != len(tgt.items):
            yield self._mismatch(
                VerdictKind.SHAPE,
                f"length {len(ref.items)} vs {len(tgt.items)} ({ref.kind} vs {tgt.kind})",
            )
            return
        oracle = self.oracle
        usable = isinstance(oracle, SeqNode) and len(oracle.items) == len(ref.items)
        for i, (r, t) in enumerate(zip(ref.items, tgt.items, strict=True)):
            o = oracle.items[i] if usable else None  # type: ignore[union-attr]
            yield from _compare(r, t, o, f"{self.path}[{i}]", self.run)


class MappingPair(Pair):
    """Two mappings: key sets, then values key by key (order ignored)."""

    __slots__ = ()

    def _claim(self) -> bool:
        return isinstance(self.ref, MapNode) and isinstance(self.tgt, MapNode)

    def compare(self) -> Iterator[Mismatch]:
        ref, tgt = self.ref, self.tgt
        assert isinstance(ref, MapNode) and isinstance(tgt, MapNode)
        rk, tk = ref.keys(), tgt.keys()
        if set(rk) != set(tk):
            only_r = [k for k in rk if k not in set(tk)]
            only_t = [k for k in tk if k not in set(rk)]
            yield self._mismatch(
                VerdictKind.SHAPE,
                f"keys differ: only in reference {only_r}, only in target {only_t}",
            )
            return
        tmap = dict(tgt.items)
        omap = dict(self.oracle.items) if isinstance(self.oracle, MapNode) else {}
        for k, r in ref.items:
            sub = f"{self.path}.{k}" if k.isidentifier() else f"{self.path}[{k!r}]"
            yield from _compare(r, tmap[k], omap.get(k), sub, self.run)


class OpaquePair(Pair):
    """Two opaque values: only their type names are compared."""

    __slots__ = ()

    def _claim(self) -> bool:
        return isinstance(self.ref, OpaqueLeaf) and isinstance(self.tgt, OpaqueLeaf)

    def compare(self) -> Iterator[Mismatch]:
        ref, tgt = self.ref, self.tgt
        assert isinstance(ref, OpaqueLeaf) and isinstance(tgt, OpaqueLeaf)
        if ref.type_name != tgt.type_name:
            yield self._mismatch(
                VerdictKind.DTYPE, f"opaque {ref.type_name} vs opaque {tgt.type_name}"
            )
        else:
            self.run.note(self.path, f"{ref.type_name} compared by type only")


#: The comparator chain, tried in order; the first class that claims a pair
#: compares it.  A pair no class claims is a leaf-type or structure mismatch.
PAIRS: tuple[type[Pair], ...] = (
    NonePair,
    BoolPair,
    NumberPair,
    StrPair,
    ArrayPair,
    SequencePair,
    MappingPair,
    OpaquePair,
)


def _describe_node(node: Node) -> str:
    if isinstance(node, ArrayLeaf):
        return f"array {node.dtype} {_fmt_shape(node.shape)}"
    if isinstance(node, ScalarLeaf):
        return "None" if node.value is None else f"Python {type(node.value).__name__}"
    if isinstance(node, SeqNode):
        return f"{node.kind} of {len(node.items)}"
    if isinstance(node, MapNode):
        return f"mapping of {len(node.items)} keys"
    if isinstance(node, OpaqueLeaf):
        return f"opaque {node.type_name}"
    raise InternalError(f"not an output node: {node!r:.200}")


def _compare(ref: Node, tgt: Node, oracle: Node | None, path: str, run: _Run) -> Iterator[Mismatch]:
    for cls in PAIRS:
        try:
            pair = cls(ref, tgt, oracle, path, run)
        except UnsupportedInputs:
            continue
        yield from pair.compare()
        return
    leaves = (ArrayLeaf, ScalarLeaf, OpaqueLeaf)
    both_leaves = isinstance(ref, leaves) and isinstance(tgt, leaves)
    yield Mismatch(
        VerdictKind.DTYPE if both_leaves else VerdictKind.SHAPE,
        path,
        f"{_describe_node(ref)} vs {_describe_node(tgt)}",
    )


def _has_opaque(node: Node | None) -> bool:
    if isinstance(node, OpaqueLeaf):
        return True
    if isinstance(node, SeqNode):
        return any(_has_opaque(x) for x in node.items)
    if isinstance(node, MapNode):
        return any(_has_opaque(v) for _, v in node.items)
    return False


def compare_nodes(
    ref: Node,
    tgt: Node,
    *,
    oracle: Node | None = None,
    tolerances: ToleranceTable | None = None,
    values: bool = True,
    path: str = "",
) -> list[Mismatch]:
    """Every mismatch between two output trees, in tree order (an empty list
    when they agree).  ``values=False`` compares structure, dtypes and shapes
    only."""
    run = _Run(tolerances or DEFAULT_TOLERANCES, values)
    return list(_compare(ref, tgt, oracle, path, run))


# ---------------------------------------------------------------------------
# Leaf value comparison
# ---------------------------------------------------------------------------

def _component_dtype(name: str) -> np.dtype:
    """The dtype to print one real component in (shortest repr of the value
    as the framework held it)."""
    return storage_dtype(complex_component(name) or name)


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _fmt_index(idx: tuple[int, ...]) -> str:
    return _fmt_shape(idx)


def _sci(x: float) -> str:
    return f"{x:.2e}"


def _widen(a: np.ndarray, category: str) -> np.ndarray:
    """``a`` as float64 (complex128 for complex).  Exact for every inexact
    dtype; ml_dtypes warns when it converts a signalling NaN, which is no
    news here."""
    with np.errstate(invalid="ignore", over="ignore"):
        return a.astype(np.complex128 if category == "complex" else np.float64)


def _compare_exact(r: np.ndarray, t: np.ndarray, is_bool: bool) -> str | None:
    if r.dtype.kind not in "biu":  # ml_dtypes int2/int4 and friends
        r, t = r.astype(np.int64), t.astype(np.int64)
    ne = r != t
    n = int(np.count_nonzero(ne))
    if not n:
        return None
    head = f"{n} of {r.size} elements differ"
    first = _index(int(np.argmax(ne)), r.shape)
    if is_bool:
        return (f"{head} (first at {_fmt_index(first)}: ref {bool(r[first])}, "
                f"target {bool(t[first])})")
    # Rank by float64 difference (no overflow for 64-bit ints), report exactly.
    diff = np.where(ne, np.abs(r.astype(np.float64) - t.astype(np.float64)), -1.0)
    worst = _index(int(np.argmax(diff)), r.shape)
    rv, tv = int(r[worst]), int(t[worst])
    out = f"{head} (max abs diff {abs(rv - tv)} at {_fmt_index(worst)}: ref {rv}, target {tv}"
    if first != worst:
        out += f"; first at {_fmt_index(first)}: ref {int(r[first])}, target {int(t[first])}"
    return out + ")"


def _oracle_array(
    node: Node | None, shape: tuple[int, ...], is_complex: bool
) -> tuple[np.ndarray | None, str]:
    """The oracle's leaf as a float64 (complex128) array of ``shape``, or
    None and why it cannot arbitrate."""
    if node is None:
        return None, "no fp64 oracle here"
    wide = np.complex128 if is_complex else np.float64
    if isinstance(node, ArrayLeaf):
        category = dtype_category(node.dtype)
        if category == "complex" and not is_complex:
            return None, f"fp64 oracle is {node.dtype}"
        if node.shape != shape:
            return None, f"fp64 oracle has shape {_fmt_shape(node.shape)}"
        return _widen(node.to_numpy(), "complex" if is_complex else "float"), ""
    if isinstance(node, ScalarLeaf) and type(node.value) in (int, float, complex) and shape == ():
        if isinstance(node.value, complex) and not is_complex:
            return None, "fp64 oracle is complex"
        return np.array(node.value, dtype=wide), ""
    return None, f"fp64 oracle is {_describe_node(node)}"


def _error(x: np.ndarray, o: np.ndarray) -> np.ndarray:
    """|x - o| where a NaN or infinity equal to the oracle's counts as 0 and
    any other non-finite case as infinitely wrong."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(x - o)
        same = (np.isnan(x) & np.isnan(o)) | (np.isinf(x) & (x == o))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def _compare_real(
    r: np.ndarray,
    t: np.ndarray,
    o: np.ndarray | None,
    *,
    rtol: float,
    atol: float,
    multiplier: float,
    fmt: Callable[[float], str],
) -> tuple[str | None, int]:
    """(mismatch detail or None, elements accepted by arbitration) for two
    float64 arrays of one shape."""
    with np.errstate(invalid="ignore", over="ignore"):
        r_nan, t_nan = np.isnan(r), np.isnan(t)
        r_inf, t_inf = np.isinf(r), np.isinf(t)
        special = r_nan | t_nan | r_inf | t_inf
        special_ok = (r_nan & t_nan) | (r_inf & (r == t))
        diff = np.abs(t - r)
        close = np.where(special, special_ok, diff <= atol + rtol * np.abs(r))
    fail = ~close
    if not fail.any():
        return None, 0
    accepted = 0
    r_err = t_err = bound = None
    if o is not None:
        r_err, t_err = _error(r, o), _error(t, o)
        with np.errstate(invalid="ignore", over="ignore"):
            bound = np.where(
                np.isfinite(r_err),
                multiplier * r_err + atol,
                multiplier * (atol + rtol * np.abs(o)),
            )
            ok = np.isfinite(t_err) & (t_err <= bound)
        accepted = int(np.count_nonzero(fail & ok))
        fail &= ~ok
        if not fail.any():
            return None, accepted
    n = int(np.count_nonzero(fail))
    special_fail = fail & special
    if special_fail.any():
        flat = int(np.argmax(special_fail))
    else:
        flat = int(np.argmax(np.where(fail, diff, -1.0)))
    idx = _index(flat, r.shape)
    rv, tv = float(r[idx]), float(t[idx])
    parts = [f"{n} of {r.size} elements differ ("]
    if special_fail.any():
        parts.append(f"NaN/inf mismatch at {_fmt_index(idx)}: ref {fmt(rv)}, target {fmt(tv)}")
    else:
        d = float(diff[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = d / abs(rv) if rv else math.inf
        parts.append(
            f"max abs diff {_sci(d)} at {_fmt_index(idx)}: ref {fmt(rv)}, target {fmt(tv)}, "
            f"rel diff {_sci(rel)}"
        )
    parts.append(f"; rtol {rtol:g} atol {atol:g}")
    if o is not None:
        assert r_err is not None and t_err is not None and bound is not None
        re_, te_, b = float(r_err[idx]), float(t_err[idx]), float(bound[idx])
        if math.isfinite(re_):
            parts.append(
                f"; vs fp64 {float(o[idx])!r}: target err {_sci(te_)} > "
                f"{multiplier:g} x ref err {_sci(re_)} + atol"
            )
        else:
            parts.append(
                f"; vs fp64 {float(o[idx])!r}: target err {_sci(te_)} > {_sci(b)} "
                f"(reference non-finite)"
            )
        if accepted:
            parts.append(f"; {accepted} more accepted by fp64 arbitration")
    parts.append(")")
    return "".join(parts), accepted


def _compare_inexact(
    r: np.ndarray,
    t: np.ndarray,
    oracle: Node | None,
    run: _Run,
    path: str,
    *,
    tolerance: tuple[float, float],
    component: np.dtype,
) -> str | None:
    """Compare two float64 or complex128 arrays (complex per component)."""
    is_complex = r.dtype.kind == "c"
    o, why = _oracle_array(oracle, r.shape, is_complex)
    rtol, atol = tolerance

    def fmt(x: float) -> str:
        return str(component.type(x))

    if is_complex:
        comps = [
            ("real part: ", r.real, t.real, None if o is None else o.real),
            ("imag part: ", r.imag, t.imag, None if o is None else o.imag),
        ]
    else:
        comps = [("", r, t, o)]
    details, accepted = [], 0
    for label, rc, tc, oc in comps:
        detail, acc = _compare_real(
            rc, tc, oc, rtol=rtol, atol=atol, multiplier=run.tolerances.oracle_multiplier, fmt=fmt
        )
        accepted += acc
        if detail:
            details.append(label + detail)
    if not details:
        if accepted:
            run.note(path, f"{accepted} elements accepted by fp64 arbitration")
        return None
    out = "; ".join(details)
    if o is None and oracle is not None:
        out += f" [no fp64 arbitration: {why}]"
    return out


# ---------------------------------------------------------------------------
# judge
# ---------------------------------------------------------------------------

_RANK = {VerdictKind.DTYPE: 0, VerdictKind.SHAPE: 1, VerdictKind.VALUE: 2}


def _compare_observations(
    ref: Observation,
    tgt: Observation,
    oracle: Observation | None,
    tolerances: ToleranceTable,
    values: bool,
) -> tuple[list[Mismatch], list[str]]:
    """Mismatches over the output and the mutated inputs, and notes."""
    run = _Run(tolerances, values)
    assert ref.output is not None and tgt.output is not None
    out_oracle = oracle.output if oracle is not None else None
    found = list(_compare(ref.output, tgt.output, out_oracle, "", run))
    rm, tm = dict(ref.mutated), dict(tgt.mutated)
    om = dict(oracle.mutated) if oracle is not None else {}
    for i in sorted(set(rm) | set(tm)):
        path = f"mutated[{i}]"
        if i not in tm or i not in rm:
            if values:
                who = "reference" if i in rm else "target"
                found.append(
                    Mismatch(
                        VerdictKind.VALUE,
                        path,
                        f"argument {i} was mutated in place by the {who} only",
                    )
                )
            continue
        found.extend(_compare(rm[i], tm[i], om.get(i), path, run))
    return found, run.notes


def _pick(found: list[Mismatch]) -> tuple[Mismatch, str]:
    """The mismatch that decides the verdict, and its detail line."""
    ordered = sorted(enumerate(found), key=lambda p: (_RANK[p[1].kind], p[0]))
    top = ordered[0][1]
    detail = top.describe()
    rest = [m for _, m in ordered[1:]]
    if rest:
        shown = ", ".join(f"{m.path or '<root>'} {m.kind.value}" for m in rest[:5])
        more = ", ..." if len(rest) > 5 else ""
        detail += f" (+{len(rest)} more: {shown}{more})"
    return top, detail


def _short(obs: Observation, limit: int = 300) -> str:
    text = obs.describe_error()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(obs: Observation) -> str:
    """One line saying what went wrong in an INTERNAL observation: the
    error when one was recorded, else the detail's first line.  A detail
    that holds a Python traceback (the worker writes ``what it was doing``,
    then the traceback, cut to its end) gives ``what: the exception line``,
    since a traceback's first line says nothing."""
    text = obs.describe_error() if obs.error_type or obs.error_message else obs.detail
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "no detail"
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call")]
    if starts or any(_FRAME_LINE.match(ln) for ln in lines):
        head = lines[0] if starts and starts[0] > 0 else ""
        line = f"{head}: {lines[-1]}" if head else lines[-1]
    else:
        line = lines[0]
    return line if len(line) <= 300 else line[:297] + "..."


_FRAME_LINE = re.compile(r'File "[^"]*", line \d+')


def _unavailable(obs: Observation) -> bool:
    """True for the observation of a mode unavailable on this machine: an
    UNSUPPORTED outcome that carries no exception (see Note [Who may say
    unsupported])."""
    return obs.outcome is Outcome.UNSUPPORTED and not obs.error_type


def _status(obs: Observation) -> str | None:
    """``"returned"`` or ``"raised"`` for a call that ran to an end (a
    declared limit counts as raising), None otherwise."""
    if obs.outcome is Outcome.RETURNED:
        return "returned"
    if obs.outcome is Outcome.RAISED or (obs.outcome is Outcome.UNSUPPORTED
                                         and not _unavailable(obs)):
        return "raised"
    return None


def _check(boundary: Boundary, ref: Observation, tgt: Observation,
           ref_repeat: Observation | None, oracle: Observation | None,
           tolerances: ToleranceTable | None) -> None:
    if not isinstance(boundary, Boundary):
        raise InternalError(f"judge needs a Boundary, got {boundary!r:.200}")
    for name, obs in (("ref", ref), ("tgt", tgt)):
        if not isinstance(obs, Observation):
            raise InternalError(f"judge: {name} is not an Observation: {obs!r:.200}")
    for name, obs in (("ref_repeat", ref_repeat), ("oracle", oracle)):
        if obs is not None and not isinstance(obs, Observation):
            raise InternalError(f"judge: {name} is not an Observation: {obs!r:.200}")
    if ref.mode != boundary.reference or tgt.mode != boundary.target:
        raise InternalError(
            f"observations of {ref.mode} / {tgt.mode} judged on boundary {boundary}"
        )
    if ref_repeat is not None and ref_repeat.mode != boundary.reference:
        raise InternalError(f"repeat of {ref_repeat.mode} given for reference {boundary.reference}")
    if tolerances is not None and not isinstance(tolerances, ToleranceTable):
        raise InternalError(f"tolerances must be a ToleranceTable, got {tolerances!r:.200}")


def judge(
    boundary: Boundary,
    ref: Observation,
    tgt: Observation,
    *,
    ref_repeat: Observation | None = None,
    oracle: Observation | None = None,
    tolerances: ToleranceTable | None = None,
    nondeterministic_api: bool = False,
) -> Verdict:
    """Judge the target's observation against the reference's on one case.

    ``ref_repeat`` is a second run of the reference (to catch nondeterminism
    before it is blamed on the target); ``oracle`` the reference re-run in
    float64 with the same tree shape (see Note [float64 arbitration]);
    ``nondeterministic_api`` declares an API random by nature.  See Note
    [Order of judgement].  Raises :class:`InternalError` only for malformed
    arguments.
    """
    _check(boundary, ref, tgt, ref_repeat, oracle, tolerances)
    table = tolerances if tolerances is not None else DEFAULT_TOLERANCES
    Out, K = Outcome, VerdictKind

    def verdict(
        kind: VerdictKind, detail: str, path: str = "", accepts_invalid: bool = False
    ) -> Verdict:
        return Verdict(boundary.reference, boundary.target, kind, detail, path, accepts_invalid)

    # 1: seamfuzz failed: never judged as the library's behaviour.
    for side, obs in (("reference", ref), ("target", tgt)):
        if obs.outcome is Out.INTERNAL:
            return verdict(K.INTERNAL, f"seamfuzz failed on the {side}: {_first_line(obs)}")
    # 2: stopped by the sandbox: what the call would have done is unknown.
    for side, obs in (("reference", ref), ("target", tgt)):
        if obs.outcome is Out.SANDBOXED:
            return verdict(K.SANDBOXED, f"{side} stopped by the sandbox "
                                        f"({obs.detail or 'sandboxed'}): {_short(obs)}")
    # 3-4: not run / cannot run here.
    for side, obs in (("reference", ref), ("target", tgt)):
        if obs.outcome is Out.SKIPPED:
            kind = K.TOO_LARGE if SKIP_TOO_LARGE in obs.detail else K.SKIPPED
            return verdict(kind, f"{side} skipped: {obs.detail or 'no reason given'}")
    for side, obs in (("target", tgt), ("reference", ref)):
        if _unavailable(obs):
            return verdict(K.UNSUPPORTED,
                           f"{side} cannot run this: {obs.detail or 'mode unavailable'}")
    # 5-6: did not finish.  (A reference's declared limit counts as raising.)
    ref_status = _status(ref)
    if ref_status is None:
        what = "crashed" if ref.outcome is Out.CRASHED else "timed out"
        return verdict(K.INVALID, f"reference {what}: {ref.detail or 'no detail'}")
    if tgt.outcome in (Out.CRASHED, Out.TIMEOUT):
        kind = K.CRASH if tgt.outcome is Out.CRASHED else K.TIMEOUT
        what = "crashed" if tgt.outcome is Out.CRASHED else "timed out"
        return verdict(
            kind,
            f"target {what} ({tgt.detail or 'no detail'}) where the reference "
            f"{ref_status}",
        )
    # 7: a flaky reference status.
    repeat = ref_repeat if ref_repeat is not None and ref_repeat.outcome not in (
        Out.SKIPPED, Out.INTERNAL, Out.SANDBOXED) and not _unavailable(ref_repeat) else None
    if repeat is not None and _status(repeat) != ref_status:
        how = _status(repeat) or repeat.outcome.value
        if how == "raised":
            how += f" {_short(repeat)}"
        return verdict(
            K.NONDETERMINISTIC, f"reference {ref_status}, then {how} on a repeat run"
        )
    # 8: status (Note [Who may say unsupported]).
    if ref_status == "raised":
        if tgt.outcome is Out.RETURNED:
            return verdict(
                K.STATUS,
                f"target accepts input the reference rejects (reference raised {_short(ref)})",
                accepts_invalid=True,
            )
        if ref.error_type == tgt.error_type:
            detail = f"both raised {_short(ref)}"
        else:
            detail = (f"both raised, different types: reference {_short(ref)}; "
                      f"target {_short(tgt)}")
        if tgt.outcome is Out.UNSUPPORTED:
            detail += f" (target declares: {tgt.detail or 'a limit'})"
        return verdict(K.INVALID, detail)
    if tgt.outcome is Out.UNSUPPORTED:
        return verdict(K.UNSUPPORTED,
                       f"target does not support this ({tgt.detail or 'a declared limit'}): "
                       f"{_short(tgt)}")
    if tgt.outcome is Out.RAISED:
        return verdict(K.STATUS, f"target raised {_short(tgt)}")
    # 9: both returned.
    values = not nondeterministic_api
    flaky, flaky_path = "", ""
    if nondeterministic_api:
        flaky = "the API is nondeterministic by nature"
    elif repeat is not None:
        found, _ = _compare_observations(ref, repeat, None, _EXACT, True)
        if found:
            top, detail = _pick(found)
            flaky = f"reference disagrees with itself on a repeat run: {detail}"
            if top.kind is not K.VALUE:
                return verdict(K.NONDETERMINISTIC, flaky, top.path)
            values, flaky_path = False, top.path
    usable_oracle = oracle if oracle is not None and oracle.outcome is Out.RETURNED else None
    found, notes = _compare_observations(ref, tgt, usable_oracle, table, values)
    if found:
        top, detail = _pick(found)
        if _has_opaque(ref.output) or _has_opaque(tgt.output):
            # Note [Opaque results]: objects that are not values (a dataset,
            # a device spec, a TensorArray) are outside what the contract
            # compares; a mode that returns another kind of object for them
            # (graph mode wraps and converts) is not a silent wrong value.
            return verdict(K.UNSUPPORTED,
                           f"the result holds objects compared by type only: {detail}",
                           top.path)
        return verdict(top.kind, detail, top.path)
    if not values:
        return verdict(
            K.NONDETERMINISTIC,
            f"{flaky}; values not judged (structure, dtypes and shapes agree)",
            flaky_path,
        )
    if oracle is not None and usable_oracle is None:
        notes.append(f"fp64 oracle {oracle.outcome.value}, not used")
    return verdict(K.AGREE, "; ".join(notes))
