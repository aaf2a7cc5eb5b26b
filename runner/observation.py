"""What one execution mode observed for one test case, as plain values.

An :class:`Observation` is what a worker process hands back across the
process boundary: how the call ended (:class:`Outcome`), the returned value as
an *output tree* of framework-free nodes, the inputs it mutated in place, the
error it raised, and how long it took.  Everything here is a frozen, slotted
dataclass: picklable for the worker pipe, and lossless through JSON
(:meth:`Observation.to_json` / :meth:`Observation.from_json`) for the
campaign store.

The output tree has five node types (:data:`Node`):

- :class:`ArrayLeaf`: a framework tensor converted to numpy, kept as raw
  C-order bytes plus the *framework's* dtype name;
- :class:`ScalarLeaf`: a Python scalar (bool, int, float, complex, str, None);
- :class:`SeqNode`: a list, tuple or named tuple;
- :class:`MapNode`: a mapping with string keys;
- :class:`OpaqueLeaf`: anything else (a generator, a device, a module),
  recorded by type name and text only.

Note [Why the framework's dtype name]
    The contract compares dtypes by the name the *framework* gives them, so a
    tensor whose bytes numpy cannot name natively (``bfloat16``,
    ``float8_e4m3fn``, ``complex32``) is not mistaken for the type numpy would
    store it in.  :func:`storage_dtype` maps every name an :class:`ArrayLeaf`
    may carry to the numpy dtype that holds its bytes; ml_dtypes supplies the
    types numpy lacks, so such arrays round-trip exactly.  A tensor of a dtype
    not in the table (``quint4x2``, ``tf.string``, ``tf.resource``) cannot be
    an :class:`ArrayLeaf`: the worker records it as an :class:`OpaqueLeaf` or
    converts it first.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from infra import dtypes as _dtypes
from miner.records import scalar_from_json, scalar_key, scalar_to_json
from runner.materialize import SKIP_TOO_LARGE

__all__ = [
    "MAX_ERROR_MESSAGE",
    "SKIP_TOO_LARGE",
    "ArrayLeaf",
    "MapNode",
    "Node",
    "Observation",
    "OpaqueLeaf",
    "Outcome",
    "ScalarLeaf",
    "SeqNode",
    "dtype_category",
    "exception_type_name",
    "known_dtypes",
    "node_from_json",
    "node_to_json",
    "storage_dtype",
]

#: Error messages are cut to this many characters (marker included).
MAX_ERROR_MESSAGE = 2000
_TRUNCATED = " ...[truncated]"

# SKIP_TOO_LARGE (imported above) is the reason a worker puts first in
# :attr:`Observation.detail` when it skips a case whose inputs exceed its
# memory cap (TF retries a huge allocation for ~10 s before failing); the
# contract turns it into TOO_LARGE.  It is defined where the cap is enforced.


class Outcome(str, enum.Enum):
    """How one mode's execution of one case ended."""

    #: The call returned; :attr:`Observation.output` holds the value.
    RETURNED = "returned"
    #: The call raised a Python exception (:attr:`Observation.error_type`).
    RAISED = "raised"
    #: The worker process died (signal, abort, exit code in ``detail``).
    CRASHED = "crashed"
    #: The worker did not answer within the time limit and was killed.
    TIMEOUT = "timeout"
    #: The call raised an error that the mode itself declares as one of its
    #: limits (a graph break under ``fullgraph``, data-dependent control
    #: flow, an op with no XLA kernel, an op an exporter cannot export), or
    #: the mode is unavailable on this machine; the reason is in ``detail``.
    #: Any other error is RAISED, whatever its message says.
    UNSUPPORTED = "unsupported"
    #: seamfuzz itself failed on this case (a bug in building the inputs or
    #: converting the output, a worker that raised); ``detail`` holds the
    #: traceback.  Never an observation of the library.
    INTERNAL = "internal"
    #: The call tried an effect the sandbox forbids (a write outside the
    #: worker's temporary folder, the network) and failed for it
    #: (:func:`infra.sandbox.refusal`); ``detail`` starts with
    #: ``sandboxed: ...``, the error is kept.  Never an observation of the
    #: library.
    SANDBOXED = "sandboxed"
    #: Not run on purpose (inputs too large, a denied API); the reason is in
    #: ``detail``, starting with a keyword such as :data:`SKIP_TOO_LARGE`.
    SKIPPED = "skipped"


