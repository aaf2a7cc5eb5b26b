"""Concrete inputs for a mined call: draw them once, build them per mode.

Materialisation has two phases, so that every execution mode of a case sees
exactly the same input bytes and never the same memory:

1. :func:`draw` (framework-free, numpy only, runs anywhere) walks a call's
   argument values and replaces every :class:`~miner.records.TensorSpec` by a
   :class:`DrawnTensor`: a read-only numpy array drawn from *one*
   ``np.random.Generator(np.random.PCG64(seed))`` in a fixed order (depth
   first, positional arguments before keyword arguments, a dict's key before
   its value, a :class:`~miner.records.Constructed` call's arguments where
   they stand).  Everything else is kept as it is.  The result is a
   :class:`Drawn`.
2. Inside a worker, :func:`to_torch` / :func:`to_tf` turn the drawn trees into
   *fresh* framework objects on every call, one call per mode: tensors that
   own their memory, with the layout applied for real (torch), dtypes, library
   objects looked up by name (:func:`resolve_api`) and constructed objects
   built anew.  This module imports neither torch nor TensorFlow at import
   time: the parent process imports it too.

Problems become a :class:`MaterializeError` whose :attr:`~MaterializeError.reason`
is ``"unresolved"`` (an :class:`~miner.records.Unknown` or an unknown
dimension), ``"too_large"`` (over the element cap) or ``"invalid"`` (inputs
that cannot be built: a :class:`~miner.records.Data` of the wrong length, a
dtype the framework lacks, a missing API, a constructor that raised).  Its
message starts with the reason, so the runner can record it as the detail of
a SKIPPED observation (:data:`SKIP_TOO_LARGE`, which the contract reads).

Note [An init fills the base]
    A tensor's :class:`~miner.records.Init` describes the values of its
    *base*, the contiguous array the layout's view is taken from, in
    row-major order; the logical tensor is the view.  For CONTIGUOUS and
    CHANNELS_LAST the base is the logical array itself, so the two readings
    agree; for PERMUTED the base is the unpermuted array
    (``base.shape[perm[i]] == shape[i]``); for STRIDED it is the larger array
    of shape ``shape[i] * step[i]``; for EXPANDED it has size 1 in the
    expanded dimensions.  This is what the miner means: it follows
    ``torch.arange(6).reshape(2, 3).T`` to ``Arange`` with PERMUTED(1, 0),
    whose values are those of the *transposed* arange, and it only follows
    ``expand``/strides/channels-last for inits whose values do not depend on
    position.  A :class:`~miner.records.Data` therefore needs exactly as many
    values as the base has elements (the logical numel, except for STRIDED and
    EXPANDED).

Note [Value generation and casting]
    Values are generated in float64, int64 or complex128, then cast to the
    spec's dtype with numpy (ml_dtypes supplies bfloat16, the float8 types,
    the sub-byte ints and complex32):

    - Normal, Uniform, IntRange and Empty draw from the generator; for a
      complex dtype they draw the real parts, then the imaginary parts, with
      the same parameters.  IntRange for ``bool`` draws 0/1 whatever its
      bounds.  Empty draws what a harmless default would: Uniform(0, 1) for
      floating and complex dtypes, integers in ``[0, 10)`` for integer
      dtypes, 0/1 for ``bool``.
    - Special draws its other elements as the dtype's default (Normal(0, 1)
      for floating and complex dtypes, real then imaginary parts; integers in
      ``[0, 10)``; 0/1 for ``bool``), then ``ceil(density * numel)``
      distinct positions of the base in random order (``Generator.choice``
      without replacement); the ``j``-th gets ``values[j % len(values)]``.
      Each name is resolved for the dtype (``finfo``/``iinfo`` of its
      storage type, the component type for complex) to a float64 or, for
      ``max``/``min`` of integers, an exact integer, and cast by the rules
      below.  So ``max`` is 127 in ``int8``, ``inf`` in ``int8`` is also
      127, ``nan`` in an integer dtype is 0, and the float8 types without
      infinities get NaN for ``inf``.
    - Fill, Data, Arange, Linspace and Eye are exact and draw nothing.
      Arange is ``start + i * step`` (in int64 when both are ints and the
      range fits); Linspace has numel points; Eye has ones on the diagonal of
      the last two dimensions (a 1-d base is treated as one row, a 0-d base
      is 1).
    - Floating and complex targets: numpy's round-to-nearest cast; overflow
      gives infinities (NaN for the float8 types without infinities).
    - Integer targets *saturate*: floats are truncated toward zero, NaN
      becomes 0, and every value is clipped to the dtype's range (so negative
      draws become 0 in unsigned dtypes and ``Fill(300)`` in ``uint8`` is 255).
      Wrapping would depend on the platform for floats (C leaves it
      undefined) and the frameworks themselves reject such literals.
    - ``bool`` targets: nonzero (NaN included) is True, as ``.bool()`` does.
    - A complex value for a real dtype, a string or None is ``invalid``.

Note [Fresh objects per mode]
    ``torch.from_numpy`` shares memory with its array, and ``.to`` to the
    same dtype returns the very same tensor, so an in-place API in one mode
    would corrupt the next mode's input (a probe harness once produced 24
    bogus mismatch groups this way).  The converters
    build every tensor from a copy: ``torch.tensor`` (which always copies) for
    dtypes numpy has, and for the others (bfloat16, float8, complex32) a copy
    of the bits as a same-sized integer tensor reinterpreted with
    ``Tensor.view(dtype)``, which is bit-exact by construction (NaN payloads
    and -0.0 included).  The drawn arrays are read-only, so a stray alias in a
    worker fails loudly instead of silently changing later modes' inputs.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import types
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from infra.dtypes import (
    dtype_category,
    is_numpy_native,
    is_torch_bitcast,
    same_width_int,
    storage_dtype,
    wider,
)
from infra.errors import InternalError, SeamfuzzError
from miner.apiindex.names import canonical_to_path
from miner.records import (
    ApiRef,
    Arange,
    Constructed,
    Data,
    Dict,
    DType,
    Empty,
    Eye,
    Fill,
    IntRange,
    Layout,
    LayoutKind,
    Linspace,
    Literal,
    Normal,
    Seq,
    Special,
    TensorSpec,
    Uniform,
    Unknown,
    iter_values,
    map_values,
)
from miner.records import base_shape as _base_shape

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "REASONS",
    "Drawn",
    "DrawnTensor",
    "MaterializeError",
    "draw",
    "float64_variant",
    "resolve_api",
    "to_tf",
    "to_torch",
]

#: The cap on the elements of all drawn tensors of one call: the one value
#: the mutator validates against and the worker enforces (a tensorflow call
#: over a huge input retries its allocation for seconds before failing).
DEFAULT_MAX_ELEMENTS = 2**22

#: The reason of inputs over the element cap; a SKIPPED observation's
#: detail starts with it, and the contract turns it into TOO_LARGE.
SKIP_TOO_LARGE = "too_large"

#: The values of :attr:`MaterializeError.reason`.
REASONS = frozenset({"unresolved", SKIP_TOO_LARGE, "invalid"})

_FRAMEWORKS = frozenset({"torch", "tensorflow", "numpy"})

#: The libraries an API name may come from.
_LIBRARIES = frozenset({"torch", "tensorflow", "numpy"})
_PYTHON_TYPES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "str": str,
}


class MaterializeError(SeamfuzzError):
    """A call's inputs cannot be built; the runner records the case as
    SKIPPED with ``str(error)`` (which starts with :attr:`reason`) as detail."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise InternalError(f"unknown MaterializeError reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        #: ``"unresolved"``, ``"too_large"`` or ``"invalid"``.
        self.reason = reason
        #: What and where, e.g. ``args[0]: shape (None, 3) has unknown dims``.
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail))


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class DrawnTensor:
    """A tensor spec with its values drawn: a base array plus the layout that
    makes the logical tensor a view of it (see Note [An init fills the base]).

    Compared by identity (``==`` on arrays is elementwise); compare drawn
    inputs with :meth:`Drawn.digest`.
    """

    #: ``torch``, ``tensorflow`` or ``numpy``: the kind of object to build.
    framework: str
    #: The framework's dtype name (``float32``, ``bfloat16``, ``bool``).
    dtype: str
    #: The contiguous, read-only array the layout's view is taken from, in
    #: :func:`runner.observation.storage_dtype` of :attr:`dtype`.
    base: np.ndarray
    layout: Layout
    #: The logical shape (of the view).
    shape: tuple[int, ...]
    #: torch only: make the built (floating or complex) tensor a leaf that
    #: requires grad.
    requires_grad: bool = False

    def __post_init__(self) -> None:
        want = _base_shape(self.shape, self.layout)
        if self.base.shape != want or self.base.dtype != storage_dtype(self.dtype):
            raise InternalError(
                f"base {self.base.shape} {self.base.dtype} does not fit "
                f"{self.dtype} {self.shape} {self.layout}"
            )

    def logical(self) -> np.ndarray:
        """A fresh, writable, C-contiguous copy of the logical values
        (0-d stays 0-d)."""
        out = np.array(_view(self.base, self.layout, self.shape), copy=True, order="C")
        if out.shape != self.shape:
            raise InternalError(f"logical shape {out.shape} != {self.shape}")
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Drawn:
    """A call's arguments with every tensor spec drawn.

    The trees are the record's values (:class:`~miner.records.Literal`,
    :class:`~miner.records.Seq`, ...) with :class:`DrawnTensor` in place of
    each :class:`~miner.records.TensorSpec`.
    """

    #: Positional argument values.
    args: tuple[Any, ...]
    #: Keyword argument ``(name, value)`` pairs, in source order.
    kwargs: tuple[tuple[str, Any], ...]
    #: The seed the tensors were drawn from.
    seed: int

    def tensors(self) -> Iterator[DrawnTensor]:
        """Every drawn tensor, in draw order."""
        for v in self.args:
            yield from _tensors_in(v)
        for _, v in self.kwargs:
            yield from _tensors_in(v)

    def digest(self) -> str:
        """A hash of every drawn tensor (framework, dtype, shape, layout,
        requires_grad and base bytes) in draw order: equal digests mean
        byte-identical tensor inputs."""
        h = hashlib.sha256()
        for t in self.tensors():
            meta = (t.framework, t.dtype, t.shape, t.layout.kind.value, t.layout.dims,
                    t.requires_grad)
            h.update(repr(meta).encode())
            h.update(t.base.tobytes())
        return h.hexdigest()


