"""The API index: which dotted paths exist in the installed libraries, and the
canonical public name each one denotes.

The miner resolves import aliases itself and ends up with paths as they are
written in code (``torch.nn.modules.conv.Conv2d``, ``tensorflow.abs``,
``tensorflow.python.ops.array_ops.concat``).  :class:`ApiIndex` answers, for
such a path, whether the installed library has it and what it is: a
:class:`Symbol` with the canonical public name (``torch.nn.Conv2d``,
``tf.math.abs``, ``tf.concat``), its framework and its :class:`SymbolKind`.

The index is built by importing the libraries and walking their namespaces
(:func:`build_index`), which costs seconds and hundreds of megabytes, so
mining processes never do it: :func:`load_or_build` reads a JSON cache keyed
by the installed versions and, when it is missing, builds it in a child
process (``python -m miner.apiindex --build OUT``).  The same holds for the
docstrings with examples that seed the corpus (:func:`collect_docstrings`,
:func:`load_or_collect_docstrings`).

Note [Canonical names]
    One object is often reachable under several paths.  Its canonical name is
    the library's own, where it keeps one: TensorFlow records every
    ``tf_export`` name and picks a canonical one
    (``get_canonical_name_for_symbol``: ``tf.abs`` is ``tf.math.abs``).
    Otherwise it is chosen among the walked public paths, preferring in turn

    1. paths from a better root: ``tensorflow`` before ``keras``, and for a
       Keras object ``tensorflow.keras`` before the rest of ``tensorflow``
       (``tf.keras.optimizers.Adam``, not its alias ``tf.optimizers.Adam``);
    2. paths through a package on the way to the module that defines the
       object, over modules that merely import it
       (``torch.nn.utils.rnn.PackedSequence``, not
       ``torch.distributed.utils.PackedSequence``;
       ``torch.ao.quantization.fuse_modules``, not its deprecated alias
       ``torch.quantization.fuse_modules``);
    3. the fewest dots (``torch.nn.Conv2d`` over
       ``torch.nn.modules.conv.Conv2d``), then the shortest module, then a
       last segment equal to the object's own name (``torch.float32`` over
       ``torch.float``), then the smallest string.

    Identity decides what is "the same object", so a builtin exported twice
    has one name (``torch.nn.functional.conv2d`` *is* ``torch.conv2d``),
    while scalar constants (``torch.pi``) are each their own canonical name.

Note [What is indexed]
    * Every path met while walking the public namespace from a root
      (``torch``; ``tensorflow.keras``, ``tensorflow``, ``keras``; ``numpy``
      and its ``random``, ``linalg`` and ``fft`` modules; ``math`` constants).
      A module is walked once, under its first path; any other path to it is
      an *alias* (``torch.nn.modules.conv.F`` is ``torch.nn.functional``), and
      :meth:`ApiIndex.lookup` rewrites an alias prefix before it gives up, so
      the cross product of aliases and attributes is never stored.
    * The members of public classes (Note [Class members]), stored apart
      from the paths; :meth:`ApiIndex.lookup` finds them after a class path
      (``tensorflow.Tensor.numpy``, ``keras.layers.Dense.build``).  Other
      paths to a tensor type are aliases of its home path.
    * ``tensorflow.compat.v1`` paths whose object has a canonical TF2 name
      (v1-only symbols are left out); ``tensorflow.compat.v2`` is an alias of
      ``tensorflow``.
    * Every attribute of every loaded module of the library, private modules
      included (``torch._C._nn.gelu``, ``tensorflow.python.ops.array_ops.concat``,
      ``keras.src.layers.core.dense.Dense``), whose object is one found in the
      public walk (or, for TensorFlow, has a canonical TF2 export name).
      Objects reachable only privately are not indexed: the miner counts
      them as private.  A TensorFlow export name with a private part
      (``tf.__internal__.tracking.Trackable``) is not a canonical name.

    The walk reads module and class dictionaries (``vars``), so it runs no
    library code beyond name introspection (``tf_export``, ``numpy.dtype``)
    and warns about nothing.  Modules a library loads lazily are therefore
    missing (``torch.onnx``), except those its public API is reached through:
    ``numpy.random`` and ``numpy.fft`` are imported, and TensorFlow's lazy
    loaders (``tf.keras``) are loaded as their first attribute access would.

Note [Class members]
    Every public class (kinds CLASS, LAYER, TENSOR_TYPE) has its members
    resolved statically along its MRO: names not starting with ``_``, and
    ``__call__``, defined by a class of the library (members of ``object``
    and of other packages' classes, ``tuple.count``, are left out).  A member
    is named after the public class that defines it, so inherited members
    are one API: ``tf.keras.layers.Dense.add_weight`` and
    ``tf.keras.layers.Conv2D.add_weight`` are ``tf.keras.Layer.add_weight``
    (:attr:`Symbol.owner` ``tf.keras.Layer``).  When the defining class is
    private, the member is named after the nearest public class before it in
    the MRO that inherits from it (``torch._C.TensorBase.sum`` is
    ``torch.Tensor.sum``; a private base shared by public siblings gives each
    its own name: ``tf.keras.layers.Conv2D.convolution_op``).  A tensor type
    is all its classes together, their library bases included
    (``tf.Tensor.numpy`` is defined on EagerTensor's private base), and a
    class that copies another's dictionary has the other's members
    (``torch.FloatTensor.sum`` is ``torch.Tensor.sum``).

    Each member is stored once, under the class it is named after
    (:attr:`ApiIndex.members`), and each public class lists the public
    classes of its MRO (:attr:`ApiIndex.bases`); :meth:`ApiIndex.member`
    walks them.  The build checks every class's own resolution against that
    walk and stores what differs (multiple inheritance, copied dictionaries)
    under the class itself, so the walk answers as the MRO does.

    :attr:`Symbol.binding` says how a member binds: ``method`` (functions,
    method descriptors), ``classmethod``, ``staticmethod`` (also a callable
    without ``__get__``), ``property`` (any data descriptor, and non-callable
    descriptors such as ``cached_property``: kind OTHER, never FUNCTION) or
    ``attribute`` (a plain class attribute: a scalar, kind CONSTANT with its
    value; an enum member; a nested class).
"""

