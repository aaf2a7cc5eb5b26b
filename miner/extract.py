"""Call sites -> :class:`~miner.records.CallRecord`: a small abstract
interpreter over LibCST trees.

The extractor walks a parsed code unit statement by statement, keeping for
every name in scope an abstract object: a library path (``torch.nn``), a
record value (a literal, a tensor spec, a dtype), a module or layer instance
awaiting its call, or something opaque.  Every call that resolves to a public
torch or tensorflow API becomes a record; its arguments are the abstract
values of the argument expressions.  Nothing from the corpus is imported,
evaluated or executed.

Note [Name resolution]
    Import aliases are resolved the way Python binds names: ``import torch as
    t``, ``from torch import nn``, ``import torch.nn.functional as F``,
    attribute chains, star imports of a library, and internal modules
    (``from tensorflow.python.ops import array_ops``) all yield a dotted path,
    which the :class:`~miner.apiindex.ApiIndex` of the *installed* libraries
    validates and maps to its canonical public name.  The environment is flow
    sensitive (statements in order; branches merged), so a parameter or local
    called ``torch`` shadows the library, and a name bound to the library on
    one path and to something else on another (``try: import torch`` /
    ``except ImportError: torch = None``) is ambiguous and never resolved,
    like LibCST's ``QualifiedNameProvider`` which keeps a name only when all
    its assignments agree.  Function bodies are analysed after the scope that
    defines them, with that scope's final bindings (Python resolves globals
    when the function runs, normally after the module body).

Note [Tensor methods are approximate]
    ``x.sum(1)`` is ``torch.Tensor.sum`` only if ``x`` is a torch tensor.  The
    extractor knows that for tensors it built from a tensor builder, tensors
    derived from them, and results of torch/tensorflow function calls (which
    it *assumes* are tensors of that framework).  A method on any other
    receiver (``model.sum()``, ``self.foo()``) is counted as unresolved.

Note [Lines]
    LibCST computes positions by regenerating the code, which costs about as
    much as parsing.  The extractor instead maps each statement to the line
    Python's own ``ast`` parser reports for it (``ast`` is several times faster
    than LibCST), so a record's line is the first line of the statement that
    contains the call.  If the two parsers disagree on a unit's statements,
    its records get line 0.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import libcst as cst

from miner.apiindex.names import canonical_to_path
from miner.builders import MAX_DATA, build_tensor, transform_tensor
from miner.records import (
    ApiRef,
    CallKind,
    CallRecord,
    Constructed,
    Dict,
    DType,
    Literal,
    Provenance,
    Seq,
    TensorSpec,
    Unknown,
    Value,
    is_resolved,
)

__all__ = ["UnitStats", "Extraction", "extract_module", "LIBRARY_ROOTS"]

#: Top-level modules whose names the extractor resolves through the index.
LIBRARY_ROOTS = frozenset({"torch", "tensorflow", "keras", "numpy", "math"})
#: Frameworks whose calls become records.
TARGET_FRAMEWORKS = frozenset({"torch", "tensorflow"})
#: Nesting depth of Constructed values (``f(g(h(x)))``) kept in a record.
MAX_CONSTRUCTED_DEPTH = 3
#: Cap on folded integers (``2 ** 10 ** 6`` is not folded).
MAX_INT_BITS = 4096


# ---------------------------------------------------------------------------
# Abstract objects of the interpreter (internal; records hold Values)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lib:
    """A dotted path into a library (a module, function, class, constant)."""

    path: str


@dataclass(frozen=True, slots=True)
class _Val:
    """A record value; ``tensor_fw`` when it is (assumed to be) a tensor."""

    value: Value
    tensor_fw: Optional[str] = None
    #: Canonical class of the object when known (``tf.Variable``), for
    #: resolving its methods; tensors use their framework's tensor type.
    cls: Optional[str] = None


@dataclass(frozen=True, slots=True)
class _Inst:
    """A module/layer instance: constructed, waiting to be applied."""

    api: str
    framework: str
    init_args: tuple
    init_kwargs: tuple


@dataclass(frozen=True, slots=True)
class _Method:
    """``receiver.name`` not yet called."""

    receiver: _Val
    name: str


@dataclass(frozen=True, slots=True)
class _Builtin:
    """A Python builtin that was not shadowed (``float``, ``int``, ...)."""

    name: str


@dataclass(frozen=True, slots=True)
class _Opaque:
    """Anything the extractor does not model."""

    hint: str = ""


@dataclass(eq=False, slots=True)
class _ClassInfo:
    """Attributes assigned on ``self`` (or in the class body) of one class."""

    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _SelfRef:
    info: _ClassInfo


_AMBIGUOUS = _Opaque("ambiguous")
_UNBOUND = object()  # sentinel for "name not bound on this path"

_BUILTIN_NAMES = frozenset(
    {"float", "int", "bool", "complex", "range", "list", "tuple", "len", "slice", "abs",
     "min", "max", "sum", "round", "str", "dict", "print", "isinstance", "super", "type"}
)
_PY_DTYPES = {"float": "float", "int": "int", "bool": "bool", "complex": "complex"}


def _merge(a: Any, b: Any) -> Any:
    """Join of two bindings of one name at a control-flow merge."""
    if a is _UNBOUND:
        return b
    if b is _UNBOUND or a == b:
        return a
    return _AMBIGUOUS


def _merge_envs(envs: list[dict]) -> dict:
    keys: set = set()
    for e in envs:
        keys.update(e)
    out = {}
    for k in keys:
        v: Any = _UNBOUND
        for e in envs:
            v = _merge(v, e.get(k, _UNBOUND))
        out[k] = v
    return out


class _Scope:
    """One function, class or module scope; ``env`` is flow sensitive."""

    __slots__ = ("env", "parent", "star_libs", "is_class")

    def __init__(self, parent: Optional["_Scope"], *, is_class: bool = False) -> None:
        self.env: dict[str, Any] = {}
        self.parent = parent
        self.star_libs: list[str] = []
        self.is_class = is_class


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitStats:
    """What the extractor could and could not resolve in one unit."""

    #: Top-level argument values of emitted records, and how many of them
    #: hold no :class:`~miner.records.Unknown` (and no unknown dimension).
    args_total: int = 0
    args_resolved: int = 0
    #: Call sites not turned into records, by reason (``not_in_library``,
    #: ``private``, ``ambiguous``, ``unknown_receiver``, ``not_callable``).
    unresolved: tuple[tuple[str, int], ...] = ()
    #: A few examples per reason: (reason, dotted name or hint).
    examples: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Extraction:
    """The records of one unit (identical calls merged) and its stats."""

    records: tuple[CallRecord, ...]
    stats: UnitStats


# ---------------------------------------------------------------------------
# Statement lines from Python's ast
# ---------------------------------------------------------------------------

_CST_TO_AST = {
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef),
    cst.ClassDef: (ast.ClassDef,),
    cst.If: (ast.If,),
    cst.For: (ast.For, ast.AsyncFor),
    cst.While: (ast.While,),
    cst.Try: (ast.Try,),
    cst.With: (ast.With, ast.AsyncWith),
}


def _ast_stmt_lines(tree: ast.Module) -> list[int]:
    """Statement start lines in pre-order (bodies in source order)."""
    out: list[int] = []

    def walk(stmts: list) -> None:
        for s in stmts:
            out.append(s.lineno)
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                walk(s.body)
            elif isinstance(s, ast.If):
                walk(s.body)
                walk(s.orelse)
            elif isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
                walk(s.body)
                walk(s.orelse)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                walk(s.body)
            elif isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                walk(s.body)
                for h in s.handlers:
                    walk(h.body)
                walk(s.orelse)
                walk(s.finalbody)
            elif isinstance(s, ast.Match):
                for c in s.cases:
                    walk(c.body)

    walk(tree.body)
    return out


def _cst_stmts_preorder(module: cst.Module) -> list[cst.CSTNode]:
    """LibCST statements in the same pre-order as :func:`_ast_stmt_lines`
    (a simple statement line contributes each of its small statements; an
    ``elif`` is an ``If`` nested in the ``orelse`` as in ``ast``)."""
    out: list[cst.CSTNode] = []

    def block(b: Any) -> None:
        if b is None:
            return
        walk(b.body)

    def walk(stmts: Iterable) -> None:
        for s in stmts:
            if isinstance(s, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                out.extend(s.body)
                continue
            out.append(s)
            if isinstance(s, (cst.FunctionDef, cst.ClassDef, cst.With)):
                block(s.body)
            elif isinstance(s, cst.If):
                block(s.body)
                o = s.orelse
                if isinstance(o, cst.If):
                    walk([o])
                elif o is not None:
                    block(o.body)
            elif isinstance(s, (cst.For, cst.While)):
                block(s.body)
                if s.orelse is not None:
                    block(s.orelse.body)
            elif isinstance(s, (cst.Try, cst.TryStar)):
                block(s.body)
                for h in s.handlers:
                    block(h.body)
                if s.orelse is not None:
                    block(s.orelse.body)
                if s.finalbody is not None:
                    block(s.finalbody.body)
            elif isinstance(s, cst.Match):
                for c in s.cases:
                    block(c.body)

    walk(module.body)
    return out


def statement_lines(module: cst.Module, source: str) -> dict[int, int]:
    """``id(statement) -> line`` for every statement of ``module``; empty
    when ``ast`` cannot parse the source or the two trees disagree."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    lines = _ast_stmt_lines(tree)
    stmts = _cst_stmts_preorder(module)
    if len(lines) != len(stmts):
        return {}
    return {id(s): n for s, n in zip(stmts, lines)}


