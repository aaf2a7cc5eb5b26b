"""Standalone reproducers: one discrepancy as a short Python script.

:func:`render_repro` turns a call record, its seed, the two modes of a
boundary and the verdict kind found there into the text of a script that
imports only numpy and the framework (plus a plug-in backend or transform,
from its dotted path), rebuilds the inputs the seamfuzz runner used, builds
the call as the runner does (:mod:`runner.execute`), runs it in the
reference mode and in the target mode, and compares the two with a check
for that kind.  The script exits 1 when the discrepancy reproduces, 0 when it
does not, and 2 when something else happens (a different discrepancy, or the
script itself fails), so it doubles as a regression test and
:mod:`triage.replay` can run a directory of them.  :func:`write_repro` stores
it as ``<directory>/<cluster_id>.py``.

What cannot be reproduced faithfully raises :class:`ReproUnsupported`
instead of writing a script that would test something else: unresolved
arguments, a tensor of a framework other than the call's, a numpy dtype
object numpy itself lacks (``bfloat16``), a mode of the other framework, a
verdict kind that is not a discrepancy.

Note [Inputs in the script]
    Inputs are rebuilt from the very arrays :func:`runner.materialize.draw`
    returns, so the script sees the bytes the runner saw:

    - a tensor of at most :data:`LITERAL_MAX_ELEMENTS` base elements is an
      ``np.array([...])`` literal (floats in their shortest round-trip
      spelling, ``float("nan")``, ``float("inf")``, ``-0.0``);
    - when some randomly initialised tensor is larger, *every* random tensor
      of that draw stream is drawn in the script with numpy, from
      ``np.random.Generator(np.random.PCG64(SEED))`` in the runner's order
      and with its casts: a few readable lines instead of kilobytes of data;
    - larger deterministic tensors are ``np.full`` / ``np.arange`` /
      ``np.linspace`` / ``np.eye`` expressions.

    Every rendered expression is evaluated here, with numpy, and compared
    bit for bit with the drawn array; where it differs (a saturating integer
    cast, a double rounding, a NaN payload) the tensor falls back to its raw
    bytes in base64 (a random draw is then still made, to keep the generator
    in step).  Dtypes numpy lacks (``bfloat16``, the float8 types,
    ``complex32``, sub-byte ints) are written as exact float32 / complex64 /
    int8 values and converted in the framework, or, when they hold a NaN, as
    their bits reinterpreted with ``Tensor.view`` / ``tf.bitcast``.  Layouts
    are applied as :mod:`runner.materialize` applies them: torch views
    (``permute``, step slicing, ``expand``, ``channels_last``) of a tensor
    built from the base; TensorFlow, which has no layouts, gets the logical
    values.

Note [What the script compares]
    Status, then dtypes, then shapes, then values of the output and of every
    input after the call (in-place writes): integers exactly, floats with the
    tolerance of :data:`runner.contract.DEFAULT_TOLERANCES` for their dtype,
    NaN equal to NaN.  The runner's float64 arbitration is left out, so a
    rounding difference just over the tolerance reads as a value
    discrepancy here.  Both sides raising counts as agreement for a
    ``status`` discrepancy (the target now rejects what the reference
    rejects) and as "something else" otherwise.  For ``crash`` and
    ``timeout`` the script runs the target in a child process (itself, with
    ``--target``): the discrepancy reproduces when that child dies or hangs.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from infra.atomic import write_text_atomic
from infra.errors import InternalError, InvalidArgument, SeamfuzzError
from miner.records import (
    ApiRef,
    Arange,
    CallKind,
    CallRecord,
    Constructed,
    Data,
    Dict,
    DType,
    Empty,
    Eye,
    IntRange,
    LayoutKind,
    Linspace,
    Literal,
    Normal,
    Seq,
    Special,
    TensorSpec,
    Uniform,
    Unknown,
    describe_record,
)
from runner import materialize
from runner.contract import DEFAULT_TOLERANCES, PYTHON_COMPLEX, PYTHON_FLOAT
from runner.dispatch import DEFAULT_TIMEOUT
from runner.execute import DEFAULT_MAX_ELEMENTS, INIT_SEED_OFFSET
from runner.modes import ModeSpec, parse_mode
from runner.observation import dtype_category, storage_dtype

__all__ = [
    "BYTES_MAX",
    "DATA_MAX_ELEMENTS",
    "LITERAL_MAX_ELEMENTS",
    "REPRO_KINDS",
    "Observed",
    "ReproUnsupported",
    "Stamp",
    "render_repro",
    "write_repro",
]

#: Tensors with at most this many base elements are written as literals.
LITERAL_MAX_ELEMENTS = 64
#: :class:`~miner.records.Data` tensors are literals up to this many elements.
DATA_MAX_ELEMENTS = 1024
#: The most raw bytes one tensor may embed (base64) when no numpy
#: expression rebuilds it exactly; beyond, :class:`ReproUnsupported`.
BYTES_MAX = 1 << 18
#: The verdict kinds a reproducer can check.
REPRO_KINDS = frozenset({"value", "status", "dtype", "shape", "crash", "timeout"})

_WIDTH = 88
_RANDOM_INITS = (Normal, Uniform, IntRange, Empty, Special)
_ROOTS = {"torch": "torch", "tf": "tf", "tensorflow": "tf", "numpy": "np", "np": "np"}
_FRAMEWORK_ROOTS = {"torch": {"torch", "np"}, "tensorflow": {"tf", "np"}}
_TOLERANCE_DTYPES = ("float16", "bfloat16", "float32", "float64", "complex32", "complex64",
                     "complex128")
# Dtypes numpy holds natively (the literal is the tensor's own dtype).
_NUMPY_NATIVE = frozenset(
    ["bool", "float16", "float32", "float64", "complex64", "complex128"]
    + [f"{u}int{n}" for u in ("", "u") for n in (8, 16, 32, 64)]
)
# Dtypes torch builds by reinterpreting bits (as runner.materialize does).
_TORCH_NON_NATIVE = frozenset(
    ["bfloat16", "complex32", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
     "float8_e5m2fnuz", "float8_e8m0fnu"]
)
# Dtypes the tf module has attributes for.
_TF_NAMED_DTYPES = frozenset(
    _NUMPY_NATIVE | {"bfloat16", "half", "double", "string", "resource", "variant"}
    | {"qint8", "qint16", "qint32", "quint8", "quint16"}
)
_INT_OF_SIZE = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def _tf_dtype(name: str) -> str:
    """``tf.float32``; ``tf.as_dtype("int4")`` for dtypes tf has no name for."""
    if name in _TF_NAMED_DTYPES:
        return f"tf.{name}"
    return f"tf.as_dtype({json.dumps(name)})"


class ReproUnsupported(SeamfuzzError):
    """A discrepancy that no reproducer can replay faithfully (its message
    says why); the caller records "no reproducer" instead of a script."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where and how a discrepancy was found, for a reproducer's header."""

    #: ``(library, version)`` pairs (a mapping is accepted and sorted).
    versions: tuple[tuple[str, str], ...] = ()
    #: The machine's device, as the campaign recorded it (``cpu``,
    #: ``NVIDIA H100``).
    device: str = ""
    #: The seamfuzz command line that found it.
    command: str = ""

    def __post_init__(self) -> None:
        versions = self.versions
        if isinstance(versions, Mapping):
            versions = tuple(versions.items())
        object.__setattr__(self, "versions",
                           tuple(sorted((str(k), str(v)) for k, v in versions)))


