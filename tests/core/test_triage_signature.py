"""Signatures and clusters (triage.signature, triage.cluster): message
normalization on real-looking torch and TF errors, the numeric-pattern
vocabulary, robustness on odd observations, grouping, representatives and
severity order."""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from miner.records import CallRecord, Literal, TensorSpec
from runner.observation import (
    ArrayLeaf,
    MapNode,
    Observation,
    OpaqueLeaf,
    Outcome,
    ScalarLeaf,
    SeqNode,
)
from triage.cluster import SEVERITY, cluster, dedup_ratio, record_elements
from triage.signature import (
    Finding,
    Signature,
    crash_reason,
    leaf_at,
    normalize_message,
    signature,
    value_pattern,
)

REF, TGT = "torch.eager", "torch.compile"


def arr(values, dtype: str = "float32") -> ArrayLeaf:
    return ArrayLeaf.from_numpy(np.array(values, dtype=dtype))


def ret(node, mode: str = REF) -> Observation:
    return Observation(mode, Outcome.RETURNED, node)


def raised(etype: str, msg: str, mode: str = TGT) -> Observation:
    return Observation(mode, Outcome.RAISED, error_type=etype, error_message=msg)


def record(api: str = "torch.cumsum", shape: tuple[int, ...] = (4,), **kw) -> CallRecord:
    return CallRecord(api, "torch", args=(TensorSpec("torch", shape, "float32"),),
                      kwargs=tuple((k, Literal(v)) for k, v in kw.items()))


def finding(kind: str, ref: Observation, tgt: Observation, path: str = "", *,
            case_id: str = "c1", api: str = "torch.cumsum", rec: CallRecord | None = None,
            detail: str = "", target: str = TGT) -> Finding:
    return Finding(case_id, api, "torch", rec or record(api), 0, REF, target, kind,
                   detail, path, ref, tgt)


# ---------------------------------------------------------------------------
# normalize_message
# ---------------------------------------------------------------------------

DYNAMO = (
    "backend='inductor' raised:\nLoweringException: AssertionError: \n"
    "  target: aten.cumsum.default\n  args[0]: TensorBox(StorageBox(\n"
    "    ComputedBuffer(name='buf0', layout=FixedLayout('cpu', torch.float32, size=[4]))\n\n"
    "Set TORCH_LOGS=\"+dynamo\" and TORCHDYNAMO_VERBOSE=1 for more information\n\n\n"
    "You can suppress this exception and fall back to eager by setting:\n"
    "    import torch._dynamo\n    torch._dynamo.config.suppress_errors = True\n"
)
TF_GRAPH = (
    "Graph execution error:\n\nDetected at node Mul_3 defined at (most recent call last):\n"
    '  File "<frozen runpy>", line 198, in _run_module_as_main\n\n'
    '  File "/usr/lib/python3.11/site-packages/tensorflow/python/ops/math_ops.py", '
    "line 1234, in multiply\n\n"
    "Incompatible shapes: [2] vs. [3]\n\t [[{{node Mul_3}}]] [Op:__inference_f_123]"
)