# ---------------------------------------------------------------------------
# Literal helpers
# ---------------------------------------------------------------------------


def _lit(obj: Any) -> Any:
    """The Python scalar held by ``obj``, or ``_UNBOUND``."""
    if isinstance(obj, _Val) and isinstance(obj.value, Literal):
        return obj.value.value
    return _UNBOUND


def _fold_binop(op: cst.BaseBinaryOp, a: Any, b: Any) -> Any:
    """Constant-fold ``a op b`` for scalar literals; _UNBOUND if not folded."""
    if not all(isinstance(x, (int, float, complex, str)) for x in (a, b)):
        return _UNBOUND
    try:
        if isinstance(op, cst.Add):
            return a + b
        if isinstance(op, cst.Subtract):
            return a - b
        if isinstance(op, cst.Multiply):
            if isinstance(a, str) or isinstance(b, str):
                return _UNBOUND
            return a * b
        if isinstance(op, cst.Divide):
            return a / b
        if isinstance(op, cst.FloorDivide):
            return a // b
        if isinstance(op, cst.Modulo):
            if isinstance(a, str):
                return _UNBOUND
            return a % b
        if isinstance(op, cst.Power):
            if isinstance(a, int) and isinstance(b, int) and b > 0:
                if a.bit_length() * b > MAX_INT_BITS:
                    return _UNBOUND
            return a**b
    except (ArithmeticError, TypeError, ValueError):
        return _UNBOUND
    return _UNBOUND


def _scalar_from_literal_node(node: cst.BaseExpression) -> Any:
    """Value of an Integer/Float/Imaginary/SimpleString token (no eval).

    Numbers are converted directly; strings with a prefix or an escape go
    through ``ast.literal_eval`` (which only accepts literals)."""
    text: str = node.value  # type: ignore[attr-defined]
    t = type(node)
    try:
        if t is cst.Integer:
            digits = text.replace("_", "")
            try:
                v: Any = int(digits, 0)
            except ValueError:
                v = int(digits, 10)  # "00"
            return v if v.bit_length() <= MAX_INT_BITS else _UNBOUND
        if t is cst.Float:
            return float(text.replace("_", ""))
        if t is cst.Imaginary:
            return complex(0.0, float(text[:-1].replace("_", "")))
        q = text[:1]
        if q in "'\"" and "\\" not in text:
            if text[:3] in ('"""', "'''") and len(text) >= 6:
                return text[3:-3]
            return text[1:-1]
        v = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, OverflowError):
        return _UNBOUND
    return v if isinstance(v, str) else _UNBOUND  # bytes are not modelled