from __future__ import annotations

import argparse
import collections
import enum
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import logging
import math
import os
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.atomic import atomic_open
from infra.errors import InvalidArgument, SeamfuzzError

__all__ = [
    "BINDINGS",
    "CLASS_KINDS",
    "FRAMEWORKS",
    "INDEX_FORMAT",
    "ApiIndex",
    "DocString",
    "IndexBuildError",
    "Symbol",
    "SymbolKind",
    "build_index",
    "cache_directory",
    "collect_docstrings",
    "installed_frameworks",
    "load_or_build",
    "load_or_collect_docstrings",
]

#: Version of the cache file layout (and of the walking rules): bump it when
#: either changes, and every cache is rebuilt.
INDEX_FORMAT = "3"

#: The frameworks an index can be built for (numpy and ``math`` constants are
#: always included).
FRAMEWORKS = ("torch", "tensorflow")

#: Seconds a child process may take to build one part of the index.
BUILD_TIMEOUT_S = 900

_log = logging.getLogger("seamfuzz.miner")

# Distribution names under which a library may be installed; the first one
# found gives its version.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "keras": ("keras",),
    "numpy": ("numpy",),
}
# Which versions key the cache of each part of the index.
_PART_LIBRARIES: dict[str, tuple[str, ...]] = {
    "base": ("numpy",),
    "torch": ("torch", "numpy"),
    "tensorflow": ("tensorflow", "keras", "numpy"),
}


class IndexBuildError(SeamfuzzError, RuntimeError):
    """Building an index (or collecting docstrings) in a child process failed.
    The message names the log file holding the child's stderr."""


class SymbolKind(str, enum.Enum):
    """What an indexed path denotes, as far as calling it goes."""

    #: A namespace; attributes may follow.
    MODULE = "module"
    #: A callable that is not a class: Python and builtin functions, tensor
    #: methods, TF dispatch-wrapped functions, callable objects.
    FUNCTION = "function"
    #: A class whose construction is the call (``torch.Generator``,
    #: ``tf.TensorShape``, ``tf.Variable``).
    CLASS = "class"
    #: A ``torch.nn.Module``, ``tf.Module`` or Keras ``Layer`` class:
    #: constructed, then applied to inputs.
    LAYER = "layer"
    #: ``torch.Tensor``, ``tf.Tensor``, ``numpy.ndarray``: the type of the
    #: values the library computes on (its members are ``torch.Tensor.sum``).
    TENSOR_TYPE = "tensor_type"
    #: A dtype object; :attr:`Symbol.value` is its name (``float32``).
    DTYPE = "dtype"
    #: A bool, int, float or str module attribute; :attr:`Symbol.value` holds
    #: it.
    CONSTANT = "constant"
    #: Exists, but none of the above.
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Symbol:
    """What one indexed path denotes."""

    #: The public name as users write it: ``torch.nn.Conv2d``,
    #: ``torch.Tensor.sum``, ``tf.math.abs``, ``tf.keras.layers.Dense``,
    #: ``numpy.float32``, ``math.inf``.
    canonical: str
    #: ``torch``, ``tensorflow`` (Keras included), ``numpy`` or ``python``.
    framework: str
    #: What the path denotes, as far as calling it goes.
    kind: SymbolKind
    #: DTYPE: the dtype name without module (``float32``, ``bool``); CONSTANT:
    #: the scalar itself; otherwise None.
    value: bool | int | float | str | None = None
    #: For a member of a class: the canonical name of the public class it is
    #: named after, the one that defines it (``tf.keras.Layer`` for
    #: ``add_weight``, whichever layer it is reached through; see Note
    #: [Class members]); ``""`` for anything else.
    owner: str = ""
    #: For a member of a class, how it binds (one of :data:`BINDINGS`):
    #: ``method``, ``classmethod``, ``staticmethod``, ``property`` (a data
    #: descriptor or a computed attribute; never kind FUNCTION) or
    #: ``attribute`` (a plain class attribute: a constant, an enum value, a
    #: nested class); ``""`` for anything else.
    binding: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SymbolKind(self.kind))
        if self.binding not in BINDINGS or (self.binding == "") != (self.owner == ""):
            raise ValueError(
                f"symbol {self.canonical!r}: binding {self.binding!r} with owner {self.owner!r}"
            )
        if self.binding == "property" and self.kind is SymbolKind.FUNCTION:
            raise ValueError(f"symbol {self.canonical!r}: a property is not a function")

    def __eq__(self, other: object) -> bool:
        # NaN constants (torch.nan) must equal themselves, and 1 must differ
        # from 1.0 and True.
        return isinstance(other, Symbol) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[Any, ...]:
        return (
            self.canonical,
            self.framework,
            self.kind,
            _value_key(self.value),
            self.owner,
            self.binding,
        )

    def _row(self) -> list[Any]:
        row = [self.canonical, self.framework, self.kind.value, _value_to_json(self.value)]
        return [*row, self.owner, self.binding] if self.owner else row

    @classmethod
    def _from_row(cls, row: object) -> Symbol:
        row = _json_list(row)
        if len(row) not in (4, 6) or not all(isinstance(x, str) for x in (*row[:3], *row[4:])):
            raise ValueError(f"not a symbol: {row!r}")
        c, f, k, v, *member = row
        return cls(c, f, SymbolKind(k), _value_from_json(v), *member)


