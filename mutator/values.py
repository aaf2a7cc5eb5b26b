"""The values family: literals and tensor contents move to the values where
kernels and compilers disagree: zeros of both signs, ones, negatives, huge
and tiny magnitudes, subnormals, NaN, infinities, integer boundaries.

Tensor contents use inits, never data: :class:`~miner.records.Fill` with a
special value, a :class:`~miner.records.Special` mix at some density,
:class:`~miner.records.Uniform` over huge or tiny ranges,
:class:`~miner.records.IntRange` near a dtype's bounds, or another ordinary
init.  Every value fits its tensor's dtype kind (no complex value in a real
tensor), so mutants always draw.
"""

from __future__ import annotations

import math
import random

from miner.records import (
    SPECIAL_VALUES,
    Arange,
    CallRecord,
    Eye,
    Fill,
    Init,
    IntRange,
    Linspace,
    Literal,
    Normal,
    Special,
    TensorSpec,
    Uniform,
    Value,
)
from mutator.base import (
    MutationContext,
    Operator,
    TensorOperator,
    first_of,
    put_value,
    walk,
)
from mutator.space import (
    FLOAT_LITERALS,
    INT_LITERALS,
    dtype_kind,
    dtypes_of,
    int_bounds,
)

__all__ = [
    "OPERATORS",
    "FillSpecial",
    "IntRangeBounds",
    "LiteralNeighbour",
    "LiteralSpecial",
    "Reinit",
    "SpecialMix",
    "UniformExtreme",
]

_NAN, _INF = math.nan, math.inf
COMPLEX_LITERALS: tuple[complex, ...] = (
    0j, complex(-0.0, -0.0), 1j, complex(1, -1), complex(_NAN, 0), complex(0, _NAN),
    complex(_INF, 0), complex(_INF, -_INF), complex(1e308, 1e308), complex(5e-324, 0),
)  # fmt: skip

#: Special-value names that mean something for each dtype kind.
SPECIAL_NAMES: dict[str, tuple[str, ...]] = {
    "float": SPECIAL_VALUES,
    "complex": SPECIAL_VALUES,
    "int": ("0", "1", "-1", "max", "min"),
    "uint": ("0", "1", "max"),
    "bool": ("0", "1"),
}
DENSITIES = (0.01, 0.1, 0.25, 0.5, 1.0)

#: ``(low, high)`` of Uniform inits with extreme ranges: huge (overflowing
#: float16 and float32), tiny, subnormal, around float16's maximum.
EXTREME_RANGES: tuple[tuple[float, float], ...] = (
    (-1e30, 1e30), (-1e4, 1e4), (0.0, 1e-30), (-1e-38, 1e-38), (1e-45, 1e-40),
    (-1e300, 1e300), (65000.0, 70000.0), (-1.0, 0.0), (1e38, 3e38),
)  # fmt: skip


def _numeric_literal(v: Value) -> bool:
    return isinstance(v, Literal) and isinstance(v.value, (bool, int, float, complex))


class LiteralSpecial(Operator):
    """A numeric literal becomes a special value of its type (an int, now
    and then, a NaN or an infinity)."""

    name = "values.literal_special"
    family = "values"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        slots = [(s, v) for s, v in walk(record) if _numeric_literal(v)]

        def attempt(item: tuple) -> CallRecord | None:
            slot, lit = item
            x = lit.value
            if isinstance(x, bool):
                new: object = not x
            elif isinstance(x, int):
                new = rng.choice(INT_LITERALS) if rng.random() < 0.85 else rng.choice(
                    (_NAN, _INF, -_INF)
                )
            elif isinstance(x, float):
                new = rng.choice(FLOAT_LITERALS)
            else:
                new = rng.choice(COMPLEX_LITERALS)
            return put_value(record, slot, Literal(new))  # type: ignore[arg-type]

        return first_of(rng, slots, attempt)


class LiteralNeighbour(Operator):
    """A numeric literal moves a little: negated, off by one, doubled,
    halved, zero, or the next float."""

    name = "values.literal_neighbour"
    family = "values"

    def do_apply(
        self, record: CallRecord, rng: random.Random, ctx: MutationContext
    ) -> CallRecord | None:
        slots = [
            (s, v) for s, v in walk(record)
            if _numeric_literal(v) and not isinstance(v.value, complex)  # type: ignore[union-attr]
        ]

        def attempt(item: tuple) -> CallRecord | None:
            slot, lit = item
            x = lit.value
            if isinstance(x, bool):
                new: object = not x
            elif isinstance(x, int):
                new = rng.choice([x + 1, x - 1, -x, 2 * x, 0])
            elif math.isfinite(x):
                new = rng.choice([-x, x * 2, x / 2, x + 1, 0.0, math.nextafter(x, math.inf)])
            else:
                new = rng.choice([0.0, -x, 1.0])
            return put_value(record, slot, Literal(new))  # type: ignore[arg-type]

        return first_of(rng, slots, attempt)


