"""The dtype table: every dtype name seamfuzz knows, and the facts about it.

One row (:class:`DtypeInfo`) per dtype name, as torch and TensorFlow spell it
without their module (``float32``, ``bfloat16``, ``float8_e4m3fn``,
``qint8``, ``string``): its category, its width, the numpy type that holds
its bytes, whether numpy, torch and TensorFlow have it, and the dtype it
widens to (for float64 re-computation) or narrows to (for shrinking).  Every
stage asks this table; none keeps a list of its own.

Note [Standalone]
    This module is embedded verbatim into standalone reproducer scripts, so
    it imports only the standard library and numpy, and imports
    ``ml_dtypes`` lazily, inside :func:`storage_dtype`, the first time a
    dtype numpy lacks (``bfloat16``, the float8 types, ``complex32``,
    sub-byte ints) is asked for: a torch reproducer needs numpy and torch
    alone when no such dtype is involved.  It imports nothing of seamfuzz.

Note [Which names]
    The table holds the *canonical* names (``float16``, not ``half``).  A
    dtype is in it when a tensor of it can reach seamfuzz from either
    framework: every numpy dtype of a tensor, ``bfloat16``, ``complex32``
    (torch's ``chalf``, two float16), the float8/6/4 types of ml_dtypes, the
    sub-byte integers ml_dtypes stores one per byte (``int2``, ``int4``,
    ``uint2``, ``uint4``), the quantized types (stored as their integer
    representation, compared exactly, so category ``int``), and TensorFlow's
    ``string``, ``resource`` and ``variant`` (category ``other``: no numpy
    array holds them).  torch's ``int1``..``int7`` shell dtypes other than
    ``int2``/``int4`` and its packed ``quint4x2``/``float4_e2m1fn_x2`` have
    no value-per-element storage and are left out.  ``bits`` is the logical
    width; it equals the storage width except for the sub-byte types
    (``int2``, ``int4``, ``float4_e2m1fn``, the float6 types), which
    ml_dtypes stores one value per byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = [
    "CATEGORIES",
    "DTYPES",
    "FRAMEWORKS",
    "DtypeInfo",
    "bits",
    "complex_component",
    "dtype_category",
    "dtype_info",
    "in_framework",
    "is_numpy_native",
    "is_quantized",
    "is_signed",
    "is_tf_attribute",
    "is_torch_bitcast",
    "known_dtypes",
    "narrower",
    "same_width_int",
    "storable_dtypes",
    "storage_dtype",
    "wider",
]

#: The categories of :attr:`DtypeInfo.category`.  They decide how values are
#: compared: ``bool`` and ``int`` exactly, ``float`` and ``complex`` within a
#: tolerance; ``other`` values are not arrays at all.
CATEGORIES = ("bool", "int", "float", "complex", "other")

#: The frameworks :func:`in_framework` answers for.
FRAMEWORKS = ("numpy", "torch", "tensorflow")


@dataclass(frozen=True, slots=True)
class DtypeInfo:
    """The facts about one dtype name."""

    #: The canonical name, without module (``float32``, ``bfloat16``).
    name: str
    #: One of :data:`CATEGORIES`.
    category: str
    #: Logical width in bits (8 for ``bool``, 4 for ``int4``); 0 for
    #: ``other``.
    bits: int
    #: The name of the numpy type that holds the bytes: a numpy dtype name,
    #: or an ``ml_dtypes`` attribute when not :attr:`numpy_native` and not a
    #: quantized type; ``""`` when no numpy array can hold the value.
    storage: str
    #: numpy has a dtype of this very name (no ml_dtypes needed; the stored
    #: value *is* the value).
    numpy_native: bool
    #: ``torch.<name>`` is a dtype.
    torch: bool
    #: ``tf.as_dtype(name)`` is a dtype.
    tensorflow: bool
    #: torch builds such a tensor by reinterpreting the bits of an integer
    #: tensor of the same width (numpy cannot hand it over directly).
    torch_bitcast: bool = False
    #: ``tf.<name>`` is an attribute (other TensorFlow dtypes need
    #: ``tf.as_dtype(name)``).
    tf_attribute: bool = False
    #: Whether negative values exist (True for every float but
    #: ``float8_e8m0fnu`` and for complex; False for bool and ``other``).
    signed: bool = False
    #: A quantized type, stored as its integer representation.
    quantized: bool = False
    #: The dtype of the same category that holds every value exactly and
    #: computes in 64-bit precision (``float64``, ``complex128``); ``""``
    #: when the dtype is already that wide or has none.
    wider: str = ""
    #: The next narrower dtype of the same category a shrink pass tries;
    #: ``""`` for none.
    narrower: str = ""
    #: Complex dtypes: the dtype of the real and imaginary parts.
    component: str = ""


def _row(name: str, category: str, bits: int, *, storage: str | None = None,
         native: bool = False, torch: bool = False, tf: bool = False, **rest: object
         ) -> DtypeInfo:
    return DtypeInfo(name, category, bits, name if storage is None else storage, native,
                     torch, tf, **rest)  # type: ignore[arg-type]


def _build() -> dict[str, DtypeInfo]:
    rows: list[DtypeInfo] = [
        _row("bool", "bool", 8, native=True, torch=True, tf=True, tf_attribute=True),
    ]
    for n in (8, 16, 32, 64):
        for signed in (True, False):
            name = f"{'' if signed else 'u'}int{n}"
            rows.append(_row(name, "int", n, native=True, torch=True, tf=True,
                             tf_attribute=True, signed=signed,
                             narrower="int32" if name == "int64" else ""))
    # Sub-byte integers: one value per byte, as ml_dtypes stores them.  torch
    # names them too, but has no kernels that build such tensors.
    for n in (2, 4):
        for signed in (True, False):
            rows.append(_row(f"{'' if signed else 'u'}int{n}", "int", n, torch=True, tf=True,
                             signed=signed))
    for name, storage, torch in (("qint8", "int8", True), ("quint8", "uint8", True),
                                 ("qint16", "int16", False), ("quint16", "uint16", False),
                                 ("qint32", "int32", True)):
        rows.append(_row(name, "int", np.dtype(storage).itemsize * 8, storage=storage,
                         torch=torch, tf=True, tf_attribute=True, quantized=True,
                         signed=not name.startswith("qu")))
    ieee = {"float16": 16, "float32": 32, "float64": 64}
    for name, n in ieee.items():
        rows.append(_row(name, "float", n, native=True, torch=True, tf=True, tf_attribute=True,
                         signed=True, wider="" if name == "float64" else "float64",
                         narrower="float32" if name == "float64" else ""))
    rows.append(_row("bfloat16", "float", 16, torch=True, tf=True, torch_bitcast=True,
                     tf_attribute=True, signed=True, wider="float64"))
    # (name, torch has it, tensorflow has it)
    small_floats = (
        ("float8_e4m3fn", True, True),
        ("float8_e4m3fnuz", True, True),
        ("float8_e4m3", False, False),
        ("float8_e4m3b11fnuz", False, True),
        ("float8_e3m4", False, False),
        ("float8_e5m2", True, True),
        ("float8_e5m2fnuz", True, True),
        ("float8_e8m0fnu", True, False),
        ("float6_e2m3fn", False, False),
        ("float6_e3m2fn", False, False),
        ("float4_e2m1fn", False, True),
    )
    for name, torch, tf in small_floats:
        n = int(name[5])
        rows.append(_row(name, "float", n, torch=torch, tf=tf, torch_bitcast=torch,
                         signed=name != "float8_e8m0fnu", wider="float64"))
    rows.append(_row("complex32", "complex", 32, torch=True, torch_bitcast=True,
                     signed=True, wider="complex128", component="float16"))
    rows.append(_row("complex64", "complex", 64, native=True, torch=True, tf=True,
                     tf_attribute=True, signed=True, wider="complex128", component="float32"))
    rows.append(_row("complex128", "complex", 128, native=True, torch=True, tf=True,
                     tf_attribute=True, signed=True, narrower="complex64", component="float64"))
    for name in ("string", "resource", "variant"):
        rows.append(_row(name, "other", 0, storage="", tf=True, tf_attribute=True))
    return {r.name: r for r in sorted(rows, key=lambda r: r.name)}


#: name -> :class:`DtypeInfo`, sorted by name.
DTYPES: dict[str, DtypeInfo] = _build()

# The numpy types numpy itself has; any other storage comes from ml_dtypes.
_NUMPY_STORAGE = frozenset(n for n, r in DTYPES.items() if r.numpy_native)
_STORAGE_CACHE: dict[str, np.dtype] = {}


def dtype_info(name: str) -> DtypeInfo:
    """The row of ``name``; raises ValueError for a name not in the table."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(
            f"unknown dtype name {name!r} (known: {', '.join(DTYPES)})"
        ) from None


