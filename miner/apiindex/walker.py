"""Walking the installed libraries' public names into an :class:`ApiIndex`
(see the Notes in :mod:`miner.apiindex`).

This runs where the libraries are imported: in the child processes that
:func:`~miner.apiindex.load_or_build` starts, or in a caller of
:func:`build_index` that accepts importing them.
"""

from __future__ import annotations

import collections
import logging
import math
import sys
import time
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.errors import InvalidArgument
from miner.apiindex.cache import library_versions, stamp
from miner.apiindex.model import (
    CLASS_KINDS,
    FRAMEWORKS,
    INDEX_FORMAT,
    ApiIndex,
    Symbol,
    SymbolKind,
)
from miner.apiindex.profiles import PROFILES, Profile, module_of, name_of_object

__all__ = ["PART_LIBRARIES", "Table", "Walker", "build_index", "check_frameworks", "index_versions"]

_log = logging.getLogger("seamfuzz.miner")

#: The libraries whose versions stamp each part of the index (``base``:
#: numpy and ``math`` only, when no framework is asked for).
PART_LIBRARIES: dict[str, tuple[str, ...]] = {
    "base": ("numpy",),
    "torch": ("torch", "numpy"),
    "tensorflow": ("tensorflow", "keras", "numpy"),
}


def index_versions(parts: Sequence[str]) -> dict[str, str]:
    """:attr:`ApiIndex.versions` of an index of ``parts``: the installed
    versions of their libraries (from package metadata, never by importing
    them) and ``format``."""
    libraries = [lib for part in parts for lib in PART_LIBRARIES[part]]
    return dict(stamp(INDEX_FORMAT, library_versions(dict.fromkeys(libraries))))