# ---------------------------------------------------------------------------
# Dtype names
# ---------------------------------------------------------------------------

# The table lives in infra.dtypes; these three are re-exported for the
# runner and triage.  An ArrayLeaf may carry any name whose values a numpy
# array holds here (infra.dtypes.storable_dtypes).
_ARRAY_DTYPES: tuple[str, ...] = _dtypes.storable_dtypes()


def known_dtypes() -> tuple[str, ...]:
    """Every dtype name an :class:`ArrayLeaf` may carry, sorted."""
    return _ARRAY_DTYPES


def storage_dtype(name: str) -> np.dtype:
    """The numpy dtype that holds the bytes of a framework dtype ``name``;
    raises ValueError for a name not in the table."""
    try:
        return _dtypes.storage_dtype(name)
    except ValueError:
        raise ValueError(
            f"unknown dtype name {name!r}; record such a value as an OpaqueLeaf "
            f"(known: {', '.join(known_dtypes())})"
        ) from None


def dtype_category(name: str) -> str:
    """``"bool"``, ``"int"``, ``"float"`` or ``"complex"`` for a dtype name
    (raises ValueError for an unknown name)."""
    storage_dtype(name)
    return _dtypes.dtype_category(name)


def exception_type_name(exc: BaseException | type[BaseException]) -> str:
    """The qualified name of an exception's type, as
    :attr:`Observation.error_type` records it: ``RuntimeError`` for builtins,
    ``torch._dynamo.exc.Unsupported`` otherwise."""
    t = exc if isinstance(exc, type) else type(exc)
    if t.__module__ == "builtins":
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


# ---------------------------------------------------------------------------
# Output tree
# ---------------------------------------------------------------------------

Scalar = Union[bool, int, float, complex, str, None]
_SCALAR_TYPES = (bool, int, float, complex, str, type(None))