# ---------------------------------------------------------------------------
# The interpreter
# ---------------------------------------------------------------------------

_SKIP_FIELDS = frozenset(
    {"lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators",
     "header", "footer", "newline", "trailing_whitespace", "operator", "equal", "colon",
     "dot", "lbracket", "rbracket", "lbrace", "rbrace", "indent", "asynchronous",
     "annotation", "returns", "star", "keyword", "whitespace"}
)
_FIELD_CACHE: dict[type, tuple[str, ...]] = {}


def _child_fields(t: type) -> tuple[str, ...]:
    names = _FIELD_CACHE.get(t)
    if names is None:
        names = tuple(
            f for f in getattr(t, "__dataclass_fields__", {})
            if f not in _SKIP_FIELDS and not f.startswith("whitespace")
        )
        _FIELD_CACHE[t] = names
    return names


class _Interpreter:
    """Abstract interpretation of one module; see the module docstring."""

    def __init__(self, index: Any, *, corpus: str, file: str, line_offset: int,
                 lines: dict[int, int]) -> None:
        self.index = index
        self.corpus = corpus
        self.file = file
        self.line_offset = line_offset
        self.lines = lines
        self.line = 0
        self.records: dict[str, CallRecord] = {}
        self.unresolved: Counter = Counter()
        self.examples: list[tuple[str, str]] = []
        self.args_total = 0
        self.args_resolved = 0
        self.pending: list[tuple[Any, _Scope]] = []  # deferred function bodies
        self.uncalled: dict[_Inst, int] = {}  # constructed layers not yet applied
        self.called: set[_Inst] = set()
        self.scope = _Scope(None)
        self._expr = self._make_dispatch()

    # -- bookkeeping --------------------------------------------------------

    def miss(self, reason: str, example: str) -> None:
        self.unresolved[reason] += 1
        if sum(1 for r, _ in self.examples if r == reason) < 5:
            self.examples.append((reason, example[:80]))

    def emit(self, api: str, framework: str, kind: CallKind, args: tuple, kwargs: tuple,
             init_args: tuple = (), init_kwargs: tuple = ()) -> None:
        line = self.line + self.line_offset - 1 if self.line else 0
        rec = CallRecord(
            api=api, framework=framework, kind=kind, args=args, kwargs=kwargs,
            init_args=init_args, init_kwargs=init_kwargs, occurrences=1,
            provenance=(Provenance(self.corpus, self.file, max(line, 0)),),
        )
        for v in rec.values():
            self.args_total += 1
            self.args_resolved += is_resolved(v)
        old = self.records.get(rec.id)
        self.records[rec.id] = rec if old is None else old.merged(rec)

    # -- names --------------------------------------------------------------

    def lookup(self, name: str) -> Any:
        s: Optional[_Scope] = self.scope
        first = True
        while s is not None:
            if s.is_class and not first:
                s = s.parent
                continue
            v = s.env.get(name, _UNBOUND)
            if v is not _UNBOUND:
                return v
            for lib in s.star_libs:
                if self.index.lookup(f"{lib}.{name}") is not None:
                    return _Lib(f"{lib}.{name}")
            first = False
            s = s.parent
        if name in _BUILTIN_NAMES:
            return _Builtin(name)
        return _Opaque(name)

    def bind(self, target: cst.BaseExpression, obj: Any) -> None:
        t = type(target)
        if t is cst.Name:
            self.scope.env[target.value] = obj  # type: ignore[attr-defined]
        elif t in (cst.Tuple, cst.List):
            elts = target.elements  # type: ignore[attr-defined]
            items = None
            if isinstance(obj, _Val) and isinstance(obj.value, Seq):
                items = obj.value.items
            starred = any(isinstance(e, cst.StarredElement) for e in elts)
            for i, e in enumerate(elts):
                if isinstance(e, cst.StarredElement):
                    self.bind(e.value, _Opaque("starred"))
                elif items is not None and not starred and len(items) == len(elts):
                    self.bind(e.value, _Val(items[i]))
                else:
                    self.bind(e.value, _Opaque("unpacked"))
        elif t is cst.Attribute:
            recv = self.ev(target.value)  # type: ignore[attr-defined]
            if isinstance(recv, _SelfRef):
                name = target.attr.value  # type: ignore[attr-defined]
                recv.info.attrs[name] = _merge(recv.info.attrs.get(name, _UNBOUND), obj)
        elif t is cst.Subscript:
            self.ev(target)
        elif t is cst.StarredElement:
            self.bind(target.value, _Opaque("starred"))  # type: ignore[attr-defined]

    # -- statements ---------------------------------------------------------

    def exec_block(self, stmts: Iterable) -> None:
        for s in stmts:
            t = type(s)
            if t is cst.SimpleStatementLine or t is cst.SimpleStatementSuite:
                for small in s.body:
                    self.line = self.lines.get(id(small), self.line)
                    self.exec_small(small)
            else:
                self.line = self.lines.get(id(s), self.line)
                handler = self._stmt.get(t)
                if handler is not None:
                    handler(self, s)
                else:
                    self.generic(s)

    def body_of(self, block: Any) -> Iterable:
        """Statements of a suite (an indented block, or ``if x: a; b``)."""
        if block is None:
            return ()
        if isinstance(block, cst.SimpleStatementSuite):
            return (block,)
        return block.body

    def exec_small(self, s: cst.BaseSmallStatement) -> None:
        t = type(s)
        if t is cst.Expr:
            self.ev(s.value)  # type: ignore[attr-defined]
        elif t is cst.Assign:
            obj = self.ev(s.value)  # type: ignore[attr-defined]
            for tgt in s.targets:  # type: ignore[attr-defined]
                self.bind(tgt.target, obj)
        elif t is cst.AnnAssign:
            if s.value is not None:  # type: ignore[attr-defined]
                self.bind(s.target, self.ev(s.value))  # type: ignore[attr-defined]
        elif t is cst.AugAssign:
            cur = self.ev(s.target)  # type: ignore[attr-defined]
            val = self.ev(s.value)  # type: ignore[attr-defined]
            folded = _fold_binop(s.operator, _lit(cur), _lit(val))  # type: ignore[attr-defined]
            self.bind(s.target, _Val(Literal(folded)) if folded is not _UNBOUND
                      else _Opaque("augassign"))  # type: ignore[attr-defined]
        elif t is cst.Import:
            for alias in s.names:  # type: ignore[attr-defined]
                self.exec_import(alias)
        elif t is cst.ImportFrom:
            self.exec_import_from(s)  # type: ignore[arg-type]
        elif t is cst.Del:
            self.unbind(s.target)  # type: ignore[attr-defined]
        elif t in (cst.Return, cst.Raise, cst.Assert):
            self.generic(s)
        # Pass, Break, Continue, Global, Nonlocal: nothing to evaluate.

    def unbind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.scope.env[target.value] = _Opaque("deleted")
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self.unbind(e.value)

    def exec_import(self, alias: cst.ImportAlias) -> None:
        dotted = _dotted(alias.name)
        root = dotted.split(".")[0]
        is_lib = root in LIBRARY_ROOTS
        if alias.asname is not None:
            name = alias.asname.name
            if isinstance(name, cst.Name):
                self.scope.env[name.value] = _Lib(dotted) if is_lib else _Opaque(dotted)
        else:
            self.scope.env[root] = _Lib(root) if is_lib else _Opaque(root)

    def exec_import_from(self, s: cst.ImportFrom) -> None:
        if s.relative or s.module is None:
            mod = None
        else:
            mod = _dotted(s.module)
        is_lib = mod is not None and mod.split(".")[0] in LIBRARY_ROOTS
        if isinstance(s.names, cst.ImportStar):
            if is_lib:
                self.scope.star_libs.append(mod)  # type: ignore[arg-type]
            return
        for alias in s.names:
            name = _dotted(alias.name)
            bound = alias.asname.name.value if alias.asname is not None else name  # type: ignore[union-attr]
            self.scope.env[bound] = _Lib(f"{mod}.{name}") if is_lib else _Opaque(name)

    def exec_if(self, s: cst.If) -> None:
        self.ev(s.test)
        before = dict(self.scope.env)
        self.exec_block(self.body_of(s.body))
        after_then = self.scope.env
        self.scope.env = dict(before)
        if isinstance(s.orelse, cst.If):
            self.exec_if(s.orelse)
        elif s.orelse is not None:
            self.exec_block(self.body_of(s.orelse.body))
        self.scope.env = _merge_envs([after_then, self.scope.env])

    def exec_loop(self, s: Any) -> None:
        if isinstance(s, cst.For):
            self.ev(s.iter)
        else:
            self.ev(s.test)
        before = dict(self.scope.env)
        if isinstance(s, cst.For):
            self.bind(s.target, _Opaque("loop variable"))
        self.exec_block(self.body_of(s.body))
        self.scope.env = _merge_envs([before, self.scope.env])
        if s.orelse is not None:
            self.exec_block(self.body_of(s.orelse.body))

    def exec_try(self, s: Any) -> None:
        before = dict(self.scope.env)
        self.exec_block(self.body_of(s.body))
        if s.orelse is not None:
            self.exec_block(self.body_of(s.orelse.body))
        after_body = self.scope.env
        ends = [after_body]
        for h in s.handlers:
            self.scope.env = _merge_envs([before, after_body])
            if h.type is not None:
                self.ev(h.type)
            if h.name is not None:
                self.bind(h.name.name, _Opaque("exception"))
            self.exec_block(self.body_of(h.body))
            ends.append(self.scope.env)
        self.scope.env = _merge_envs(ends)
        if s.finalbody is not None:
            self.exec_block(self.body_of(s.finalbody.body))

    def exec_with(self, s: cst.With) -> None:
        for item in s.items:
            obj = self.ev(item.item)
            if item.asname is not None:
                self.bind(item.asname.name, _Opaque("context") if not isinstance(obj, _Val)
                          else obj)
        self.exec_block(self.body_of(s.body))

    def exec_match(self, s: cst.Match) -> None:
        self.ev(s.subject)
        before = dict(self.scope.env)
        ends = []
        for case in s.cases:
            self.scope.env = dict(before)
            if case.guard is not None:
                self.ev(case.guard)
            self.exec_block(self.body_of(case.body))
            ends.append(self.scope.env)
        self.scope.env = _merge_envs(ends + [before])

    def exec_funcdef(self, s: cst.FunctionDef) -> None:
        for d in s.decorators:
            self.ev(d.decorator)
        for p in _all_params(s.params):
            if p.default is not None:
                self.ev(p.default)
        self.scope.env[s.name.value] = _Opaque(f"function {s.name.value}")
        self.pending.append((s, self.scope))

    def exec_function(self, fn: Any, parent: _Scope, self_obj: Any = None) -> None:
        saved = self.scope
        self.scope = _Scope(parent)
        params = _all_params(fn.params)
        for i, p in enumerate(params):
            name = p.name.value
            self.scope.env[name] = self_obj if (i == 0 and self_obj is not None) else \
                _Val(Unknown(name))
        self.exec_block(self.body_of(fn.body))
        self.scope = saved

    def exec_classdef(self, s: cst.ClassDef) -> None:
        for d in s.decorators:
            self.ev(d.decorator)
        for a in s.bases:
            self.ev(a.value)
        for a in s.keywords:
            self.ev(a.value)
        saved = self.scope
        cls_scope = _Scope(saved, is_class=True)
        self.scope = cls_scope
        info = _ClassInfo()
        methods = []
        for stmt in self.body_of(s.body):
            if isinstance(stmt, cst.FunctionDef):
                self.line = self.lines.get(id(stmt), self.line)
                for d in stmt.decorators:
                    self.ev(d.decorator)
                static = any(isinstance(d.decorator, cst.Name) and d.decorator.value in
                             ("staticmethod", "classmethod") for d in stmt.decorators)
                methods.append((stmt, static))
                cls_scope.env[stmt.name.value] = _Opaque(f"method {stmt.name.value}")
            else:
                self.exec_block([stmt])
        self.scope = saved
        for k, v in cls_scope.env.items():
            if not isinstance(v, _Opaque):
                info.attrs[k] = v
        self.scope.env[s.name.value] = _Opaque(f"class {s.name.value}")
        # __init__ (and keras' build) first: they set the attributes others use.
        order = sorted(methods, key=lambda m: m[0].name.value not in ("__init__", "build"))
        for stmt, static in order:
            self.pending.append((_MethodJob(stmt, None if static else _SelfRef(info)),
                                 saved))

    def generic(self, node: cst.CSTNode) -> None:
        """Evaluate every expression below ``node`` for the calls in it."""
        for name in _child_fields(type(node)):
            v = getattr(node, name, None)
            if isinstance(v, (list, tuple)):
                for x in v:
                    if isinstance(x, cst.BaseExpression):
                        self.ev(x)
                    elif isinstance(x, cst.CSTNode):
                        self.generic(x)
            elif isinstance(v, cst.BaseExpression):
                self.ev(v)
            elif isinstance(v, cst.CSTNode):
                if isinstance(v, (cst.BaseSuite,)):
                    continue
                self.generic(v)

    _stmt: dict = {}

    # -- expressions --------------------------------------------------------

    def ev(self, node: cst.BaseExpression) -> Any:
        f = self._expr.get(type(node))
        if f is None:
            self.generic(node)
            return _Opaque(type(node).__name__)
        return f(node)

    def _make_dispatch(self) -> dict:
        return {
            cst.Name: self.ev_name,
            cst.Attribute: self.ev_attribute,
            cst.Call: self.ev_call,
            cst.Integer: self.ev_number,
            cst.Float: self.ev_number,
            cst.Imaginary: self.ev_number,
            cst.SimpleString: self.ev_number,
            cst.ConcatenatedString: self.ev_concat,
            cst.UnaryOperation: self.ev_unary,
            cst.BinaryOperation: self.ev_binary,
            cst.Tuple: self.ev_seq,
            cst.List: self.ev_seq,
            cst.Dict: self.ev_dict,
            cst.Subscript: self.ev_subscript,
            cst.Lambda: self.ev_lambda,
            cst.NamedExpr: self.ev_named,
            cst.IfExp: self.ev_ifexp,
            cst.ListComp: self.ev_comp,
            cst.SetComp: self.ev_comp,
            cst.GeneratorExp: self.ev_comp,
            cst.DictComp: self.ev_comp,
        }

    def ev_name(self, node: cst.Name) -> Any:
        v = node.value
        if v == "None":
            return _Val(Literal(None))
        if v == "True":
            return _Val(Literal(True))
        if v == "False":
            return _Val(Literal(False))
        obj = self.lookup(v)
        return self.as_constant(obj) if isinstance(obj, _Lib) else obj

    def as_constant(self, obj: _Lib) -> Any:
        """A library dtype or scalar constant as a value; other paths as is."""
        sym = self.index.lookup(obj.path)
        if sym is not None:
            kind = _kind(sym)
            if kind == "dtype":
                return _Val(DType(sym.framework, str(sym.value)))
            if kind == "constant" and isinstance(sym.value, (bool, int, float, str)):
                return _Val(Literal(sym.value))
        return obj

    def ev_number(self, node: Any) -> Any:
        v = _scalar_from_literal_node(node)
        return _Val(Literal(v)) if v is not _UNBOUND else _Opaque("literal")

    def ev_concat(self, node: cst.ConcatenatedString) -> Any:
        a, b = _lit(self.ev(node.left)), _lit(self.ev(node.right))
        if isinstance(a, str) and isinstance(b, str):
            return _Val(Literal(a + b))
        return _Opaque("string")

    def ev_unary(self, node: cst.UnaryOperation) -> Any:
        obj = self.ev(node.expression)
        v = _lit(obj)
        op = node.operator
        if isinstance(v, (int, float, complex)) and not isinstance(v, bool) or isinstance(v, bool):
            try:
                if isinstance(op, cst.Minus):
                    return _Val(Literal(-v))
                if isinstance(op, cst.Plus):
                    return _Val(Literal(+v))
                if isinstance(op, cst.BitInvert) and isinstance(v, int):
                    return _Val(Literal(~v))
                if isinstance(op, cst.Not):
                    return _Val(Literal(not v))
            except TypeError:
                pass
        if isinstance(obj, _Val) and obj.tensor_fw and not isinstance(op, cst.Not):
            return _Val(Unknown("unary"), obj.tensor_fw)
        return _Opaque("unary")

    def ev_binary(self, node: cst.BinaryOperation) -> Any:
        a = self.ev(node.left)
        b = self.ev(node.right)
        folded = _fold_binop(node.operator, _lit(a), _lit(b))
        if folded is not _UNBOUND and not (isinstance(folded, int) and
                                           folded.bit_length() > MAX_INT_BITS):
            return _Val(Literal(folded))
        # Sequences: (1, 2) + (3,), [0] * 3
        if isinstance(a, _Val) and isinstance(a.value, Seq):
            if isinstance(node.operator, cst.Add) and isinstance(b, _Val) and \
                    isinstance(b.value, Seq) and a.value.kind == b.value.kind:
                return _Val(Seq(a.value.kind, a.value.items + b.value.items))
            n = _lit(b)
            if isinstance(node.operator, cst.Multiply) and type(n) is int and \
                    0 <= n * len(a.value.items) <= MAX_DATA:
                return _Val(Seq(a.value.kind, a.value.items * n))
        for x in (a, b):
            if isinstance(x, _Val) and x.tensor_fw in TARGET_FRAMEWORKS:
                return _Val(Unknown("expression"), x.tensor_fw)
        return _Opaque("binary")

    def ev_seq(self, node: Any) -> Any:
        items: list[Value] = []
        for e in node.elements:
            if isinstance(e, cst.StarredElement):
                obj = self.ev(e.value)
                if isinstance(obj, _Val) and isinstance(obj.value, Seq):
                    items.extend(obj.value.items)
                else:
                    items.append(Unknown("*" + _hint(e.value)))
            else:
                items.append(self.value_of(self.ev(e.value), e.value))
        return _Val(Seq("tuple" if isinstance(node, cst.Tuple) else "list", tuple(items)))

    def ev_dict(self, node: cst.Dict) -> Any:
        items = []
        for e in node.elements:
            if isinstance(e, cst.StarredDictElement):
                self.ev(e.value)
                return _Opaque("dict")
            k = self.value_of(self.ev(e.key), e.key)
            items.append((k, self.value_of(self.ev(e.value), e.value)))
        return _Val(Dict(tuple(items)))

    def ev_subscript(self, node: cst.Subscript) -> Any:
        recv = self.ev(node.value)
        idx = []
        for el in node.slice:
            s = el.slice
            if isinstance(s, cst.Index):
                idx.append(self.ev(s.value))
            else:
                self.generic(s)
                idx.append(_Opaque("slice"))
        if isinstance(recv, _Val) and isinstance(recv.value, Seq) and len(idx) == 1:
            i = _lit(idx[0])
            if type(i) is int and -len(recv.value.items) <= i < len(recv.value.items):
                return _Val(recv.value.items[i])
        if isinstance(recv, _Val) and recv.tensor_fw:
            return _Val(Unknown(_hint(node.value) + "[...]"), recv.tensor_fw)
        return _Opaque("subscript")

    def ev_lambda(self, node: cst.Lambda) -> Any:
        saved = self.scope
        self.scope = _Scope(saved)
        for p in _all_params(node.params):
            if p.default is not None:
                saved_scope, self.scope = self.scope, saved
                self.ev(p.default)
                self.scope = saved_scope
            self.scope.env[p.name.value] = _Val(Unknown(p.name.value))
        self.ev(node.body)
        self.scope = saved
        return _Opaque("lambda")

    def ev_named(self, node: cst.NamedExpr) -> Any:
        obj = self.ev(node.value)
        self.bind(node.target, obj)
        return obj

    def ev_ifexp(self, node: cst.IfExp) -> Any:
        self.ev(node.test)
        a, b = self.ev(node.body), self.ev(node.orelse)
        return a if a == b else _AMBIGUOUS

    def ev_comp(self, node: Any) -> Any:
        saved = self.scope
        self.scope = _Scope(saved)
        comp = node.for_in
        while comp is not None:
            self.ev(comp.iter)
            self.bind(comp.target, _Opaque("comprehension variable"))
            for cond in comp.ifs:
                self.ev(cond.test)
            comp = comp.inner_for_in
        if isinstance(node, cst.DictComp):
            self.ev(node.key)
            self.ev(node.value)
        else:
            self.ev(node.elt)
        self.scope = saved
        return _Opaque("comprehension")

    # -- attributes and calls --------------------------------------------------

    def ev_attribute(self, node: cst.Attribute) -> Any:
        recv = self.ev(node.value)
        name = node.attr.value
        if isinstance(recv, _Lib):
            return self.as_constant(_Lib(f"{recv.path}.{name}"))
        if recv is _AMBIGUOUS:
            return _AMBIGUOUS
        if isinstance(recv, _SelfRef):
            v = recv.info.attrs.get(name, _UNBOUND)
            return _Opaque(f"self.{name}") if v is _UNBOUND else v
        if isinstance(recv, _Val) and recv.tensor_fw:
            prop = _tensor_property(recv, name)
            if prop is not None:
                return prop
            return _Method(recv, name)
        if isinstance(recv, _Val) and recv.cls:
            return _Method(recv, name)
        if isinstance(recv, _Inst):
            return _Method(_Val(Constructed(recv.api, recv.init_args, recv.init_kwargs),
                                cls=recv.api), name)
        return _Opaque(f"{_hint(node.value)}.{name}")

    def ev_args(self, args: Iterable[cst.Arg]) -> tuple[tuple, tuple]:
        pos: list[Value] = []
        kw: list[tuple[str, Value]] = []
        for a in args:
            obj = self.ev(a.value)
            if a.star == "*":
                if isinstance(obj, _Val) and isinstance(obj.value, Seq):
                    pos.extend(obj.value.items)
                else:
                    pos.append(Unknown("*" + _hint(a.value)))
            elif a.star == "**":
                if isinstance(obj, _Val) and isinstance(obj.value, Dict) and all(
                        isinstance(k, Literal) and isinstance(k.value, str)
                        for k, _ in obj.value.items):
                    kw.extend((k.value, v) for k, v in obj.value.items)  # type: ignore[union-attr]
                else:
                    kw.append(("**", Unknown("**" + _hint(a.value))))
            elif a.keyword is not None:
                kw.append((a.keyword.value, self.value_of(obj, a.value, a.keyword.value)))
            else:
                pos.append(self.value_of(obj, a.value))
        return tuple(pos), tuple(kw)

    def value_of(self, obj: Any, node: Optional[cst.BaseExpression] = None,
                 hint: str = "") -> Value:
        """The record value of an abstract object."""
        if isinstance(obj, _Val):
            return obj.value
        if isinstance(obj, _Lib):
            sym = self.index.lookup(obj.path)
            if sym is not None:
                kind = _kind(sym)
                if kind == "dtype":
                    return DType(sym.framework, str(sym.value))
                if kind == "constant" and isinstance(sym.value, (bool, int, float, str)):
                    return Literal(sym.value)
                if kind in ("function", "class", "layer", "tensor_type", "other"):
                    return ApiRef(sym.canonical)  # torch.relu, torch.channels_last
            return Unknown(obj.path)
        if isinstance(obj, _Inst):
            self.called.add(obj)  # passed on: used, not a bare construction
            return Constructed(obj.api, obj.init_args, obj.init_kwargs)
        if isinstance(obj, _Builtin) and obj.name in _PY_DTYPES:
            return DType("python", _PY_DTYPES[obj.name])
        return Unknown(hint or (_hint(node) if node is not None else ""))

    def ev_call(self, node: cst.Call) -> Any:
        f = self.ev(node.func)
        args, kwargs = self.ev_args(node.args)
        if isinstance(f, _Lib):
            return self.call_lib(f, args, kwargs)
        if isinstance(f, _Method):
            return self.call_method(f, args, kwargs)
        if isinstance(f, _Inst):
            self.called.add(f)
            self.emit(f.api, f.framework, CallKind.MODULE, args, kwargs,
                      f.init_args, f.init_kwargs)
            return _Val(Unknown(f"{f.api.rsplit('.', 1)[-1]} output"), f.framework)
        if isinstance(f, _Builtin):
            return self.call_builtin(f.name, args, kwargs)
        if isinstance(f, _Val) and f.tensor_fw:
            return _Opaque("call of a tensor")
        if f is _AMBIGUOUS:
            self.miss("ambiguous", _hint(node.func))
        elif isinstance(node.func, cst.Attribute) and isinstance(f, _Opaque) and \
                self.tensor_method_name(node.func.attr.value):
            # Only receivers that might be tensors are worth counting:
            # ``optimizer.step()`` is not a miss, ``out.sum()`` may be.
            self.miss("unknown_receiver", f.hint)
        return _Opaque("call result")

    def tensor_method_name(self, name: str) -> bool:
        return any(self.member(cls, name) is not None for cls in _TENSOR_CLASS.values())

    def call_builtin(self, name: str, args: tuple, kwargs: tuple) -> Any:
        if name in ("float", "int", "complex", "bool") and len(args) == 1 and not kwargs:
            a = args[0]
            if isinstance(a, Literal) and isinstance(a.value, (str, int, float, bool)):
                try:
                    conv = {"float": float, "int": int, "complex": complex, "bool": bool}[name]
                    v = conv(a.value.strip() if isinstance(a.value, str) else a.value)
                    return _Val(Literal(v))
                except (ValueError, TypeError, OverflowError):
                    return _Opaque(name)
        if name in ("list", "tuple") and len(args) == 1 and isinstance(args[0], Seq):
            return _Val(Seq(name, args[0].items))
        if name == "range" and 1 <= len(args) <= 3 and all(
                isinstance(a, Literal) and type(a.value) is int for a in args):
            r = range(*[a.value for a in args])  # type: ignore[union-attr]
            if len(r) <= MAX_DATA:
                return _Val(Seq("list", tuple(Literal(i) for i in r)))
        if name == "len" and len(args) == 1 and isinstance(args[0], Seq):
            return _Val(Literal(len(args[0].items)))
        return _Opaque(name)

    def call_lib(self, f: _Lib, args: tuple, kwargs: tuple) -> Any:
        sym = self.index.lookup(f.path)
        if sym is None:
            self.miss("internal" if _is_internal(f.path) else "not_in_library", f.path)
            return _Opaque(f.path)
        kind = _kind(sym)
        fw = sym.framework
        api = sym.canonical
        if kind == "layer" and fw in TARGET_FRAMEWORKS:
            inst = _Inst(api, fw, args, kwargs)
            self.uncalled.setdefault(inst, self.line)
            return inst
        if kind in ("function", "class", "tensor_type"):
            if fw in TARGET_FRAMEWORKS:
                self.emit(api, fw, CallKind.FUNCTION, args, kwargs)
            built = build_tensor(api, args, kwargs)
            if built is not None:
                return _Val(built, built.framework)
            if kind == "class" and fw in TARGET_FRAMEWORKS:
                return _Val(Constructed(api, args, kwargs), cls=api)
            if getattr(sym, "binding", "") in _FACTORY_BINDINGS and fw in TARGET_FRAMEWORKS:
                return _Val(Constructed(api, args, kwargs), cls=sym.owner)
            if fw in TARGET_FRAMEWORKS or fw == "numpy":
                return self.constructed(api, args, kwargs, fw)
            return _Opaque(api)
        if kind == "dtype" and len(args) == 1 and isinstance(args[0], Literal):
            return _Val(args[0])  # np.float32(1.5): a scalar
        self.miss("not_callable", f.path)
        return _Opaque(f.path)

    def constructed(self, api: str, args: tuple, kwargs: tuple, fw: str) -> _Val:
        depth = 1 + max((_depth(v) for v in (*args, *(v for _, v in kwargs))), default=0)
        if depth > MAX_CONSTRUCTED_DEPTH:
            return _Val(Unknown(f"{api}(...)"), fw)
        return _Val(Constructed(api, args, kwargs), fw)

    def member(self, cls: Optional[str], name: str) -> Any:
        """The symbol of method ``name`` of class ``cls`` (inherited too)."""
        if not cls:
            return None
        member = getattr(self.index, "member", None)
        if member is not None:
            return member(cls, name)
        return self.index.lookup(canonical_to_path(f"{cls}.{name}"))

    def call_method(self, m: _Method, args: tuple, kwargs: tuple) -> Any:
        recv = m.receiver
        fw = recv.tensor_fw
        if fw == "numpy":
            out = transform_tensor(recv.value, m.name, args, kwargs)
            return _Val(out, "numpy") if out is not None else _Opaque(f"ndarray.{m.name}")
        cls = recv.cls or _TENSOR_CLASS.get(fw or "")
        sym = self.member(cls, m.name)
        if sym is None or _kind(sym) not in ("function", "class", "layer"):
            if sym is None:
                self.miss("not_in_library", f"{cls}.{m.name}")
            return _Opaque(m.name)
        self.emit(sym.canonical, sym.framework, CallKind.METHOD, (recv.value,) + args, kwargs)
        out = transform_tensor(recv.value, m.name, args, kwargs)
        if out is not None:
            return _Val(out, out.framework if isinstance(out, TensorSpec) else fw)
        if getattr(sym, "binding", "") in _FACTORY_BINDINGS:
            return _Val(Constructed(sym.canonical, (recv.value,) + args, kwargs),
                        cls=getattr(sym, "owner", None))
        if fw in TARGET_FRAMEWORKS:
            return self.constructed(sym.canonical, (recv.value,) + args, kwargs, fw)
        return _Val(Constructed(sym.canonical, (recv.value,) + args, kwargs))


