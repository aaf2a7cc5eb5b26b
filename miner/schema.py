"""Schema knowledge per API: every overload, every parameter's type.

A mined call says *which* API is called and with which literals; what its
unknown arguments must be (a tensor, an int list of length two, a dtype of
an allowed set) comes from the library itself.  :class:`ApiSchema` holds,
for one public API as records call it, its overloads (:class:`Overload`),
each a list of typed parameters (:class:`ArgSchema`), read from

* torch's JIT schemas of the aten operator a public name denotes
  (``torch.sum`` -> ``aten::sum``, every overload but the ``out=`` and
  named-tensor ones), which give types (``Tensor?``, ``int[2]``,
  ``ScalarType``), defaults, keyword-only markers and mutation annotations;
* TensorFlow's OpDef of the raw op a generated wrapper calls
  (``tf.math.floormod`` -> ``FloorMod``): which inputs are tensors, the
  dtypes each type attribute allows, attribute types, minimums and
  defaults;
* Python signatures and their annotations for the rest (Python-level
  functions, module and layer constructors, ``forward``/``call``), with
  the parameter name as the last hint (``input``, ``x``, ``logits`` are
  tensors).

Schemas are read in a child process per framework (the parent never
imports torch or TensorFlow) and cached per library version, in the cache
the API index uses (:mod:`miner.apiindex.cache`).

Note [Which aten operator]
    A public torch name maps to ``aten::<name>`` when such an operator
    exists: true of the C++ builtins (``torch.sum``, ``torch.Tensor.sum``,
    ``F.conv2d``) and of many Python functions that wrap one op
    (``F.relu``).  A Python function also keeps its own signature as the
    first overload, since its parameter names and defaults are what a call
    binds to; the aten overloads after it add what the Python signature
    hides (``keepdim`` of ``torch.sum``).  Tracing calls to map the rest is
    left out: it needs valid inputs, which is what the schema is for.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import inspect
import logging
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from infra.errors import InvalidArgument
from infra.pool import TaskFailure, WorkerPool
from infra.sandbox import no_sandbox, probe
from miner.apiindex.cache import CacheEntry, cache_directory, library_versions
from miner.records import CallKind, DType, Literal, Seq, Unknown, Value, value_from_json, value_to_json

__all__ = [
    "SCHEMA_FORMAT",
    "ArgKind",
    "ArgSchema",
    "ApiSchema",
    "Overload",
    "collect_schemas",
    "read_schema",
    "tensor_name",
]

#: Version of the cache layout and of the reading rules; bump it when either
#: changes and every cache is rebuilt.
SCHEMA_FORMAT = "3"

_BATCH = 256
_BATCH_TIMEOUT_S = 300.0
_LIBRARIES: dict[str, tuple[str, ...]] = {"torch": ("torch",), "tensorflow": ("tensorflow", "keras")}

_log = logging.getLogger("seamfuzz.schema")


class ArgKind(str, enum.Enum):
    """What a parameter takes, as far as building a value for it goes."""

    TENSOR = "tensor"
    TENSOR_LIST = "tensor_list"
    INT = "int"
    INT_LIST = "int_list"
    FLOAT = "float"
    FLOAT_LIST = "float_list"
    BOOL = "bool"
    SCALAR = "scalar"
    DTYPE = "dtype"
    STR = "str"
    #: Something seamfuzz does not build (a generator, a device, a callable,
    #: a module): left at its default, never synthesized.
    OTHER = "other"
    #: Nothing says: tried as a tensor first, then as a number.
    ANY = "any"


@dataclass(frozen=True, slots=True)
class ArgSchema:
    """One parameter of one overload."""

    name: str
    kind: ArgKind
    #: Whether None is accepted (``Tensor?``, ``Optional[int]``).
    optional: bool = False
    #: Whether it may be left out.
    has_default: bool = False
    #: The default as a record value when it is one (None when it has none
    #: or it is not expressible).
    default: Value | None = None
    keyword_only: bool = False
    #: A fixed list length (``int[2]``); 0 when free.
    length: int = 0
    #: Dtypes a tensor parameter allows (TF type attributes); empty: any.
    dtypes: tuple[str, ...] = ()
    #: The op writes to it (torch alias annotation ``Tensor(a!)``).
    mutates: bool = False
    #: The type as the library writes it, for humans.
    text: str = ""
    #: The strings a string parameter allows (a TF attribute's allowed
    #: values: ``padding`` is ``SAME`` or ``VALID``); empty: not known.
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ArgKind(self.kind))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        for key in ("optional", "has_default", "keyword_only", "mutates"):
            if getattr(self, key):
                out[key] = True
        if self.default is not None:
            out["default"] = value_to_json(self.default)
        if self.length:
            out["length"] = self.length
        if self.dtypes:
            out["dtypes"] = list(self.dtypes)
        if self.text:
            out["text"] = self.text
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> ArgSchema:
        return cls(
            name=str(o["name"]), kind=ArgKind(o["kind"]), optional=bool(o.get("optional")),
            has_default=bool(o.get("has_default")),
            default=value_from_json(o["default"]) if "default" in o else None,
            keyword_only=bool(o.get("keyword_only")), length=int(o.get("length", 0)),
            dtypes=tuple(map(str, o.get("dtypes", ()))), mutates=bool(o.get("mutates")),
            text=str(o.get("text", "")), choices=tuple(map(str, o.get("choices", ()))),
        )


@dataclass(frozen=True, slots=True)
class Overload:
    """One way of calling an API: its parameters in declaration order."""

    #: ``aten::sum.dim_IntList``, ``FloorMod``, ``python``.
    name: str
    args: tuple[ArgSchema, ...]
    #: ``aten``, ``opdef`` or ``python``.
    source: str
    #: Takes ``*args`` beyond its named parameters.
    var_positional: bool = False
    #: Takes ``**kwargs``.
    var_keyword: bool = False

    def arg(self, name: str) -> ArgSchema | None:
        for a in self.args:
            if a.name == name:
                return a
        return None

    def positional(self, index: int) -> ArgSchema | None:
        """The parameter the ``index``-th positional argument binds to."""
        pos = [a for a in self.args if not a.keyword_only]
        return pos[index] if index < len(pos) else None

    @property
    def required(self) -> tuple[ArgSchema, ...]:
        return tuple(a for a in self.args if not a.has_default)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source,
                               "args": [a.to_json() for a in self.args]}
        if self.var_positional:
            out["var_positional"] = True
        if self.var_keyword:
            out["var_keyword"] = True
        return out

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> Overload:
        return cls(str(o["name"]), tuple(ArgSchema.from_json(a) for a in o["args"]),
                   str(o["source"]), bool(o.get("var_positional")), bool(o.get("var_keyword")))


@dataclass(frozen=True, slots=True)
class ApiSchema:
    """What is known of one public API's parameters, as a record of it
    passes them: for a METHOD, the parameters after the receiver; for a
    MODULE, :attr:`overloads` describe the call (``forward``/``call``) and
    :attr:`init` the constructor."""

    api: str
    framework: str
    kind: CallKind
    overloads: tuple[Overload, ...]
    init: Overload | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CallKind(self.kind))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"api": self.api, "framework": self.framework,
                               "kind": self.kind.value,
                               "overloads": [o.to_json() for o in self.overloads]}
        if self.init is not None:
            out["init"] = self.init.to_json()
        return out

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> ApiSchema:
        try:
            return cls(str(o["api"]), str(o["framework"]), CallKind(o["kind"]),
                       tuple(Overload.from_json(x) for x in o["overloads"]),
                       Overload.from_json(o["init"]) if o.get("init") else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed schema: {exc!r}") from exc


# ---------------------------------------------------------------------------
# Types as the libraries write them -> ArgKind
# ---------------------------------------------------------------------------

#: Parameter names that, with nothing else known, are tensors.
_TENSOR_NAMES = frozenset("""
input inputs x y a b t tensor tensors other self value values logits labels target targets
features data params indices weight bias images filters filter kernel image input_tensor input1 input2 x1 x2 mat mat1
mat2 vec vec1 vec2 src q k v query key mask grad preds predictions y_true y_pred sample samples
tensor_a tensor_b batch1 batch2 condition arr array elems boxes scores embeddings hidden
""".split())


def tensor_name(name: str) -> bool:
    """Whether a parameter of this name is, with nothing else known, a tensor."""
    return name in _TENSOR_NAMES


_ATEN_TYPE = re.compile(r"^(?P<base>[A-Za-z]+)(?:\((?P<alias>[^)]*)\))?(?P<list>\[(?P<n>\d*)\])?(?P<opt>\?)?$")
_ATEN_KINDS = {
    "Tensor": ArgKind.TENSOR, "int": ArgKind.INT, "SymInt": ArgKind.INT, "float": ArgKind.FLOAT,
    "bool": ArgKind.BOOL, "Scalar": ArgKind.SCALAR, "ScalarType": ArgKind.DTYPE,
    "str": ArgKind.STR, "number": ArgKind.SCALAR,
}
_ATEN_LISTS = {ArgKind.TENSOR: ArgKind.TENSOR_LIST, ArgKind.INT: ArgKind.INT_LIST,
               ArgKind.FLOAT: ArgKind.FLOAT_LIST}


def aten_kind(text: str) -> tuple[ArgKind, bool, int, bool]:
    """``(kind, optional, length, mutates)`` of an aten type as printed in a
    schema (``int[1]?``, ``Tensor(a!)``, ``SymInt[]``)."""
    m = _ATEN_TYPE.match(text.strip())
    if m is None:
        return ArgKind.OTHER, text.endswith("?"), 0, False
    kind = _ATEN_KINDS.get(m.group("base"), ArgKind.OTHER)
    length = 0
    if m.group("list") is not None:
        kind = _ATEN_LISTS.get(kind, ArgKind.OTHER)
        length = int(m.group("n") or 0)
    mutates = "!" in (m.group("alias") or "")
    return kind, m.group("opt") is not None, length, mutates


def annotation_kind(text: str) -> tuple[ArgKind, bool, int]:
    """``(kind, optional, length)`` of a Python annotation as written
    (``Optional[Tensor]``, ``BroadcastingList2[int]``, ``List[int]``)."""
    t = text.replace("torch.", "").replace("typing.", "").replace(" ", "")
    optional = t.startswith("Optional[") or "None" in t
    core = t.removeprefix("Optional[")
    m = re.match(r"(?:_size_|BroadcastingList)(\d)", core)
    if m or re.match(r"(List|list|Tuple|tuple|Sequence)\[int", core) or core.startswith("_size"):
        return ArgKind.INT_LIST, optional, int(m.group(1)) if m else 0
    if re.match(r"(List|list|Tuple|tuple|Sequence)\[(Optional\[)?Tensor", core):
        return ArgKind.TENSOR_LIST, optional, 0
    if re.match(r"(List|list|Tuple|tuple|Sequence)\[float", core):
        return ArgKind.FLOAT_LIST, optional, 0
    for prefix, kind in (("Tensor", ArgKind.TENSOR), ("bool", ArgKind.BOOL),
                         ("int", ArgKind.INT), ("float", ArgKind.FLOAT), ("str", ArgKind.STR),
                         ("_dtype", ArgKind.DTYPE), ("dtype", ArgKind.DTYPE),
                         ("DType", ArgKind.DTYPE), ("Number", ArgKind.SCALAR)):
        if core.startswith(prefix):
            return kind, optional, 0
    if core.startswith("Union[") and "Tensor" in core:
        return ArgKind.TENSOR, optional, 0
    if core.startswith("Union[int") or core.startswith("Union[float"):
        return ArgKind.SCALAR, optional, 0
    return (ArgKind.ANY if not core else ArgKind.OTHER), optional, 0


def _default_kind(default: Any) -> ArgKind:
    if isinstance(default, bool):
        return ArgKind.BOOL
    if isinstance(default, int):
        return ArgKind.INT
    if isinstance(default, float):
        return ArgKind.FLOAT
    if isinstance(default, str):
        return ArgKind.STR
    if isinstance(default, (tuple, list)) and default and all(
            isinstance(x, int) and not isinstance(x, bool) for x in default):
        return ArgKind.INT_LIST
    return ArgKind.ANY


def _default_value(v: Any, depth: int = 0) -> Value | None:
    if v is None or isinstance(v, (bool, int, float, str)):
        return Literal(v)
    if isinstance(v, (tuple, list)) and depth < 2 and len(v) <= 8:
        items = [_default_value(x, depth + 1) for x in v]
        if all(isinstance(x, Literal) for x in items):
            return Seq("list" if isinstance(v, list) else "tuple", tuple(items))  # type: ignore[arg-type]
    t = type(v)
    if t.__module__ == "torch" and t.__name__ == "dtype":
        return DType("torch", str(v).removeprefix("torch."))
    if t.__module__.startswith("tensorflow") and t.__name__ == "DType":
        return DType("tensorflow", str(getattr(v, "name", v)))
    return None


# ---------------------------------------------------------------------------
# Reading (in the child process)
# ---------------------------------------------------------------------------


def _python_overload(fn: Any, drop_first: bool) -> Overload | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if drop_first and params and params[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    args: list[ArgSchema] = []
    var_pos = var_kw = False
    for i, p in enumerate(params):
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            var_pos = True
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            var_kw = True
            continue
        has = p.default is not inspect.Parameter.empty
        text = "" if p.annotation is inspect.Parameter.empty else (
            p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation))
        kind, optional, length = annotation_kind(text) if text else (ArgKind.ANY, False, 0)
        if kind is ArgKind.ANY:
            if has and p.default is not None:
                kind = _default_kind(p.default)
            elif p.name in _TENSOR_NAMES or (i == 0 and not has):
                kind = ArgKind.TENSOR
        if kind is ArgKind.ANY and p.name in ("dim", "axis", "dims", "axes"):
            kind = ArgKind.INT
        args.append(ArgSchema(
            p.name, kind, optional or (has and p.default is None), has,
            _default_value(p.default) if has else None,
            p.kind is inspect.Parameter.KEYWORD_ONLY, length, text=text[:120]))
    if not args and (var_pos or var_kw) and not drop_first:
        return None  # a bare (*args, **kwargs) wrapper says nothing
    return Overload("python", tuple(args), "python", var_pos, var_kw)


def _split_top(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _aten_literal(text: str) -> Value | None:
    text = text.strip()
    if text in ("None",):
        return Literal(None)
    if text in ("True", "False"):
        return Literal(text == "True")
    try:
        if re.fullmatch(r"-?\d+", text):
            return Literal(int(text))
        if re.fullmatch(r"-?[\d.]+(e-?\d+)?", text):
            return Literal(float(text))
    except ValueError:
        return None
    if text.startswith("[") and text.endswith("]"):
        items = [_aten_literal(x) for x in _split_top(text[1:-1])]
        if all(isinstance(x, Literal) for x in items):
            return Seq("list", tuple(items))  # type: ignore[arg-type]
    if text.startswith('"') and text.endswith('"'):
        return Literal(text[1:-1])
    return None


def parse_aten_schema(text: str, drop_self: bool) -> Overload | None:
    """An aten schema as ``str(schema)`` prints it
    (``aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *,
    ScalarType? dtype=None) -> Tensor``) as an :class:`Overload`; None for
    the overloads a Python call never reaches (``out=``, named dimensions,
    TorchScript's list builtins)."""
    m = re.match(r"^([\w:]+(?:\.\w+)?)\((.*)\)\s*->", text)
    if m is None:
        return None
    name, body = m.group(1), m.group(2)
    args: list[ArgSchema] = []
    kw_only = False
    for part in _split_top(body):
        if part == "*":
            kw_only = True
            continue
        decl, _, default = part.partition("=")
        bits = decl.strip().rsplit(" ", 1)
        if len(bits) != 2:
            return None
        typ, pname = bits
        if "Dimname" in typ:
            return None
        kind, optional, length, mutates = aten_kind(typ)
        if pname == "out" or (mutates and kw_only):
            return None
        args.append(ArgSchema(pname, kind, optional, bool(default),
                              _aten_literal(default) if default else None,
                              kw_only, length, mutates=mutates, text=typ))
    if not args:
        return Overload(name, (), "aten")
    if args[0].kind in (ArgKind.INT_LIST, ArgKind.FLOAT_LIST, ArgKind.OTHER) and args[0].name in ("self", "a", "l"):
        return None  # aten::sum.int(int[] self): TorchScript's builtins on lists
    if drop_self:
        if args[0].kind is not ArgKind.TENSOR:
            return None
        args = args[1:]
    return Overload(name, tuple(args), "aten")


def _aten_overloads(name: str, drop_self: bool) -> list[Overload]:
    import torch

    try:
        schemas = torch._C._jit_get_schemas_for_operator(f"aten::{name}")
    except RuntimeError:
        return []
    out = []
    for s in schemas:
        o = parse_aten_schema(str(s), drop_self)
        if o is not None and all(o.args != x.args for x in out):
            out.append(o)
    return out


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _tf_dtype_names(types: Iterable[int]) -> tuple[str, ...]:
    from tensorflow.python.framework import dtypes

    out = []
    for t in types:
        try:
            out.append(dtypes.as_dtype(t).name)
        except TypeError:
            continue
    return tuple(out)


def _opdef_overload(op_name: str, raw: bool = False) -> Overload | None:
    """The OpDef of ``op_name`` as an overload; with ``raw`` (``tf.raw_ops``,
    which take keyword arguments only) inputs are keyword-only too."""
    from tensorflow.python.framework import op_def_registry

    od = op_def_registry.get(op_name)
    if od is None:
        return None
    attrs = {a.name: a for a in od.attr}
    args: list[ArgSchema] = []
    for a in od.input_arg:
        dtypes: tuple[str, ...] = ()
        if a.type_attr and a.type_attr in attrs:
            dtypes = _tf_dtype_names(attrs[a.type_attr].allowed_values.list.type)
        elif a.type:
            dtypes = _tf_dtype_names([a.type])
        kind = ArgKind.TENSOR_LIST if (a.number_attr or a.type_list_attr) else ArgKind.TENSOR
        args.append(ArgSchema(a.name, kind, keyword_only=raw, dtypes=dtypes, text="tensor"))
    inferred = {a.type_attr for a in od.input_arg} | {a.number_attr for a in od.input_arg} | {
        a.type_list_attr for a in od.input_arg}
    for at in od.attr:
        if at.name in inferred:
            continue
        has = at.HasField("default_value")
        kind = {"int": ArgKind.INT, "float": ArgKind.FLOAT, "bool": ArgKind.BOOL,
                "type": ArgKind.DTYPE, "string": ArgKind.STR,
                "list(int)": ArgKind.INT_LIST, "list(float)": ArgKind.FLOAT_LIST,
                "shape": ArgKind.INT_LIST}.get(at.type, ArgKind.OTHER)
        default: Value | None = None
        if has:
            dv = at.default_value
            field = dv.WhichOneof("value")
            if field in ("i", "f", "b"):
                default = Literal(getattr(dv, field))
            elif field == "s":
                default = Literal(dv.s.decode("utf-8", "replace"))
            elif field == "type":
                names = _tf_dtype_names([dv.type])
                default = DType("tensorflow", names[0]) if names else None
        dtypes = _tf_dtype_names(at.allowed_values.list.type) if at.type == "type" else ()
        choices = tuple(x.decode("utf-8", "replace") for x in at.allowed_values.list.s) \
            if at.type == "string" else ()
        # A list attribute's minimum is its minimum length (ksize of 4).
        length = int(at.minimum) if at.type.startswith("list(") and at.has_minimum else 0
        args.append(ArgSchema(at.name, kind, has_default=has, default=default,
                              keyword_only=True, length=length, dtypes=dtypes, text=at.type,
                              choices=choices))
    return Overload(op_name, tuple(args), "opdef")


_FOLDED: dict[str, str] = {}


def _ops_by_folded_name() -> dict[str, str]:
    """Registered op names by their lower-case, underscore-free spelling."""
    if not _FOLDED:
        import tensorflow as tf

        for op in dir(tf.raw_ops):
            if not op.startswith("_"):
                _FOLDED.setdefault(op.lower(), op)
    return _FOLDED


def _merge_opdef(py: Overload | None, op: Overload) -> Overload:
    """The Python wrapper's parameters, typed by the op's inputs and
    attributes of the same name."""
    if py is None:
        return op
    merged = []
    for a in py.args:
        o = op.arg(a.name)
        if o is not None and o.kind is not ArgKind.OTHER:
            a = ArgSchema(a.name, o.kind, a.optional, a.has_default, a.default, a.keyword_only,
                          a.length, o.dtypes, a.mutates, o.text, o.choices)
        merged.append(a)
    return Overload(f"python+{op.name}", tuple(merged), "opdef", py.var_positional, py.var_keyword)


def read_schema(api: str, framework: str, kind: CallKind | str) -> ApiSchema | None:
    """The schema of one API in *this* process (which imports its
    framework); None when the name does not resolve or nothing is known.
    Never raises for an API."""
    from runner.materialize import resolve_api

    kind = CallKind(kind)
    try:
        obj = resolve_api(api, {framework, "numpy"})
        name = api.rsplit(".", 1)[-1]
        overloads: list[Overload] = []
        init: Overload | None = None
        if kind is CallKind.MODULE:
            if not isinstance(obj, type):
                return None
            init = _python_overload(obj.__init__, True)
            call = getattr(obj, "forward", None) or getattr(obj, "call", None)
            py = _python_overload(call, True) if call is not None else None
            if py is not None:
                overloads.append(py)
        elif framework == "torch":
            py = None
            if kind is CallKind.FUNCTION and not isinstance(obj, type):
                py = _python_overload(obj, False)
            elif kind is CallKind.FUNCTION:
                py = _python_overload(obj.__init__, True)
            if py is not None:
                overloads.append(py)
            overloads.extend(_aten_overloads(name, kind is CallKind.METHOD))
            if not overloads and kind is CallKind.METHOD:
                py = _python_overload(obj, True)
                if py is not None:
                    overloads.append(py)
        else:
            from tensorflow.python.util import tf_decorator

            target = tf_decorator.unwrap(obj)[1] if callable(obj) else obj
            if isinstance(obj, type):
                py = _python_overload(obj.__init__, True)
            else:
                py = _python_overload(target, kind is CallKind.METHOD)
            module = getattr(target, "__module__", "") or ""
            op = None
            if api.startswith("tf.raw_ops."):
                op = _opdef_overload(name, raw=True)
            elif ".gen_" in module:
                op = _opdef_overload(_camel(getattr(target, "__name__", name)))
            else:
                # A Python wrapper named like its op (conv2d -> Conv2D): its
                # attributes type the parameters of the same name.
                op_name = _ops_by_folded_name().get(name.replace("_", "").lower())
                op = _opdef_overload(op_name) if op_name else None
            if op is not None:
                overloads.append(_merge_opdef(py, op) if not api.startswith("tf.raw_ops.") else op)
            elif py is not None:
                overloads.append(py)
        if not overloads and init is None:
            # Nothing readable (a C builtin without a docstring signature):
            # the plainest call, marked as a guess for the solver to check.
            if kind is CallKind.METHOD:
                overloads.append(Overload("guess", (), "guess"))
            elif kind is CallKind.FUNCTION and callable(obj):
                overloads.append(Overload("guess", (ArgSchema("input", ArgKind.TENSOR),),
                                          "guess"))
            else:
                return None
        return ApiSchema(api, framework, kind, tuple(overloads), init)
    except Exception as exc:  # noqa: BLE001 - one API never stops the rest
        _log.debug("no schema for %s: %r", api, exc)
        return None


def _init_child(framework: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        importlib.import_module(framework)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _read_batch(task: tuple[str, tuple[tuple[str, str], ...]]
                ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    framework, items = task
    found, missing = [], []
    for api, kind in items:
        s = read_schema(api, framework, kind)
        if s is None:
            missing.append((api, kind))
        else:
            found.append(s.to_json())
    return found, missing


# ---------------------------------------------------------------------------
# Cache and orchestration (in the parent)
# ---------------------------------------------------------------------------


def _entry(framework: str, directory: Any) -> CacheEntry | None:
    try:
        versions = library_versions(_LIBRARIES[framework], optional=_LIBRARIES[framework][1:])
    except InvalidArgument:
        return None
    return CacheEntry.of("schemas", framework, SCHEMA_FORMAT, versions, directory)


def _load(entry: CacheEntry) -> tuple[dict[tuple[str, str], ApiSchema], set[tuple[str, str]]]:
    obj = entry.read()
    try:
        if obj is None or obj["framework"] != entry.part:
            raise ValueError("missing or stale")
        found = {(s.api, s.kind.value): s for s in map(ApiSchema.from_json, obj["schemas"])}
        return found, {(str(a), str(k)) for a, k in obj["missing"]}
    except (ValueError, KeyError, TypeError):
        return {}, set()


def _read_in_child(framework: str, items: list[tuple[str, str]]
                   ) -> tuple[dict[tuple[str, str], ApiSchema], set[tuple[str, str]]]:
    found: dict[tuple[str, str], ApiSchema] = {}
    missing: set[tuple[str, str]] = set()
    batches = [(framework, tuple(items[i:i + _BATCH])) for i in range(0, len(items), _BATCH)]
    # Importing the libraries writes to $HOME (keras.json): in the sandbox
    # where there is one, the child gets a home of its own.
    with WorkerPool(_read_batch, jobs=1, timeout=_BATCH_TIMEOUT_S,
                    initializer=_init_child, initargs=(framework,),
                    sandbox=probe().sandbox or no_sandbox()) as pool:
        for task, result in pool.imap_unordered(batches):
            if isinstance(result, TaskFailure):
                _log.warning("reading %d %s schemas failed (%s): %s", len(task[1]), framework,
                             result.kind.value, result.detail[-500:])
                continue
            got, miss = result
            for o in got:
                s = ApiSchema.from_json(o)
                found[(s.api, s.kind.value)] = s
            missing.update((str(a), str(k)) for a, k in miss)
    return found, missing


def collect_schemas(apis: Iterable[tuple[str, str, str]], *,
                    cache_dir: str | os.PathLike[str] | None = None
                    ) -> dict[tuple[str, str], ApiSchema]:
    """Schemas of ``(api, framework, kind)`` triples, keyed by ``(api,
    kind)``.  Cached per framework and library versions; what the cache
    lacks is read in one child per framework, the frameworks concurrently.
    An API with nothing known, or whose child failed, has no entry."""
    wanted: dict[str, set[tuple[str, str]]] = {}
    for api, framework, kind in apis:
        if framework in _LIBRARIES:
            wanted.setdefault(framework, set()).add((api, CallKind(kind).value))
    directory = cache_directory(cache_dir)
    result: dict[tuple[str, str], ApiSchema] = {}
    work = []
    for framework, items in wanted.items():
        entry = _entry(framework, directory)
        if entry is None or importlib.util.find_spec(framework) is None:
            _log.warning("%s is not installed: no schemas for its APIs", framework)
            continue
        found, missing = _load(entry)
        todo = sorted(i for i in items if i not in found and i not in missing)
        work.append((framework, entry, items, found, missing, todo))
    running = [w for w in work if w[5]]
    if running:
        with ThreadPoolExecutor(max_workers=len(running)) as threads:
            fresh = list(threads.map(lambda w: _read_in_child(w[0], w[5]), running))
        for w, (got, miss) in zip(running, fresh):
            framework, entry, _, found, missing, _ = w
            latest, latest_missing = _load(entry)
            latest.update(got)
            latest_missing.update(miss)
            try:
                entry.write({"framework": framework,
                             "schemas": [latest[k].to_json() for k in sorted(latest)],
                             "missing": sorted(latest_missing)})
            except OSError as exc:
                _log.warning("cannot cache schemas at %s: %s", entry.path, exc)
            found.update(latest)
    for framework, _, items, found, _, _ in work:
        for key in items:
            if key in found:
                result[key] = found[key]
    return result