@dataclass(frozen=True, slots=True)
class ArrayLeaf:
    """A tensor's value: dtype, shape and raw row-major bytes."""

    #: The framework's dtype name without module (``float32``, ``bfloat16``,
    #: ``float8_e4m3fn``, ``bool``); one of :func:`known_dtypes`.
    dtype: str
    #: Logical shape; ``()`` for a 0-d tensor.
    shape: tuple[int, ...]
    #: ``prod(shape) * itemsize`` bytes in C order, native byte order.
    data: bytes

    def __post_init__(self) -> None:
        dt = storage_dtype(self.dtype)
        shape = tuple(self.shape)
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0
               for d in shape):
            raise ValueError(f"bad shape {self.shape!r}")
        shape = tuple(int(d) for d in shape)
        object.__setattr__(self, "shape", shape)
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))
        expected = math.prod(shape) * dt.itemsize
        if len(self.data) != expected:
            raise ValueError(
                f"{self.dtype} array of shape {shape} needs {expected} bytes, "
                f"got {len(self.data)}"
            )
        if dt == np.bool_ and self.data.translate(None, b"\x00\x01"):
            raise ValueError("bool array bytes must be 0 or 1")

    @classmethod
    def from_numpy(cls, arr: Any, dtype_name: str | None = None) -> "ArrayLeaf":
        """Record a numpy array (or anything ``np.asarray`` accepts).

        ``dtype_name`` is the framework's name for the dtype; by default the
        array's own.  The array must hold values of that dtype's storage type
        (ml_dtypes types for ``bfloat16`` and friends), or its *bit pattern*
        in an integer type of the same width (``t.view(torch.int16).numpy()``
        for a bfloat16 tensor): a value cast such as float32 -> bfloat16 is
        refused, because it could round silently.
        """
        arr = np.asarray(arr)  # keeps 0-d arrays 0-d (np.ascontiguousarray would not)
        name = dtype_name if dtype_name is not None else arr.dtype.name
        dt = storage_dtype(name)
        if arr.dtype != dt:
            if arr.dtype.name == dt.name:  # the same type in another byte order
                arr = arr.astype(dt)
            elif arr.dtype.kind in "iu" and arr.dtype.itemsize == dt.itemsize and dt != np.bool_:
                arr = arr.view(dt) if arr.ndim else arr.reshape(1).view(dt).reshape(())
            else:
                raise ValueError(
                    f"cannot record a {arr.dtype.name} array as {name}: pass {dt.name} values "
                    f"or their bit pattern as a {dt.itemsize * 8}-bit integer array"
                )
        return cls(name, tuple(arr.shape), arr.tobytes(order="C"))

    def to_numpy(self) -> np.ndarray:
        """The value as a read-only numpy array of :func:`storage_dtype`."""
        return np.frombuffer(self.data, dtype=storage_dtype(self.dtype)).reshape(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class ScalarLeaf:
    """A Python scalar in the output (``x.item()``, ``len``-like results,
    ``None``)."""

    #: A bool, int, float, complex, str or None.  Subclasses (an ``IntEnum``,
    #: ``np.float64``) are stored as the base type, so that the record
    #: unpickles anywhere; other numpy scalars are refused (use ``.item()`` or
    #: a 0-d :class:`ArrayLeaf`).
    value: Scalar

    def __post_init__(self) -> None:
        v = self.value
        if type(v) in _SCALAR_TYPES:
            return
        for base in _SCALAR_TYPES[:-1]:  # bool before int: bool is an int
            if isinstance(v, base):
                object.__setattr__(self, "value", base(v))
                return
        raise ValueError(
            f"ScalarLeaf takes a Python bool/int/float/complex/str/None, got "
            f"{type(v).__name__} (record numpy scalars as 0-d ArrayLeaf or .item())"
        )

    def __eq__(self, other: object) -> bool:
        # Structural equality: NaN equals itself, 1 is not 1.0 nor True.
        return isinstance(other, ScalarLeaf) and scalar_key(self.value) == scalar_key(
            other.value
        )

    def __hash__(self) -> int:
        return hash(scalar_key(self.value))


@dataclass(frozen=True, slots=True)
class SeqNode:
    """A list, tuple or named tuple (``torch.return_types.max``)."""

    #: ``"list"``, ``"tuple"`` or ``"namedtuple:<Name>"``.
    kind: str
    items: tuple["Node", ...]

    def __post_init__(self) -> None:
        if self.kind not in ("list", "tuple") and not (
            self.kind.startswith("namedtuple:") and len(self.kind) > len("namedtuple:")
        ):
            raise ValueError(f"SeqNode.kind must be list, tuple or namedtuple:<Name>, "
                             f"got {self.kind!r}")
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True, slots=True)
class MapNode:
    """A mapping with string keys (a dict, a ``ModelOutput``), in the order
    the framework returned it."""

    items: tuple[tuple[str, "Node"], ...]

    def __post_init__(self) -> None:
        items = tuple((k, v) for k, v in self.items)
        keys = [k for k, _ in items]
        if not all(isinstance(k, str) for k in keys):
            raise ValueError(f"MapNode keys must be str, got {keys!r}")
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate MapNode keys in {keys!r}")
        object.__setattr__(self, "items", items)

    def keys(self) -> tuple[str, ...]:
        """The keys, in order."""
        return tuple(k for k, _ in self.items)


@dataclass(frozen=True, slots=True)
class OpaqueLeaf:
    """A value the runner cannot convert: the contract compares only the type
    name, and says so in the verdict."""

    #: Qualified type name (``torch.Generator``).
    type_name: str
    #: ``repr`` of the value, shortened by the runner; for humans only.
    text: str = ""


Node = Union[ArrayLeaf, ScalarLeaf, SeqNode, MapNode, OpaqueLeaf]