#: The ways a class member binds (:attr:`Symbol.binding`); ``""`` is not a
#: member.
BINDINGS = ("", "method", "classmethod", "staticmethod", "property", "attribute")

#: Kinds whose symbols are classes with members (:meth:`ApiIndex.member`).
CLASS_KINDS = frozenset({SymbolKind.CLASS, SymbolKind.LAYER, SymbolKind.TENSOR_TYPE})


def _value_key(v: object) -> tuple[str, object]:
    return (type(v).__name__, repr(v) if isinstance(v, float) else v)


def _json_list(x: object) -> list[Any]:
    if not isinstance(x, list):
        raise ValueError(f"not a list: {x!r}")
    return x


def _value_to_json(v: bool | int | float | str | None) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    return v


def _value_from_json(o: Any) -> bool | int | float | str | None:
    if isinstance(o, dict):
        return float(o["float"])
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    raise ValueError(f"not a symbol value: {o!r}")


@dataclass(frozen=True, slots=True)
class ApiIndex:
    """Dotted paths of the installed libraries, each mapped to the
    :class:`Symbol` it denotes.

    Build one with :func:`load_or_build` (cached, never imports the
    libraries) or :func:`build_index` (imports them here)."""

    #: Library versions the index was built from, and ``format``
    #: (:data:`INDEX_FORMAT`): ``{"torch": "2.13.0+cpu", "numpy": ..., ...}``.
    versions: dict[str, str]
    #: Every indexed path.
    paths: dict[str, Symbol] = field(default_factory=dict, repr=False)
    #: Paths that are another spelling of an indexed path: a module reached
    #: again (``torch.nn.modules.conv.F`` -> ``torch.nn.functional``), a
    #: tensor type (``torch.nn.functional.Tensor`` -> ``torch.Tensor``).
    #: :meth:`lookup` rewrites them as prefixes.
    aliases: dict[str, str] = field(default_factory=dict, repr=False)
    #: Class members, stored under the public class they are named after
    #: (see Note [Class members]): ``members["tf.keras.Layer"]["add_weight"]``;
    #: a class may also hold members named after another class, where its
    #: own MRO differs from walking :attr:`bases` (``torch.FloatTensor``).
    members: dict[str, dict[str, Symbol]] = field(default_factory=dict, repr=False)
    #: For the canonical name of every public class (kinds in
    #: :data:`CLASS_KINDS`), the public classes :meth:`member` searches, in
    #: method resolution order, itself first: ``bases["tf.keras.layers.Dense"]
    #: == ("tf.keras.layers.Dense", "tf.keras.Layer", "tf.keras.Operation")``.
    bases: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def lookup(self, path: str) -> Symbol | None:
        """The symbol ``path`` denotes, or None when the installed libraries
        have no such public object.  A prefix that is a module alias is
        rewritten (``torch.nn.modules.conv.F.relu`` is
        ``torch.nn.functional.relu``), and a path that is a class followed by
        one name is that class's :meth:`member`
        (``tensorflow.data.Dataset.range``, ``keras.layers.Dense.build``)."""
        sym = self._resolve(path)
        if sym is None:
            prefix, _, name = path.rpartition(".")
            owner = self._resolve(prefix) if prefix and name else None
            if owner is not None and owner.kind in CLASS_KINDS:
                return self.member(owner.canonical, name)
        return sym

    def _resolve(self, path: str) -> Symbol | None:
        """A stored path, after rewriting alias prefixes."""
        for _ in range(64):  # each rewrite consumes at least one segment
            sym = self.paths.get(path)
            if sym is not None:
                return sym
            parts = path.split(".")
            for i in range(len(parts) - 1, 0, -1):
                target = self.aliases.get(".".join(parts[:i]))
                if target is not None:
                    path = ".".join([target, *parts[i:]])
                    break
            else:
                return None
        return None

    def member(self, class_canonical: str, name: str) -> Symbol | None:
        """The member ``name`` of the public class ``class_canonical`` (its
        own or inherited from a library class), or None: neither it nor a
        library base defines it (``object``'s and other packages' members are
        not indexed).  ``member("tf.keras.layers.Dense", "add_weight")`` is
        ``tf.keras.Layer.add_weight``."""
        for base in self.bases.get(class_canonical, ()):
            sym = self.members.get(base, {}).get(name)
            if sym is not None:
                return sym
        return None

    def is_class(self, canonical: str) -> bool:
        """Whether ``canonical`` names a public class (a :data:`CLASS_KINDS`
        symbol), whose members :meth:`member` knows."""
        return canonical in self.bases

    def is_module(self, path: str) -> bool:
        """Whether ``path`` names a module (a namespace)."""
        sym = self.lookup(path)
        return sym is not None and sym.kind is SymbolKind.MODULE

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.lookup(path) is not None

    def __len__(self) -> int:
        return len(self.paths)

    def symbols(self) -> Iterator[tuple[str, Symbol]]:
        """Every stored ``(path, symbol)`` pair (alias-rewritten paths and
        class members are not enumerated; see :meth:`class_members`)."""
        yield from self.paths.items()

    def class_members(self) -> Iterator[Symbol]:
        """Every stored class member, each once."""
        seen: set[Symbol] = set()
        for members in self.members.values():
            for sym in members.values():
                if sym not in seen:
                    seen.add(sym)
                    yield sym

    # -- JSON ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict; each distinct symbol is stored once."""
        numbers: dict[Symbol, int] = {}
        table: list[list[Any]] = []

        def number(sym: Symbol) -> int:
            n = numbers.get(sym)
            if n is None:
                n = numbers[sym] = len(table)
                table.append(sym._row())
            return n

        return {
            "format": INDEX_FORMAT,
            "versions": dict(self.versions),
            "paths": {path: number(sym) for path, sym in self.paths.items()},
            "aliases": dict(self.aliases),
            "members": {
                owner: {name: number(sym) for name, sym in members.items()}
                for owner, members in self.members.items()
            },
            "bases": {cls: list(bases) for cls, bases in self.bases.items()},
            "symbols": table,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ApiIndex:
        """Inverse of :meth:`to_json`; raises ValueError on malformed input or
        another format."""
        try:
            if obj["format"] != INDEX_FORMAT:
                raise ValueError(f"index format {obj['format']!r}, expected {INDEX_FORMAT!r}")
            table = [Symbol._from_row(row) for row in obj["symbols"]]

            def symbol(n: object) -> Symbol:
                if type(n) is not int or n < 0:
                    raise ValueError(f"not a symbol number: {n!r}")
                return table[n]

            def text(x: object) -> str:
                if not isinstance(x, str):
                    raise ValueError(f"not a string: {x!r}")
                return x

            return cls(
                versions={text(k): text(v) for k, v in obj["versions"].items()},
                paths={text(p): symbol(n) for p, n in obj["paths"].items()},
                aliases={text(a): text(t) for a, t in obj["aliases"].items()},
                members={
                    text(owner): {text(name): symbol(n) for name, n in members.items()}
                    for owner, members in obj["members"].items()
                },
                bases={
                    text(c): tuple(text(b) for b in _json_list(bases))
                    for c, bases in obj["bases"].items()
                },
            )
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"malformed API index: {exc!r}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as JSON, atomically (a temporary file, then a rename)."""
        _atomic_write_json(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ApiIndex:
        """Read a file written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))


@dataclass(frozen=True, slots=True)
class DocString:
    """The docstring of a public callable that holds an example."""

    #: Canonical name of the documented callable (``torch.abs``,
    #: ``torch.Tensor.sum``, ``tf.math.abs``).
    api: str
    #: ``torch`` or ``tensorflow``.
    framework: str
    #: The raw docstring.
    text: str


# ---------------------------------------------------------------------------
# Walking the libraries (runs where the libraries are imported)
# ---------------------------------------------------------------------------


def _module_of(obj: object) -> str:
    """The module an object comes from, without calling into it."""
    try:
        m = getattr(obj, "__module__", None)
    except Exception:
        m = None
    if isinstance(m, str):
        return m
    return type(obj).__module__ or ""


def _own_name(obj: object) -> str | None:
    """``__name__`` of a class or routine; other objects may answer any
    attribute through ``__getattr__`` (and some raise from there)."""
    if not isinstance(obj, type) and not inspect.isroutine(obj):
        return None
    try:
        name = obj.__name__  # type: ignore[attr-defined]
    except Exception:
        return None
    return name if isinstance(name, str) else None


def _name_of(module: types.ModuleType) -> str | None:
    """A module's ``__name__`` read from its dictionary: a lazy module's
    ``__getattr__`` would import it."""
    try:
        name = vars(module).get("__name__")
    except TypeError:
        return None
    return name if isinstance(name, str) else None


class _Profile:
    """How to walk one library: its roots, which modules belong to its public
    namespace, and how its objects are classified and named."""

    framework: str = ""
    #: Module-name prefixes of the library's own objects.
    own: tuple[str, ...] = ()
    #: sys.modules prefixes scanned for other paths to public objects...
    loaded: tuple[str, ...] = ()
    #: ...except these (generated API modules, walked already).
    unscanned: tuple[str, ...] = ()

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        """``(path, module, rank)``; a lower rank wins canonical-name ties."""
        raise NotImplementedError

    def restricted_roots(self) -> list[tuple[str, types.ModuleType]]:
        """Roots whose paths are indexed only for objects that have a
        canonical name from elsewhere (TensorFlow's compat.v1)."""
        return []

    def fixed_aliases(self) -> dict[str, str]:
        return {}

    def admit(self, module: types.ModuleType) -> bool:
        """Whether to walk into ``module``."""
        raise NotImplementedError

    def resolve_module(self, obj: types.ModuleType) -> types.ModuleType | None:
        """The plain module behind a module attribute (some are wrappers
        whose dictionary does not hold the contents), or None."""
        if type(obj) is types.ModuleType:
            return obj
        # A registered module object of a subclass (TF's compat.v1 wrappers
        # copy the contents into their dictionary), or the module a wrapper
        # stands for.
        real = sys.modules.get(_name_of(obj) or "")
        return real if real is obj or type(real) is types.ModuleType else None

    def admit_restricted(self, module: types.ModuleType) -> bool:
        return False

    def public(self, path: str) -> str:
        """A walked path as users write it."""
        return path

    def export_name(self, obj: object) -> str | None:
        """The library's own canonical name for ``obj``, if it records one."""
        return None

    def rank(self, path: str, obj: object, rank: int) -> int:
        """The rank of one path to ``obj`` (its root's rank by default)."""
        return rank

    def dtype_name(self, obj: object) -> str | None:
        return None

    def is_layer(self, cls: type) -> bool:
        return False

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        """``(canonical, classes)``: the classes' public attributes are
        indexed as ``canonical.<name>``; the first class is the public one."""
        return []

    def owns(self, obj: object) -> bool:
        return _module_of(obj).startswith(self.own)


def _public_module_name(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


class _NumpyProfile(_Profile):
    framework = "numpy"
    own = ("numpy",)
    loaded = ("numpy.",)
    _WALKED = ("numpy.random", "numpy.linalg", "numpy.fft")

    def __init__(self) -> None:
        import numpy

        self.np = numpy
        for name in self._WALKED:  # numpy.random and numpy.fft load lazily
            importlib.import_module(name)

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        return [("numpy", self.np, 0)]

    def admit(self, module: types.ModuleType) -> bool:
        return _name_of(module) in self._WALKED

    def dtype_name(self, obj: object) -> str | None:
        np = self.np
        if isinstance(obj, np.dtype):
            return str(obj.name)
        if isinstance(obj, type) and issubclass(obj, np.generic):
            try:
                return str(np.dtype(obj).name)
            except TypeError:  # abstract: np.floating, np.generic
                return None
        return None

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        return [("numpy.ndarray", (self.np.ndarray,))]


class _TorchProfile(_Profile):
    framework = "torch"
    own = ("torch",)
    loaded = ("torch.",)
    #: Namespaces of operator overloads (``torch.ops.aten``), which create
    #: attributes on access.
    _SKIP = ("torch.ops", "torch.classes")

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        return [("torch", self.torch, 0)]

    def admit(self, module: types.ModuleType) -> bool:
        name = _name_of(module)
        return (
            isinstance(name, str)
            and (name == "torch" or name.startswith("torch."))
            and _public_module_name(name)
            and not any(name == s or name.startswith(s + ".") for s in self._SKIP)
        )

    def resolve_module(self, obj: types.ModuleType) -> types.ModuleType | None:
        # torch.backends.cudnn and friends are PropModule wrappers that keep
        # the real module in their "m" attribute.
        inner = vars(obj).get("m")
        if type(obj) is not types.ModuleType and type(inner) is types.ModuleType:
            return inner
        return super().resolve_module(obj)

    def dtype_name(self, obj: object) -> str | None:
        if isinstance(obj, self.torch.dtype):
            return str(obj).removeprefix("torch.")
        return None

    def is_layer(self, cls: type) -> bool:
        return issubclass(cls, self.torch.nn.Module)

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        return [("torch.Tensor", (self.torch.Tensor,))]


class _TensorflowProfile(_Profile):
    framework = "tensorflow"
    own = ("tensorflow", "keras")
    loaded = ("tensorflow.", "keras.")
    unscanned = ("tensorflow._api.",)
    _API = "tensorflow._api.v2."
    _V1 = "tensorflow._api.v2.compat.v1"
    _V2 = "tensorflow._api.v2.compat.v2"

    def __init__(self) -> None:
        import keras
        import tensorflow
        from tensorflow.python.util import tf_export

        self.tf = tensorflow
        self.keras = keras
        self.tf_export = tf_export
        self.layer_bases: tuple[type, ...] = (tensorflow.Module, keras.layers.Layer)

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        tf_keras = self.resolve_module(vars(self.tf)["keras"])
        return [
            *([("tensorflow.keras", tf_keras, 0)] if tf_keras is not None else []),
            ("tensorflow", self.tf, 0),
            ("keras", self.keras, 1),
        ]

    def restricted_roots(self) -> list[tuple[str, types.ModuleType]]:
        return [("tensorflow.compat.v1", self.tf.compat.v1)]

    def fixed_aliases(self) -> dict[str, str]:
        return {"tensorflow.compat.v2": "tensorflow"}

    def admit(self, module: types.ModuleType) -> bool:
        name = _name_of(module)
        if not isinstance(name, str):
            return False
        if name.startswith(self._API) or self._api_file(module):
            return not name.startswith((self._V1, self._V2))
        if name == "keras._tf_keras.keras" or name.startswith("keras._tf_keras.keras."):
            return True
        # The keras package's public API; keras.src is its implementation.
        return (
            (name == "keras" or name.startswith("keras."))
            and not name.startswith("keras.src")
            and _public_module_name(name)
        )

    @staticmethod
    def _api_file(module: types.ModuleType) -> bool:
        # tf.experimental is generated API code under a name without _api.
        file = vars(module).get("__file__")
        return isinstance(file, str) and ("_api", "v2") in zip(
            Path(file).parts, Path(file).parts[1:]
        )

    def admit_restricted(self, module: types.ModuleType) -> bool:
        name = _name_of(module)
        return (
            isinstance(name, str)
            and name.startswith(self._V1)
            and not name.startswith(self._V1 + ".compat.")
        )

    def resolve_module(self, obj: types.ModuleType) -> types.ModuleType | None:
        if "_tfll_name" in vars(obj):
            # A LazyLoader (tf.keras, tf.losses, ...): load what it stands for,
            # as the first attribute access would.
            try:
                real = importlib.import_module(obj.__name__)
            except Exception:  # e.g. Keras missing
                return None
            return real if type(real) is types.ModuleType else None
        return super().resolve_module(obj)

    def public(self, path: str) -> str:
        if path == "tensorflow" or path.startswith("tensorflow."):
            return "tf" + path[len("tensorflow") :]
        return path

    def rank(self, path: str, obj: object, rank: int) -> int:
        # Keras objects are spelled tf.keras.*, even where a shorter alias
        # exists (tf.optimizers.Adam is tf.keras.optimizers.Adam).
        if path.startswith("tensorflow.keras.") and _module_of(obj).startswith("keras"):
            return rank - 1
        return rank

    def export_name(self, obj: object) -> str | None:
        try:
            name = self.tf_export.get_canonical_name_for_symbol(obj, add_prefix_to_v1_names=True)
            if isinstance(name, str) and name and not _public_module_name(name):
                # tf.__internal__.*, tf.__operators__.*: another TF2 name, if
                # public, else none (such objects count as private).
                names = [n for n in self.tf_export.get_v2_names(obj) if isinstance(n, str)]
                name = next((n for n in names if _public_module_name(n)), None)
        except Exception:
            return None
        # With the prefix flag, a symbol without a TF2 name comes back as
        # "compat.v1.<v1 name>" (or "compat.v1.None").
        if not isinstance(name, str) or not name or name.startswith("compat.v1."):
            return None
        return "tf." + name

    def dtype_name(self, obj: object) -> str | None:
        if isinstance(obj, self.tf.dtypes.DType):
            return str(obj.name)
        return None

    def is_layer(self, cls: type) -> bool:
        return issubclass(cls, self.layer_bases)

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        classes: list[type] = [self.tf.Tensor]
        ops = sys.modules.get("tensorflow.python.framework.ops")
        eager = getattr(ops, "EagerTensor", None)
        if isinstance(eager, type):
            classes.append(eager)
        return [("tf.Tensor", tuple(classes))]


_PROFILES: dict[str, Callable[[], _Profile]] = {
    "numpy": _NumpyProfile,
    "torch": _TorchProfile,
    "tensorflow": _TensorflowProfile,
}


@dataclass(slots=True)
class _Table:
    """Mutable state of one build, handed out as an :class:`ApiIndex`."""

    paths: dict[str, Symbol] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, Symbol]] = field(default_factory=dict)
    bases: dict[str, tuple[str, ...]] = field(default_factory=dict)


class _Walker:
    """Indexes one library into a :class:`_Table`."""

    def __init__(self, profile: _Profile, table: _Table) -> None:
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
                own_name = value if kind is SymbolKind.DTYPE else _own_name(obj)
                home = _module_of(obj)
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


def _describe_member(raw: object, walker: _Walker) -> tuple[SymbolKind, str, Any]:
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


def _build_table(frameworks: Sequence[str]) -> _Table:
    table = _Table()
    for name in ("numpy", *frameworks):
        start = time.perf_counter()
        before = len(table.paths)
        _Walker(_PROFILES[name](), table).run()
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


def _check_frameworks(frameworks: Sequence[str] | str) -> tuple[str, ...]:
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
    names = _check_frameworks(frameworks)
    table = _build_table(names)
    versions = _versions(names or ("base",))
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


def _has_example(doc: object) -> bool:
    return isinstance(doc, str) and (">>>" in doc or "```" in doc)


def _own_doc(obj: object) -> str | None:
    try:
        doc = getattr(obj, "__doc__", None)
        if (
            not isinstance(obj, type)
            and not isinstance(obj, (types.FunctionType, types.BuiltinFunctionType))
            and doc is getattr(type(obj), "__doc__", None)
        ):
            return None  # a callable object: that is its class's docstring
    except Exception:
        return None
    return doc if isinstance(doc, str) else None


def collect_docstrings(framework: str) -> list[DocString]:
    """Docstrings with an example (``>>>`` or a fenced block) of every public
    callable of ``framework`` and of the public methods its public classes
    have from the library, one per canonical name, sorted by it.  Imports the
    library in this process.

    A method has its canonical name in the index, :meth:`ApiIndex.member`
    (``torch.nn.Module.apply``, ``torch.Tensor.sum``, ``tf.keras.Layer.add_weight``;
    see Note [Class members])."""
    (name,) = _check_frameworks((framework,))
    walker = _Walker(_PROFILES[name](), _Table())
    walker.run()
    docs: dict[str, str] = {}

    def add(api: str, doc: str | None) -> None:
        if name == "tensorflow" and api.startswith("tf.compat."):
            return
        if doc is not None and _has_example(doc):
            docs.setdefault(api, doc)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, canonical in sorted(walker.canonical.items(), key=lambda kv: kv[1]):
            if walker.kinds[key][0] is SymbolKind.FUNCTION or walker.kinds[key][0] in CLASS_KINDS:
                add(canonical, _own_doc(walker.objects[key]))
        for api, (sym, raw) in sorted(walker.member_objects.items()):
            if sym.kind is not SymbolKind.FUNCTION or api.endswith(".__call__"):
                continue
            if isinstance(raw, (staticmethod, classmethod)):
                raw = raw.__func__
            add(api, _own_doc(raw))
    return [DocString(api, name, docs[api]) for api in sorted(docs)]


# ---------------------------------------------------------------------------
# Caching and child processes
# ---------------------------------------------------------------------------


def _installed_version(library: str) -> str:
    for dist in _DISTRIBUTIONS[library]:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    raise InvalidArgument(f"{library} is not installed")


def _versions(parts: Iterable[str]) -> dict[str, str]:
    """Installed versions of the libraries behind ``parts``, read from package
    metadata (never by importing them)."""
    out: dict[str, str] = {}
    for part in parts:
        for lib in _PART_LIBRARIES[part]:
            out.setdefault(lib, _installed_version(lib))
    out["format"] = INDEX_FORMAT
    return dict(sorted(out.items()))


def _cache_key(kind: str, part: str) -> str:
    blob = json.dumps([kind, part, _versions([part])], sort_keys=True)
    return f"{kind}-{part}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def cache_directory(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where seamfuzz caches what it learns of the installed libraries
    (created): ``cache_dir`` when given, else ``$SEAMFUZZ_CACHE``, else
    ``$XDG_CACHE_HOME/seamfuzz``, else ``~/.cache/seamfuzz``."""
    if cache_dir is None:
        env, xdg = os.environ.get("SEAMFUZZ_CACHE"), os.environ.get("XDG_CACHE_HOME")
        cache_dir = env or (Path(xdg) / "seamfuzz" if xdg else Path.home() / ".cache" / "seamfuzz")
    path = Path(cache_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_write_json(path: Path, obj: object) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)


def _start_child(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m miner.apiindex ARGS`` with its stderr in ``log``.

    Note [Why a child process]
        Importing torch or TensorFlow costs seconds and hundreds of megabytes,
        and TensorFlow writes to file descriptor 2 from C++; a fresh
        interpreter keeps both out of the caller, and redirecting the child's
        descriptor (not ``sys.stderr``) catches the C++ logging too.  It is a
        new process, not a fork, so it is safe after CUDA is initialised.
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "miner.apiindex", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )


def _wait_children(children: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    failed: list[str] = []
    try:
        for what, (proc, log) in children.items():
            try:
                rc: int | None = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = None
            if rc != 0:
                status = "timed out" if rc is None else f"exit status {rc}"
                failed.append(f"{what} ({status}; see {log}){_tail(log)}")
    finally:  # timed out, interrupted: leave no builder behind
        for proc, _ in children.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failed:
        raise IndexBuildError("building in a child process failed: " + "; ".join(failed))


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("\n" + "\n".join(text)) if text else ""


def installed_frameworks() -> tuple[str, ...]:
    """The frameworks of :data:`FRAMEWORKS` installed here (found without
    importing them)."""
    import importlib.util

    return tuple(f for f in FRAMEWORKS if importlib.util.find_spec(f) is not None)


def load_or_build(
    frameworks: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ApiIndex:
    """The index of ``frameworks`` (default: those installed; plus numpy
    and ``math``), from the cache or built in child processes: the caller
    never imports torch or TensorFlow.

    The cache lives in :func:`cache_directory`, one file per framework named by a hash of the
    installed versions; missing parts are built concurrently, each child's
    stderr going to a ``.log`` file beside it."""
    names = _check_frameworks(installed_frameworks() if frameworks is None else frameworks)
    parts = names or ("base",)
    directory = cache_directory(cache_dir)
    files = {part: directory / f"{_cache_key('apiindex', part)}.json" for part in parts}
    loaded = {part: _load_cached(path, _versions([part])) for part, path in files.items()}
    missing = [part for part, index in loaded.items() if index is None]
    children = {}
    for part in missing:
        path, log = files[part], files[part].with_suffix(".log")
        args = ["--build", str(path), "--frameworks", "" if part == "base" else part]
        children[f"API index of {part}"] = (_start_child(args, log), log)
    _wait_children(children)
    for part in missing:
        loaded[part] = _load_cached(files[part], _versions([part]))
        if loaded[part] is None:
            raise IndexBuildError(f"the child wrote no usable index at {files[part]}")
    return _merge([loaded[part] for part in parts])  # type: ignore[misc]


def _load_cached(path: Path, versions: dict[str, str]) -> ApiIndex | None:
    try:
        index = ApiIndex.load(path)
    except (OSError, ValueError):
        return None
    return index if index.versions == versions else None


def _merge(indexes: Sequence[ApiIndex]) -> ApiIndex:
    if len(indexes) == 1:
        return indexes[0]
    versions: dict[str, str] = {}
    paths: dict[str, Symbol] = {}
    aliases: dict[str, str] = {}
    members: dict[str, dict[str, Symbol]] = {}
    bases: dict[str, tuple[str, ...]] = {}
    for index in indexes:  # numpy is in every part, identically
        versions.update(index.versions)
        for path, sym in index.paths.items():
            paths.setdefault(path, sym)
        for path, target in index.aliases.items():
            aliases.setdefault(path, target)
        for owner, own in index.members.items():
            members.setdefault(owner, own)
        for cls, mro in index.bases.items():
            bases.setdefault(cls, mro)
    return ApiIndex(
        versions=dict(sorted(versions.items())),
        paths=paths,
        aliases=aliases,
        members=members,
        bases=bases,
    )


def load_or_collect_docstrings(
    framework: str, cache_dir: str | os.PathLike[str] | None = None
) -> list[DocString]:
    """:func:`collect_docstrings`, cached like :func:`load_or_build` and run
    in a child process when the cache is missing."""
    (name,) = _check_frameworks((framework,))
    path = cache_directory(cache_dir) / f"{_cache_key('docstrings', name)}.json"
    docs = _load_docstrings(path, name)
    if docs is None:
        log = path.with_suffix(".log")
        _wait_children(
            {f"docstrings of {name}": (_start_child(["--docs", name, str(path)], log), log)}
        )
        docs = _load_docstrings(path, name)
        if docs is None:
            raise IndexBuildError(f"the child wrote no usable docstrings at {path}")
    return docs


def _docstrings_json(framework: str, docs: Sequence[DocString]) -> dict[str, Any]:
    return {
        "format": INDEX_FORMAT,
        "versions": _versions([framework]),
        "framework": framework,
        "docs": [[d.api, d.text] for d in docs],
    }


def _load_docstrings(path: Path, framework: str) -> list[DocString] | None:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
        if obj["versions"] != _versions([framework]) or obj["framework"] != framework:
            return None
        return [DocString(str(api), framework, str(text)) for api, text in obj["docs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------
# Command line (the child processes)
# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``--build OUT [--frameworks a,b]`` or ``--docs FRAMEWORK OUT``."""
    parser = argparse.ArgumentParser(
        prog="python -m miner.apiindex", description="Build seamfuzz's API index."
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--build", metavar="OUT", help="write the API index to OUT (JSON)")
    group.add_argument(
        "--docs",
        nargs=2,
        metavar=("FRAMEWORK", "OUT"),
        help="write FRAMEWORK's docstrings with examples to OUT (JSON)",
    )
    parser.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated frameworks for --build (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    start = time.perf_counter()
    if args.build:
        index = build_index([f for f in args.frameworks.split(",") if f])
        index.save(args.build)
        _log.info(
            "wrote %d paths to %s in %.1f s", len(index), args.build, time.perf_counter() - start
        )
    else:
        framework, out = args.docs
        docs = collect_docstrings(framework)
        _atomic_write_json(Path(out), _docstrings_json(framework, docs))
        _log.info(
            "wrote %d docstrings to %s in %.1f s", len(docs), out, time.perf_counter() - start
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