class _MethodJob:
    """A method body queued with the ``self`` object of its class."""

    __slots__ = ("fn", "self_obj")

    def __init__(self, fn: cst.FunctionDef, self_obj: Any) -> None:
        self.fn = fn
        self.self_obj = self_obj


def _exec_function_job(interp: _Interpreter, job: Any, scope: _Scope) -> None:
    if isinstance(job, _MethodJob):
        interp.exec_function(job.fn, scope, job.self_obj)
    else:
        interp.exec_function(job, scope)


_Interpreter._stmt = {
    cst.If: _Interpreter.exec_if,
    cst.For: _Interpreter.exec_loop,
    cst.While: _Interpreter.exec_loop,
    cst.Try: _Interpreter.exec_try,
    cst.TryStar: _Interpreter.exec_try,
    cst.With: _Interpreter.exec_with,
    cst.Match: _Interpreter.exec_match,
    cst.FunctionDef: _Interpreter.exec_funcdef,
    cst.ClassDef: _Interpreter.exec_classdef,
}


def _run_pending(interp: _Interpreter) -> None:
    while interp.pending:
        job, scope = interp.pending.pop(0)
        _exec_function_job(interp, job, scope)


def _run_module(interp: _Interpreter, module: cst.Module) -> None:
    """Run a module: its statements, then the function bodies they queued
    (``pending``, drained so that method jobs carry their ``self``), then
    emit the constructions never applied as FUNCTION calls of their class."""
    interp.exec_block(module.body)
    _run_pending(interp)
    for inst, line in interp.uncalled.items():
        if inst not in interp.called:
            interp.line = line
            interp.emit(inst.api, inst.framework, CallKind.FUNCTION,
                        inst.init_args, inst.init_kwargs)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

