"""Observations and output trees (runner/observation.py): arrays keep the
framework's dtype and exact bytes, records validate themselves, and every
observation survives pickling and strict JSON unchanged."""

from __future__ import annotations

import json
import math
import pickle

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra import dtypes
from runner.observation import (
    MAX_ERROR_MESSAGE,
    ArrayLeaf,
    MapNode,
    Observation,
    OpaqueLeaf,
    Outcome,
    ScalarLeaf,
    SeqNode,
    dtype_category,
    exception_type_name,
    known_dtypes,
    node_from_json,
    node_to_json,
    storage_dtype,
)


def json_round_trip(obs: Observation) -> Observation:
    # allow_nan=False: the store's JSON must be strict (no NaN literals).
    return Observation.from_json(json.loads(json.dumps(obs.to_json(), allow_nan=False)))


# -- arrays --------------------------------------------------------------------

ARRAYS = [
    ("float32", np.array([[1.5, -0.0], [np.nan, -np.inf]], dtype=np.float32)),
    ("float64-0d", np.array(2.5)),
    ("float16-empty", np.zeros((0, 3), dtype=np.float16)),
    ("bfloat16", np.array([1.0, np.nan, np.inf, -0.0, 3.140625], dtype=ml_dtypes.bfloat16)),
    ("float8_e4m3fn", np.array([0.5, -448.0, np.nan], dtype=ml_dtypes.float8_e4m3fn)),
    ("complex64", np.array([1 + 2j, complex(np.nan, -0.0)], dtype=np.complex64)),
    ("complex32", np.array([1 + 2j], dtype=ml_dtypes.complex32)),
    ("bool", np.array([True, False, True])),
    ("int8", np.array([-128, 0, 127], dtype=np.int8)),
    ("uint64", np.array([2**64 - 1, 0], dtype=np.uint64)),
    ("int4", np.array([-8, 7], dtype=ml_dtypes.int4)),
]


@pytest.mark.parametrize("name, arr", ARRAYS, ids=[a[0] for a in ARRAYS])
def test_array_leaf_round_trips_bytes_dtype_and_shape(name: str, arr: np.ndarray) -> None:
    leaf = ArrayLeaf.from_numpy(arr)
    assert leaf.dtype == arr.dtype.name
    assert leaf.shape == arr.shape  # a 0-d array stays 0-d
    back = leaf.to_numpy()
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes() == arr.tobytes()
    assert ArrayLeaf.from_numpy(back) == leaf


def test_array_leaf_stores_c_order_of_a_view() -> None:
    a = np.arange(6, dtype=np.int32).reshape(2, 3).T
    leaf = ArrayLeaf.from_numpy(a)
    assert leaf.shape == (3, 2)
    assert leaf.to_numpy().tolist() == a.tolist()


def test_array_leaf_accepts_a_bit_pattern_of_the_same_width() -> None:
    # What a worker gets from ``t.view(torch.int16).numpy()`` on bfloat16.
    values = np.array([1.0, -2.5, np.nan], dtype=ml_dtypes.bfloat16)
    leaf = ArrayLeaf.from_numpy(values.view(np.int16), dtype_name="bfloat16")
    assert leaf == ArrayLeaf.from_numpy(values)
    zero_d = ArrayLeaf.from_numpy(np.array(1.0, ml_dtypes.bfloat16).view(np.uint16), "bfloat16")
    assert zero_d.shape == ()


def test_array_leaf_keeps_a_framework_name_for_the_same_storage() -> None:
    leaf = ArrayLeaf.from_numpy(np.array([3, -1], dtype=np.int8), dtype_name="qint8")
    assert leaf.dtype == "qint8" and dtype_category("qint8") == "int"
    assert leaf.to_numpy().tolist() == [3, -1]


