"""The space mutants are drawn from: dtypes per framework, special scalar
values, element counting.

Everything here is data or a pure function over records; nothing imports a
framework.

Note [Which dtypes]
    Each framework's list holds the dtypes its ordinary operators take:
    every IEEE float and bfloat16, the signed and unsigned integers, bool and
    the two usual complex types.  torch's uint16/uint32/uint64 are real
    tensor dtypes since 2.3 but most kernels reject them; they stay in the
    list because "the reference raises" is a cheap, classified outcome and a
    compiled mode accepting what eager rejects is a finding.  The float8
    types, complex32 and the quantized types are left out: almost nothing
    computes on them.  A mutant may still carry such a dtype when its seed
    did (see :func:`mutator.check.check_record`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from infra.dtypes import dtype_info, in_framework
from miner.records import (
    CallRecord,
    TensorSpec,
    Value,
    base_shape,
    iter_values,
)

__all__ = [
    "CATEGORIES",
    "DTYPES",
    "FAMILIES",
    "FLOAT_LITERALS",
    "INT_LITERALS",
    "MAX_RANK",
    "base_shape",
    "dtype_kind",
    "dtypes_of",
    "int_bounds",
    "is_framework_dtype",
    "record_elements",
    "spec_elements",
    "tensor_specs",
]

#: The mutation families, in a fixed order.
FAMILIES = ("dtype", "type", "shape", "values", "layout", "borrow", "signature")

#: The highest rank a shape mutation produces.
MAX_RANK = 6

_INTS = ("int8", "int16", "int32", "int64")
_UINTS = ("uint8", "uint16", "uint32", "uint64")
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_COMPLEX = ("complex64", "complex128")
_MUTABLE = _FLOATS + _INTS + _UINTS + ("bool",) + _COMPLEX

#: The dtypes mutants may take, per framework (see Note [Which dtypes]):
#: those of the list above the framework has (:func:`infra.dtypes.in_framework`;
#: numpy has no bfloat16 of its own).
DTYPES: dict[str, tuple[str, ...]] = {
    fw: tuple(n for n in _MUTABLE if in_framework(n, fw))
    for fw in ("torch", "tensorflow", "numpy")
}

#: The dtype kinds :func:`dtype_kind` returns, in a fixed order.
CATEGORIES = ("float", "int", "uint", "bool", "complex")

#: Integer literals worth trying: signs, zero, and the edges of every
#: integer width (and one past them).
INT_LITERALS: tuple[int, ...] = (
    0, 1, -1, -2, 2, 3, 127, 128, -128, -129, 255, 256, 65535, 65536,
    2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32, 2**53 + 1,
    2**63 - 1, 2**63, -(2**63), 2**64,
)  # fmt: skip

#: Float literals worth trying: signed zeros and ones, huge and tiny
#: magnitudes, the smallest subnormal, float16/float32 edges, NaN, infinities.
FLOAT_LITERALS: tuple[float, ...] = (
    0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e30, -1e30, 1e-30, 1e308, -1e308,
    5e-324, 2.2250738585072014e-308, 65504.0, 65520.0, 3.4028234663852886e38,
    1.401298464324817e-45, math.nan, math.inf, -math.inf,
)  # fmt: skip


def dtype_kind(name: str) -> str:
    """One of :data:`CATEGORIES` for a dtype name (``uint`` split from
    ``int``); raises ValueError for an unknown name or one whose values are
    not numbers (``string``)."""
    info = dtype_info(name)
    if info.category == "other":
        raise ValueError(f"{name} values are not numbers")
    if info.category == "int" and not info.signed:
        return "uint"
    return info.category


def dtypes_of(framework: str, kind: str | None = None) -> tuple[str, ...]:
    """The framework's mutable dtypes, all or those of one kind."""
    names = DTYPES.get(framework, ())
    if kind is None:
        return names
    return tuple(n for n in names if dtype_kind(n) == kind)


def is_framework_dtype(framework: str, name: str) -> bool:
    return name in DTYPES.get(framework, ())


def int_bounds(name: str) -> tuple[int, int]:
    """The smallest and largest value of an integer dtype (0, 1 for bool);
    raises ValueError for another dtype."""
    info = dtype_info(name)
    if info.category == "bool":
        return 0, 1
    if info.category != "int":
        raise ValueError(f"{name} is not an integer dtype")
    if info.signed:
        return -(2 ** (info.bits - 1)), 2 ** (info.bits - 1) - 1
    return 0, 2**info.bits - 1


# ---------------------------------------------------------------------------
# Element counting
# ---------------------------------------------------------------------------


def _prod(shape: tuple[int | None, ...]) -> int:
    # Unknown dims count as 1: a lower bound, as good as any for a cap.
    return math.prod(1 if d is None else d for d in shape)


def spec_elements(spec: TensorSpec) -> int:
    """Elements drawing ``spec`` costs: the larger of its logical and base
    sizes, as :func:`runner.materialize.draw` counts them."""
    return max(_prod(spec.shape), _prod(spec.base_shape))


def tensor_specs(v: Value | CallRecord) -> Iterator[TensorSpec]:
    """Every tensor spec in a value or a whole record (constructor arguments
    included), depth first."""
    values = v.values() if isinstance(v, CallRecord) else (v,)
    return (x for top in values for x in iter_values(top) if isinstance(x, TensorSpec))


def record_elements(record: CallRecord) -> int:
    """The input elements of a whole record: :func:`spec_elements` summed
    over every tensor spec, constructor arguments and nested values
    included."""
    return sum(spec_elements(s) for s in tensor_specs(record))