@dataclass(slots=True)
class Table:
    """Mutable state of one build, handed out as an :class:`ApiIndex`."""

    paths: dict[str, Symbol] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, Symbol]] = field(default_factory=dict)
    bases: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Walker:
    """Indexes one library into a :class:`Table`."""

    def __init__(self, profile: Profile, table: Table) -> None:
        self.p = profile
        self.t = table
        #: id(module) -> the path it is walked under.
        self.primary: dict[int, str] = {}
        #: id(object) -> the object (kept alive so ids stay unique).
        self.objects: dict[int, object] = {}
        #: id(object) -> (rank, path) of each public path met.
        self.candidates: dict[int, list[tuple[int, str]]] = {}
        self.kinds: dict[int, tuple[SymbolKind, str | None]] = {}
        #: id(object) -> canonical name, once decided.
        self.canonical: dict[int, str] = {}
        #: path -> id(object), symbols not yet created.
        self.pending: dict[str, int] = {}
        #: canonical name of a class member -> its symbol and the raw
        #: attribute (for its docstring).
        self.member_objects: dict[str, tuple[Symbol, object]] = {}

    # -- classification -----------------------------------------------------

    def classify(self, obj: object) -> tuple[SymbolKind, Any] | None:
        """Kind and value of a non-module attribute; None to skip it."""
        if obj is None:
            return None
        if type(obj) in (bool, int, float, str):
            return SymbolKind.CONSTANT, obj
        try:
            dtype = self.p.dtype_name(obj)
            if dtype is not None:
                return SymbolKind.DTYPE, dtype
            if not self.p.owns(obj):
                return None
            if isinstance(obj, type):
                if any(obj is cls for _, classes in self.tensor_types for cls in classes):
                    return SymbolKind.TENSOR_TYPE, None
                if self.p.is_layer(obj):
                    return SymbolKind.LAYER, None
                return SymbolKind.CLASS, None
            if callable(obj):
                return SymbolKind.FUNCTION, None
        except Exception:  # exotic metaclasses, proxies
            return None
        return SymbolKind.OTHER, None

    # -- the walk -----------------------------------------------------------

    def run(self) -> None:
        # Deprecated objects (torch.distributed.reduce_op) warn on any
        # attribute access, isinstance() included; none of it is news here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._run()

    def _run(self) -> None:
        p = self.p
        self.tensor_types = p.tensor_types()
        roots = p.roots()
        restricted = p.restricted_roots()
        for path, module, _ in roots:
            self.primary.setdefault(id(module), path)
        for path, module in restricted:
            self.primary.setdefault(id(module), path)
        for path, target in p.fixed_aliases().items():
            self.add_module(path, target)
        for path, module, rank in roots:
            self.add_module(path, path)
            self.walk(path, module, rank, p.admit, restricted=False)
        self.decide_canonical()
        for path, module in restricted:
            self.add_module(path, path)
            self.walk(path, module, 0, p.admit_restricted, restricted=True)
        for canonical, classes in self.tensor_types:
            for cls in classes[1:]:  # private spellings of the public type
                self.canonical.setdefault(id(cls), canonical)
                self.objects.setdefault(id(cls), cls)
                self.kinds.setdefault(id(cls), (SymbolKind.TENSOR_TYPE, None))
        self.scan_loaded_modules()
        self.index_tensor_types()
        self.index_members()

    def add_module(self, path: str, target: str) -> None:
        if path != target:
            self.t.aliases[path] = target
        self.t.paths[path] = Symbol(self.p.public(target), self.p.framework, SymbolKind.MODULE)

    def walk(
        self,
        root: str,
        module: types.ModuleType,
        rank: int,
        admit: Callable[[types.ModuleType], bool],
        restricted: bool,
    ) -> None:
        queue = collections.deque([(root, module)])
        while queue:
            prefix, mod = queue.popleft()
            try:
                items = list(vars(mod).items())
            except TypeError:
                continue
            for name, obj in items:
                if not isinstance(name, str) or name.startswith("_"):
                    continue
                path = f"{prefix}.{name}"
                if isinstance(obj, types.ModuleType):
                    obj = self.p.resolve_module(obj)
                    if obj is None:
                        continue
                    seen = self.primary.get(id(obj))
                    if seen is None:
                        if not admit(obj):
                            continue
                        self.primary[id(obj)] = path
                        queue.append((path, obj))
                        seen = path
                    self.add_module(path, seen)
                elif restricted:
                    self.add_known(path, obj)
                else:
                    self.add_candidate(path, obj, rank)

    def add_candidate(self, path: str, obj: object, rank: int) -> None:
        kind = self.classify(obj)
        if kind is None:
            return
        if kind[0] is SymbolKind.CONSTANT:
            # Scalars have no identity worth following: each path is its own.
            self.t.paths[path] = Symbol(self.p.public(path), self.p.framework, *kind)
            return
        key = id(obj)
        if key not in self.objects:
            self.objects[key] = obj
            self.kinds[key] = kind
            self.candidates[key] = []
        self.candidates[key].append((self.p.rank(path, obj, rank), path))
        self.pending[path] = key

    def add_known(self, path: str, obj: object) -> None:
        """Index ``path`` only if ``obj`` has a canonical name already, or a
        library export name."""
        key = id(obj)
        if key not in self.canonical:
            if type(obj) in (bool, int, float, str) or obj is None:
                return
            name = self.p.export_name(obj)
            kind = self.classify(obj) if name else None
            if name is None or kind is None:
                return
            self.objects[key] = obj
            self.kinds[key] = kind
            self.canonical[key] = name
        canonical = self.canonical[key]
        kind, value = self.kinds[key]
        self.t.paths[path] = Symbol(canonical, self.p.framework, kind, value)

    def decide_canonical(self) -> None:
        for key, paths in self.candidates.items():
            obj = self.objects[key]
            name = self.p.export_name(obj)
            if name is None:
                kind, value = self.kinds[key]
                own_name = value if kind is SymbolKind.DTYPE else name_of_object(obj)
                home = module_of(obj)
                best = min(paths, key=lambda rp: _rank(rp, home, own_name))
                name = self.p.public(best[1])
            self.canonical[key] = name
        for path, key in self.pending.items():
            kind, value = self.kinds[key]
            self.t.paths[path] = Symbol(self.canonical[key], self.p.framework, kind, value)
        self.pending.clear()

    def index_tensor_types(self) -> None:
        """A tensor type's paths other than its home path (the one spelled
        like its canonical name) become aliases of it, so that
        ``torch.nn.functional.Tensor.sum`` is ``torch.Tensor.sum``."""
        for canonical, _ in self.tensor_types:
            paths = sorted(
                (p for p, s in self.t.paths.items() if s.canonical == canonical),
                key=lambda p: (self.p.public(p) != canonical, p.count("."), p),
            )
            for path in paths[1:]:
                self.t.aliases[path] = paths[0]

    def index_members(self) -> None:
        """The members of every public class, once per public class they are
        named after, and each public class's public bases (see Note [Class
        members])."""
        public = {  # id(class) -> canonical name
            key: self.canonical[key]
            for key, (kind, _) in self.kinds.items()
            if kind in CLASS_KINDS and key in self.canonical and isinstance(self.objects[key], type)
        }
        # A tensor type is all of its classes together (tf.Tensor's numpy()
        # is EagerTensor's), and every library base of them is part of it.
        groups: dict[str, list[type]] = {}
        for canonical, classes in self.tensor_types:
            classes = tuple(c for c in classes if public.get(id(c)) == canonical)
            if classes:
                groups[canonical] = list(dict.fromkeys(k for c in classes for k in c.__mro__))
        # Bases before their subclasses, so that a class's members are
        # stored from its own point of view.
        units: list[tuple[str, list[type]]] = list(groups.items())
        singles: list[tuple[int, str, type]] = []
        for key, canonical in public.items():
            cls = self.objects[key]
            if canonical not in groups and isinstance(cls, type):
                singles.append((len(cls.__mro__), canonical, cls))
        singles.sort(key=lambda t: t[:2])
        units += [(canonical, list(cls.__mro__)) for _, canonical, cls in singles]

        resolved: list[tuple[str, dict[str, Symbol | None]]] = []
        # (id(attribute), name) -> (id(class holding it), its symbol): a
        # class that copies another's dictionary (torch.FloatTensor copies
        # torch.Tensor's) has the same members, not new ones.  Plain
        # attributes are left out: distributions share constraint objects.
        seen: dict[tuple[int, str], tuple[int, Symbol]] = {}
        keep: list[object] = []  # the attributes behind seen's ids
        for canonical, mro in units:
            if canonical in self.t.bases:
                continue  # another object with this name came first
            labels = self._mro_labels(mro, public, canonical if canonical in groups else None)
            self.t.bases[canonical] = tuple(dict.fromkeys(lab for lab in labels if lab))
            found: dict[str, Symbol | None] = {}
            for cls, label in zip(mro, labels, strict=True):
                try:
                    items = list(vars(cls).items())
                except TypeError:
                    continue
                for name, raw in items:
                    if not _member_name(name) or name in found:
                        continue
                    if label is None:  # object's, or another package's
                        found[name] = None
                        continue
                    sym = self._member_symbol(label, name, raw)
                    if sym.binding != "attribute":  # not a value shared by chance
                        holder, first = seen.setdefault((id(raw), name), (id(cls), sym))
                        if holder == id(cls) and first is sym:
                            keep.append(raw)
                        elif holder != id(cls):
                            sym = first
                    found[name] = sym
                    if self.t.members.setdefault(label, {}).setdefault(name, sym) == sym:
                        self.member_objects.setdefault(sym.canonical, (sym, raw))
            resolved.append((canonical, found))
        # Members are stored under one class each, so a class's own
        # resolution order can (rarely: multiple inheritance) differ from
        # walking its bases' members; store what differs under the class.
        index = ApiIndex({}, members=self.t.members, bases=self.t.bases)
        differ = shadowed = 0
        for canonical, found in resolved:
            for name, sym in found.items():
                got = index.member(canonical, name)
                if sym is None:
                    shadowed += got is not None
                elif got != sym:
                    differ += 1
                    self.t.members.setdefault(canonical, {})[name] = sym
        _log.info(
            "indexed the members of %d %s classes; %d stored for a subclass, "
            "%d shadowed by another package's class",
            len(resolved),
            self.p.framework,
            differ,
            shadowed,
        )
        self.t.members = {
            owner: dict(sorted(members.items()))
            for owner, members in sorted(self.t.members.items())
        }

    def _mro_labels(
        self, mro: Sequence[type], public: dict[int, str], group: str | None
    ) -> list[str | None]:
        """The public class each class of ``mro`` is named as: its own
        canonical name, else (a private base) that of the nearest public class
        before it that inherits from it; None for classes of other packages.
        In the combined MRO of tensor type ``group``, all of its library
        classes are named after it, even public bases."""
        labels: list[str | None] = []
        before: list[tuple[type, str]] = []  # public classes met, nearest last
        for cls in mro:
            label = None
            if not self.p.owns(cls):
                pass
            elif group is not None:
                label = group
            elif id(cls) in public:
                label = public[id(cls)]
                before.append((cls, label))
            else:
                # Not merely the class before it: a mixin is not a subclass of
                # the bases that follow it (LazyBatchNorm1d's MRO runs
                # LazyModuleMixin, then the private _BatchNorm).
                label = next((lab for c, lab in reversed(before) if _subclass(c, cls)), None)
            labels.append(label)
        return labels

    def _member_symbol(self, owner: str, name: str, raw: object) -> Symbol:
        kind, binding, value = _describe_member(raw, self)
        return Symbol(f"{owner}.{name}", self.p.framework, kind, value, owner, binding)

    def scan_loaded_modules(self) -> None:
        """Other paths, through any loaded module of the library, to objects
        with a canonical name."""
        for modname, mod in sorted(sys.modules.items()):
            if not modname.startswith(self.p.loaded) or not isinstance(mod, types.ModuleType):
                continue
            if id(mod) in self.primary or modname.startswith(self.p.unscanned):
                continue
            try:
                items = list(vars(mod).items())
            except TypeError:
                continue
            for name, obj in items:
                if not isinstance(name, str) or name.startswith("__"):
                    continue
                if isinstance(obj, types.ModuleType) or obj is None:
                    continue
                path = f"{modname}.{name}"
                if path not in self.t.paths:
                    self.add_known(path, obj)