def known_dtypes(framework: Optional[str] = None) -> tuple[str, ...]:
    """Every dtype name in the table, or those ``framework`` has, sorted."""
    if framework is None:
        return tuple(DTYPES)
    return tuple(n for n in DTYPES if in_framework(n, framework))


def storage_dtype(name: str) -> np.dtype:
    """The numpy dtype that holds the bytes of dtype ``name`` (an ml_dtypes
    type for the dtypes numpy lacks, imported only then).  Raises ValueError
    for an unknown name, a dtype no numpy array holds (``string``), or one
    the installed ml_dtypes does not have."""
    cached = _STORAGE_CACHE.get(name)
    if cached is not None:
        return cached
    storage = dtype_info(name).storage
    if not storage:
        raise ValueError(f"no numpy array holds {name} values")
    if storage in _NUMPY_STORAGE:
        dt = np.dtype(storage)
    else:
        import ml_dtypes  # see Note [Standalone]

        found = getattr(ml_dtypes, storage, None)
        if found is None:
            raise ValueError(f"this ml_dtypes release ({ml_dtypes.__version__}) has no {name}")
        dt = np.dtype(found)
    _STORAGE_CACHE[name] = dt
    return dt


def storable_dtypes() -> tuple[str, ...]:
    """The names whose values a numpy array can hold here (those
    :func:`storage_dtype` answers for), sorted; imports ml_dtypes."""
    out = []
    for name in DTYPES:
        try:
            storage_dtype(name)
        except ValueError:
            continue
        out.append(name)
    return tuple(out)