@dataclass(frozen=True, slots=True)
class Observed:
    """What each side of the boundary was seen to do, in a few words
    (``returned tensor(0.85)``, ``raised RuntimeError: ...``)."""

    #: The reference mode's observation, one line.
    reference: str = ""
    #: The target mode's observation, one line.
    target: str = ""


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def render_repro(
    record: CallRecord,
    seed: int,
    reference: str,
    target: str,
    kind: str,
    *,
    observed: Observed = Observed(),
    stamp: Stamp = Stamp(),
    cluster_id: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """The text of a standalone script reproducing a ``kind`` discrepancy of
    ``record`` with inputs from ``seed`` between mode specs ``reference`` and
    ``target`` (``torch.eager``, ``torch.compile:backend=aot_eager``,
    ``tf.xla``, ...).  ``timeout`` is how long a ``crash`` / ``timeout``
    script waits for the target.  Raises :class:`ReproUnsupported` when the
    case cannot be replayed faithfully and
    :class:`~infra.errors.InvalidArgument` for a bad mode or kind."""
    kind = str(getattr(kind, "value", kind))
    if kind not in REPRO_KINDS:
        raise InvalidArgument(
            f"a reproducer checks one of {', '.join(sorted(REPRO_KINDS))}; not {kind!r}")
    if not timeout > 0:
        raise InvalidArgument(f"timeout must be > 0, got {timeout!r}")
    fw = record.framework
    if fw not in _FRAMEWORK_ROOTS:
        raise ReproUnsupported(f"no reproducers for framework {fw!r}")
    modes = (parse_mode(reference), parse_mode(target))
    for spec in modes:
        if spec.framework != fw:
            raise ReproUnsupported(f"mode {spec} does not run {fw} calls")
    text = _Script(record, int(seed), modes, kind, observed, stamp, cluster_id,
                   float(timeout)).render()
    try:
        compile(text, f"<repro {cluster_id or record.api}>", "exec")
    except SyntaxError as exc:  # a bug of this module, never of the case
        raise InternalError(f"rendered reproducer does not compile: {exc}") from exc
    return text


def write_repro(
    directory: str | os.PathLike[str],
    cluster_id: str,
    record: CallRecord,
    seed: int,
    reference: str,
    target: str,
    kind: str,
    *,
    observed: Observed = Observed(),
    stamp: Stamp = Stamp(),
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Render the reproducer (:func:`render_repro`) and write it atomically
    to ``<directory>/<cluster_id>.py``; returns that path.  ``cluster_id``
    must be a plain file name (letters, digits, ``_ . -``)."""
    if not _SAFE_ID.fullmatch(cluster_id) or cluster_id.startswith("."):
        raise InvalidArgument(f"cluster id {cluster_id!r} is not usable as a file name")
    text = render_repro(record, seed, reference, target, kind, observed=observed, stamp=stamp,
                        cluster_id=cluster_id, timeout=timeout)
    path = Path(directory) / f"{cluster_id}.py"
    write_text_atomic(path, text)  # mode 0644: a reproducer is for sharing
    return path


# ---------------------------------------------------------------------------
# Literals
# ---------------------------------------------------------------------------


def _py_float(v: float) -> str:
    if math.isnan(v):
        return 'float("nan")'
    if math.isinf(v):
        return 'float("inf")' if v > 0 else 'float("-inf")'
    return repr(float(v))


def _parse_float(s: str) -> float:
    return float(s[7:-2]) if s.startswith("float(") else float(s)


def _float_text(v: Any, storage: np.dtype) -> str:
    """The shortest text numpy reads back as ``v`` in ``storage`` (checked
    by the caller)."""
    f = float(v)
    if not math.isfinite(f):
        return _py_float(f)
    if storage == np.float64:
        return repr(f)
    return str(storage.type(v))  # numpy's shortest round-trip digits


def _scalar_expr(v: Any) -> str:
    """A Python scalar (Literal, Fill) as source text."""
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return repr(v)
    if isinstance(v, float):
        return _py_float(v)
    if isinstance(v, complex):  # not repr: "(-0-1j)" loses the sign of the real zero
        return f"complex({_py_float(v.real)}, {_py_float(v.imag)})"
    raise ReproUnsupported(f"no source text for literal {v!r}")


def _np_dtype_expr(dt: np.dtype) -> str:
    return "np.bool_" if dt == np.bool_ else f"np.{dt.name}"


def _elements(arr: np.ndarray) -> list[str] | None:
    """Element texts of a native numpy array that read back bit-exactly,
    or None when some element does not (a NaN payload, a double rounding)."""
    dt = arr.dtype
    flat = arr.reshape(-1)
    if dt == np.bool_:
        return [repr(bool(x)) for x in flat]
    if dt.kind in "iu":
        return [str(int(x)) for x in flat]
    if dt.kind == "f":
        texts = [_float_text(x, dt) for x in flat]
        back = np.array([_parse_float(t) for t in texts], dtype=np.float64).astype(dt)
    elif dt.kind == "c":
        part = np.dtype(np.float32 if dt == np.complex64 else np.float64)
        pairs = [(_float_text(x.real, part), _float_text(x.imag, part)) for x in flat]
        texts = [f"complex({re_}, {im})" for re_, im in pairs]
        back = np.array([complex(_parse_float(re_), _parse_float(im)) for re_, im in pairs],
                        dtype=np.complex128).astype(dt)
    else:
        return None
    if back.tobytes() != flat.tobytes():
        return None
    return texts


def _nested(texts: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return texts[0]
    if len(shape) == 1:
        return "[" + ", ".join(texts) + "]"
    step = len(texts) // shape[0]
    return "[" + ", ".join(_nested(texts[i * step:(i + 1) * step], shape[1:])
                           for i in range(shape[0])) + "]"


def _steps(steps: tuple[int, ...]) -> str:
    """``::2, :`` for a STRIDED layout's index."""
    return ", ".join(f"::{k}" if k != 1 else ":" for k in steps)


def _reshape(shape: tuple[int, ...]) -> str:
    return f".reshape({', '.join(map(str, shape))})" if len(shape) != 1 else ""


# ---------------------------------------------------------------------------
# Base arrays: how a drawn tensor's base is written
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Base:
    """How a tensor's base array is rebuilt: statements before it, a numpy
    expression (possibly several lines) and how the framework converts it."""

    expr: str
    #: ``native`` (the array has the dtype), ``cast`` (exact values of a
    #: wider numpy dtype), ``bits`` (same-sized integers to reinterpret).
    conv: str = "native"
    pre: list[str] = field(default_factory=list)


def _proxy(dtype: str) -> np.dtype:
    """The numpy dtype a non-native dtype is written in."""
    cat = dtype_category(dtype)
    if cat == "float":
        return np.dtype(np.float32)
    if cat == "complex":
        return np.dtype(np.complex64)
    return np.dtype(np.uint8 if dtype.startswith("u") else np.int8)


def _has_nan(base: np.ndarray, dtype: str) -> bool:
    cat = dtype_category(dtype)
    if cat not in ("float", "complex"):
        return False
    return bool(np.isnan(base.astype(np.complex128 if cat == "complex" else np.float64)).any())


class _Stream:
    """A draw stream of the runner (the call's or a constructor's): its
    generator mirrored here, and whether the script draws from it."""

    def __init__(self, name: str, seed_expr: str, seed: int, uses_rng: bool) -> None:
        self.name = name
        self.seed_expr = seed_expr
        self.gen = np.random.Generator(np.random.PCG64(seed))
        self.uses_rng = uses_rng
        self.started = False

    def open(self) -> list[str]:
        if self.started:
            return []
        self.started = True
        return [(f"{self.name} = np.random.Generator(np.random.PCG64({self.seed_expr}))"
                "  # seamfuzz's draw, in its order")]


def _random_raw(spec: TensorSpec, n: int, stream: _Stream) -> tuple[str, np.ndarray]:
    """Mirror of runner.materialize's random draws: (numpy text, values)."""
    init, cat, rng, gen = spec.init, dtype_category(spec.dtype), stream.name, stream.gen
    if isinstance(init, Empty):
        if cat in ("float", "complex"):
            init = Uniform(0.0, 1.0)
        else:
            init = IntRange(0, 2 if cat == "bool" else 10)
    if isinstance(init, Normal):
        text = f"{rng}.normal({_py_float(init.mean)}, {_py_float(init.std)}, size={n})"
        one: Callable[[], np.ndarray] = lambda: gen.normal(init.mean, init.std, size=n)
    elif isinstance(init, Uniform):
        text = f"{rng}.uniform({_py_float(init.low)}, {_py_float(init.high)}, size={n})"
        one = lambda: gen.uniform(init.low, init.high, size=n)
    else:
        low, high = (0, 2) if cat == "bool" else (init.low, init.high)
        text = f"{rng}.integers({low}, {high}, size={n})"
        one = lambda: gen.integers(low, high, size=n, dtype=np.int64)
    if cat == "complex":
        real = one()
        return f"{text} + 1j * {text}", real + 1j * one()
    return text, one()


def _cast_expr(text: str, raw: np.ndarray, dtype: str) -> tuple[str, np.ndarray, str] | None:
    """Mirror of the common cases of runner.materialize's cast: (text,
    array, conv), or None when the cast needs its saturating rules."""
    cat, storage = dtype_category(dtype), storage_dtype(dtype)
    native = dtype in _NUMPY_NATIVE
    target = storage if native else _proxy(dtype)
    conv = "native" if native else "cast"
    if cat == "bool":
        return f"({text}) != 0", raw != 0, conv
    if cat == "int":
        if raw.dtype.kind != "i":
            return None
        info = ml_dtypes.iinfo(storage)
        if raw.size and (raw.min() < int(info.min) or raw.max() > int(info.max)):
            text, raw = f"np.clip({text}, {int(info.min)}, {int(info.max)})", \
                np.clip(raw, int(info.min), int(info.max))
    if raw.dtype.kind == "c" and cat != "complex":
        return None
    with np.errstate(all="ignore"):
        out = raw.astype(target)
    if target == np.dtype(np.int64) and raw.dtype == np.int64:
        return text, out, conv
    if " 1j * " in text and not text.startswith("np.clip"):
        text = f"({text})"
    return f"{text}.astype({_np_dtype_expr(target)})", out, conv


def _wrap_list(head: str, items: list[str], tail: str, indent: str) -> str:
    """``head[a, b, ...]tail`` on one line, or wrapped across lines."""
    one = f"{head}[{', '.join(items)}]{tail}"
    if len(indent) + len(one) <= _WIDTH:
        return one
    body = "\n".join(_pack(items, indent + "    "))
    return f"{head}[\n{body}\n{indent}]{tail}"


def _stmt(indent: str, head: str, items: list[str], tail: str) -> list[str]:
    """``head item, item tail`` as one line, or with the items on their own
    lines when that is too long."""
    one = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one) <= _WIDTH or not items:
        return [one]
    return [indent + head, *_pack(items, indent + "    "), indent + tail]


def _pack(items: list[str], indent: str) -> list[str]:
    """``items`` (each followed by a comma) packed greedily into lines."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + len(item) + 2 > _WIDTH:
            lines.append(indent + line.rstrip())
            line = ""
        line += item + ", "
    if line:
        lines.append(indent + line.rstrip())
    return [ln[:-1] + "," if ln.endswith(",") else ln for ln in lines]


class _TensorWriter:
    """Writes the numpy expression of each drawn tensor's base."""

    def __init__(self, blobs: list[str]) -> None:
        self.blobs = blobs

    def base(self, name: str, spec: TensorSpec, base: np.ndarray, stream: _Stream,
             indent: str) -> _Base:
        n = base.size
        if isinstance(spec.init, _RANDOM_INITS) and stream.uses_rng:
            pre = stream.open()
            advance, recipe = self._draw(name, spec, base, stream)
            if recipe is not None:
                stmts, expr, conv = recipe
                return _Base(expr, conv, pre + stmts)
            # Keep the generator in step, then write the values exactly.
            pre += [f"{text}  # advances the generator" for text in advance]
            got = self._literal(base, spec.dtype, indent) if n <= LITERAL_MAX_ELEMENTS else None
            got = got or self._bytes(name, base, spec.dtype)
            got.pre[:0] = pre
            return got
        # Exact contents (Data) stay literals up to a larger size: their
        # values are what the record says.
        if n <= LITERAL_MAX_ELEMENTS or (isinstance(spec.init, Data) and n <= DATA_MAX_ELEMENTS):
            lit = self._literal(base, spec.dtype, indent)
            if lit is not None:
                return lit
        elif n > 0:
            expr = self._expression(spec, base)
            if expr is not None:
                return expr
        return self._bytes(name, base, spec.dtype)

    def _draw(self, name: str, spec: TensorSpec, base: np.ndarray, stream: _Stream,
              ) -> tuple[list[str], tuple[list[str], str, str] | None]:
        """A random tensor drawn from the stream's generator, as the runner
        draws it: (the draw calls, to advance the generator when the values
        cannot be rebuilt; (statements, expression, conv) or None)."""
        n, shape = base.size, base.shape
        if not isinstance(spec.init, Special):
            text, raw = _random_raw(spec, n, stream)
            cast = _cast_expr(text, raw, spec.dtype)
            if cast is None or not self._matches(cast[1], base, spec.dtype, cast[2]):
                return [text], None
            return [text], ([], cast[0] + _reshape(shape), cast[2])
        # Special: the dtype's default draw, then positions for the values.
        init, cat, rng, gen = spec.init, dtype_category(spec.dtype), stream.name, stream.gen
        if cat in ("float", "complex"):
            text, raw = f"{rng}.normal(0.0, 1.0, size={n})", gen.normal(0.0, 1.0, size=n)
            if cat == "complex":
                text, raw = f"{text} + 1j * {text}", raw + 1j * gen.normal(0.0, 1.0, size=n)
        else:
            high = 2 if cat == "bool" else 10
            text = f"{rng}.integers(0, {high}, size={n})"
            raw = gen.integers(0, high, size=n, dtype=np.int64)
        k = min(n, math.ceil(init.density * n))
        choice = f"{rng}.choice({n}, size={k}, replace=False)"
        positions = gen.choice(n, size=k, replace=False)
        advance = [text, choice]
        cast = _cast_expr(text, raw, spec.dtype)
        if cast is None:
            return advance, None
        ctext, arr, conv = cast
        arr = arr.copy()
        stmts = [f"{name} = {ctext}", f"at = {choice}  # where the special values go"]
        step, flat = len(init.values), base.reshape(-1)
        for j, value_name in enumerate(init.values):
            where = positions[j::step]
            if not where.size:
                continue
            # The value as the runner resolved it for this dtype.
            with np.errstate(all="ignore"):
                value = flat[where[:1]].astype(arr.dtype)
            texts = _elements(value)
            if texts is None:
                return advance, None
            arr[where] = value[0]
            index = "at" if step == 1 else f"at[{j}::{step}]"
            stmts.append(f"{name}[{index}] = {texts[0]}  # {value_name}")
        if not self._matches(arr, base, spec.dtype, conv):
            return advance, None
        return advance, (stmts, name + _reshape(shape), conv)

    def _matches(self, arr: np.ndarray, base: np.ndarray, dtype: str, conv: str) -> bool:
        if conv == "native":
            return arr.dtype == base.dtype and arr.tobytes() == base.tobytes()
        # Converted in the framework: exact only when every value is
        # representable (no rounding happens) and no NaN payload is involved.
        if _has_nan(base, dtype):
            return False
        with np.errstate(all="ignore"):
            back = arr.astype(base.dtype)
        return back.tobytes() == base.tobytes()

    def _native_or_proxy(self, base: np.ndarray, dtype: str) -> tuple[np.ndarray, str] | None:
        if dtype in _NUMPY_NATIVE:
            return base, "native"
        if _has_nan(base, dtype):
            return None
        with np.errstate(all="ignore"):
            proxy = base.astype(_proxy(dtype))
        return proxy, "cast"

    def _literal(self, base: np.ndarray, dtype: str, indent: str) -> _Base | None:
        got = self._native_or_proxy(base, dtype)
        # A NaN in a dtype numpy lacks: its bits, reinterpreted in the framework.
        arr, conv = got if got is not None else (base.view(_INT_OF_SIZE[base.dtype.itemsize]),
                                                 "bits")
        dt = _np_dtype_expr(arr.dtype)
        if arr.size == 0:
            # Reshaped, not np.empty(shape): numpy gives that all-zero strides.
            return _Base(f"np.empty(0, dtype={dt}){_reshape(arr.shape)}", conv)
        texts = _elements(arr)
        if texts is None:
            return None
        if arr.ndim == 0:
            return _Base(f"np.array({texts[0]}, dtype={dt})", conv)
        nested = f"np.array({_nested(texts, arr.shape)}, dtype={dt})"
        if len(indent) + len(nested) + 6 <= _WIDTH:  # fits as "x0 = np.array(...)"
            return _Base(nested, conv)
        return _Base(_wrap_list("np.array(", texts, f", dtype={dt}){_reshape(arr.shape)}",
                                indent), conv)

    def _expression(self, spec: TensorSpec, base: np.ndarray) -> _Base | None:
        got = self._native_or_proxy(base, spec.dtype)
        if got is None:
            return None
        arr, conv = got
        flat = arr.reshape(-1)
        dt = _np_dtype_expr(arr.dtype)
        shape = tuple(arr.shape)
        candidates: list[tuple[str, Callable[[], np.ndarray]]] = []
        if flat.tobytes() == flat[:1].tobytes() * flat.size:  # one value throughout
            texts = _elements(flat[:1])
            if texts is not None:
                candidates.append((f"np.full({shape!r}, {texts[0]}, dtype={dt})",
                                   lambda: np.full(shape, flat[0], dtype=arr.dtype)))
        init, n = spec.init, flat.size
        if isinstance(init, Arange):
            if all(isinstance(x, int) for x in (init.start, init.step)) and \
                    abs(init.start) + abs(init.step) * max(n, 1) < 2**62:
                seq = f"np.arange({n})"
                if (init.start, init.step) != (0, 1):
                    seq = f"({init.start} + {init.step} * {seq})"
                values = init.start + init.step * np.arange(n, dtype=np.int64)
            else:
                seq = (f"({_py_float(float(init.start))} + {_py_float(float(init.step))}"
                       f" * np.arange({n}, dtype=np.float64))")
                values = float(init.start) + float(init.step) * np.arange(n, dtype=np.float64)
            candidates.append(self._astype(seq, values, arr.dtype))
        elif isinstance(init, Linspace):
            seq = f"np.linspace({_py_float(init.start)}, {_py_float(init.end)}, {n})"
            candidates.append(self._astype(seq, np.linspace(init.start, init.end, n), arr.dtype))
        elif isinstance(init, Eye) and arr.ndim == 2:
            rows, cols = shape
            candidates.append(self._astype(f"np.eye({rows}, {cols})", np.eye(rows, cols).reshape(-1),
                                           arr.dtype))
        for text, make in candidates:
            with np.errstate(all="ignore"):
                got_arr = make().reshape(shape)
            if got_arr.dtype == arr.dtype and got_arr.tobytes() == arr.tobytes():
                flat_text = not text.startswith(("np.full", "np.eye"))  # those have the shape
                return _Base(text + (_reshape(shape) if flat_text else ""), conv)
        return None

    @staticmethod
    def _astype(text: str, values: np.ndarray, dt: np.dtype) -> tuple[str, Callable[[], Any]]:
        if dt == np.bool_:
            return f"({text} != 0)", lambda: values != 0
        if values.dtype == dt:
            return text, lambda: values
        return f"{text}.astype({_np_dtype_expr(dt)})", lambda: values.astype(dt)

    def _bytes(self, name: str, base: np.ndarray, dtype: str) -> _Base:
        if base.nbytes > BYTES_MAX:
            raise ReproUnsupported(
                f"{name}: {base.nbytes} bytes of a {dtype} tensor that no numpy expression "
                f"rebuilds exactly exceed the {BYTES_MAX}-byte limit of a reproducer")
        if dtype in _NUMPY_NATIVE:
            arr, conv = base, "native"
        elif not _has_nan(base, dtype):
            arr, conv = base.astype(_proxy(dtype)), "cast"
        else:
            arr, conv = base.view(_INT_OF_SIZE[base.dtype.itemsize]), "bits"
        const = f"BYTES_{name.upper()}"
        encoded = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
        chunks = [encoded[i:i + 76] for i in range(0, len(encoded), 76)] or [""]
        self.blobs.append(f"{const} = (\n" + "".join(f'    "{c}"\n' for c in chunks) + ")")
        dt = _np_dtype_expr(arr.dtype)
        return _Base(f"np.frombuffer(base64.b64decode({const}), dtype={dt})"
                     f"{_reshape(arr.shape) if arr.shape != (arr.size,) else ''}.copy()", conv)


# ---------------------------------------------------------------------------
# The script
# ---------------------------------------------------------------------------


def _specs(values: Sequence[Any]) -> Iterator[TensorSpec]:
    """Tensor specs in runner.materialize's draw order."""
    for v in values:
        if isinstance(v, TensorSpec):
            yield v
        elif isinstance(v, Seq):
            yield from _specs(v.items)
        elif isinstance(v, Dict):
            for k, x in v.items:
                yield from _specs((k, x))
        elif isinstance(v, Constructed):
            yield from _specs(v.args)
            yield from _specs([x for _, x in v.kwargs])


def _comment(text: str, limit: int = 400) -> str:
    """``text`` safe inside a ``#`` comment: one line, no control chars."""
    clean = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return clean if len(clean) <= limit else clean[:limit - 3] + "..."


def _drawn(values: tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]], seed: int,
           what: str) -> list[Any]:
    try:
        drawn = materialize.draw(values, seed, max_elements=DEFAULT_MAX_ELEMENTS)
    except materialize.MaterializeError as exc:
        raise ReproUnsupported(f"{what}: {exc}") from exc
    return list(drawn.tensors())


