"""The :class:`~miner.records.Special` init: validation, JSON, and how
:func:`runner.materialize.draw` resolves its values per dtype."""

from __future__ import annotations

import json
import math

import ml_dtypes
import numpy as np
import pytest

from miner.records import (
    SPECIAL_VALUES,
    CallRecord,
    Layout,
    LayoutKind,
    Normal,
    Special,
    TensorSpec,
    describe,
    value_from_json,
    value_to_json,
)
from runner.materialize import draw


def one(dtype: str, values: tuple[str, ...], density: float = 1.0, shape=(8,), seed: int = 0,
        layout: Layout | None = None) -> np.ndarray:
    spec = TensorSpec("torch", shape, dtype, Special(values, density), layout or Layout())
    (t,) = draw(((spec,), ()), seed).args
    return t.logical()


@pytest.mark.parametrize("bad", [
    {"values": ()},
    {"values": ("nan", "bogus")},
    {"values": "nan"},
    {"values": ("nan", "nan")},
    {"values": ("nan",), "density": 0.0},
    {"values": ("nan",), "density": 1.5},
    {"values": ("nan",), "density": -0.1},
    {"values": ("nan",), "density": math.nan},
    {"values": ("nan",), "density": True},
])
def test_special_rejects_bad_parameters(bad):
    with pytest.raises(ValueError):
        Special(**bad)


def test_special_normalises_values_and_density():
    s = Special(["inf", "0"], 1)  # type: ignore[arg-type]
    assert s.values == ("inf", "0") and s.density == 1.0 and isinstance(s.density, float)
    assert hash(s) == hash(Special(("inf", "0"), 1.0))


def test_special_json_round_trip_and_rendering():
    spec = TensorSpec("torch", (2, 3), "bfloat16", Special(("nan", "-0", "huge"), 0.25))
    rec = CallRecord("torch.abs", "torch", args=(spec,))
    text = json.dumps(rec.to_json(), allow_nan=False)
    back = CallRecord.from_json(json.loads(text))
    assert back == rec and back.id == rec.id
    assert value_to_json(spec)["init"] == {
        "t": "special", "values": ["nan", "-0", "huge"], "density": {"float": 0.25}
    }
    assert "special(nan, -0, huge; 0.25)" in describe(spec)
    with pytest.raises(ValueError):
        value_from_json({**value_to_json(spec), "init": {"t": "special", "values": ["x"],
                                                         "density": 0.5}})
    # Other inits keep their JSON.
    assert value_to_json(TensorSpec("torch", (1,), "float32", Normal()))["init"] == {
        "t": "normal", "mean": {"float": 0.0}, "std": {"float": 1.0}
    }


def test_same_seed_same_bytes_other_seed_other_positions():
    spec = TensorSpec("torch", (6, 7), "float32", Special(("nan", "inf", "-0"), 0.3))
    a, b, c = (draw(((spec,), ()), s) for s in (5, 5, 6))
    assert a.digest() == b.digest() != c.digest()


def test_float32_nan_and_inf_at_half_density():
    x = one("float32", ("nan", "inf"), 0.5, shape=(10, 10), seed=3)
    n_nan, n_inf = int(np.isnan(x).sum()), int(np.isposinf(x).sum())
    assert n_nan == n_inf == 25  # ceil(0.5 * 100) positions, values taken in turn
    assert np.isfinite(x).sum() == 50


def test_every_value_appears_once_there_are_enough_elements():
    x = one("float64", SPECIAL_VALUES, 1.0, shape=(len(SPECIAL_VALUES),))
    f = np.finfo(np.float64)
    expected = {math.nan, math.inf, -math.inf, 0.0, 1.0, -1.0, f.max, f.min, f.tiny,
                f.smallest_subnormal, -f.smallest_subnormal, f.eps, 2.0**512, -(2.0**512)}
    got = set(x.tolist())
    assert {v for v in got if not math.isnan(v)} == {v for v in expected if not math.isnan(v)}
    assert np.isnan(x).sum() == 1
    assert (np.signbit(x) & (x == 0)).sum() == 1  # "-0" kept its sign


@pytest.mark.parametrize("dtype, name, expected", [
    ("int8", "max", 127), ("int8", "min", -128), ("int8", "inf", 127), ("int8", "-inf", -128),
    ("int8", "nan", 0), ("int8", "huge", 127), ("int8", "tiny", 0), ("int8", "-1", -1),
    ("uint8", "max", 255), ("uint8", "min", 0), ("uint8", "-1", 0),
    ("int64", "max", 2**63 - 1), ("uint64", "max", 2**64 - 1),
    ("bool", "max", True), ("bool", "min", False), ("bool", "nan", True), ("bool", "0", False),
])
def test_integer_and_bool_resolution(dtype, name, expected):
    x = one(dtype, (name,))
    assert x.tolist() == [expected] * 8


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_low_precision_floats(dtype):
    storage = np.dtype(getattr(ml_dtypes, dtype)) if dtype == "bfloat16" else np.dtype(dtype)
    info = ml_dtypes.finfo(storage)
    x = one(dtype, ("max", "denormal", "huge", "tiny", "eps", "inf"), 1.0, shape=(6,))
    assert x.dtype == storage
    huge = 2.0 ** (int(info.maxexp) // 2)
    assert sorted(x.astype(np.float64).tolist()) == sorted(
        [float(info.max), float(info.smallest_subnormal), huge, float(info.tiny),
         float(info.eps), math.inf]
    )
    assert huge < float(info.max) < huge * huge  # finite, but its square overflows


def test_complex_takes_the_component_value_as_real_part():
    x = one("complex64", ("inf", "max"), 1.0, shape=(2,))
    assert sorted(x.real.tolist()) == [float(np.finfo(np.float32).max), math.inf]
    assert x.imag.tolist() == [0.0, 0.0]


def test_float8_without_infinities_gets_nan():
    x = one("float8_e4m3fn", ("inf",), 1.0, shape=(3,))
    assert np.isnan(x.astype(np.float64)).all()


def test_special_fills_the_base_of_a_layout():
    layout = Layout(LayoutKind.STRIDED, (2, 1))
    x = one("float32", ("nan",), 1.0, shape=(2, 3), layout=layout)
    assert x.shape == (2, 3) and np.isnan(x).all()
    assert one("float32", ("nan",), 0.5, shape=(0, 3)).shape == (0, 3)


def test_low_density_still_places_one():
    x = one("float32", ("nan",), 0.001, shape=(5,))
    assert np.isnan(x).sum() == 1
