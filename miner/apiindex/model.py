"""The records of the API index: :class:`Symbol`, :class:`SymbolKind`,
:class:`ApiIndex` (with its lookups and JSON form) and :class:`DocString`.

Importing this module imports no library; see :mod:`miner.apiindex` for the
Notes on canonical names, what is indexed and class members.
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from infra.errors import SeamfuzzError
from miner.apiindex.cache import write_json
from miner.apiindex.names import canonical_to_path

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
]

#: Version of the cache file layout (and of the walking rules): bump it when
#: either changes, and every cache is rebuilt.
INDEX_FORMAT = "3"

#: The frameworks an index can be built for (numpy and ``math`` constants are
#: always included).
FRAMEWORKS = ("torch", "tensorflow")


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

    def lookup_name(self, name: str) -> Symbol | None:
        """The symbol a canonical name (``tf.math.abs``, ``torch.Tensor.sum``)
        or an import path (``tensorflow.abs``) denotes, or None: :meth:`lookup`
        of :func:`~miner.apiindex.names.canonical_to_path` ``(name)``.  A
        public alias answers its canonical symbol (``tf.abs`` gives
        ``tf.math.abs``)."""
        return self.lookup(canonical_to_path(name))

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
        write_json(path, self.to_json())

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