class _Script:
    """Renders one reproducer; see the module's notes."""

    def __init__(self, record: CallRecord, seed: int, modes: tuple[ModeSpec, ModeSpec],
                 kind: str, observed: Observed, stamp: Stamp, cluster_id: str,
                 timeout: float) -> None:
        self.rec = record
        self.seed = seed
        self.modes = modes
        self.kind = kind
        self.observed = observed
        self.stamp = stamp
        self.cluster_id = cluster_id
        self.timeout = timeout
        self.torch = record.framework == "torch"
        self.roots = _FRAMEWORK_ROOTS[record.framework]
        self.devices = tuple(m.option("device", "cpu") for m in modes)
        # Device placement is written only where a mode asks for a device.
        self.on_device = self.torch and any(d != "cpu" for d in self.devices)
        self.blobs: list[str] = []
        self.writer = _TensorWriter(self.blobs)
        self.plugins: dict[str, str] = {}
        self.tensor_lines: list[str] = []
        self.uses_base64 = False

    # -- values ----------------------------------------------------------

    def api(self, name: str) -> str:
        head, _, rest = name.partition(".")
        root = _ROOTS.get(head)
        parts = rest.split(".") if rest else []
        if root is None or root not in self.roots or not all(p.isidentifier() for p in parts):
            raise ReproUnsupported(f"API {name!r} is not a {self.rec.framework} or numpy name")
        return ".".join([root, *parts])

    def dtype(self, v: DType) -> str:
        if not v.name.isidentifier():
            raise ReproUnsupported(f"bad dtype name {v.name!r}")
        if v.framework == "python" and v.name in ("bool", "int", "float", "complex", "str"):
            return v.name
        if v.framework == "numpy":
            # Not np.dtype(name): ml_dtypes, imported here, registers bfloat16.
            found = getattr(np, v.name, None)
            if not (isinstance(found, type) and issubclass(found, np.generic)):
                raise ReproUnsupported(f"numpy has no dtype {v.name} without ml_dtypes")
            return f"np.{v.name}"
        if v.framework == self.rec.framework:
            return f"torch.{v.name}" if self.torch else _tf_dtype(v.name)
        raise ReproUnsupported(f"dtype {v.framework}.{v.name} in a {self.rec.framework} call")

    def value(self, v: Any, ctx: _Walk) -> str:
        if isinstance(v, Literal):
            return _scalar_expr(v.value)
        if isinstance(v, TensorSpec):
            return ctx.tensor(v)
        if isinstance(v, Seq):
            items = [self.value(x, ctx) for x in v.items]
            if v.kind == "list":
                return "[" + ", ".join(items) + "]"
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(v, Dict):
            return "{" + ", ".join(f"{self.value(k, ctx)}: {self.value(x, ctx)}"
                                   for k, x in v.items) + "}"
        if isinstance(v, DType):
            return self.dtype(v)
        if isinstance(v, ApiRef):
            return self.api(v.api)
        if isinstance(v, Constructed):
            return ctx.construct(v)
        if isinstance(v, Unknown):
            raise ReproUnsupported(f"an argument is unknown ({v.hint or 'no hint'})")
        raise ReproUnsupported(f"no source text for argument {v!r}")

    def call_parts(self, args: Sequence[Any], kwargs: Sequence[tuple[str, Any]],
                   ctx: _Walk) -> list[str]:
        """Source text of each argument (``name=value`` for keywords)."""
        parts = [self.value(a, ctx) for a in args]
        for name, x in kwargs:
            if not name.isidentifier():
                raise ReproUnsupported(f"keyword {name!r} is not an identifier")
            parts.append(f"{name}={self.value(x, ctx)}")
        return parts

    # -- tensors -----------------------------------------------------------

    def tensor_code(self, name: str, spec: TensorSpec, drawn: Any, stream: _Stream,
                    device: bool) -> list[str]:
        """Statements defining ``name`` as the runner builds it."""
        fw = drawn.framework
        if fw not in ("numpy", self.rec.framework):
            raise ReproUnsupported(f"a {fw} tensor in a {self.rec.framework} call")
        if fw == "numpy" and drawn.dtype not in _NUMPY_NATIVE:
            raise ReproUnsupported(f"a numpy {drawn.dtype} array needs ml_dtypes")
        if self.torch and fw == "torch" and drawn.dtype not in _NUMPY_NATIVE | _TORCH_NON_NATIVE:
            raise ReproUnsupported(f"torch cannot build {drawn.dtype} tensors")
        ind = "    "
        base = self.writer.base(name, spec, drawn.base, stream, ind)
        if "base64" in base.expr:
            self.uses_base64 = True
        lines = [ind + p for p in base.pre]
        if base.conv == "bits":
            lines.append(f"{ind}# {name}: the bits of {drawn.dtype} values, one of them NaN")
        lay, shape = drawn.layout, drawn.shape
        if fw == "torch":
            target = f"torch.{drawn.dtype}"
            tail = {"native": "", "cast": f".to({target})", "bits": f".view({target})"}[base.conv]
            if device:
                tail += ".to(device)"
            if lay.kind is LayoutKind.PERMUTED:
                tail += f".permute({', '.join(map(str, lay.dims))})"
            elif lay.kind is LayoutKind.STRIDED:
                tail += "[" + _steps(lay.dims) + "]"
            elif lay.kind is LayoutKind.EXPANDED:
                tail += f".expand({', '.join(map(str, shape))})" if shape else ".expand(())"
            elif lay.kind is LayoutKind.CHANNELS_LAST:
                fmt = "channels_last" if len(shape) == 4 else "channels_last_3d"
                tail += f".contiguous(memory_format=torch.{fmt})"
            if drawn.requires_grad and dtype_category(drawn.dtype) in ("float", "complex"):
                tail += ".requires_grad_()"
            return lines + self._assign(name, base.expr, "torch.tensor({})" + tail)
        view = "{}"
        if lay.kind is LayoutKind.PERMUTED:
            view = "{}.transpose(" + ", ".join(map(str, lay.dims)) + ")"
        elif lay.kind is LayoutKind.STRIDED:
            view = "{}[" + _steps(lay.dims) + "]"
        elif lay.kind is LayoutKind.EXPANDED:
            view = "np.broadcast_to({}, " + repr(tuple(shape)) + ")"
        if fw == "numpy":
            # A fresh, writable, C-contiguous array of the logical values.
            wrap = view if lay.kind in (LayoutKind.CONTIGUOUS, LayoutKind.CHANNELS_LAST) \
                else "np.ascontiguousarray(" + view + ")"
            return lines + self._assign(name, base.expr, wrap)
        target = _tf_dtype(drawn.dtype)
        if base.conv == "native":
            wrap = "tf.constant(" + view + ")"
        elif base.conv == "cast":  # exact values: no rounding mode is involved
            wrap = "tf.constant(" + view + f", dtype={target})"
        else:
            if drawn.dtype != "bfloat16":
                raise ReproUnsupported(f"a tf.{drawn.dtype} tensor holding NaN")
            wrap = "tf.bitcast(tf.constant(" + view + f"), {target})"
        return lines + self._assign(name, base.expr, wrap)

    @staticmethod
    def _assign(name: str, expr: str, wrap: str) -> list[str]:
        """``name = wrap(expr)``; two statements when ``expr`` is long."""
        one = f"    {name} = {wrap.format(expr)}"
        if "\n" not in one and len(one) <= _WIDTH:
            return [one]
        return [f"    {name} = {expr}", f"    {name} = {wrap.format(name)}"]

    # -- sections ----------------------------------------------------------

    def render(self) -> str:
        rec = self.rec
        call_specs = list(_specs(list(rec.args) + [v for _, v in rec.kwargs]))
        init_specs = list(_specs(list(rec.init_args) + [v for _, v in rec.init_kwargs]))
        drawn = _drawn((rec.args, rec.kwargs), self.seed, "the call's inputs")
        init_drawn: list[Any] = []
        if rec.kind is CallKind.MODULE:
            init_drawn = _drawn((rec.init_args, rec.init_kwargs), self.seed + INIT_SEED_OFFSET,
                                "the constructor's inputs")
        if len(drawn) != len(call_specs) or len(init_drawn) != len(init_specs):
            raise InternalError("tensor specs and drawn tensors disagree")

        def needs_rng(specs: list[TensorSpec], tensors: list[Any]) -> bool:
            return any(isinstance(s.init, _RANDOM_INITS) and t.base.size > LITERAL_MAX_ELEMENTS
                       for s, t in zip(specs, tensors))

        call = _Walk(self, "x", "c", list(zip(call_specs, drawn)),
                     _Stream("rng", "SEED", self.seed, needs_rng(call_specs, drawn)),
                     device=self.on_device, params=True)
        init = _Walk(self, "i", "k", list(zip(init_specs, init_drawn)),
                     _Stream("rng_init", f"SEED + {INIT_SEED_OFFSET:#x}",
                             self.seed + INIT_SEED_OFFSET, needs_rng(init_specs, init_drawn)),
                     device=self.on_device, params=False)
        body = self.build_body(call, init)
        parts = [self.header(), self.imports(), self.constants(), body, self.mode_functions(),
                 self.run_function(), self.compare_functions(), self.main_function()]
        if self.blobs:
            parts.append("# Raw input bytes (base64) where no numpy expression rebuilds a "
                         "tensor exactly.\n" + "\n".join(self.blobs))
        parts.append(_ENTRY)
        head, *rest = (p.strip("\n") for p in parts if p)
        return head + "\n\n" + "\n\n\n".join(rest) + "\n"

    def header(self) -> str:
        rec, st, ob = self.rec, self.stamp, self.observed
        ref, tgt = (str(m) for m in self.modes)
        call = textwrap.wrap(_comment(describe_record(rec), 600), width=_WIDTH - 15,
                             break_long_words=True)
        lines = [(f"# seamfuzz reproducer{' for cluster ' + _comment(self.cluster_id, 80) if self.cluster_id else ''}: "
                 f"a {self.kind} discrepancy")]
        lines.append("#   call:      " + call[0])
        lines += ["#              " + c for c in call[1:]]
        lines.append(f"#   reference: {_comment(ref, 120)}"
                     + (f" -> {_comment(ob.reference, 200)}" if ob.reference else ""))
        lines.append(f"#   target:    {_comment(tgt, 120)}"
                     + (f" -> {_comment(ob.target, 200)}" if ob.target else ""))
        versions = ", ".join(f"{_comment(k, 40)} {_comment(v, 40)}" for k, v in st.versions)
        lines.append(f"#   seed {self.seed}" + (f"; {versions}" if versions else "")
                     + (f"; device {_comment(st.device, 80)}" if st.device else ""))
        if st.command:
            lines.append("#   found by:  " + _comment(st.command, 300))
        lines += [
            "# Exit status 1: the discrepancy reproduces; 0: it does not (fixed);",
            "# 2: something else happened (another discrepancy, or this script failed).",
        ]
        if self.uses_base64 or any(w for w in self.tensor_lines if "rng" in w):
            lines.append("# Inputs: literals, or drawn from SEED with numpy as seamfuzz drew "
                         "them; bit-exact.")
        else:
            lines.append("# Inputs: literals holding exactly the values seamfuzz drew from "
                         "the seed.")
        wrapped: list[str] = []
        for line in lines:
            wrapped.extend(textwrap.wrap(line, width=_WIDTH, subsequent_indent="#     ",
                                         break_long_words=True) or ["#"])
        return "\n".join(wrapped)

    def imports(self) -> str:
        std = ["import sys", "import traceback"]
        if self.uses_base64:
            std.append("import base64")
        if self.kind in ("crash", "timeout"):
            std.append("import subprocess")
        lines = sorted(std) + ["", "import numpy as np"]
        lines.append("import torch" if self.torch else "import tensorflow as tf")
        plugins: list[str] = []
        for spec in self.modes:
            for key in ("backend", "transform"):
                path = spec.option(key)
                if ":" in path:
                    module = path.partition(":")[0]
                    if module not in self.plugins:
                        alias = "plugin" if not self.plugins else f"plugin{len(self.plugins) + 1}"
                        self.plugins[module] = alias
                        plugins.append(f"import {module} as {alias}  # the plug-in {key}")
        return "\n".join(lines + ([""] + plugins if plugins else []))

    def constants(self) -> str:
        lines = [f"SEED = {self.seed}", f'KIND = "{self.kind}"']
        if self.kind in ("crash", "timeout"):
            lines.append(f"TIMEOUT = {self.timeout!r}  # seconds the target may take")
        else:
            tol = []
            for name in _TOLERANCE_DTYPES:
                rtol, atol = DEFAULT_TOLERANCES.get(name)
                tol.append(f'"{name}": ({rtol!r}, {atol!r})')
            for key, name in ((PYTHON_FLOAT, "float"), (PYTHON_COMPLEX, "complex")):
                rtol, atol = DEFAULT_TOLERANCES.get(key)
                tol.append(f'"{name}": ({rtol!r}, {atol!r})')
            extra = sorted({s.dtype for s in _specs(list(self.rec.values()))
                            if isinstance(s, TensorSpec)
                            and dtype_category(s.dtype) in ("float", "complex")
                            and s.dtype not in _TOLERANCE_DTYPES})
            for name in extra:
                rtol, atol = DEFAULT_TOLERANCES.get(name)
                tol.append(f'"{name}": ({rtol!r}, {atol!r})')
            lines.append("# (rtol, atol) per dtype, as seamfuzz's contract; Python floats as "
                         "float32.")
            lines.append(self._dict_text("TOL", tol))
        return "\n".join(lines)

    @staticmethod
    def _dict_text(name: str, items: list[str]) -> str:
        one = f"{name} = {{{', '.join(items)}}}"
        if len(one) <= _WIDTH:
            return one
        return f"{name} = {{\n" + "\n".join(_pack(items, "    ")) + "\n}"

    def reseed(self, indent: str = "    ") -> list[str]:
        if self.torch:
            return [f"{indent}torch.manual_seed(SEED)"]
        lines = [f"{indent}tf.random.set_seed(SEED)"]
        if "keras" in self.rec.api:
            lines.append(f"{indent}tf.keras.utils.set_random_seed(SEED % 2**32)")
        return lines

    def build_body(self, call: _Walk, init: _Walk) -> str:
        rec = self.rec
        # Walk everything first: tensors are numbered in draw order.
        call_parts = self.call_parts(rec.args, rec.kwargs, call)
        positional = call_parts[:len(rec.args)]
        ctor_parts: list[str] = []
        if rec.kind is CallKind.MODULE:
            ctor_parts = self.call_parts(rec.init_args, rec.init_kwargs, init)
        lines = ['    """The call under test and fresh copies of its tensor inputs."""']
        lines += call.lines + init.lines
        self.tensor_lines = call.lines + init.lines
        if call.constructed:
            lines.append("    # Objects built before the call, as seamfuzz does"
                         + (" (generator seeded)." if self.torch else "."))
            lines += self.reseed() + call.constructed
        params = call.params
        if rec.kind is CallKind.METHOD:
            # As seamfuzz does: the method of the receiver's own class
            # (an EagerTensor's set_shape, a metric subclass's update_state).
            self.api(rec.api)  # the name must be the framework's
            method = rec.api.rsplit(".", 1)[1]
            receiver = call_parts[0]
            if not receiver.isidentifier():
                receiver = f"({receiver})"
            lines += self.fn_lines(f"{receiver}.{method}(", call_parts[1:], ")", params)
        elif rec.kind is not CallKind.MODULE:
            lines.append(f"    op = {self.api(rec.api)}")
            lines += self.fn_lines("op(", call_parts, ")", params)
        elif not self.torch:
            if init.constructed:
                lines += self.reseed() + init.constructed
            lines += self.reseed()
            lines += _stmt("    ", f"layer = {self.api(rec.api)}(", ctor_parts, ")")
            if rec.args and isinstance(rec.args[0], (TensorSpec, Constructed)):
                lines += [
                    f'    shape = getattr({positional[0]}, "shape", None)',
                    '    if not getattr(layer, "built", True) and shape is not None:',
                    "        try:  # weights built eagerly, before any mode traces the layer",
                    "            layer.build(tuple(shape))",
                    "        except Exception:",
                    "            pass  # the layer builds itself on its first call instead",
                ]
            lines += self.fn_lines("layer(", call_parts, ")", params)
        else:
            if init.constructed:
                lines += self.reseed() + init.constructed
            lines += self.reseed()
            lines += _stmt("    ", f"module = {self.api(rec.api)}(", ctor_parts,
                           ")" + (".to(device)" if self.on_device else ""))
            lines += [
                "    # As seamfuzz does: weights and buffers are inputs of the function.",
                "    state = {**dict(module.named_parameters()), **dict(module.named_buffers())}",
                ("    weights = [t.detach().clone().requires_grad_(t.requires_grad) "
                "for t in state.values()]"),
                "",
                "    def fn(*tensors):",
            ]
            if params:
                lines += _stmt("        ", "(", ["*w", *params], ") = tensors") \
                    if len(params) > 6 else [f"        *w, {', '.join(params)} = tensors"]
            else:
                lines.append("        w = tensors")
            args_tuple = "(" + ", ".join(positional) + ("," if len(positional) == 1 else "") + ")"
            items = ["module", "dict(zip(state, w))", args_tuple]
            keywords = call_parts[len(rec.args):]
            if keywords:
                items.append("{" + ", ".join('"{}": {}'.format(*k.split("=", 1))
                                             for k in keywords) + "}")
            lines += _stmt("        ", "return torch.func.functional_call(", items, ")")
            lines.append("")
            lines += _stmt("    ", "return fn, (", ["*weights", *params], ")") if params \
                else ["    return fn, tuple(weights)"]
        sig = "def build(device):" if self.on_device else "def build():"
        return sig + "\n" + "\n".join(lines)

    def fn_lines(self, head: str, parts: list[str], tail: str, params: list[str]) -> list[str]:
        """``def fn(params): return head(parts)tail`` and ``return fn, (params)``."""
        lines = [""] + _stmt("    ", "def fn(", params, "):")
        if self.torch:
            lines += _stmt("        ", "return " + head, parts, tail)
        else:
            lines.append("        # Python numbers a call returns become tensors in every "
                         "mode, as in seamfuzz.")
            lines += _stmt("        ", "return tf.nest.map_structure(as_tensor, " + head, parts,
                           tail + ")")
        lines.append("")
        if len(params) == 1:
            return lines + [f"    return fn, ({params[0]},)"]
        return lines + _stmt("    ", "return fn, (", params, ")")

    def mode_functions(self) -> str:
        out = []
        if not self.torch:
            out.append(_TF_AS_TENSOR)
        for role, spec in zip(("reference", "target"), self.modes):
            out.append(f"def {role}(fn):\n    \"\"\"{_comment(str(spec), 70)}\"\"\"\n"
                       f"    return {self.compile_expr(spec)}")
        return "\n\n\n".join(out)

    def compile_expr(self, spec: ModeSpec) -> str:
        if spec.name in ("torch.eager", "tf.eager"):
            return "fn"
        if spec.name == "torch.compile":
            backend = spec.option("backend", "inductor")
            if ":" in backend:
                module, _, attr = backend.partition(":")
                backend_text = f"{self.plugins[module]}.{attr}"
            else:
                backend_text = json.dumps(backend)
            args = [f"backend={backend_text}"]
            dynamic = spec.option("dynamic").lower()
            if dynamic in ("true", "false"):
                args.append(f"dynamic={dynamic.capitalize()}")
            fullgraph = spec.option("fullgraph", "true").lower() != "false"
            args.append(f"fullgraph={fullgraph}")
            if spec.option("mode"):
                args.append(f"mode={json.dumps(spec.option('mode'))}")
            return f"torch.compile(fn, {', '.join(args)})"
        transform = spec.option("transform")
        if transform:
            module, _, attr = transform.partition(":")
            return f"{self.plugins[module]}.{attr}(fn)"
        jit = spec.name == "tf.xla" or spec.option("jit_compile", "false").lower() == "true"
        return f"tf.function(fn, jit_compile={jit})"

    def run_function(self) -> str:
        if self.torch:
            sig = "def run(mode, device):" if self.on_device else "def run(mode):"
            build = "build(device)" if self.on_device else "build()"
            lines = [sig,
                     ('    """What ``mode`` makes of the call: (result or exception, inputs '
                     'after it)."""'),
                     f"    fn, tensors = {build}",
                     "    fn = mode(fn)",
                     "    torch.manual_seed(SEED)",
                     "    try:",
                     "        return fn(*tensors), tensors",
                     "    except Exception as exc:",
                     "        return exc, tensors"]
            return "\n".join(lines)
        lines = ["def run(mode, device):",
                 ('    """What ``mode`` makes of the call: (result or exception, inputs after '
                 'it)."""'),
                 "    fn, tensors = build()",
                 "    fn = mode(fn)"]
        lines += self.reseed()
        lines += ["    try:",
                  "        with tf.device(device):",
                  "            return fn(*tensors), tensors",
                  "    except Exception as exc:",
                  "        return exc, tensors"]
        return "\n".join(lines)

    def compare_functions(self) -> str:
        if self.kind in ("crash", "timeout"):
            return _SHOW
        return _SHOW + "\n\n\n" + (_TORCH_LEAF if self.torch else _TF_LEAF) + "\n\n\n" + _COMPARE

    def run_args(self, i: int) -> str:
        role = ("reference", "target")[i]
        if self.torch:
            return f'{role}, "{self.devices[i]}"' if self.on_device else role
        return f'{role}, "/{self.devices[i].upper()}:0"'

    def main_function(self) -> str:
        threads = ("    torch.set_num_threads(1)  # seamfuzz runs every mode on one thread"
                   if self.torch else
                   "    try:  # one thread, as seamfuzz (not possible once TF has started)\n"
                   "        tf.config.threading.set_intra_op_parallelism_threads(1)\n"
                   "        tf.config.threading.set_inter_op_parallelism_threads(1)\n"
                   "    except RuntimeError:\n"
                   "        pass")
        if self.kind in ("crash", "timeout"):
            return _MAIN_CHILD.format(threads=threads, ref=self.run_args(0),
                                      tgt=self.run_args(1))
        return _MAIN.format(threads=threads, ref=self.run_args(0), tgt=self.run_args(1))