def _tensors_in(v: Any) -> Iterator[DrawnTensor]:
    """Drawn tensors in a drawn value tree, depth first."""
    return (x for x in iter_values(v) if isinstance(x, DrawnTensor))


# ---------------------------------------------------------------------------
# Layout helpers (numpy)
# ---------------------------------------------------------------------------


def _view(base: np.ndarray, layout: Layout, shape: tuple[int, ...]) -> np.ndarray:
    kind = layout.kind
    if kind is LayoutKind.PERMUTED:
        return base.transpose(layout.dims)
    if kind is LayoutKind.STRIDED:
        return base[tuple(slice(None, None, k) for k in layout.dims)]
    if kind is LayoutKind.EXPANDED:
        return np.broadcast_to(base, shape)
    return base


# ---------------------------------------------------------------------------
# Phase 1: draw
# ---------------------------------------------------------------------------


def draw(
    values: tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]],
    seed: int,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Drawn:
    """Draw every tensor spec in ``values = (args, kwargs)`` from one
    ``PCG64(seed)`` generator; raise :class:`MaterializeError` when an
    argument is unresolved, invalid, or all tensors together hold more than
    ``max_elements`` elements (the larger of base and logical size counts,
    since an expanded view is materialised by TF and numpy)."""
    args, kwargs = values
    specs: list[tuple[str, TensorSpec]] = []
    for i, v in enumerate(args):
        _collect(v, f"args[{i}]", specs)
    for name, v in kwargs:
        _collect(v, f"kwargs[{name!r}]", specs)
    total = 0
    for _, spec in specs:
        shape = tuple(spec.shape)  # all ints after _collect
        total += max(math.prod(shape), math.prod(_base_shape(shape, spec.layout)))  # type: ignore[arg-type]
    if total > max_elements:
        raise MaterializeError(
            SKIP_TOO_LARGE, f"{total} tensor elements exceed the cap of {max_elements}"
        )
    gen = np.random.Generator(np.random.PCG64(seed))
    drawn = iter([_draw_tensor(spec, path, gen) for path, spec in specs])

    def fill(v: Any) -> Any:  # the n-th spec met is the n-th drawn (Note [One walker])
        return map_values(v, lambda _: next(drawn), TensorSpec)

    out_args = tuple(fill(v) for v in args)
    out_kwargs = tuple((name, fill(v)) for name, v in kwargs)
    if next(drawn, None) is not None:
        raise InternalError("draw order and replacement order disagree")
    return Drawn(out_args, out_kwargs, int(seed))