#: Class and static methods are assumed to be factories of their class
#: (Dataset.range, from_tensor_slices): approximate, like tensor methods.
_FACTORY_BINDINGS = ("classmethod", "staticmethod")
_TENSOR_CLASS = {"torch": "torch.Tensor", "tensorflow": "tf.Tensor"}


_INTERNAL_SEGMENTS = frozenset({"src", "python", "core", "compiler", "_C"})


def _is_internal(path: str) -> bool:
    """A path into a library's private or implementation modules
    (``torch._C``, ``keras.src.ops``, ``tensorflow.python.ops.gen_x``): the
    index holds only what those modules export publicly."""
    parts = path.split(".")
    return any(p.startswith("_") or p in _INTERNAL_SEGMENTS for p in parts[1:-1]) or \
        parts[-1].startswith("_")


def _kind(sym: Any) -> str:
    k = sym.kind
    return k.value if hasattr(k, "value") else str(k)


def _depth(v: Value) -> int:
    if isinstance(v, Constructed):
        return 1 + max((_depth(x) for x in (*v.args, *(x for _, x in v.kwargs))), default=0)
    if isinstance(v, Seq):
        return max((_depth(x) for x in v.items), default=0)
    return 0


def _dotted(node: Any) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _hint(node: Optional[cst.CSTNode]) -> str:
    """A short human hint for an expression, without generating code."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        inner = _hint(node.value)
        return f"{inner}.{node.attr.value}" if inner else node.attr.value
    if isinstance(node, cst.Call):
        return _hint(node.func) + "(...)"
    if isinstance(node, cst.Subscript):
        return _hint(node.value) + "[...]"
    return type(node).__name__.lower() if node is not None else ""


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    out = list(params.posonly_params) + list(params.params)
    if isinstance(params.star_arg, cst.Param):
        out.append(params.star_arg)
    out.extend(params.kwonly_params)
    if params.star_kwarg is not None:
        out.append(params.star_kwarg)
    return out


def _tensor_property(recv: _Val, name: str) -> Any:
    v = recv.value
    if name in ("T", "mT") and isinstance(v, TensorSpec) and recv.tensor_fw != "tensorflow":
        out = transform_tensor(v, name, (), ())
        return _Val(out, recv.tensor_fw) if out is not None else None
    if name == "shape" and isinstance(v, TensorSpec):
        return _Val(Seq("tuple", tuple(Literal(d) if d is not None else Unknown("dim")
                                       for d in v.shape)))
    if name == "dtype" and isinstance(v, TensorSpec):
        return _Val(DType(v.framework, v.dtype))
    if name in ("shape", "dtype", "ndim", "device", "real", "imag", "grad", "data", "T", "mT",
                "H", "mH", "is_cuda", "layout", "requires_grad", "size_bytes", "name"):
        if name in ("real", "imag", "grad", "data", "T", "mT", "H", "mH"):
            return _Val(Unknown(f".{name}"), recv.tensor_fw)
        return _Opaque(f"tensor.{name}")
    return None


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def extract_module(module: cst.Module, index: Any, *, source: str, corpus: str = "",
                   file: str = "", first_line: int = 1) -> Extraction:
    """Records of every torch/tensorflow call in a parsed unit.

    ``index`` maps dotted paths to symbols (see :mod:`miner.apiindex`);
    ``first_line`` is the file line of the unit's line 1.  May raise
    RecursionError on pathologically nested code (the caller classifies it).
    """
    interp = _Interpreter(index, corpus=corpus, file=file, line_offset=first_line,
                          lines=statement_lines(module, source))
    _run_module(interp, module)
    stats = UnitStats(
        args_total=interp.args_total,
        args_resolved=interp.args_resolved,
        unresolved=tuple(sorted(interp.unresolved.items())),
        examples=tuple(interp.examples),
    )
    return Extraction(tuple(interp.records.values()), stats)