class _Walk:
    """Numbering and building statements for one stream of values (the
    call's arguments, or a module constructor's)."""

    def __init__(self, script: _Script, tensor_prefix: str, constructed_prefix: str,
                 tensors: list[tuple[TensorSpec, Any]], stream: _Stream, *, device: bool,
                 params: bool) -> None:
        self.script = script
        self.tp, self.cp = tensor_prefix, constructed_prefix
        self.tensors = iter(tensors)
        self.count = 0
        self.stream = stream
        self.device = device
        self.collect_params = params
        self.depth = 0  # inside a Constructed: tensors are not parameters
        self.lines: list[str] = []
        self.constructed: list[str] = []
        self.n_constructed = 0
        self.params: list[str] = []

    def tensor(self, spec: TensorSpec) -> str:
        try:
            got_spec, drawn = next(self.tensors)
        except StopIteration:
            raise InternalError("more tensor specs than drawn tensors") from None
        if got_spec is not spec:
            raise InternalError("tensor specs walked out of draw order")
        name = f"{self.tp}{self.count}"
        self.count += 1
        self.lines += self.script.tensor_code(name, spec, drawn, self.stream, self.device)
        if self.collect_params and self.depth == 0 and drawn.framework != "numpy":
            self.params.append(name)
        return name

    def construct(self, v: Constructed) -> str:
        fn = self.script.api(v.api)
        self.depth += 1
        try:
            parts = self.script.call_parts(v.args, v.kwargs, self)
        finally:
            self.depth -= 1
        if self.depth > 0:
            return f"{fn}({', '.join(parts)})"  # built inline, inside its parent
        name = f"{self.cp}{self.n_constructed}"
        self.n_constructed += 1
        self.constructed += _stmt("    ", f"{name} = {fn}(", parts, ")")
        if self.device and self.script.torch:
            # As seamfuzz does: a tensor a constructor returned goes to the
            # mode's device like every other input.
            self.constructed.append(f"    if isinstance({name}, torch.Tensor):")
            self.constructed.append(f"        {name} = {name}.to(device)")
        if self.collect_params:
            # seamfuzz passes tensor results as inputs and binds other
            # objects inside the function; torch.compile and tf.function
            # treat a non-tensor argument as the same guarded constant.
            self.params.append(name)
        return name