def _collect(v: Any, path: str, out: list[tuple[str, TensorSpec]]) -> None:
    """Check ``v`` and list its tensor specs in draw order."""
    if isinstance(v, Unknown):
        raise MaterializeError("unresolved", f"{path} is unknown ({v.hint or 'no hint'})")
    if isinstance(v, TensorSpec):
        if None in v.shape:
            raise MaterializeError("unresolved", f"{path}: shape {v.shape} has unknown dims")
        if v.framework not in _FRAMEWORKS:
            raise MaterializeError("invalid", f"{path}: unknown framework {v.framework!r}")
        try:
            storage_dtype(v.dtype)
        except ValueError:
            raise MaterializeError("invalid", f"{path}: unknown dtype {v.dtype!r}") from None
        if v.dtype.startswith(("qint", "quint")):
            raise MaterializeError("invalid", f"{path}: quantized dtype {v.dtype} not drawn")
        out.append((path, v))
    elif isinstance(v, Seq):
        for i, x in enumerate(v.items):
            _collect(x, f"{path}[{i}]", out)
    elif isinstance(v, Dict):
        for i, (k, x) in enumerate(v.items):
            _collect(k, f"{path}.key[{i}]", out)
            _collect(x, f"{path}.value[{i}]", out)
    elif isinstance(v, Constructed):
        for i, x in enumerate(v.args):
            _collect(x, f"{path}<{v.api}>.args[{i}]", out)
        for name, x in v.kwargs:
            _collect(x, f"{path}<{v.api}>.kwargs[{name!r}]", out)
    elif not isinstance(v, (Literal, DType, ApiRef)):
        raise InternalError(f"not a record value at {path}: {v!r}")