@pytest.mark.parametrize(
    "arr, name, match",
    [
        (np.ones(2, np.float32), "bfloat16", "cannot record a float32 array as bfloat16"),
        (np.ones(2, np.uint8), "bool", "cannot record"),
        (np.ones(2, np.float32), "quint4x2", "unknown dtype name"),
        (np.array(["a"]), None, "unknown dtype name"),
    ],
)
def test_array_leaf_refuses_lossy_or_unknown_dtypes(arr: np.ndarray, name, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ArrayLeaf.from_numpy(arr, dtype_name=name)


@pytest.mark.parametrize(
    "dtype, shape, data, match",
    [
        ("float32", (2,), b"\0" * 4, "needs 8 bytes"),
        ("float32", (-1,), b"", "bad shape"),
        ("float32", (True,), b"\0" * 4, "bad shape"),
        ("string", (), b"", "unknown dtype name"),
        ("bool", (2,), b"\x01\x02", "bool array bytes must be 0 or 1"),
    ],
)
def test_array_leaf_validates(dtype: str, shape: tuple, data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ArrayLeaf(dtype, shape, data)


def test_every_known_dtype_has_a_storage_type_and_a_category() -> None:
    for name in known_dtypes():
        assert storage_dtype(name).itemsize >= 1
        assert dtype_category(name) in ("bool", "int", "float", "complex")
    assert dtype_category("bfloat16") == "float"
    assert dtype_category("complex32") == "complex"


def test_dtype_names_are_the_tables() -> None:
    # An ArrayLeaf carries any dtype of infra.dtypes a numpy array can hold,
    # and nothing else (TF's string and resource are OpaqueLeaf material).
    assert known_dtypes() == dtypes.storable_dtypes()
    assert set(known_dtypes()) == {
        n for n in dtypes.known_dtypes() if dtypes.dtype_category(n) != "other"}
    for name in known_dtypes():
        assert storage_dtype(name) == dtypes.storage_dtype(name)
        assert dtype_category(name) == dtypes.dtype_category(name)
    for name in ("string", "resource", "half"):
        with pytest.raises(ValueError, match="OpaqueLeaf"):
            storage_dtype(name)
        with pytest.raises(ValueError):
            dtype_category(name)


# -- scalars and containers -----------------------------------------------------


def test_scalar_leaf_equality_is_structural() -> None:
    assert ScalarLeaf(math.nan) == ScalarLeaf(math.nan)
    assert hash(ScalarLeaf(math.nan)) == hash(ScalarLeaf(math.nan))
    assert ScalarLeaf(1) != ScalarLeaf(1.0) != ScalarLeaf(True)
    assert ScalarLeaf(0.0) != ScalarLeaf(-0.0)
    assert ScalarLeaf(complex(1, math.nan)) == ScalarLeaf(complex(1, math.nan))


def test_scalar_leaf_stores_subclasses_as_the_base_type() -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    for value, base in [(np.float64(1.5), float), (Color.RED, int), (np.complex128(1j), complex)]:
        leaf = ScalarLeaf(value)
        assert type(leaf.value) is base and leaf == ScalarLeaf(base(value))


@pytest.mark.parametrize("value", [np.float32(1.0), np.int64(1), b"bytes", [1], object()])
def test_scalar_leaf_takes_python_scalars_only(value) -> None:
    with pytest.raises(ValueError, match="ScalarLeaf takes"):
        ScalarLeaf(value)


def test_containers_validate() -> None:
    assert SeqNode("namedtuple:max", (ScalarLeaf(1),)).kind == "namedtuple:max"
    with pytest.raises(ValueError, match="SeqNode.kind"):
        SeqNode("set", ())
    with pytest.raises(ValueError, match="SeqNode.kind"):
        SeqNode("namedtuple:", ())
    with pytest.raises(ValueError, match="duplicate"):
        MapNode((("a", ScalarLeaf(1)), ("a", ScalarLeaf(2))))
    with pytest.raises(ValueError, match="keys must be str"):
        MapNode(((1, ScalarLeaf(1)),))  # type: ignore[arg-type]


# -- observations ---------------------------------------------------------------


def test_observation_output_is_set_exactly_when_returned() -> None:
    with pytest.raises(ValueError, match="output must be set"):
        Observation("eager", Outcome.RETURNED)
    with pytest.raises(ValueError, match="output must be set"):
        Observation("eager", Outcome.RAISED, ScalarLeaf(None))
    assert Observation("eager", "returned", ScalarLeaf(None)).outcome is Outcome.RETURNED


def test_observation_validates_mutations_and_times() -> None:
    with pytest.raises(ValueError, match="duplicate mutated"):
        Observation("e", Outcome.RETURNED, ScalarLeaf(None),
                    mutated=((0, ScalarLeaf(1)), (0, ScalarLeaf(2))))
    with pytest.raises(ValueError, match="seconds"):
        Observation("e", Outcome.TIMEOUT, seconds=math.inf)
    with pytest.raises(ValueError, match="compile_seconds"):
        Observation("e", Outcome.TIMEOUT, compile_seconds=-1.0)


def test_observation_truncates_long_error_messages() -> None:
    obs = Observation("e", Outcome.RAISED, error_type="RuntimeError", error_message="x" * 10_000)
    assert len(obs.error_message) == MAX_ERROR_MESSAGE
    assert obs.error_message.endswith("[truncated]")
    assert json_round_trip(obs) == obs  # truncation is idempotent


class _Custom(Exception):
    pass


def test_exception_type_name_is_qualified() -> None:
    assert exception_type_name(RuntimeError("x")) == "RuntimeError"
    assert exception_type_name(json.JSONDecodeError) == "json.decoder.JSONDecodeError"
    assert exception_type_name(_Custom()) == f"{__name__}._Custom"


NAN_BF16 = ArrayLeaf.from_numpy(np.array([[np.nan, 1.5], [-0.0, np.inf]], ml_dtypes.bfloat16))

OBSERVATIONS = [
    Observation("torch-eager-cpu", Outcome.RETURNED, NAN_BF16, seconds=0.25),
    Observation(
        "torch-compile-cpu",
        Outcome.RETURNED,
        SeqNode(
            "namedtuple:max",
            (
                ArrayLeaf.from_numpy(np.array([1.0, np.nan], np.float32)),
                MapNode((("indices", ArrayLeaf.from_numpy(np.array([0, 2**62]))),
                         ("weird key", ScalarLeaf(-0.0)))),
                ScalarLeaf(math.nan),
                ScalarLeaf(-math.inf),
                ScalarLeaf(2**80),
                ScalarLeaf(complex(math.nan, -0.0)),
                ScalarLeaf("text"),
                ScalarLeaf(None),
                ScalarLeaf(True),
                OpaqueLeaf("torch.Generator", "<torch._C.Generator object>"),
            ),
        ),
        mutated=((0, NAN_BF16), (2, ScalarLeaf(3))),
        seconds=1.5,
        compile_seconds=1.25,
    ),
    Observation(
        "tf-xla",
        Outcome.RAISED,
        error_type="tensorflow.python.framework.errors_impl.InvalidArgumentError",
        error_message="Incompatible shapes: [2] vs. [3]\n\t [[{{node add}}]]",
    ),
    Observation("torch-eager-cpu", Outcome.CRASHED, detail="signal SIGFPE (exit -8)"),
    Observation("tf-function", Outcome.TIMEOUT, detail="timeout 10s", seconds=10.0),
    Observation("torch-eager-cuda", Outcome.UNSUPPORTED, detail="mode unavailable: no CUDA"),
    Observation("tf-eager", Outcome.SKIPPED, detail="too_large: 8.0 GiB > 2.0 GiB"),
    Observation("torch-eager-cpu", Outcome.SANDBOXED, error_type="OSError",
                error_message="[Errno 30] Read-only file system: '/home/u/x.pt'",
                detail="sandboxed: write outside temp", seconds=0.01),
]


@pytest.mark.parametrize("obs", OBSERVATIONS, ids=lambda o: f"{o.mode}-{o.outcome.value}")
def test_observation_round_trips_through_json_and_pickle(obs: Observation) -> None:
    assert json_round_trip(obs) == obs
    assert pickle.loads(pickle.dumps(obs)) == obs


def test_json_keeps_bfloat16_nan_bits_and_negative_zero() -> None:
    back = json_round_trip(OBSERVATIONS[0]).output
    assert isinstance(back, ArrayLeaf) and back.dtype == "bfloat16"
    arr = back.to_numpy().astype(np.float64)
    assert np.isnan(arr[0, 0]) and math.copysign(1.0, arr[1, 0]) == -1.0
    assert back.data == NAN_BF16.data


@pytest.mark.parametrize(
    "obj",
    [
        {"t": "array", "dtype": "float32", "shape": [1], "data": "!!"},
        {"t": "array", "dtype": "float32", "shape": [2], "data": "AAAAAA=="},
        {"t": "seq", "kind": "list"},
        {"t": "nope"},
        {"t": "scalar", "v": [1]},
        [],
    ],
)
def test_malformed_node_json_raises_value_error(obj) -> None:
    with pytest.raises(ValueError):
        node_from_json(obj)


def test_malformed_observation_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        Observation.from_json({"outcome": "returned"})
    with pytest.raises(ValueError):
        Observation.from_json({"mode": "m", "outcome": "exploded"})


# -- property: any tree survives JSON and pickle --------------------------------------------

_DTYPES = ["bool", "int8", "int64", "uint64", "float16", "float32", "float64", "bfloat16",
           "float8_e4m3fn", "float8_e5m2", "complex64", "complex128", "int4"]


@st.composite
def array_leaves(draw: st.DrawFn, dtypes: list[str] = _DTYPES) -> ArrayLeaf:
    """Arrays of arbitrary bit patterns: every NaN payload, infinity,
    subnormal and -0.0 the dtype has."""
    dtype = draw(st.sampled_from(dtypes))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    n = math.prod(shape)
    itemsize = storage_dtype(dtype).itemsize
    if dtype == "bool":
        data = bytes(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    elif dtype == "int4":  # one value per byte; the high bits must be a sign extension
        values = draw(st.lists(st.integers(-8, 7), min_size=n, max_size=n))
        data = np.array(values, dtype=ml_dtypes.int4).tobytes()
    else:
        data = draw(st.binary(min_size=n * itemsize, max_size=n * itemsize))
    return ArrayLeaf(dtype, shape, data)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers() | st.integers(2**53, 2**90),
    st.floats(),
    st.builds(complex, st.floats(), st.floats()),
    st.text(max_size=8),
)
leaves = st.one_of(
    array_leaves(),
    st.builds(ScalarLeaf, scalars),
    st.builds(OpaqueLeaf, st.text(min_size=1, max_size=10), st.text(max_size=10)),
)
nodes = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(SeqNode, st.sampled_from(["list", "tuple", "namedtuple:Out"]),
                  st.lists(children, max_size=3).map(tuple)),
        st.lists(st.tuples(st.text(max_size=6), children), max_size=3,
                 unique_by=lambda kv: kv[0]).map(lambda kv: MapNode(tuple(kv))),
    ),
    max_leaves=8,
)


@given(nodes, st.dictionaries(st.integers(0, 5), nodes, max_size=2))
def test_any_returned_observation_round_trips(node, mutated) -> None:
    obs = Observation("m", Outcome.RETURNED, node, mutated=tuple(mutated.items()))
    assert json_round_trip(obs) == obs
    assert pickle.loads(pickle.dumps(obs)) == obs
    assert node_from_json(json.loads(json.dumps(node_to_json(node)))) == node