# ---------------------------------------------------------------------------
# Fixed parts of the script
# ---------------------------------------------------------------------------

_TF_AS_TENSOR = '''\
def as_tensor(v):
    return tf.convert_to_tensor(v) if isinstance(v, (bool, int, float)) else v'''

_SHOW = '''\
def show(x):
    """A one-line summary of a result."""
    if isinstance(x, Exception):
        text = f"raised {type(x).__name__}: {x}"
    else:
        text = f"returned {x!r}"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."'''

_TORCH_LEAF = '''\
def describe(x):
    """A leaf's dtype name and shape."""
    if isinstance(x, torch.Tensor):
        return str(x.dtype).removeprefix("torch."), tuple(x.shape)
    return type(x).__name__, ()


def values(x):
    """A leaf's values as a numpy array; floating ones in float64."""
    if not isinstance(x, torch.Tensor):
        return np.asarray(x)
    x = x.detach().cpu().resolve_conj().resolve_neg()
    x = x.to_dense() if x.layout != torch.strided else x
    if x.is_complex():
        return x.to(torch.complex128).numpy()
    return (x.double() if x.is_floating_point() else x).numpy()


VALUE_TYPES = (torch.Tensor, bool, int, float, complex, str)'''

_TF_LEAF = '''\
def describe(x):
    """A leaf's dtype name and shape."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x.dtype.name, tuple(x.shape)
    return type(x).__name__, ()


def values(x):
    """A leaf's values as a numpy array; floating ones in float64."""
    if not isinstance(x, (tf.Tensor, tf.Variable)):
        return np.asarray(x)
    if x.dtype.is_floating:
        x = tf.cast(x, tf.float64)
    elif x.dtype.is_complex:
        x = tf.cast(x, tf.complex128)
    return np.asarray(x.numpy())


VALUE_TYPES = (tf.Tensor, tf.Variable, bool, int, float, complex, str)'''