def _fill_values(dtype: str) -> tuple[object, ...]:
    kind = dtype_kind(dtype)
    if kind == "float":
        return (_NAN, _INF, -_INF, 0.0, -0.0, 1.0, -1.0, 1e30, -1e30, 1e-30, 5e-324, 65504.0)
    if kind == "complex":
        return COMPLEX_LITERALS
    if kind == "bool":
        return (True, False)
    lo, hi = int_bounds(dtype)
    return tuple(dict.fromkeys((0, 1, -1, lo, hi, hi - 1, lo + 1)))


class _InitOperator(TensorOperator):
    """Rewrites one tensor's init with :meth:`new_init` (dtypes of the
    framework's list only, so the value vocabulary is known)."""

    def accepts(self, spec: TensorSpec) -> bool:
        return spec.dtype in dtypes_of(spec.framework)

    def new_init(self, spec: TensorSpec, rng: random.Random) -> Init | None:
        raise NotImplementedError

    def transform(
        self, spec: TensorSpec, rng: random.Random, ctx: MutationContext, record: CallRecord
    ) -> Value | None:
        init = self.new_init(spec, rng)
        if init is None or init == spec.init:
            return None
        return TensorSpec(spec.framework, spec.shape, spec.dtype, init, spec.layout,
                          spec.requires_grad)


class FillSpecial(_InitOperator):
    """Every element becomes one special value of the dtype's kind."""

    name = "values.fill_special"
    family = "values"

    def new_init(self, spec: TensorSpec, rng: random.Random) -> Init | None:
        return Fill(rng.choice(_fill_values(spec.dtype)))  # type: ignore[arg-type]


class SpecialMix(_InitOperator):
    """A :class:`~miner.records.Special` init: one to four special values
    of the dtype's kind at a random density."""

    name = "values.special_mix"
    family = "values"

    def new_init(self, spec: TensorSpec, rng: random.Random) -> Init | None:
        names = SPECIAL_NAMES[dtype_kind(spec.dtype)]
        k = rng.randint(1, min(4, len(names)))
        return Special(tuple(rng.sample(names, k)), rng.choice(DENSITIES))


class UniformExtreme(_InitOperator):
    """A floating tensor draws from a huge, tiny or subnormal range."""

    name = "values.uniform_extreme"
    family = "values"

    def accepts(self, spec: TensorSpec) -> bool:
        return super().accepts(spec) and dtype_kind(spec.dtype) in ("float", "complex")

    def new_init(self, spec: TensorSpec, rng: random.Random) -> Init | None:
        if rng.random() < 0.2:
            return Normal(0.0, rng.choice((1e-20, 1e10, 1e20)))
        return Uniform(*rng.choice(EXTREME_RANGES))


class IntRangeBounds(_InitOperator):
    """An integer tensor draws near its dtype's bounds (or across zero)."""

    name = "values.intrange_bounds"
    family = "values"

    def accepts(self, spec: TensorSpec) -> bool:
        return super().accepts(spec) and dtype_kind(spec.dtype) in ("int", "uint")

    def new_init(self, spec: TensorSpec, rng: random.Random) -> Init | None:
        lo, hi = int_bounds(spec.dtype)
        options = [(hi - 9, hi + 1), (lo, lo + 10), (-10, 10)]
        if hi - lo <= 2**32:
            options.append((lo, hi + 1))
        low, high = rng.choice(options)
        # Draws are int64 (high exclusive): uint64's top is out of reach,
        # and values beyond it saturate anyway.
        low, high = max(low, -(2**63)), min(high, 2**63)
        if low >= high:
            low = high - 10
        return IntRange(low, high)


class Reinit(_InitOperator):
    """The tensor gets another ordinary init (normal, uniform, integers,
    arange, linspace, eye, zeros, ones)."""

    name = "values.reinit"
    family = "values"

    def new_init(self, spec: TensorSpec, rng: random.Random) -> Init | None:
        kind = dtype_kind(spec.dtype)
        options: list[Init] = [Arange(0, 1), Eye(), Fill(0), Fill(1)]
        if kind in ("float", "complex"):
            options += [Normal(), Uniform(), Uniform(-1.0, 1.0), Linspace(-1.0, 1.0)]
        else:
            options += [IntRange(0, 10), IntRange(-10, 10) if kind == "int" else IntRange(0, 100)]
        options = [o for o in options if o != spec.init]
        return rng.choice(options)


OPERATORS: tuple[Operator, ...] = (
    LiteralSpecial(), LiteralNeighbour(), FillSpecial(), SpecialMix(), UniformExtreme(),
    IntRangeBounds(), Reinit(),
)