def _subclass(cls: type, base: type) -> bool:
    try:
        return base in cls.__mro__
    except Exception:
        return False


def _member_name(name: object) -> bool:
    return isinstance(name, str) and (not name.startswith("_") or name == "__call__")


def _describe_member(raw: object, walker: Walker) -> tuple[SymbolKind, str, Any]:
    """Kind, binding and value of a raw class attribute (read from the class
    dictionary, so no descriptor has run)."""
    try:
        if isinstance(raw, staticmethod):
            return SymbolKind.FUNCTION, "staticmethod", None
        if isinstance(raw, (classmethod, types.ClassMethodDescriptorType)):
            return SymbolKind.FUNCTION, "classmethod", None
        if isinstance(raw, type):  # a nested class
            kind = walker.classify(raw)
            return (kind[0] if kind else SymbolKind.OTHER), "attribute", None
        t = type(raw)
        if hasattr(t, "__set__") or hasattr(t, "__delete__"):
            # property, getset and member descriptors, namedtuple fields
            return SymbolKind.OTHER, "property", None
        if callable(raw):
            # A function or a method descriptor binds to the instance; a
            # callable without __get__ (a builtin function) does not.
            binding = "method" if hasattr(t, "__get__") else "staticmethod"
            return SymbolKind.FUNCTION, binding, None
        if hasattr(t, "__get__"):  # cached_property and friends
            return SymbolKind.OTHER, "property", None
        if t in (bool, int, float, str):
            return SymbolKind.CONSTANT, "attribute", raw
    except Exception:  # proxies that fail on isinstance()
        pass
    return SymbolKind.OTHER, "attribute", None