_COMPARE = '''\
def leaves(x, path):
    """(path, leaf) pairs; lists, tuples and dicts are walked."""
    if isinstance(x, (list, tuple)):
        return [p for i, v in enumerate(x) for p in leaves(v, f"{path}[{i}]")]
    if isinstance(x, dict):
        return [p for k in sorted(x, key=repr) for p in leaves(x[k], f"{path}[{k!r}]")]
    return [(path, x)]


def difference(ref, tgt):
    """The first discrepancy between two runs as (kind, message), or None:
    status, then dtypes, shapes and values of the output and the inputs."""
    (r, r_inputs), (t, t_inputs) = ref, tgt
    r_exc, t_exc = isinstance(r, Exception), isinstance(t, Exception)
    if r_exc and t_exc:
        return None if KIND == "status" else ("invalid", "both raised")
    if r_exc or t_exc:
        return "status", f"the reference {show(r)[:100]}; the target {show(t)[:100]}"
    a = leaves(r, "out") + leaves(list(r_inputs), "inputs")
    b = leaves(t, "out") + leaves(list(t_inputs), "inputs")
    if [p for p, _ in a] != [p for p, _ in b]:
        return "shape", f"structures differ: {[p for p, _ in a]} vs {[p for p, _ in b]}"
    for kind, i in (("dtype", 0), ("shape", 1)):
        for (path, x), (_, y) in zip(a, b):
            if describe(x)[i] != describe(y)[i]:
                return kind, f"{path}: {describe(x)[i]} vs {describe(y)[i]}"
    for (path, x), (_, y) in zip(a, b):
        if not isinstance(x, VALUE_TYPES):
            continue  # an opaque object: compared by type only
        rtol, atol = TOL.get(describe(x)[0], max(TOL.values()))
        x, y = values(x), values(y)
        if x.dtype.kind in "fc":
            bad = ~np.isclose(y, x, rtol=rtol, atol=atol, equal_nan=True)
        else:
            bad = np.asarray(x != y)
        if bad.any():
            at = np.unravel_index(np.argmax(bad), bad.shape)
            return "value", (f"{path}: {bad.sum()} of {bad.size} elements differ; at "
                             f"{list(map(int, at))}: {x[at].tolist()!r} vs {y[at].tolist()!r}")
    return None'''

