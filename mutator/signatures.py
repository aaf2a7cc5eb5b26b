"""API signatures: which parameters an API has, which are optional, and
their defaults, as plain records.

The signature operators (drop or add an optional argument, ``out=``,
``None`` for an optional parameter) and the borrow operator (a positional
argument's parameter name) need them.  :func:`collect_signatures` reads
them from the installed libraries in spawned child processes, one per
framework, because the campaign's parent process never imports torch or
TensorFlow; results are cached as JSON keyed by the library versions, in
the versioned cache the API index uses (:mod:`miner.apiindex.cache`).

Note [Signatures of builtins]
    Most torch functions and tensor methods are C++ builtins without
    ``__signature__``; ``inspect.signature`` raises for them.  Their
    docstrings start with a Python-like signature line
    (``add(input, other, *, alpha=1, out=None) -> Tensor``), which is parsed
    with :mod:`ast` instead (after dropping the bare ``*`` that follows a
    ``*size``, which Python would reject).  A tensor method's docstring
    leaves out ``self``; an inspected method's first parameter is dropped,
    so that for a METHOD record ``params`` describe ``args[1:]``.  A
    MODULE's signature is its constructor's (``__init__`` without ``self``),
    describing ``init_args``/``init_kwargs``.  An inspected signature that
    is only ``(*args, **kwargs)`` (a decorator's wrapper) loses to a
    docstring line when there is one.
"""

from __future__ import annotations

import ast
import enum
import importlib
import importlib.util
import inspect
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from infra.errors import InvalidArgument
from infra.pool import TaskFailure, WorkerPool
from infra.sandbox import no_sandbox, probe
from miner.records import (
    CallKind,
    DType,
    Literal,
    Seq,
    Unknown,
    Value,
    value_from_json,
    value_to_json,
)
from miner.apiindex.cache import CacheEntry, cache_directory, library_versions
from runner.materialize import resolve_api

__all__ = [
    "SIGNATURES_FORMAT",
    "ApiSignature",
    "Param",
    "ParamKind",
    "collect_signatures",
    "inspect_api",
    "parse_signature_line",
]

#: Version of the cache layout and of the inspection rules; bump it when
#: either changes and every cache is rebuilt.
SIGNATURES_FORMAT = "1"

#: APIs inspected per task sent to a child (a crash loses only its batch).
_BATCH = 256
#: Seconds one batch may take in a child (imports are on top of it).
_BATCH_TIMEOUT_S = 300.0

_log = logging.getLogger("seamfuzz.mutator")

# The libraries whose versions stamp each framework's cache entry; the first
# is the framework itself and must be installed.
_LIBRARIES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "keras"),
}
_IMPORT_NAME = {"torch": "torch", "tensorflow": "tensorflow"}


class ParamKind(str, enum.Enum):
    """How a parameter binds (:class:`inspect.Parameter` kinds)."""

    POSITIONAL_ONLY = "positional_only"
    POSITIONAL_OR_KEYWORD = "positional_or_keyword"
    VAR_POSITIONAL = "var_positional"
    KEYWORD_ONLY = "keyword_only"
    VAR_KEYWORD = "var_keyword"


