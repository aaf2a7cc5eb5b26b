"""Property-based tests of the call-record model (miner/records.py): every
value survives JSON text unchanged, ids are stable and tell calls apart, and
invalid records cannot be built."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from miner.records import (
    MAX_PROVENANCE,
    SECTIONS,
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
    Fill,
    IntRange,
    Layout,
    LayoutKind,
    Linspace,
    Literal,
    Normal,
    Provenance,
    Seq,
    Slot,
    TensorSpec,
    Uniform,
    Unknown,
    child_values,
    get_value,
    is_resolved,
    iter_slots,
    iter_values,
    map_record_values,
    map_values,
    put_value,
    value_from_json,
    value_to_json,
    with_child_values,
)

# -- strategies ---------------------------------------------------------------

names = st.text(min_size=1, max_size=12)
big_ints = st.integers(min_value=2**53 - 2, max_value=2**80) | st.integers(
    min_value=-(2**80), max_value=-(2**53) + 2
)
ints = st.integers() | big_ints
# st.floats() draws NaN, both infinities and -0.0 on its own; name them too.
special_floats = st.sampled_from([math.nan, -math.nan, math.inf, -math.inf, -0.0, 0.0])
floats = st.floats() | special_floats
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
complexes = st.builds(complex, floats, floats)
scalars = st.none() | st.booleans() | ints | floats | complexes | st.text()

literals = st.builds(Literal, scalars)
dtypes = st.builds(
    DType,
    st.sampled_from(["torch", "tensorflow", "numpy"]),
    st.sampled_from(["float32", "int64", "bool", "complex64", "bfloat16"]) | names,
)
unknowns = st.builds(Unknown, st.text())
api_refs = st.builds(ApiRef, names)

# Distribution parameters are finite: a NaN mean is not a distribution.  They
# are drawn as ints too, as the miner writes them for ``torch.normal(0, 1)``.
params = finite_floats | st.integers(-(2**31), 2**31)
inits = st.one_of(
    st.builds(Normal, params, params),
    st.builds(Uniform, params, params),
    st.builds(IntRange, ints, ints),
    st.builds(Fill, scalars),
    st.builds(Data, st.lists(scalars, max_size=6).map(tuple)),
    st.builds(Arange, params, params),
    st.builds(Linspace, params, params),
    st.just(Eye()),
    st.just(Empty()),
)


@st.composite
def layouts(draw: st.DrawFn, rank: int) -> Layout:
    kinds = [LayoutKind.CONTIGUOUS, LayoutKind.PERMUTED, LayoutKind.STRIDED]
    kinds += [LayoutKind.EXPANDED] if rank else []
    kinds += [LayoutKind.CHANNELS_LAST] if rank in (4, 5) else []
    kind = draw(st.sampled_from(kinds))
    if kind is LayoutKind.PERMUTED:
        return Layout(kind, tuple(draw(st.permutations(range(rank)))))
    if kind is LayoutKind.STRIDED:
        steps = st.lists(st.integers(1, 64), min_size=rank, max_size=rank)
        return Layout(kind, tuple(draw(steps)))
    if kind is LayoutKind.EXPANDED:
        dims = st.lists(st.integers(0, rank - 1), unique=True, max_size=rank)
        return Layout(kind, tuple(draw(dims)))
    return Layout(kind)


@st.composite
def tensors(draw: st.DrawFn) -> TensorSpec:
    dim = st.none() | st.integers(0, 2**40)
    shape = tuple(draw(st.lists(dim, max_size=5)))
    return TensorSpec(
        framework=draw(st.sampled_from(["torch", "tensorflow", "numpy"])),
        shape=shape,
        dtype=draw(st.sampled_from(["float32", "int64", "bool", "complex128"]) | names),
        init=draw(inits),
        layout=draw(layouts(len(shape))),
        requires_grad=draw(st.booleans()),
    )


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    items = st.lists(children, max_size=4).map(tuple)
    kwargs = st.lists(st.tuples(names, children), max_size=3).map(tuple)
    return st.one_of(
        st.builds(Seq, st.sampled_from(["list", "tuple"]), items),
        st.builds(Dict, st.lists(st.tuples(children, children), max_size=3).map(tuple)),
        st.builds(Constructed, names, items, kwargs),
    )


values = st.recursive(
    literals | dtypes | unknowns | api_refs | tensors(), _containers, max_leaves=6
)
provenances = st.builds(Provenance, names, names, st.integers(0, 10**6))


@st.composite
def call_records(draw: st.DrawFn, kind: CallKind | None = None) -> CallRecord:
    kind = draw(st.sampled_from(CallKind)) if kind is None else kind
    args = draw(st.lists(values, min_size=kind is CallKind.METHOD, max_size=3))
    kwargs = draw(st.lists(st.tuples(names, values), max_size=2))
    init_args, init_kwargs = [], []
    if kind is CallKind.MODULE:
        init_args = draw(st.lists(values, max_size=2))
        init_kwargs = draw(st.lists(st.tuples(names, values), max_size=2))
    return CallRecord(
        api=draw(names),
        framework=draw(st.sampled_from(["torch", "tensorflow"])),
        kind=kind,
        args=tuple(args),
        kwargs=tuple(kwargs),
        init_args=tuple(init_args),
        init_kwargs=tuple(init_kwargs),
        occurrences=draw(st.integers(1, 10**9)),
        provenance=tuple(draw(st.lists(provenances, max_size=MAX_PROVENANCE))),
    )


def through_text(obj: object) -> object:
    """JSON text and back; strict JSON (no bare NaN / Infinity)."""
    return json.loads(json.dumps(obj, allow_nan=False))


# -- round trips ------------------------------------------------------------


@given(values)
@example(TensorSpec("torch", (2,), "float32", init=Fill(math.nan)))
@example(TensorSpec("torch", (2,), "float32", init=Fill(complex(math.nan, -0.0))))
@example(TensorSpec("torch", (1,), "int64", init=Data((2**60, True, 1, 1.0, -0.0, math.inf))))
@example(TensorSpec("torch", (), "float32", init=Linspace(0, 10)))
def test_value_json_round_trip(v):
    assert value_from_json(through_text(value_to_json(v))) == v


@given(values)
def test_equal_values_hash_equal(v):
    back = value_from_json(through_text(value_to_json(v)))
    assert hash(back) == hash(v)


@given(call_records())
def test_record_json_round_trip_keeps_value_and_id(rec):
    back = CallRecord.from_json(through_text(rec.to_json()))
    assert back == rec
    assert back.id == rec.id
    assert back.to_json() == rec.to_json()


@pytest.mark.parametrize("kind", list(CallKind), ids=lambda k: k.value)
@given(data=st.data())
def test_every_call_kind_round_trips(kind, data):
    rec = data.draw(call_records(kind))
    assert rec.kind is kind
    assert CallRecord.from_json(through_text(rec.to_json())) == rec


@given(call_records())
def test_id_ignores_occurrences_and_provenance(rec):
    other = dataclasses.replace(rec, occurrences=rec.occurrences + 1, provenance=())
    assert other.id == rec.id


# -- identity ---------------------------------------------------------------


def _record_with(v) -> CallRecord:
    return CallRecord("torch.add", "torch", args=(v,))


@pytest.mark.parametrize(
    "a, b",
    [
        (1, 1.0),
        (1, True),
        (1.0, True),
        (0, False),
        (0.0, -0.0),
        (0, 0.0),
        (None, "None"),
        (1, "1"),
        (math.nan, math.inf),
        (math.inf, -math.inf),
        (2**53 + 1, float(2**53 + 1)),
        (complex(0, 0), complex(0, -0.0)),
        (complex(math.nan, 0), complex(0, math.nan)),
    ],
)
def test_id_tells_apart_literals_python_equates(a, b):
    assert _record_with(Literal(a)).id != _record_with(Literal(b)).id
    assert Literal(a) != Literal(b)


def test_nan_literals_are_one_value():
    assert Literal(math.nan) == Literal(float("nan")) == Literal(-math.nan)
    assert _record_with(Literal(math.nan)).id == _record_with(Literal(-math.nan)).id


@given(scalars, scalars)
def test_literal_id_equal_iff_literals_equal(a, b):
    assert (_record_with(Literal(a)).id == _record_with(Literal(b)).id) == (
        Literal(a) == Literal(b)
    )


@given(scalars, scalars)
def test_fill_id_equal_iff_fills_equal(a, b):
    def spec(x):
        return TensorSpec("torch", (2,), "float32", init=Fill(x))

    assert (_record_with(spec(a)).id == _record_with(spec(b)).id) == (spec(a) == spec(b))


@given(call_records(), values)
def test_id_changes_when_an_argument_changes(rec, v):
    changed = dataclasses.replace(rec, args=rec.args + (v,))
    assert changed.id != rec.id


def test_keyword_order_is_part_of_the_call():
    one, two = Literal(1), Literal(2)
    a = CallRecord("torch.sum", "torch", kwargs=(("dim", one), ("keepdim", two)))
    b = CallRecord("torch.sum", "torch", kwargs=(("keepdim", two), ("dim", one)))
    assert a.id != b.id


# -- merging ----------------------------------------------------------------


@given(call_records(), st.integers(1, 10**6), st.lists(provenances, max_size=12))
def test_merged_adds_occurrences_and_caps_provenance(rec, n, places):
    other = dataclasses.replace(rec, occurrences=n, provenance=tuple(places))
    merged = rec.merged(other)
    assert merged.occurrences == rec.occurrences + n
    assert merged.id == rec.id
    assert len(merged.provenance) <= MAX_PROVENANCE
    new = tuple(p for p in places if p not in rec.provenance)
    assert merged.provenance == (rec.provenance + new)[:MAX_PROVENANCE]


def test_merged_keeps_first_places_up_to_the_cap():
    places = [Provenance("c", "f.py", i) for i in range(2 * MAX_PROVENANCE)]
    a = CallRecord("torch.abs", "torch", provenance=tuple(places[:5]))
    b = CallRecord("torch.abs", "torch", occurrences=3, provenance=tuple(places[3:]))
    merged = a.merged(b)
    assert merged.occurrences == 4
    assert merged.provenance == tuple(places[:MAX_PROVENANCE])


def test_merging_different_calls_is_refused():
    with pytest.raises(ValueError):
        _record_with(Literal(1)).merged(_record_with(Literal(1.0)))


# -- invalid records --------------------------------------------------------

INVALID = {
    "permuted layout of the wrong rank": lambda: TensorSpec(
        "torch", (2, 3), "float32", layout=Layout(LayoutKind.PERMUTED, (0, 1, 2))
    ),
    "strided layout of the wrong rank": lambda: TensorSpec(
        "torch", (2, 3), "float32", layout=Layout(LayoutKind.STRIDED, (2,))
    ),
    "expanded dim out of range": lambda: TensorSpec(
        "torch", (2, 3), "float32", layout=Layout(LayoutKind.EXPANDED, (2,))
    ),
    "channels_last on rank 3": lambda: TensorSpec(
        "torch", (1, 2, 3), "float32", layout=Layout(LayoutKind.CHANNELS_LAST)
    ),
    "not a permutation": lambda: Layout(LayoutKind.PERMUTED, (0, 0)),
    "zero stride": lambda: Layout(LayoutKind.STRIDED, (1, 0)),
    "dims on contiguous": lambda: Layout(LayoutKind.CONTIGUOUS, (0,)),
    "unknown layout kind": lambda: Layout("diagonal"),
    "negative dim": lambda: TensorSpec("torch", (2, -1), "float32"),
    "non-int dim": lambda: TensorSpec("torch", (2.0,), "float32"),
    "bad seq kind": lambda: Seq("set", ()),
    "method without receiver": lambda: CallRecord("torch.Tensor.sum", "torch", CallKind.METHOD),
    "init args on a function": lambda: CallRecord(
        "torch.abs", "torch", init_args=(Literal(1),)
    ),
    "init kwargs on a method": lambda: CallRecord(
        "torch.Tensor.sum",
        "torch",
        CallKind.METHOD,
        args=(Unknown("x"),),
        init_kwargs=(("dim", Literal(0)),),
    ),
    "zero occurrences": lambda: CallRecord("torch.abs", "torch", occurrences=0),
    "unknown call kind": lambda: CallRecord("torch.abs", "torch", kind="lambda"),
}


@pytest.mark.parametrize("build", INVALID.values(), ids=INVALID.keys())
def test_invalid_construction_raises_value_error(build):
    with pytest.raises(ValueError):
        build()


def test_valid_edge_layouts():
    TensorSpec("torch", (), "float32", layout=Layout(LayoutKind.PERMUTED, ()))
    TensorSpec("torch", (None, 3), "float32", layout=Layout(LayoutKind.PERMUTED, (1, 0)))
    TensorSpec("torch", (None, 2, 3, 4, 5), "float32", layout=Layout(LayoutKind.CHANNELS_LAST))
    spec = TensorSpec("torch", (4, None), "f", layout=Layout("expanded", (1,)))
    assert spec.layout.kind is LayoutKind.EXPANDED
    assert spec.numel is None
    assert TensorSpec("torch", (2, 0, 3), "f").numel == 0


# -- malformed JSON ---------------------------------------------------------

_KEYS = ["t", "v", "items", "fw", "name", "shape", "dtype", "init", "layout", "kind",
         "dims", "api", "args", "kwargs", "float", "int", "complex", "mean", "low"]
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4)
    | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=4), kids, max_size=5),
    max_leaves=15,
)
tags = st.sampled_from(
    ["lit", "list", "tuple", "dict", "dtype", "unknown", "call", "tensor", "bogus"]
)
tagged = st.builds(
    lambda t, d: {**d, "t": t}, tags, st.dictionaries(st.sampled_from(_KEYS), json_data)
)


_INF_TENSOR = {"t": "tensor", "fw": "torch", "shape": [1e999], "dtype": "f", "init": {"t": "eye"}}


@given(json_data | tagged)
@example(_INF_TENSOR)
@example({"t": "tensor", "fw": "torch", "shape": [], "dtype": "f",
          "init": {"t": "intrange", "low": -1e999, "high": 1}})
def test_malformed_value_json_raises_only_value_error(obj):
    try:
        value_from_json(obj)
    except ValueError:
        pass


@given(json_data | tagged.map(lambda v: {"api": "a", "framework": "torch", "args": [v]}))
@example({"api": "a", "framework": "torch", "occurrences": 1e999})
@example({"api": "a", "framework": "torch", "provenance": [["c", "f", 1e999]]})
def test_malformed_record_json_raises_only_value_error(obj):
    try:
        CallRecord.from_json(obj)
    except ValueError:
        pass


# -- queries ----------------------------------------------------------------


def test_iter_values_and_is_resolved():
    x = TensorSpec("torch", (None, 3), "float32")
    dev = Constructed("torch.device", (Unknown(),))
    v = Seq("list", (Literal(1), Dict(((Literal("k"), x),)), dev))
    found = list(iter_values(v))
    assert x in found and Unknown() in found and Literal("k") in found
    assert not is_resolved(v)
    assert is_resolved(Seq("tuple", (Literal(1), TensorSpec("torch", (3,), "int64"))))


# -- rewriting value trees -------------------------------------------------


def _record_values(rec: CallRecord) -> list:
    return [x for v in rec.values() for x in iter_values(v)]


@given(values)
def test_map_values_visits_in_iter_values_order_and_identity_keeps_the_object(v):
    seen: list = []
    out = map_values(v, lambda x: seen.append(x) or x)
    assert out is v
    # Bottom-up: the same nodes as iter_values; leaves in the same order.
    assert sorted(map(repr, seen)) == sorted(map(repr, iter_values(v)))
    leaves = [x for x in iter_values(v) if not child_values(x)]
    assert [x for x in seen if not child_values(x)] == leaves
    assert map_values(v, lambda x: x, TensorSpec) is v


@given(values)
def test_map_values_rewrites_only_the_given_types(v):
    def bump(s: TensorSpec) -> TensorSpec:
        return dataclasses.replace(s, requires_grad=not s.requires_grad)

    out = map_values(v, bump, TensorSpec)
    before, after = list(iter_values(v)), list(iter_values(out))
    assert len(before) == len(after)
    for a, b in zip(before, after):
        if isinstance(a, TensorSpec):
            assert b == bump(a)
        elif not child_values(a):
            assert b == a


def test_map_values_rebuilds_every_container_kind():
    x = TensorSpec("torch", (2,), "float32")
    v = Seq("tuple", (Dict(((x, Literal(1)), (Literal("k"), x))),
                      Constructed("torch.abs", (x,), (("out", x),))))
    out = map_values(v, lambda s: dataclasses.replace(s, dtype="int64"), TensorSpec)
    assert [s.dtype for s in iter_values(out) if isinstance(s, TensorSpec)] == ["int64"] * 4
    assert isinstance(out, Seq) and out.kind == "tuple"
    assert out.items[1].api == "torch.abs" and out.items[1].kwargs[0][0] == "out"
    # Works on trees of foreign leaves too (the runner's drawn tensors).
    assert map_values(Seq("list", (1, 2)), lambda n: n * 10, int) == Seq("list", (10, 20))
    with pytest.raises(ValueError, match="children"):
        with_child_values(v, ())


@given(call_records())
def test_map_record_values_covers_every_section_in_value_order(rec):
    seen: list = []
    out = map_record_values(rec, lambda x: seen.append(x) or x)
    assert out == rec and out.id == rec.id and out.occurrences == rec.occurrences
    leaves = [x for x in _record_values(rec) if not child_values(x)]
    assert [x for x in seen if not child_values(x)] == leaves
    seen.clear()
    map_record_values(rec, lambda x: seen.append(x) or x, include_init=False)
    call_only = CallRecord(rec.api, rec.framework, args=rec.args, kwargs=rec.kwargs)
    assert [x for x in seen if not child_values(x)] == \
        [x for x in _record_values(call_only) if not child_values(x)]


@given(call_records())
def test_slots_address_every_value_and_put_back_is_the_identity(rec):
    slots = list(iter_slots(rec))
    assert [v for _, v in slots] == _record_values(rec)
    assert [s.section for s, _ in slots] == sorted(
        (s.section for s, _ in slots), key=SECTIONS.index)
    for slot, v in slots:
        assert get_value(rec, slot) == v
        assert put_value(rec, slot, v) == rec


@given(call_records(), st.data())
def test_put_value_replaces_exactly_one_value(rec, data):
    slots = list(iter_slots(rec))
    if not slots:
        return
    target, _ = data.draw(st.sampled_from(slots))
    new = Literal("replaced")
    out = put_value(rec, target, new)
    assert get_value(out, target) == new
    for slot, v in iter_slots(rec):
        same_top = (slot.section, slot.index) == (target.section, target.index)
        n = min(len(slot.path), len(target.path))
        if not same_top or slot.path[:n] != target.path[:n]:  # neither holds the other
            assert get_value(out, slot) == v


def test_slots_skip_dict_keys_on_request_and_tell_duplicate_keywords_apart():
    x = TensorSpec("torch", (2,), "float32")
    rec = CallRecord("f", "torch", args=(Dict(((Literal("k"), x),)),),
                     kwargs=(("a", Literal(1)), ("a", Literal(2))))
    full = {s: v for s, v in iter_slots(rec)}
    values_only = {s: v for s, v in iter_slots(rec, dict_keys=False)}
    assert Slot("args", 0, (0,)) in full and Slot("args", 0, (0,)) not in values_only
    assert values_only[Slot("args", 0, (1,))] == x == full[Slot("args", 0, (1,))]
    out = put_value(rec, Slot("kwargs", 1), Literal(3))
    assert out.kwargs == (("a", Literal(1)), ("a", Literal(3)))
    with pytest.raises(IndexError):
        get_value(rec, Slot("kwargs", 2))
    with pytest.raises(ValueError):
        Slot("outputs", 0)
    with pytest.raises(ValueError):
        Slot("args", -1)


def test_records_module_imports_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    import miner.records as records

    tree = ast.parse(Path(records.__file__).read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
            for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and n.module}
    assert mods <= set(sys.stdlib_module_names) | {"__future__"}
