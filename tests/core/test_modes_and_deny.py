"""Mode specs, the deny list and expression parsing: the parts of the runner
the parent process uses without importing a framework."""

from __future__ import annotations

import pytest

from miner import apiindex
from infra.errors import InvalidArgument
from miner.records import describe_record
from runner.check import record_from_expression
from runner.deny import denied, denied_record
from runner.modes import default_targets, mode_class, parse_mode, parse_modes, reference_of
from seamfuzz.campaign import modes_by_framework, select_records


@pytest.mark.parametrize("text,canonical", [
    ("torch.compile", "torch.compile"),
    ("torch.compile:dynamic=true,backend=aot_eager", "torch.compile:backend=aot_eager,dynamic=true"),
    ("torch.eager:device=cuda", "torch.eager:device=cuda"),
    ("tf.function:transform=pkg.mod:attr", "tf.function:transform=pkg.mod:attr"),
    ("torch.compile:backend=pkg.mod:my_backend", "torch.compile:backend=pkg.mod:my_backend"),
])
def test_mode_specs_parse_to_canonical_text(text, canonical):
    spec = parse_mode(text)
    assert str(spec) == canonical
    assert parse_mode(str(spec)) == spec


@pytest.mark.parametrize("text,message", [
    ("torch.jit", "unknown mode"),
    ("torch.compile:backnd=x", "takes options"),
    ("torch.compile:backend", "key=value"),
    ("tf.eager:device=tpu", "device"),
    ("torch.compile:dynamic=maybe", "dynamic"),
    ("tf.function:transform=notdotted", "package.module:attr"),
])
def test_bad_mode_specs_are_usage_errors(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_mode(text)


def test_mode_lists_keep_options_with_their_mode():
    specs = parse_modes("tf.function,torch.compile:backend=eager,dynamic=true,tf.xla")
    assert [str(s) for s in specs] == [
        "tf.function", "torch.compile:backend=eager,dynamic=true", "tf.xla"]
    with pytest.raises(InvalidArgument, match="twice"):
        parse_modes("tf.xla,tf.xla")


@pytest.mark.parametrize("spec, rungs, shapes", [
    ("torch.compile", ["dynamo", "aot_autograd", "inductor"], "static-shapes"),
    ("torch.compile:backend=aot_eager,mode=max-autotune", ["dynamo", "aot_autograd"],
     "static-shapes"),
    ("torch.compile:backend=eager", ["dynamo"], "static-shapes"),
    ("torch.compile:backend=pkg.mod:fn,dynamic=true",
     ["dynamo", "aot_autograd", "backend"], "dynamic-shapes"),
    ("torch.compile:device=cuda", ["device", "dynamo", "aot_autograd", "inductor"],
     "static-shapes"),
    ("torch.eager:device=cuda", ["device"], None),
    ("tf.function", ["graph"], None),
    ("tf.function:jit_compile=true", ["graph", "xla"], None),
    ("tf.function:transform=pkg.mod:fn", ["transform"], None),
    ("tf.xla:device=gpu", ["device", "graph", "xla"], None),
])
def test_each_mode_declares_its_attribution_ladder(spec, rungs, shapes):
    mode = parse_mode(spec)
    cls = mode_class(mode.name)
    ladder = cls.ladder(mode)
    assert [s.name for s in ladder] == rungs
    assert ladder[-1].mode == mode
    for stage in ladder:  # every rung is a valid mode of the same framework
        assert parse_mode(str(stage.mode)) == stage.mode
        assert stage.mode.framework == mode.framework
    # inductor's own option does not leak into the eager and aot_eager rungs
    assert all(s.mode.option("mode") == "" for s in ladder[:-1])
    probe = cls.shape_probe(mode)
    assert (probe[0] if probe else None) == shapes


def test_registry_derives_references_and_default_targets():
    assert str(reference_of("torch")) == "torch.eager"
    assert str(reference_of("tensorflow")) == "tf.eager"
    assert {fw: [str(m) for m in ms] for fw, ms in default_targets().items()} == {
        "torch": ["torch.compile", "torch.compile:backend=aot_eager"],
        "tensorflow": ["tf.function", "tf.xla"]}
    with pytest.raises(InvalidArgument, match="no reference"):
        reference_of("jax")


def test_modes_by_framework_puts_the_reference_first():
    modes = modes_by_framework("torch.compile,tf.xla")
    assert modes == {"torch": ("torch.eager", "torch.compile"), "tensorflow": ("tf.eager", "tf.xla")}
    only_torch = modes_by_framework("torch.compile:backend=aot_eager",
                                    reference="torch.compile:backend=eager")
    assert only_torch == {"torch": ("torch.compile:backend=eager",
                                    "torch.compile:backend=aot_eager")}
    with pytest.raises(InvalidArgument, match="no target"):
        modes_by_framework("torch.eager")


def test_deny_list_names_a_reason():
    assert denied("torch.load") == "unpickles data"
    assert denied("tf.io.gfile.exists")
    assert denied("torch.set_default_dtype")
    assert denied("torch.abs") is None and denied("tf.math.abs") is None


@pytest.fixture(scope="module")
def index():
    return apiindex.load_or_build()


def test_expressions_parse_to_records(index):
    rec = record_from_expression("torch.cumsum(torch.randn(3, 4).T, dim=-1)", index)
    assert describe_record(rec) == \
        "torch.cumsum(Tensor[torch 4x3 float32 normal permuted(1,0)], dim=-1)"
    rec = record_from_expression("tf.abs(tf.constant([float('nan'), -math.inf]))", index)
    assert describe_record(rec) == \
        "tf.math.abs(Tensor[tensorflow 2 float32 data(float('nan'), float('-inf'))])"
    rec = record_from_expression("torch.load(torch.ones(1))", index)
    assert denied_record(rec) == "torch.load: unpickles data"


@pytest.mark.parametrize("expr,message", [
    ("torch.abs(x)", "cannot resolve"),
    ("x + 1", "not a call"),
    ("torch.abs(", "cannot parse"),
    ("len([1])", "no torch or tensorflow"),
    ("", "empty"),
])
def test_bad_expressions_are_usage_errors(index, expr, message):
    with pytest.raises(InvalidArgument, match=message):
        record_from_expression(expr, index)


def test_api_selection_accepts_public_aliases(index):
    recs = [record_from_expression(e, index) for e in (
        "tf.abs(tf.constant([1.0]))", "torch.abs(torch.ones(2))", "torch.sum(torch.ones(2))")]
    assert [r.api for r in select_records(recs, ["tf.abs"], index)] == ["tf.math.abs"]
    assert [r.api for r in select_records(recs, ["torch.*"], index)] == ["torch.abs", "torch.sum"]