def _rank(candidate: tuple[int, str], home: str, own_name: object) -> tuple[Any, ...]:
    """Sort key of one path to an object defined in module ``home``; the
    smallest names it (see Note [Canonical names])."""
    rank, path = candidate
    module, _, last = path.rpartition(".")
    # A package on the way to where it is defined (torch.nn for
    # torch.nn.modules.conv.Conv2d), not some module that imports it.
    upstream = home == module or home.startswith(module + ".")
    return (rank, not upstream, path.count("."), len(module), last != own_name, path)


def _build_table(frameworks: Sequence[str]) -> Table:
    table = Table()
    for name in ("numpy", *frameworks):
        start = time.perf_counter()
        before = len(table.paths)
        Walker(PROFILES[name](), table).run()
        _log.info(
            "indexed %d %s paths in %.1f s",
            len(table.paths) - before,
            name,
            time.perf_counter() - start,
        )
    table.paths["math"] = Symbol("math", "python", SymbolKind.MODULE)
    for name, value in vars(math).items():
        if type(value) is float:
            table.paths[f"math.{name}"] = Symbol(
                f"math.{name}", "python", SymbolKind.CONSTANT, value
            )
    return table


def check_frameworks(frameworks: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(frameworks, str):
        frameworks = (frameworks,)
    out = []
    for name in frameworks:
        if name not in FRAMEWORKS:
            raise InvalidArgument(
                f"unknown framework {name!r}; expected one of {', '.join(FRAMEWORKS)}"
            )
        if name not in out:
            out.append(name)
    return tuple(sorted(out))


def build_index(frameworks: Sequence[str] = FRAMEWORKS) -> ApiIndex:
    """Import ``frameworks`` (and numpy) in this process and index them.
    Mining processes use :func:`load_or_build` instead."""
    names = check_frameworks(frameworks)
    table = _build_table(names)
    versions = index_versions(names or ("base",))
    return ApiIndex(
        versions=versions,
        paths=table.paths,
        aliases=table.aliases,
        members=table.members,
        bases=table.bases,
    )


# ---------------------------------------------------------------------------
# Docstrings
# ---------------------------------------------------------------------------