def _draw_tensor(spec: TensorSpec, path: str, gen: np.random.Generator) -> DrawnTensor:
    shape: tuple[int, ...] = tuple(spec.shape)  # type: ignore[arg-type]
    bshape = _base_shape(shape, spec.layout)
    try:
        flat = _values(spec.init, spec.dtype, math.prod(bshape), bshape, gen, path)
    except (ValueError, OverflowError) as exc:  # numpy rejecting parameters
        raise MaterializeError("invalid", f"{path}: {spec.init}: {exc}") from exc
    base = flat.reshape(bshape)
    if not base.flags.c_contiguous:  # reshape of a fresh 1-d array never copies
        base = base.copy(order="C")
    if base.shape != bshape or base.dtype != storage_dtype(spec.dtype):
        raise InternalError(f"{path}: drew {base.shape} {base.dtype} for {bshape} {spec.dtype}")
    base.flags.writeable = False
    return DrawnTensor(spec.framework, spec.dtype, base, spec.layout, shape, spec.requires_grad)


def _values(
    init: Any, dtype: str, n: int, bshape: tuple[int, ...], gen: np.random.Generator, path: str
) -> np.ndarray:
    """``n`` values of ``dtype`` (1-d) for ``init`` over a base of ``bshape``."""
    cat = dtype_category(dtype)
    both = cat == "complex"  # random inits draw real then imaginary parts

    def random(one: Callable[[], np.ndarray]) -> np.ndarray:
        real = one()
        return real + 1j * one() if both else real

    if isinstance(init, Normal):
        return _cast(random(lambda: gen.normal(init.mean, init.std, size=n)), dtype, path)
    if isinstance(init, Uniform):
        return _cast(random(lambda: gen.uniform(init.low, init.high, size=n)), dtype, path)
    if isinstance(init, IntRange):
        low, high = (0, 2) if cat == "bool" else (init.low, init.high)
        return _cast(random(lambda: gen.integers(low, high, size=n, dtype=np.int64)), dtype, path)
    if isinstance(init, Empty):
        if cat in ("float", "complex"):
            return _cast(random(lambda: gen.uniform(0.0, 1.0, size=n)), dtype, path)
        high = 2 if cat == "bool" else 10
        return _cast(gen.integers(0, high, size=n, dtype=np.int64), dtype, path)
    if isinstance(init, Special):
        return _special(init, dtype, n, gen, path)
    if isinstance(init, Fill):
        one = _scalars((init.value,), dtype, path)
        out = np.empty(n, dtype=one.dtype)
        out[...] = one[0]
        return out
    if isinstance(init, Data):
        if len(init.values) != n:
            raise MaterializeError(
                "invalid", f"{path}: {len(init.values)} data values for {n} elements {bshape}"
            )
        return _scalars(init.values, dtype, path)
    if isinstance(init, Arange):
        start, step = init.start, init.step
        if all(isinstance(x, int) for x in (start, step)) and (
            abs(start) + abs(step) * max(n, 1) < 2**62
        ):
            return _cast(start + step * np.arange(n, dtype=np.int64), dtype, path)
        return _cast(float(start) + float(step) * np.arange(n, dtype=np.float64), dtype, path)
    if isinstance(init, Linspace):
        return _cast(np.linspace(float(init.start), float(init.end), n), dtype, path)
    if isinstance(init, Eye):
        eye = np.zeros(bshape, dtype=np.int64)
        if len(bshape) == 0:
            eye[()] = 1
        elif len(bshape) == 1:
            eye[:1] = 1
        else:
            idx = np.arange(min(bshape[-2:]))
            eye[..., idx, idx] = 1
        return _cast(eye.reshape(n), dtype, path)
    raise InternalError(f"{path}: not a tensor init: {init!r}")