_MAIN = '''\
def main():
{threads}
    ref, tgt = run({ref}), run({tgt})
    print("reference:", show(ref[0]))
    print("target:   ", show(tgt[0]))
    found = difference(ref, tgt)
    if found is None:
        print("FIXED: no discrepancy")
        return 0
    kind, message = found
    if kind == KIND:
        print(f"REPRODUCES: {{kind}} discrepancy: {{message}}")
        return 1
    print(f"OTHER: {{kind}} discrepancy, not the {{KIND}} one: {{message}}", file=sys.stderr)
    return 2'''

_MAIN_CHILD = '''\
def main():
{threads}
    if sys.argv[1:] == ["--target"]:  # the child: run the target alone
        print("target:   ", show(run({tgt})[0]), flush=True)
        return 0
    print("reference:", show(run({ref})[0]), flush=True)
    try:
        child = subprocess.run([sys.executable, __file__, "--target"], timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        found = "timeout", f"the target ran longer than {{TIMEOUT}} s"
    else:
        if child.returncode == 0:
            print("FIXED: the target finished")
            return 0
        if child.returncode == 2:
            return 2  # the child failed to build the call
        found = "crash", f"the target's process died with status {{child.returncode}}"
    if found[0] == KIND:
        print(f"REPRODUCES: {{found[0]}}: {{found[1]}}")
        return 1
    print(f"OTHER: {{found[0]}}, not a {{KIND}}: {{found[1]}}", file=sys.stderr)
    return 2'''

_ENTRY = '''\
if __name__ == "__main__":
    try:
        status = main()
    except Exception:
        traceback.print_exc()
        status = 2  # the script itself failed: neither reproduced nor fixed
    sys.exit(status)'''