def dtype_category(name: str) -> str:
    """``bool``, ``int``, ``float``, ``complex`` or ``other`` (raises
    ValueError for an unknown name)."""
    return dtype_info(name).category


def bits(name: str) -> int:
    """The logical width in bits (0 for category ``other``)."""
    return dtype_info(name).bits


def wider(name: str) -> Optional[str]:
    """``float64`` for a narrower float, ``complex128`` for a narrower
    complex; None when ``name`` is already that wide or not a float."""
    return dtype_info(name).wider or None


def narrower(name: str) -> Optional[str]:
    """The next narrower dtype of the same category a shrink pass tries
    (``float64`` -> ``float32``, ``complex128`` -> ``complex64``, ``int64``
    -> ``int32``), or None."""
    return dtype_info(name).narrower or None


def complex_component(name: str) -> Optional[str]:
    """The dtype of a complex dtype's real and imaginary parts, or None."""
    return dtype_info(name).component or None


def is_numpy_native(name: str) -> bool:
    """Whether numpy has a dtype of this very name (no ml_dtypes needed)."""
    return dtype_info(name).numpy_native


def is_signed(name: str) -> bool:
    """Whether the dtype has negative values (:attr:`DtypeInfo.signed`)."""
    return dtype_info(name).signed


def is_quantized(name: str) -> bool:
    """Whether ``name`` is a quantized type (``qint8``, ``quint8``...)."""
    return dtype_info(name).quantized


def is_torch_bitcast(name: str) -> bool:
    """Whether torch builds such a tensor by reinterpreting the bits of an
    integer tensor of the same width (:func:`same_width_int`)."""
    return dtype_info(name).torch_bitcast


def is_tf_attribute(name: str) -> bool:
    """Whether ``tf.<name>`` exists (else ``tf.as_dtype(name)`` is needed)."""
    return dtype_info(name).tf_attribute


def in_framework(name: str, framework: str) -> bool:
    """Whether ``framework`` (``numpy``, ``torch``, ``tensorflow``) has a
    dtype ``name``; False for a name not in the table.  numpy "has" only the
    dtypes it holds natively."""
    info = DTYPES.get(name)
    if info is None:
        return False
    if framework == "numpy":
        return info.numpy_native
    if framework == "torch":
        return info.torch
    if framework in ("tensorflow", "tf"):
        return info.tensorflow
    raise ValueError(f"unknown framework {framework!r} (known: {', '.join(FRAMEWORKS)})")


def same_width_int(name: str) -> np.dtype:
    """The signed numpy integer type as wide as ``name``'s storage, to view
    its bits through (``bfloat16`` -> ``int16``, ``complex32`` -> ``int32``)."""
    size = storage_dtype(name).itemsize
    try:
        return np.dtype({1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[size])
    except KeyError:
        raise ValueError(f"no integer type is {size} bytes wide ({name})") from None