def _special(init: Special, dtype: str, n: int, gen: np.random.Generator, path: str) -> np.ndarray:
    """See Note [Value generation and casting]: the default draw, then the
    special values at ``ceil(density * n)`` positions chosen by ``gen``."""
    cat = dtype_category(dtype)
    if cat in ("float", "complex"):
        base = gen.normal(0.0, 1.0, size=n)
        if cat == "complex":
            base = base + 1j * gen.normal(0.0, 1.0, size=n)
    else:
        base = gen.integers(0, 2 if cat == "bool" else 10, size=n, dtype=np.int64)
    out = _cast(base, dtype, path).copy()
    k = min(n, math.ceil(init.density * n))
    positions = gen.choice(n, size=k, replace=False)  # distinct, in random order
    step = len(init.values)
    for j, name in enumerate(init.values):  # position i gets values[i % step]
        out[positions[j::step]] = _special_value(name, dtype, path)
    return out


def _special_value(name: str, dtype: str, path: str) -> np.generic:
    """One :data:`~miner.records.SPECIAL_VALUES` name as a scalar of
    ``dtype``'s storage type."""
    cat, storage = dtype_category(dtype), storage_dtype(dtype)
    if cat == "int" and name in ("max", "min"):
        lo, hi = _int_range(storage)
        return np.array(hi if name == "max" else lo, dtype=storage)[()]
    if cat == "bool" and name in ("max", "min"):
        return np.bool_(name == "max")
    if cat in ("float", "complex"):
        component = storage if cat == "float" else np.dtype(
            {8: np.float32, 16: np.float64}.get(storage.itemsize, np.float16)
        )
        info = _finfo(component)
    else:
        info = np.finfo(np.float64)
    exact = {
        "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "0": 0.0, "-0": -0.0,
        "1": 1.0, "-1": -1.0,
    }
    if name in exact:
        value = exact[name]
    elif name == "max":
        value = float(info.max)
    elif name == "min":
        value = float(info.min)
    elif name == "tiny":
        value = float(info.tiny)
    elif name in ("denormal", "-denormal"):
        value = math.copysign(float(info.smallest_subnormal), -1.0 if name[0] == "-" else 1.0)
    elif name == "eps":
        value = float(info.eps)
    elif name in ("huge", "-huge"):
        value = math.copysign(2.0 ** (int(info.maxexp) // 2), -1.0 if name[0] == "-" else 1.0)
    else:
        raise InternalError(f"{path}: unknown special value {name!r}")
    arr = np.array([value], dtype=np.complex128 if cat == "complex" else np.float64)
    return _cast(arr, dtype, path)[0]


def _finfo(storage: np.dtype) -> Any:
    """numpy's finfo, or ml_dtypes' for the types numpy lacks (imported only
    then: a reproducer needs it only for such dtypes)."""
    if storage.type.__module__ == "numpy":
        return np.finfo(storage)
    import ml_dtypes

    return ml_dtypes.finfo(storage)


def _int_range(storage: np.dtype) -> tuple[int, int]:
    if storage.type.__module__ == "numpy":
        info: Any = np.iinfo(storage)
    else:
        import ml_dtypes

        info = ml_dtypes.iinfo(storage)
    return int(info.min), int(info.max)


def _scalars(values: tuple[Any, ...], dtype: str, path: str) -> np.ndarray:
    """Python scalars (Fill, Data) as a 1-d array of ``dtype``."""
    cat, storage = dtype_category(dtype), storage_dtype(dtype)
    for v in values:
        if v is None or isinstance(v, str):
            raise MaterializeError("invalid", f"{path}: {v!r} is not a number")
    if any(isinstance(v, complex) for v in values):
        return _cast(np.array(values, dtype=np.complex128), dtype, path)
    if any(isinstance(v, float) for v in values):
        return _cast(np.array(values, dtype=np.float64), dtype, path)
    # bools and ints only: exact, whatever their size.
    if cat == "int":
        lo, hi = _int_range(storage)
        return np.array([min(max(int(v), lo), hi) for v in values], dtype=storage)
    if cat == "bool":
        return np.array([v != 0 for v in values], dtype=np.bool_)
    try:
        floats = np.array([float(v) for v in values], dtype=np.float64)
    except OverflowError:
        raise MaterializeError("invalid", f"{path}: an integer too large for {dtype}") from None
    return _cast(floats, dtype, path)


def _cast(values: np.ndarray, dtype: str, path: str) -> np.ndarray:
    """float64 / int64 / complex128 / bool values cast to ``dtype`` (see
    Note [Value generation and casting])."""
    cat, storage = dtype_category(dtype), storage_dtype(dtype)
    if values.dtype.kind == "c" and cat != "complex":
        raise MaterializeError("invalid", f"{path}: complex values for a {dtype} tensor")
    if cat == "bool":
        return values != 0
    if cat == "int":
        lo, hi = _int_range(storage)
        if values.dtype.kind == "f":
            t = np.trunc(values)
            t[np.isnan(t)] = 0.0
            under, over = t <= lo, t >= hi
            out = np.where(under | over, 0.0, t).astype(storage)
            out[under] = lo
            out[over] = hi
            return out
        if values.dtype.kind == "b":
            return values.astype(storage)
        return np.clip(values, max(lo, -(2**63)), min(hi, 2**63 - 1)).astype(storage)
    with np.errstate(all="ignore"):
        return values.astype(storage)


# ---------------------------------------------------------------------------
# float64 recomputation
# ---------------------------------------------------------------------------


def float64_variant(drawn: Drawn) -> Drawn | None:
    """``drawn`` with every floating tensor below float64 (float16, bfloat16,
    float32, the float8/6/4 types) as float64 and every complex tensor below
    complex128 as complex128, values converted exactly; None when there is
    no such tensor.  Dtype arguments and constructed objects are left alone,
    so an explicit ``dtype=torch.float32`` still computes in float32."""
    changed = False

    def widen_tensor(v: DrawnTensor) -> DrawnTensor:
        nonlocal changed
        wide = wider(v.dtype)
        if wide is None or dtype_category(v.dtype) not in ("float", "complex"):
            return v
        changed = True
        base = v.base.astype(storage_dtype(wide))
        base.flags.writeable = False
        return DrawnTensor(v.framework, wide, base, v.layout, v.shape, v.requires_grad)

    def widen(v: Any) -> Any:
        return map_values(v, widen_tensor, DrawnTensor)

    args = tuple(widen(v) for v in drawn.args)
    kwargs = tuple((k, widen(v)) for k, v in drawn.kwargs)
    return Drawn(args, kwargs, drawn.seed) if changed else None


# ---------------------------------------------------------------------------
# Phase 2: framework objects (inside a worker)
# ---------------------------------------------------------------------------


def resolve_api(name: str, frameworks: Collection[str] | None = None) -> Any:
    """The library object a canonical API name means: ``torch.relu``,
    ``torch.Tensor.sum``, ``torch.channels_last``, ``tf.math.abs``
    (``tf.`` is the ``tensorflow`` module), ``tf.keras.layers.Dense``,
    ``numpy.float32``.  Submodules their parent does not import are
    imported.  ``frameworks`` (``torch``, ``tensorflow``, ``numpy``) limits
    which libraries may be imported; a torch worker must never import
    TensorFlow.  Raises :class:`MaterializeError` (``invalid``) when the name
    is not there.  Whether an API may be run at all is the caller's
    deny-list's business."""
    module_name, _, rest = canonical_to_path(name).partition(".")
    if module_name not in _LIBRARIES or (frameworks is not None and
                                         module_name not in frameworks):
        allowed = sorted(frameworks) if frameworks is not None else sorted(_LIBRARIES)
        raise MaterializeError("invalid", f"API {name!r} is not in {', '.join(allowed)}")
    parts = rest.split(".") if rest else []
    if not all(p.isidentifier() for p in parts):
        raise MaterializeError("invalid", f"malformed API name {name!r}")
    obj: Any = importlib.import_module(module_name)
    for part in parts:
        try:
            obj = getattr(obj, part)
            continue
        except (AttributeError, ImportError):
            pass
        if not isinstance(obj, types.ModuleType):
            raise MaterializeError("invalid", f"no API {name!r}: {part!r} not found")
        try:
            obj = importlib.import_module(f"{obj.__name__}.{part}")
        except ImportError:
            raise MaterializeError("invalid", f"no API {name!r}: {part!r} not found") from None
    return obj


class _Builder:
    """Turns a drawn tree into framework objects; one subclass per worker
    framework, each importing only its own library."""

    #: Libraries :func:`resolve_api` may import for this framework.
    frameworks: frozenset[str] = frozenset({"numpy"})

    def value(self, v: Any, path: str) -> Any:
        if isinstance(v, DrawnTensor):
            if v.framework == "numpy":
                return v.logical()
            return self.tensor(v, path)
        if isinstance(v, Literal):
            return v.value
        if isinstance(v, Seq):
            items = [self.value(x, f"{path}[{i}]") for i, x in enumerate(v.items)]
            return items if v.kind == "list" else tuple(items)
        if isinstance(v, Dict):
            return {
                self.value(k, f"{path}.key[{i}]"): self.value(x, f"{path}.value[{i}]")
                for i, (k, x) in enumerate(v.items)
            }
        if isinstance(v, DType):
            return self.dtype(v, path)
        if isinstance(v, ApiRef):
            return resolve_api(v.api, self.frameworks)
        if isinstance(v, Constructed):
            fn = resolve_api(v.api, self.frameworks)
            args, kwargs = self.call_args(v.args, v.kwargs, f"{path}<{v.api}>")
            try:
                return fn(*args, **kwargs)
            except SeamfuzzError:
                raise
            except Exception as exc:
                raise MaterializeError(
                    "invalid", f"{path}: constructing {v.api} raised {type(exc).__name__}: {exc}"
                ) from exc
        if isinstance(v, (TensorSpec, Unknown)):
            raise InternalError(f"{path}: {v!r} was not drawn; call draw() first")
        raise InternalError(f"{path}: not a drawn value: {v!r}")

    def call_args(
        self, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], path: str = ""
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        prefix = f"{path}." if path else ""
        out_args = tuple(self.value(v, f"{prefix}args[{i}]") for i, v in enumerate(args))
        out_kwargs: dict[str, Any] = {}
        for name, v in kwargs:
            if name in out_kwargs:
                raise MaterializeError("invalid", f"{prefix}kwargs: {name!r} given twice")
            out_kwargs[name] = self.value(v, f"{prefix}kwargs[{name!r}]")
        return out_args, out_kwargs

    def dtype(self, v: DType, path: str) -> Any:
        if v.framework == "python" and v.name in _PYTHON_TYPES:
            return _PYTHON_TYPES[v.name]
        if v.framework == "numpy":
            try:
                return storage_dtype(v.name).type  # bfloat16, float8_*, int4 from ml_dtypes
            except ValueError:
                pass
            try:
                return np.dtype(v.name).type
            except TypeError:
                pass
        raise MaterializeError("invalid", f"{path}: dtype {v.framework}.{v.name} unavailable here")

    def tensor(self, v: DrawnTensor, path: str) -> Any:
        raise MaterializeError("invalid", f"{path}: cannot build a {v.framework} tensor here")


class _TorchBuilder(_Builder):
    frameworks = frozenset({"torch", "numpy"})

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)

    def dtype(self, v: DType, path: str) -> Any:
        if v.framework == "torch":
            found = getattr(self.torch, v.name, None)
            if isinstance(found, self.torch.dtype):
                return found
        return super().dtype(v, path)

    def value(self, v: Any, path: str) -> Any:
        out = super().value(v, path)
        # A tensor a constructor returned (torch.FloatTensor([...]),
        # torch.tensor(...)) is an input like a drawn one: on the mode's device.
        if isinstance(v, Constructed) and self.device.type != "cpu" and \
                isinstance(out, self.torch.Tensor):
            out = out.to(self.device)
        return out

    def tensor(self, v: DrawnTensor, path: str) -> Any:
        torch = self.torch
        if v.framework != "torch":
            return super().tensor(v, path)
        target = getattr(torch, v.dtype, None)
        if is_numpy_native(v.dtype):
            t = torch.tensor(v.base)  # always copies
        elif is_torch_bitcast(v.dtype) and isinstance(target, torch.dtype):
            bits = v.base.view(same_width_int(v.dtype))
            t = torch.tensor(bits).view(target)
        else:
            raise MaterializeError("invalid", f"{path}: torch has no {v.dtype} tensors to build")
        if t.dtype != target or tuple(t.shape) != v.base.shape:
            raise InternalError(f"{path}: built {t.dtype} {tuple(t.shape)} for {v.dtype} base")
        if self.device.type != "cpu":
            t = t.to(self.device)
        kind = v.layout.kind
        if kind is LayoutKind.PERMUTED:
            t = t.permute(v.layout.dims)
        elif kind is LayoutKind.STRIDED:
            t = t[tuple(slice(None, None, k) for k in v.layout.dims)]
        elif kind is LayoutKind.EXPANDED:
            t = t.expand(v.shape)
        elif kind is LayoutKind.CHANNELS_LAST:
            fmt = torch.channels_last if len(v.shape) == 4 else torch.channels_last_3d
            t = t.contiguous(memory_format=fmt)
        if v.requires_grad and (t.is_floating_point() or t.is_complex()):
            # A view of a tensor that does not require grad is still a leaf.
            t.requires_grad_()
        if tuple(t.shape) != v.shape:
            raise InternalError(f"{path}: built shape {tuple(t.shape)}, want {v.shape}")
        return t


class _TFBuilder(_Builder):
    frameworks = frozenset({"tensorflow", "numpy"})

    def __init__(self) -> None:
        import tensorflow as tf

        self.tf = tf

    def dtype(self, v: DType, path: str) -> Any:
        if v.framework == "tensorflow":
            try:
                return self.tf.as_dtype(v.name)
            except TypeError:
                pass
        return super().dtype(v, path)

    def tensor(self, v: DrawnTensor, path: str) -> Any:
        tf = self.tf
        if v.framework != "tensorflow":
            return super().tensor(v, path)
        try:
            target = tf.as_dtype(v.dtype)
        except TypeError:
            raise MaterializeError("invalid", f"{path}: TensorFlow has no {v.dtype}") from None
        # TF has no memory layouts: the logical values, in a private copy.
        t = tf.constant(v.logical(), dtype=target)
        if tuple(t.shape) != v.shape or t.dtype != target:
            raise InternalError(f"{path}: built {t.dtype} {tuple(t.shape)} for {v.dtype} {v.shape}")
        return t


def to_torch(
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
    device: str = "cpu",
    *,
    seed: int = 0,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Fresh torch call arguments from drawn trees (:attr:`Drawn.args`,
    :attr:`Drawn.kwargs`): every call builds new tensors that share memory
    with nothing, on ``device``, with the spec's layout applied for real
    (PERMUTED → ``permute``, STRIDED → step slicing, EXPANDED → ``expand``,
    CHANNELS_LAST → ``channels_last`` / ``channels_last_3d``), and
    ``requires_grad_()`` on floating and complex leaves (ignored for other
    dtypes, as ``x.long()`` of a grad tensor does not require grad).
    numpy tensors become fresh arrays of their logical values; dtypes map to
    ``torch.float32`` / ``np.float32`` / ``float``; API references and
    constructed objects are resolved and built anew.  Constructed objects are
    built with torch's global RNG forked and seeded with ``seed`` (restored
    afterwards), so ``nn.Linear`` weights are the same in every mode."""
    builder = _TorchBuilder(device)
    if not any(_has_constructed(v) for v in (*args, *(x for _, x in kwargs))):
        return builder.call_args(args, kwargs)
    torch = builder.torch
    dev = builder.device
    devices = [] if dev.type == "cpu" else [dev.index if dev.index is not None else 0]
    with torch.random.fork_rng(devices=devices, device_type=dev.type if devices else "cuda"):
        torch.manual_seed(seed)
        return builder.call_args(args, kwargs)


def _has_constructed(v: Any) -> bool:
    if isinstance(v, Constructed):
        return True
    if isinstance(v, Seq):
        return any(_has_constructed(x) for x in v.items)
    if isinstance(v, Dict):
        return any(_has_constructed(k) or _has_constructed(x) for k, x in v.items)
    return False


def to_tf(
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
    device: str | None = None,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Fresh TensorFlow call arguments from drawn trees: ``tf.constant`` of a
    private copy of each tensor's *logical* values (TF has no memory layouts,
    so the layout only decides the values; ``requires_grad`` has no meaning),
    under ``tf.device(device)`` when given.  The rest as :func:`to_torch`.
    Keras layers create their weights when first called, from TF's global
    RNG: the worker seeds it before each mode."""
    builder = _TFBuilder()
    if device is None:
        return builder.call_args(args, kwargs)
    with builder.tf.device(device):
        return builder.call_args(args, kwargs)
