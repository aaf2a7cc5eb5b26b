"""Schema parsing, solver bookkeeping and the resolution table, without a
framework: the parts that are plain data."""

from __future__ import annotations

import pytest

from miner.records import (
    SYNTHESIZED,
    CallKind,
    CallRecord,
    Literal,
    Provenance,
    Seq,
    TensorSpec,
    Unknown,
)
from miner.schema import (
    ApiSchema,
    ArgKind,
    ArgSchema,
    Overload,
    annotation_kind,
    aten_kind,
    parse_aten_schema,
)
from miner.store import CorpusStore, FileEntry, Resolution
from runner.solve import _needs, _plans, param_of, skeleton


@pytest.mark.parametrize("text, expected", [
    ("Tensor", (ArgKind.TENSOR, False, 0, False)),
    ("Tensor?", (ArgKind.TENSOR, True, 0, False)),
    ("Tensor(a!)", (ArgKind.TENSOR, False, 0, True)),
    ("Tensor[]", (ArgKind.TENSOR_LIST, False, 0, False)),
    ("int[1]?", (ArgKind.INT_LIST, True, 1, False)),
    ("SymInt[2]", (ArgKind.INT_LIST, False, 2, False)),
    ("ScalarType?", (ArgKind.DTYPE, True, 0, False)),
    ("Scalar", (ArgKind.SCALAR, False, 0, False)),
    ("Generator?", (ArgKind.OTHER, True, 0, False)),
])
def test_aten_types_map_to_kinds(text, expected):
    assert aten_kind(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Tensor", (ArgKind.TENSOR, False, 0)),
    ("Optional[torch.Tensor]", (ArgKind.TENSOR, True, 0)),
    ("BroadcastingList2[int]", (ArgKind.INT_LIST, False, 2)),
    ("List[int]", (ArgKind.INT_LIST, False, 0)),
    ("Optional[int]", (ArgKind.INT, True, 0)),
    ("bool", (ArgKind.BOOL, False, 0)),
    ("Optional[DType]", (ArgKind.DTYPE, True, 0)),
    ("Callable[..., Module]", (ArgKind.OTHER, False, 0)),
])
def test_python_annotations_map_to_kinds(text, expected):
    assert annotation_kind(text) == expected


def test_an_aten_schema_parses_into_an_overload():
    o = parse_aten_schema("aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, "
                          "*, ScalarType? dtype=None) -> Tensor", drop_self=False)
    assert o.name == "aten::sum.dim_IntList" and o.source == "aten"
    assert [(a.name, a.kind, a.has_default, a.keyword_only) for a in o.args] == [
        ("self", ArgKind.TENSOR, False, False), ("dim", ArgKind.INT_LIST, False, False),
        ("keepdim", ArgKind.BOOL, True, False), ("dtype", ArgKind.DTYPE, True, True)]
    assert o.arg("keepdim").default == Literal(False)
    assert o.arg("dtype").default == Literal(None)
    # A method's overload leaves the receiver out.
    m = parse_aten_schema("aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) "
                          "-> Tensor", drop_self=True)
    assert [a.name for a in m.args] == ["other", "alpha"] and m.positional(0).name == "other"


@pytest.mark.parametrize("text", [
    "aten::sum.IntList_out(Tensor self, int[1]? dim, bool keepdim=False, *, "
    "ScalarType? dtype=None, Tensor(a!) out) -> Tensor(a!)",
    "aten::sum.dim_DimnameList(Tensor self, Dimname[1] dim, bool keepdim=False, *, "
    "ScalarType? dtype=None) -> Tensor",
    "aten::sum.int(int[] self) -> int",
])
def test_overloads_no_python_call_reaches_are_left_out(text):
    assert parse_aten_schema(text, drop_self=False) is None


def test_a_schema_round_trips_through_json():
    s = ApiSchema("torch.nn.Linear", "torch", CallKind.MODULE,
                  (Overload("python", (ArgSchema("input", ArgKind.TENSOR),), "python"),),
                  Overload("python", (ArgSchema("in_features", ArgKind.INT),
                                      ArgSchema("bias", ArgKind.BOOL, has_default=True,
                                                default=Literal(True))), "python"))
    assert ApiSchema.from_json(s.to_json()) == s


SUM = ApiSchema("torch.sum", "torch", CallKind.FUNCTION, (Overload("aten::sum.dim_IntList", (
    ArgSchema("self", ArgKind.TENSOR), ArgSchema("dim", ArgKind.INT_LIST, length=1),
    ArgSchema("keepdim", ArgKind.BOOL, has_default=True, default=Literal(False))), "aten"),))


def test_unknowns_are_matched_to_their_parameters():
    rec = CallRecord("torch.sum", "torch", CallKind.FUNCTION,
                     (Unknown("x"), Seq("list", (Unknown("d"),))), (("keepdim", Unknown("k")),))
    needs = _needs(rec, {("torch.sum", "function"): SUM})
    assert [(n.param, n.arg.kind) for n in needs] == [
        ("self", ArgKind.TENSOR), ("dim[]", ArgKind.INT), ("keepdim", ArgKind.BOOL)]
    assert param_of(None, "args", 2, "", False) == ("#2", None)


def test_the_search_tries_the_first_candidates_first_and_never_twice():
    rec = CallRecord("torch.sum", "torch", CallKind.FUNCTION, (Unknown("x"), Unknown("d")))
    needs = _needs(rec, {("torch.sum", "function"): SUM})
    cands = [[(TensorSpec("torch", (2, i), "float32"), "s") for i in range(1, 4)],
             [(Literal(i), "s") for i in range(3)]]
    plans = [tuple(p) for p in _plans(needs, cands)]
    assert plans[0] == (0, 0)
    assert len(plans) == len(set(plans)) == 9


def test_a_skeleton_has_one_unknown_per_required_parameter():
    (rec,) = skeleton(SUM)
    assert rec.args == (Unknown("self"), Unknown("dim")) and rec.kwargs == ()


def test_origins_travel_with_a_record_but_are_not_its_identity(tmp_path):
    rec = CallRecord("torch.abs", "torch", CallKind.FUNCTION,
                     (TensorSpec("torch", (2, 4), "float32"),),
                     provenance=(Provenance(SYNTHESIZED, "torch.abs", 0),),
                     origins=(("args[0]", "shape-solved"),))
    back = CallRecord.from_json(rec.to_json())
    assert back.origins == rec.origins and back.synthesized
    assert back.id == CallRecord("torch.abs", "torch", CallKind.FUNCTION, rec.args).id


def test_resolved_records_replace_their_originals_when_asked(tmp_path):
    raw = CallRecord("torch.abs", "torch", CallKind.FUNCTION, (Unknown("x"),),
                     provenance=(Provenance("c", "a.py", 3),))
    solved = CallRecord("torch.abs", "torch", CallKind.FUNCTION,
                        (TensorSpec("torch", (2, 4), "float32"),),
                        origins=(("args[0]", "shape-solved"),))
    with CorpusStore(tmp_path / "c.sqlite") as store:
        store.put_files([FileEntry("c/a.py", "c", "a.py", "h", "mined", records=[raw, raw])])
        store.put_resolutions([Resolution(raw.id, raw.api, "torch", "1:{}", solved, 3, 0.01)])
        (plain,) = store.records()
        (resolved,) = store.records(resolved=True)
        assert store.resolutions()[raw.id].solved == solved
    assert plain == raw.merged(raw)
    assert resolved.args == solved.args and resolved.origins == solved.origins
    assert resolved.occurrences == 2 and resolved.provenance == raw.provenance