# ---------------------------------------------------------------------------
# Observation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """What one execution mode observed for one test case."""

    #: The mode's registry name (``torch-eager-cpu``, ``tf-xla``).
    mode: str
    outcome: Outcome
    #: The returned value; set exactly when ``outcome`` is RETURNED (a call
    #: returning ``None`` gives ``ScalarLeaf(None)``).
    output: Node | None = None
    #: Inputs the call mutated in place: (argument index, value after the
    #: call), unique indices.  The runner decides what counts as an argument.
    mutated: tuple[tuple[int, Node], ...] = ()
    #: RAISED and SANDBOXED (and UNSUPPORTED when it came from an exception):
    #: the qualified exception type (:func:`exception_type_name`).
    error_type: str = ""
    #: The exception's message, cut to :data:`MAX_ERROR_MESSAGE` characters.
    error_message: str = ""
    #: CRASHED: signal or exit code; TIMEOUT: the limit; SKIPPED /
    #: UNSUPPORTED / SANDBOXED: the reason.  Free text for humans, keyword
    #: first.
    detail: str = ""
    #: Wall-clock seconds of the call (compilation included).
    seconds: float = 0.0
    #: Of which spent compiling (0 for eager modes).
    compile_seconds: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        if (self.outcome is Outcome.RETURNED) != (self.output is not None):
            raise ValueError(
                f"output must be set exactly when the outcome is returned "
                f"(outcome {self.outcome.value}, output {type(self.output).__name__})"
            )
        mutated = tuple((int(i), v) for i, v in self.mutated)
        indices = [i for i, _ in mutated]
        if len(set(indices)) != len(indices):
            raise ValueError(f"duplicate mutated argument indices {indices}")
        object.__setattr__(self, "mutated", mutated)
        for name in ("seconds", "compile_seconds"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
            object.__setattr__(self, name, v)
        if len(self.error_message) > MAX_ERROR_MESSAGE:
            cut = self.error_message[: MAX_ERROR_MESSAGE - len(_TRUNCATED)] + _TRUNCATED
            object.__setattr__(self, "error_message", cut)

    @property
    def finished(self) -> bool:
        """True when the call ran to an end: it returned or raised."""
        return self.outcome in (Outcome.RETURNED, Outcome.RAISED)

    def describe_error(self) -> str:
        """``RuntimeError: message`` (or the type alone)."""
        if self.error_message:
            return f"{self.error_type or 'error'}: {self.error_message}"
        return self.error_type or "error"

    # -- JSON ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Lossless, strict-JSON-able dict (no NaN literals; bytes as
        base64)."""
        return {
            "mode": self.mode,
            "outcome": self.outcome.value,
            "output": None if self.output is None else node_to_json(self.output),
            "mutated": [[i, node_to_json(v)] for i, v in self.mutated],
            "error_type": self.error_type,
            "error_message": self.error_message,
            "detail": self.detail,
            "seconds": self.seconds,
            "compile_seconds": self.compile_seconds,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Observation":
        """Inverse of :meth:`to_json`; raises ValueError on malformed input."""
        try:
            out = obj.get("output")
            return cls(
                mode=str(obj["mode"]),
                outcome=Outcome(obj["outcome"]),
                output=None if out is None else node_from_json(out),
                mutated=tuple((int(i), node_from_json(v)) for i, v in obj.get("mutated", ())),
                error_type=str(obj.get("error_type", "")),
                error_message=str(obj.get("error_message", "")),
                detail=str(obj.get("detail", "")),
                seconds=float(obj.get("seconds", 0.0)),
                compile_seconds=float(obj.get("compile_seconds", 0.0)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed observation: {exc!r}") from exc


# ---------------------------------------------------------------------------
# JSON encoding of nodes
# ---------------------------------------------------------------------------


def node_to_json(node: Node) -> dict[str, Any]:
    """Encode an output-tree node as a JSON-able dict tagged with ``"t"``."""
    if isinstance(node, ArrayLeaf):
        return {
            "t": "array",
            "dtype": node.dtype,
            "shape": list(node.shape),
            "data": base64.b64encode(node.data).decode("ascii"),
        }
    if isinstance(node, ScalarLeaf):
        return {"t": "scalar", "v": scalar_to_json(node.value)}
    if isinstance(node, SeqNode):
        return {"t": "seq", "kind": node.kind, "items": [node_to_json(x) for x in node.items]}
    if isinstance(node, MapNode):
        return {"t": "map", "items": [[k, node_to_json(x)] for k, x in node.items]}
    if isinstance(node, OpaqueLeaf):
        return {"t": "opaque", "type": node.type_name, "text": node.text}
    raise TypeError(f"not an output node: {node!r}")


def node_from_json(o: Any) -> Node:
    """Decode :func:`node_to_json` output; raises ValueError when malformed."""
    try:
        t = o["t"]
        if t == "array":
            return ArrayLeaf(
                str(o["dtype"]),
                tuple(int(d) for d in o["shape"]),
                base64.b64decode(o["data"], validate=True),
            )
        if t == "scalar":
            return ScalarLeaf(scalar_from_json(o["v"]))
        if t == "seq":
            return SeqNode(str(o["kind"]), tuple(node_from_json(x) for x in o["items"]))
        if t == "map":
            return MapNode(tuple((str(k), node_from_json(x)) for k, x in o["items"]))
        if t == "opaque":
            return OpaqueLeaf(str(o["type"]), str(o.get("text", "")))
    except (KeyError, TypeError, IndexError, binascii.Error) as exc:
        raise ValueError(f"malformed output node {o!r:.200}: {exc!r}") from exc
    raise ValueError(f"unknown output node tag in {o!r:.200}")