NORMALIZE = [
    (("The size of tensor a (4) must match the size of tensor b (3) at non-singleton "
      "dimension 1"),
     ("The size of tensor a <shape> must match the size of tensor b <shape> at "
      "non-singleton dimension <n>")),
    ("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)",
     "mat1 and mat2 shapes cannot be multiplied (<shape> and <shape>)"),
    ("shape '[2, 3]' is invalid for input of size 7",
     "shape '<shape>' is invalid for input of size <n>"),
    ("Dimension out of range (expected to be in range of [-2, 1], but got 2)",
     "Dimension out of range (expected to be in range of <shape>, but got <n>)"),
    ("expected scalar type Float but found Double", "expected scalar type Float but found Double"),
    ("Expected torch.Size([2, 3]) but got torch.Size([])",
     "Expected <shape> but got <shape>"),
    (("{{function_node __wrapped__Mul_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
      "Incompatible shapes: [2,3] vs. [3,2] [Op:Mul] name: "),
     ("{{function_node __wrapped__Mul_device_<device>}} Incompatible shapes: <shape> vs. "
      "<shape> [Op:Mul] name:")),
    (TF_GRAPH,
     ("Graph execution error: Detected at node Mul_<n> Incompatible shapes: <shape> vs. "
      "<shape> [[{{node Mul_<n>}}]] [Op:__inference_f_<n>]")),
    (("cannot compute Mul as input #1(zero-based) was expected to be a float tensor but is "
      "a int32 tensor [Op:Mul]"),
     ("cannot compute Mul as input #<n>(zero-based) was expected to be a float tensor but "
      "is a int32 tensor [Op:Mul]")),
    ("<built-in method foo of PyCapsule object at 0x7f3a2b1c4d50> returned NULL",
     "<built-in method foo of PyCapsule object at <addr>> returned NULL"),
    ("value cannot be converted to type float without overflow: 1e+39",
     "value cannot be converted to type float without overflow: <n>"),
    ("Tried to use 'float32' with 'arg0_1' and 'add_3' in /tmp/torchinductor_root/ab/c.py:42",
     "Tried to use 'float32' with 'arg0_<n>' and 'add_<n>' in <path>"),
    ('  File "/x/y.py", line 12, in f\nRuntimeError happened at line 7',
     "RuntimeError happened at line <n>"),
]


@pytest.mark.parametrize("raw, expected", NORMALIZE, ids=[f"msg{i}" for i in range(len(NORMALIZE))])
def test_normalize_message(raw: str, expected: str) -> None:
    assert normalize_message(raw) == expected


def test_normalize_dynamo_drops_boilerplate_and_names() -> None:
    out = normalize_message(DYNAMO)
    assert "TORCH_LOGS" not in out and "suppress" not in out
    assert "'buf<n>'" in out and "torch.float32" in out
    assert normalize_message(DYNAMO.replace("buf0", "buf17").replace("[4]", "[9]")) == out


def test_normalize_collapses_and_truncates() -> None:
    assert normalize_message("") == ""
    assert normalize_message("a   b\n\t c") == "a b c"
    long = normalize_message("word " * 200)
    assert len(long) <= 200 and long.endswith("...")


def test_crash_reason() -> None:
    assert crash_reason("killed by signal 11") == "SIGSEGV"
    assert crash_reason("killed by signal 6") == "SIGABRT"
    assert crash_reason("signal SIGFPE (exit -8)") == "SIGFPE"
    assert crash_reason("exit status 134") == "exit status 134"
    assert crash_reason("worker vanished after 3 s") == "worker vanished after <n> s"


# ---------------------------------------------------------------------------
# value patterns
# ---------------------------------------------------------------------------

PATTERNS = [
    ([1.0, np.nan], [1.0, 2.0], "float32", ("nan-mismatch",)),
    ([1.0, np.inf], [1.0, 3.0], "float32", ("inf-mismatch",)),
    ([1.0, np.inf], [1.0, -np.inf], "float32", ("inf-mismatch",)),
    ([1.0, 2.0], [1.0, -2.0], "float32", ("large", "sign")),
    ([1.0, 2.0], [1.0, 2.001], "float32", ("precision-drift",)),
    ([1.0, 2.0], [1.0, 2.0000002], "float64", ("precision-drift",)),  # tighter API tolerance
    ([1.0], [1.5], "float64", ("large",)),
    ([0.5, 0.25], [0.5, 0.25], "bfloat16", ()),
    ([1, 2, 3], [1, 3, 3], "int64", ("int-mismatch", "off-by-one")),
    ([1, 2], [1, 7], "int32", ("int-mismatch",)),
    ([1, -2], [1, 2], "int8", ("int-mismatch", "sign")),
    ([2**64 - 1], [2**64 - 2], "uint64", ("int-mismatch", "off-by-one")),
    ([True, False], [True, True], "bool", ("bool-mismatch",)),
    ([1 + 1j], [1 - 1j], "complex64", ("large", "sign")),
    ([1 + 1j], [complex(np.nan, 1)], "complex128", ("nan-mismatch",)),
]


@pytest.mark.parametrize("ref, tgt, dtype, tags", PATTERNS,
                         ids=[f"{p[2]}-{'-'.join(p[3]) or 'none'}" for p in PATTERNS])