_INSPECT_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: ParamKind.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: ParamKind.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL: ParamKind.VAR_POSITIONAL,
    inspect.Parameter.KEYWORD_ONLY: ParamKind.KEYWORD_ONLY,
    inspect.Parameter.VAR_KEYWORD: ParamKind.VAR_KEYWORD,
}


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of an API."""

    name: str
    #: How it binds: positionally, by keyword, or as ``*args``/``**kwargs``.
    kind: ParamKind
    #: Whether the parameter may be left out.
    has_default: bool = False
    #: The default as a record value when it is a JSON-able literal, None, a
    #: tuple/list of those or a dtype; :class:`~miner.records.Unknown` naming
    #: its type otherwise; None exactly when there is no default.
    default: Value | None = None
    #: The annotation as written (``Union[int, tuple[int, int]]``), or "".
    annotation: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ParamKind(self.kind))
        if self.has_default != (self.default is not None):
            raise ValueError(f"parameter {self.name}: default given iff has_default")

    @property
    def keywordable(self) -> bool:
        """Whether it can be passed as ``name=value``."""
        return self.kind in (ParamKind.POSITIONAL_OR_KEYWORD, ParamKind.KEYWORD_ONLY)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        if self.default is not None:
            out["default"] = value_to_json(self.default)
        if self.annotation:
            out["annotation"] = self.annotation
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Param:
        default = obj.get("default")
        return cls(
            name=str(obj["name"]),
            kind=ParamKind(obj["kind"]),
            has_default=default is not None,
            default=None if default is None else value_from_json(default),
            annotation=str(obj.get("annotation", "")),
        )


@dataclass(frozen=True, slots=True)
class ApiSignature:
    """The parameters of an API as a record of that API passes them: for a
    METHOD, those after the receiver; for a MODULE, the constructor's (see
    Note [Signatures of builtins])."""

    #: Canonical API name, as records spell it.
    api: str
    #: ``torch`` or ``tensorflow``.
    framework: str
    #: The kind of call the parameters describe (see the class docstring).
    kind: CallKind
    #: In declaration order.
    params: tuple[Param, ...]
    #: ``"inspect"`` or ``"docstring"``: where the parameters were read.
    source: str = "inspect"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CallKind(self.kind))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.api}: duplicate parameter names {names}")

    def param(self, name: str) -> Param | None:
        """The parameter called ``name`` (not a ``*args``/``**kwargs`` one)."""
        for p in self.params:
            if p.name == name and p.kind not in (ParamKind.VAR_POSITIONAL, ParamKind.VAR_KEYWORD):
                return p
        return None

    def positional(self, index: int) -> Param | None:
        """The parameter the ``index``-th positional argument binds to (a
        ``*args`` parameter takes every index from its own on)."""
        for i, p in enumerate(self.params):
            if p.kind is ParamKind.VAR_POSITIONAL:
                return p if index >= i else None
            if p.kind not in (ParamKind.POSITIONAL_ONLY, ParamKind.POSITIONAL_OR_KEYWORD):
                return None
            if i == index:
                return p
        return None

    @property
    def var_keyword(self) -> bool:
        """Whether it takes ``**kwargs``."""
        return any(p.kind is ParamKind.VAR_KEYWORD for p in self.params)

    def to_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "framework": self.framework,
            "kind": self.kind.value,
            "params": [p.to_json() for p in self.params],
            "source": self.source,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ApiSignature:
        """Inverse of :meth:`to_json`; raises ValueError when malformed."""
        try:
            return cls(
                api=str(obj["api"]),
                framework=str(obj["framework"]),
                kind=CallKind(obj["kind"]),
                params=tuple(Param.from_json(p) for p in obj["params"]),
                source=str(obj.get("source", "inspect")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed signature: {exc!r}") from exc


# ---------------------------------------------------------------------------
# Inspection (in the child process)
# ---------------------------------------------------------------------------


def _default_value(v: Any, depth: int = 0) -> Value:
    """A default as a record value (see :attr:`Param.default`)."""
    if v is None or isinstance(v, (bool, int, float, complex, str)):
        return Literal(v)
    if isinstance(v, (tuple, list)) and depth < 3 and len(v) <= 16:
        items = tuple(_default_value(x, depth + 1) for x in v)
        if not any(isinstance(x, Unknown) for x in items):
            return Seq("list" if isinstance(v, list) else "tuple", items)
    t = type(v)
    if t.__module__ == "torch" and t.__name__ == "dtype":
        return DType("torch", str(v).removeprefix("torch."))
    if t.__module__.startswith("tensorflow") and t.__name__ == "DType":
        return DType("tensorflow", str(getattr(v, "name", v)))
    return Unknown(t.__qualname__)


def _annotation(a: Any) -> str:
    if a is inspect.Parameter.empty:
        return ""
    text = a if isinstance(a, str) else inspect.formatannotation(a)
    return text[:200]


def _from_inspect(sig: inspect.Signature, drop_first: bool) -> tuple[Param, ...]:
    params = list(sig.parameters.values())
    if drop_first and params and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        params = params[1:]
    out = []
    for p in params:
        has = p.default is not inspect.Parameter.empty
        out.append(
            Param(
                name=p.name,
                kind=_INSPECT_KINDS[p.kind],
                has_default=has,
                default=_default_value(p.default) if has else None,
                annotation=_annotation(p.annotation),
            )
        )
    return tuple(out)


_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\s*(->.*)?$")


def parse_signature_line(
    line: str, name: str, resolve: Callable[[str], Any] | None = None
) -> tuple[Param, ...] | None:
    """The parameters of a docstring's signature line
    (``cumsum(input, dim, *, dtype=None, out=None) -> Tensor``) when it
    names ``name``; None when it does not parse.  ``resolve(dotted)`` turns
    a dotted default (``torch.strided``) into its object; without it such
    defaults are Unknown."""
    m = _LINE.match(line)
    if m is None or m.group(1) != name:
        return None
    text = re.sub(r"(\*\s*[A-Za-z_]\w*)\s*,\s*\*\s*(,|$)", r"\1\2", m.group(2))
    try:
        tree = ast.parse(f"def _f({text}): pass")
    except SyntaxError:
        return None
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    a = fn.args

    def default(node: ast.expr) -> Value:
        try:
            return _default_value(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        dotted = ast.unparse(node)
        if resolve is not None and re.fullmatch(r"[A-Za-z_][\w.]*", dotted):
            try:
                return _default_value(resolve(dotted))
            except Exception as exc:  # noqa: BLE001 - any lookup failure: not known
                _log.debug("default %s of %s not resolved: %r", dotted, name, exc)
        return Unknown(dotted[:100])

    out: list[Param] = []
    positional = [(x, ParamKind.POSITIONAL_ONLY) for x in a.posonlyargs] + [
        (x, ParamKind.POSITIONAL_OR_KEYWORD) for x in a.args
    ]
    first_default = len(positional) - len(a.defaults)
    for i, (arg, kind) in enumerate(positional):
        d = default(a.defaults[i - first_default]) if i >= first_default else None
        out.append(Param(arg.arg, kind, d is not None, d))
    if a.vararg is not None:
        out.append(Param(a.vararg.arg, ParamKind.VAR_POSITIONAL))
    for arg, node in zip(a.kwonlyargs, a.kw_defaults):
        d = default(node) if node is not None else None
        out.append(Param(arg.arg, ParamKind.KEYWORD_ONLY, d is not None, d))
    if a.kwarg is not None:
        out.append(Param(a.kwarg.arg, ParamKind.VAR_KEYWORD))
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        return None
    return tuple(out)


def _doc_params(
    obj: Any, name: str, resolve: Callable[[str], Any]
) -> tuple[Param, ...] | None:
    doc = getattr(obj, "__doc__", None)
    lines = doc.strip().splitlines() if isinstance(doc, str) else []
    return parse_signature_line(lines[0].strip(), name, resolve) if lines else None


def inspect_api(api: str, framework: str, kind: CallKind | str) -> ApiSignature | None:
    """The signature of one API in *this* process (which imports its
    framework); None when the name does not resolve or has no readable
    signature.  Never raises for an API."""
    kind = CallKind(kind)
    allowed = {framework, "numpy"}

    def resolve(dotted: str) -> Any:
        return resolve_api(dotted, allowed)

    try:
        obj = resolve(api)
        if kind is CallKind.MODULE and not isinstance(obj, type):
            return None
        target = obj.__init__ if kind is CallKind.MODULE else obj
        name = api.rsplit(".", 1)[-1]
        params: tuple[Param, ...] | None = None
        source = "inspect"
        try:
            params = _from_inspect(inspect.signature(target), kind is not CallKind.FUNCTION)
        except (TypeError, ValueError):
            params = None
        only_var = params is not None and all(
            p.kind in (ParamKind.VAR_POSITIONAL, ParamKind.VAR_KEYWORD) for p in params
        )
        if (params is None or only_var) and kind is not CallKind.MODULE:
            parsed = _doc_params(obj, name, resolve)
            if parsed is not None:
                params, source = parsed, "docstring"
        if params is None:
            return None
        return ApiSignature(api, framework, kind, params, source)
    except Exception as exc:  # noqa: BLE001 - one API never stops the rest
        _log.debug("no signature for %s: %r", api, exc)
        return None


def _init_child(framework: str) -> None:
    """Import the framework with file descriptor 2 silenced: TensorFlow's C++
    start-up chatter (CUDA probing) is written there before any log level
    applies.  A failing import still raises, as a value for the pool."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        importlib.import_module(_IMPORT_NAME[framework])
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _inspect_batch(
    task: tuple[str, tuple[tuple[str, str], ...]],
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Child entry: ``(framework, ((api, kind), ...))`` -> found signatures
    as JSON, and the ``(api, kind)`` pairs that have none."""
    framework, items = task
    found: list[dict[str, Any]] = []
    missing: list[tuple[str, str]] = []
    for api, kind in items:
        sig = inspect_api(api, framework, kind)
        if sig is None:
            missing.append((api, kind))
        else:
            found.append(sig.to_json())
    return found, missing


# ---------------------------------------------------------------------------
# Cache and orchestration (in the parent)
# ---------------------------------------------------------------------------


def _entry(
    framework: str, cache_dir: str | os.PathLike[str] | None = None
) -> CacheEntry | None:
    """The cache entry of a framework's signatures, stamped with its installed
    versions (from package metadata, never by importing); None when the
    framework is not installed."""
    try:
        versions = library_versions(_LIBRARIES[framework], optional=_LIBRARIES[framework][1:])
    except InvalidArgument:
        return None
    return CacheEntry.of("signatures", framework, SIGNATURES_FORMAT, versions, cache_dir)


@dataclass(slots=True)
class _Cached:
    signatures: dict[str, ApiSignature]
    missing: set[tuple[str, str]]


def _load(entry: CacheEntry) -> _Cached:
    obj = entry.read()
    try:
        if obj is None or obj["framework"] != entry.part:
            raise ValueError("missing or stale")
        sigs = {s.api: s for s in map(ApiSignature.from_json, obj["signatures"])}
        missing = {(str(a), str(k)) for a, k in obj["missing"]}
        return _Cached(sigs, missing)
    except (ValueError, KeyError, TypeError):
        return _Cached({}, set())


def _save(entry: CacheEntry, cached: _Cached) -> None:
    entry.write({
        "framework": entry.part,
        "signatures": [cached.signatures[a].to_json() for a in sorted(cached.signatures)],
        "missing": sorted(cached.missing),
    })


def _run_child(framework: str, items: list[tuple[str, str]]) -> _Cached:
    """Inspect ``items`` in one spawned child of ``framework``; a batch whose
    child crashes or hangs gives no entries (and is not cached as missing)."""
    out = _Cached({}, set())
    batches = [
        (framework, tuple(items[i : i + _BATCH])) for i in range(0, len(items), _BATCH)
    ]
    # Importing the libraries writes to $HOME (keras.json): in the sandbox
    # where there is one, the child gets a home of its own.
    with WorkerPool(
        _inspect_batch, jobs=1, timeout=_BATCH_TIMEOUT_S,
        initializer=_init_child, initargs=(framework,),
        sandbox=probe().sandbox or no_sandbox(),
    ) as pool:
        for task, result in pool.imap_unordered(batches):
            if isinstance(result, TaskFailure):
                _log.warning(
                    "inspecting %d %s APIs failed (%s): %s",
                    len(task[1]), framework, result.kind.value, result.detail[-500:],
                )
                continue
            found, missing = result
            for obj in found:
                sig = ApiSignature.from_json(obj)
                out.signatures[sig.api] = sig
            out.missing.update((str(a), str(k)) for a, k in missing)
    return out


@dataclass(slots=True)
class _Plan:
    framework: str
    #: api -> kind, as requested.
    requested: dict[str, str]
    entry: CacheEntry
    cached: _Cached
    #: (api, kind) pairs the cache does not answer.
    todo: list[tuple[str, str]]


def collect_signatures(
    apis: Iterable[tuple[str, str, str]],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, ApiSignature]:
    """Signatures of ``(api, framework, kind)`` triples, keyed by api.

    Cached in :func:`~miner.apiindex.cache.cache_directory` ``(cache_dir)``
    (``$SEAMFUZZ_CACHE``, else ``$XDG_CACHE_HOME/seamfuzz``, else
    ``~/.cache/seamfuzz``), the cache the API index uses, one file per
    framework keyed by its installed versions (APIs without a signature are
    remembered too).  What the cache lacks is inspected in one spawned child
    per framework, the frameworks concurrently; this process imports neither
    torch nor TensorFlow.  An API that does not resolve, has no readable
    signature, is of an unknown framework, or whose child failed, has no
    entry.  Requested twice with different kinds, an api keeps the first."""
    wanted: dict[str, dict[str, str]] = {}  # framework -> api -> kind
    for api, framework, kind in apis:
        kind = CallKind(kind).value
        if framework in _LIBRARIES:
            wanted.setdefault(framework, {}).setdefault(api, kind)
    directory = cache_directory(cache_dir)
    plans: list[_Plan] = []
    for framework, requested in wanted.items():
        entry = _entry(framework, directory)
        if entry is None or importlib.util.find_spec(_IMPORT_NAME[framework]) is None:
            _log.warning("%s is not installed: no signatures for its APIs", framework)
            continue
        cached = _load(entry)
        todo = [
            (api, kind) for api, kind in requested.items()
            if (api, kind) not in cached.missing
            and not (api in cached.signatures and cached.signatures[api].kind.value == kind)
        ]
        plans.append(_Plan(framework, requested, entry, cached, todo))
    running = [p for p in plans if p.todo]
    if running:
        with ThreadPoolExecutor(max_workers=len(running)) as threads:
            fresh = list(threads.map(lambda p: _run_child(p.framework, p.todo), running))
        for plan, new in zip(running, fresh):
            # Another campaign may have cached more meanwhile: merge, then write.
            merged = _load(plan.entry)
            merged.signatures.update(new.signatures)
            merged.missing.update(new.missing)
            try:
                _save(plan.entry, merged)
            except OSError as exc:
                _log.warning("cannot cache signatures at %s: %s", plan.entry.path, exc)
            plan.cached.signatures.update(merged.signatures)
    result: dict[str, ApiSignature] = {}
    for plan in plans:
        for api, kind in plan.requested.items():
            sig = plan.cached.signatures.get(api)
            if sig is not None and sig.kind.value == kind:
                result.setdefault(api, sig)
    return result