def test_value_pattern(ref, tgt, dtype, tags) -> None:
    assert value_pattern(arr(ref, dtype), arr(tgt, dtype)) == tags


def test_value_pattern_scalars_and_odd_leaves() -> None:
    assert value_pattern(ScalarLeaf(1.5), ScalarLeaf(2.5)) == ("large",)
    assert value_pattern(ScalarLeaf(3), ScalarLeaf(4)) == ("int-mismatch", "off-by-one")
    assert value_pattern(ScalarLeaf("a"), ScalarLeaf("b")) == ("other-mismatch",)
    assert value_pattern(None, arr([1.0])) == ("incomparable",)
    assert value_pattern(OpaqueLeaf("torch.Generator"), OpaqueLeaf("x")) == ("incomparable",)
    assert value_pattern(arr([1.0, 2.0]), arr([[1.0, 2.0]])) == ("incomparable",)
    assert value_pattern(SeqNode("list", ()), arr([1.0])) == ("incomparable",)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=4),
               elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
    st.data(),
)
def test_signature_never_raises_on_floats(ref: np.ndarray, data: st.DataObject) -> None:
    tgt = data.draw(hnp.arrays(np.float32, ref.shape,
                               elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
    f = finding("value", ret(ArrayLeaf.from_numpy(ref)), ret(ArrayLeaf.from_numpy(tgt), TGT))
    sig = signature(f)
    assert re.fullmatch(r"[0-9a-f]{12}", sig.key)
    allowed = {"nan-mismatch", "inf-mismatch", "sign", "precision-drift", "large"}
    assert set(sig.pattern) <= allowed and list(sig.pattern) == sorted(sig.pattern)


# ---------------------------------------------------------------------------
# signature parts
# ---------------------------------------------------------------------------


def test_value_signature_at_a_path_in_a_tuple() -> None:
    ref = ret(SeqNode("namedtuple:sort", (arr([0.1, 0.2]), arr([1, 0], "int64"))))
    tgt = ret(SeqNode("tuple", (arr([0.1, np.nan]), arr([1, 0], "int64"))), TGT)
    sig = signature(finding("value", ref, tgt, "[0]"))
    assert sig.pattern == ("nan-mismatch",)
    assert sig.location == "output" and sig.family == "float"
    assert sig.boundary == "torch.eager -> torch.compile" and sig.side == ""
    # The whole output's family, when the path points nowhere.
    assert signature(finding("value", ref, tgt, "[7]")).family == "mixed"


def test_leaf_at_paths() -> None:
    inner = MapNode((("values", arr([1.0])), ("odd key", arr([2.0]))))
    obs = Observation(REF, Outcome.RETURNED, SeqNode("list", (inner,)),
                      mutated=((1, arr([3.0])),))
    assert leaf_at(obs, "") is obs.output
    assert leaf_at(obs, "[0].values") == arr([1.0])
    assert leaf_at(obs, "[0]['odd key']") == arr([2.0])
    assert leaf_at(obs, "mutated[1]") == arr([3.0])
    for bad in ("[1]", "[0].nope", "mutated[0]", "[x", "[0][0]", "mutated[", ".values["):
        assert leaf_at(obs, bad) is None, bad
    assert leaf_at(Observation(REF, Outcome.RAISED), "[0]") is None


def test_mutated_input_location_and_one_sided() -> None:
    ref = Observation(REF, Outcome.RETURNED, ScalarLeaf(None), mutated=((0, arr([1, 2], "int64")),))
    tgt = Observation(TGT, Outcome.RETURNED, ScalarLeaf(None), mutated=((0, arr([1, 3], "int64")),))
    sig = signature(finding("value", ref, tgt, "mutated[0]"))
    assert sig.location == "mutated" and sig.family == "int"
    assert sig.pattern == ("int-mismatch", "off-by-one")
    alone = Observation(TGT, Outcome.RETURNED, ScalarLeaf(None))
    assert signature(finding("value", ref, alone, "mutated[0]")).pattern == ("one-sided-mutation",)


def test_status_signature_ignores_shapes_and_numbers() -> None:
    ok = ret(arr([1.0]))
    msg = "shape '[{}, {}]' is invalid for input of size {}"
    a = finding("status", ok, raised("RuntimeError", msg.format(2, 3, 7)))
    b = finding("status", ok, raised("RuntimeError", msg.format(4, 5, 9)), case_id="c2")
    c = finding("status", ok, raised("ValueError", msg.format(4, 5, 9)))
    sa = signature(a)
    assert sa.side == "target" and sa.error_type == "RuntimeError"
    assert sa.message == "shape '<shape>' is invalid for input of size <n>"
    assert sa.key == signature(b).key != signature(c).key


def test_status_accepts_invalid_names_the_reference() -> None:
    f = finding("status", raised("IndexError", "index 5 is out of bounds", REF),
                ret(arr([0.0]), TGT))
    sig = signature(f)
    assert (sig.side, sig.error_type) == ("reference", "IndexError")
    assert sig.summary().startswith("reference IndexError: index <n> is out of bounds")


def test_crash_and_timeout_signatures() -> None:
    ok = ret(arr([1.0]))
    crash = signature(finding("crash", ok, Observation(TGT, Outcome.CRASHED,
                                                       detail="killed by signal 11")))
    assert (crash.side, crash.error_type, crash.message) == ("target", "crash", "SIGSEGV")
    hang = signature(finding("timeout", ok, Observation(TGT, Outcome.TIMEOUT,
                                                        detail="no result after 120 s")))
    assert (hang.error_type, hang.message, hang.family) == ("timeout", "", "float")
    assert hang.location == "" and hang.pattern == ()


def test_dtype_signature_names_both_dtypes() -> None:
    sig = signature(finding("dtype", ret(arr([1.0], "float16")), ret(arr([1.0], "float32"), TGT),
                            detail="dtype float16 vs float32"))
    assert sig.dtypes == ("float16", "float32") and sig.family == "float"
    sig = signature(finding("dtype", ret(ScalarLeaf(1.0)), ret(arr(1.0), TGT)))
    assert sig.dtypes == ("python_float", "float32")
    # The leaves are gone (a malformed path): the detail still names them.
    sig = signature(finding("dtype", ret(arr([1.0])), ret(arr([1], "int64"), TGT), "[3]",
                            detail="[3]: dtype float32 vs int64"))
    assert sig.dtypes == ("float32", "int64")


@pytest.mark.parametrize("ref, tgt, tag", [
    (arr([1.0, 2.0]), arr([[1.0, 2.0]]), "rank-change"),
    (arr([1.0, 2.0]), arr([1.0, 2.0, 3.0]), "size-change"),
    (SeqNode("tuple", (arr([1.0]),)), SeqNode("tuple", ()), "length"),
    (MapNode((("a", arr([1.0])),)), MapNode((("b", arr([1.0])),)), "keys"),
    (SeqNode("list", (arr([1.0]),)), arr([1.0]), "structure"),
])
def test_shape_patterns(ref, tgt, tag) -> None:
    assert signature(finding("shape", ret(ref), ret(tgt, TGT))).pattern == (tag,)


def test_odd_observations_do_not_raise() -> None:
    opaque = ret(OpaqueLeaf("torch.Generator", "<gen>"))
    cases = [
        finding("value", opaque, ret(OpaqueLeaf("int"), TGT)),
        finding("value", ret(arr([1.0])), ret(arr([1.0, 2.0]), TGT)),
        finding("value", ret(arr([1.0])), raised("RuntimeError", "odd")),  # inconsistent
        finding("value", ret(arr([1.0])), ret(arr([2.0]), TGT), path="[0"),
        finding("shape", Observation(REF, Outcome.UNSUPPORTED), Observation(TGT, Outcome.SKIPPED)),
        finding("crash", ret(arr([1.0])), ret(arr([1.0]), TGT), detail="killed by signal 9"),
        finding("dtype", ret(SeqNode("list", ())), ret(MapNode(()), TGT)),
        finding("timeout", ret(ScalarLeaf(None)), ret(ScalarLeaf(None), TGT)),
    ]
    for f in cases:
        sig = signature(f)
        json.dumps(sig.parts())
        assert re.fullmatch(r"[0-9a-f]{12}", sig.key)
    assert signature(cases[0]).pattern == ("incomparable",)
    assert signature(cases[5]).message == "SIGKILL"


def test_finding_takes_breaking_kinds_only() -> None:
    from runner.contract import VerdictKind

    ok = ret(arr([1.0]))
    assert finding(VerdictKind.VALUE, ok, ok).kind == "value"
    with pytest.raises(ValueError, match="breaking verdict kind"):
        finding("agree", ok, ok)


def test_key_is_pinned() -> None:
    # The key is a stored identifier (clusters.json, known-issues files): a
    # change to the canonical form must be deliberate.
    sig = Signature(api="torch.cumsum", boundary="torch.eager -> torch.compile", kind="value",
                    location="output", pattern=("large", "sign"), family="float")
    assert sig.parts() == {
        "api": "torch.cumsum", "boundary": "torch.eager -> torch.compile", "kind": "value",
        "side": "", "error_type": "", "message": "", "location": "output",
        "pattern": ["large", "sign"], "family": "float", "dtypes": [],
    }
    canonical = json.dumps(sig.parts(), sort_keys=True, separators=(",", ":"))
    assert sig.key == hashlib.sha256(canonical.encode()).hexdigest()[:12] == "b8389deb1432"
    assert Signature(**{**sig.parts(), "pattern": ("large",), "dtypes": ()}).key != sig.key


# ---------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------


def _value_finding(case_id: str, n: int, api: str = "torch.cumsum", **kw) -> Finding:
    ref = np.arange(n, dtype=np.float32)
    tgt = ref.copy()
    tgt[-1] = -tgt[-1] - 1
    return finding("value", ret(ArrayLeaf.from_numpy(ref)), ret(ArrayLeaf.from_numpy(tgt), TGT),
                   case_id=case_id, api=api, rec=record(api, (n,), **kw))


def _mixed_findings() -> list[Finding]:
    ok = ret(arr([1.0]))
    fs = [_value_finding(f"v{i}", n) for i, n in enumerate((9, 4, 6, 4))]
    fs.append(_value_finding("v-dim", 4, dim=0))  # same size, longer description
    fs.append(finding("crash", ok, Observation(TGT, Outcome.CRASHED, detail="killed by signal 11"),
                      case_id="k1", api="torch.sort"))
    for i in range(3):
        fs.append(finding("status", ok, raised("RuntimeError", f"bad size {i + 2}"),
                          case_id=f"s{i}", api="torch.bmm"))
    fs.append(finding("dtype", ret(arr([1.0], "float16")), ret(arr([1.0], "float32"), TGT),
                      case_id="d1", api="torch.mean"))
    fs.append(finding("timeout", ok, Observation(TGT, Outcome.TIMEOUT), case_id="t1",
                      api="torch.linalg.eig"))
    return fs


def test_cluster_groups_and_orders() -> None:
    fs = _mixed_findings()
    clusters = cluster(fs)
    assert [c.kind for c in clusters] == ["crash", "timeout", "value", "dtype", "status"]
    value = clusters[2]
    assert value.case_ids == ("v-dim", "v0", "v1", "v2", "v3") and value.cases == 5
    # Fewest elements (4) first, then the shorter description, then the id.
    assert value.representative.case_id == "v1"
    assert value.severity == SEVERITY["value"] and value.id == value.signature.key
    assert clusters[-1].cases == 3 and clusters[-1].api == "torch.bmm"
    assert dedup_ratio(fs, clusters) == pytest.approx(len(fs) / 5)
    assert dedup_ratio([], []) == 0.0


def test_cluster_is_order_independent() -> None:
    fs = _mixed_findings()
    first = cluster(fs)
    shuffled = fs[:]
    random.Random(3).shuffle(shuffled)
    again = cluster(shuffled)
    assert [(c.id, c.case_ids, c.representative.case_id) for c in first] == \
        [(c.id, c.case_ids, c.representative.case_id) for c in again]


def test_more_cases_sort_first_within_a_severity() -> None:
    fs = [_value_finding("a1", 4, api="torch.cumsum"),
          _value_finding("b1", 4, api="torch.cumprod"),
          _value_finding("b2", 5, api="torch.cumprod")]
    assert [c.api for c in cluster(fs)] == ["torch.cumprod", "torch.cumsum"]


def test_record_elements() -> None:
    rec = CallRecord("torch.add", "torch", args=(TensorSpec("torch", (2, 3), "float32"),
                                                 TensorSpec("torch", (4,), "float32")))
    assert record_elements(rec) == 10
    assert record_elements(record("torch.abs", ())) == 1
    assert record_elements(CallRecord("torch.abs", "torch",
                                      args=(TensorSpec("torch", (None, 3), "float32"),))) > 10**9


def test_triage_imports_no_framework() -> None:
    import subprocess

    code = ("import sys, triage.signature, triage.cluster, triage.known, triage.report\n"
            "bad = [m for m in ('torch', 'tensorflow', 'seamfuzz') if m in sys.modules]\n"
            "print(','.join(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == ""


def test_symbolic_sizes_and_index_runs_normalize_alike():
    a = ("PendingUnbackedSymbolNotFound: Pending unbacked symbols {zuf0} not in returned "
         "outputs FakeTensor(..., size=(CeilToInt(FloatTrueDiv(zf49 - zuf0, 1.0)),)) ((1,), 0).")
    b = ("PendingUnbackedSymbolNotFound: Pending unbacked symbols {u3} not in returned "
         "outputs FakeTensor(..., size=(CeilToInt(FloatTrueDiv(3.0 - u3, 2.0)),)) ((4,), 0).")
    assert normalize_message(a) == normalize_message(b)
    assert "<sym>" in normalize_message(a) and "size=<shape>" in normalize_message(a)
    assert normalize_message("indices[0,0] = -8 is not in [0, 7)") == \
        normalize_message("indices[1,0,2] = 9 is not in [0, 2)")
    assert "uint8" in normalize_message("uint8 and float32 do not promote")


def test_tf_function_frames_and_their_source_lines_are_dropped():
    message = ("in user code:\n\n"
               '    File "/somewhere/runner/execute.py", line 281, in call_tf  *\n'
               "        out = api_fn(*_fill(args_t, tensors), **_fill(kwargs_t, tensors))\n\n"
               "    TypeError: 'int' object is not iterable\n")
    assert normalize_message(message) == "TypeError: 'int' object is not iterable"


def test_signature_round_trips_through_its_parts() -> None:
    from triage.signature import Signature

    sig = Signature("torch.sort", "a -> b", "dtype", side="target", error_type="E",
                    message="m <n>", location="output", pattern=("large", "sign"),
                    family="float", dtypes=("float32", "float64"))
    assert Signature.from_parts(json.loads(json.dumps(sig.parts()))) == sig
    assert Signature.from_parts(sig.parts()).key == sig.key
    assert Signature.from_parts({"api": "x", "kind": "value"}) == Signature("x", "", "value")
    assert sig.parts()["message"] == "m <n>"
    with pytest.raises(ValueError):
        Signature.from_parts(["not", "a", "mapping"])


def test_normalize_reason_names_signals_and_drops_numbers() -> None:
    from triage.signature import normalize_reason

    assert normalize_reason("reference crashed: killed by signal 11") == \
        "reference crashed: killed by SIGSEGV"
    assert normalize_reason("reference skipped: too_large: 9 GiB > 2 GiB") == \
        "reference skipped: too_large: <n> GiB > <n> GiB"
    assert normalize_reason("") == ""


def test_a_reference_declared_limit_names_the_reference_error() -> None:
    from triage.signature import Finding, Signature, signature

    rec = CallRecord("torch.softmax", "torch", args=(TensorSpec("torch", (3,), "int64"),))
    ref = Observation("torch.eager", Outcome.UNSUPPORTED, error_type="NotImplementedError",
                      error_message="not implemented for 'Long' (3 dims)", detail="no kernel")
    tgt = Observation("torch.compile", Outcome.RETURNED,
                      ArrayLeaf.from_numpy(np.zeros(3, np.int64)))
    f = Finding("c", rec.api, "torch", rec, 0, "torch.eager", "torch.compile", "status",
                "target accepts input the reference rejects", "", ref, tgt)
    sig = signature(f)
    assert isinstance(sig, Signature)
    assert (sig.side, sig.error_type, sig.message) == \
        ("reference", "NotImplementedError", "not implemented for 'Long' (<n> dims)")
