"""Docstrings with examples of the installed libraries' public callables,
which seed the corpus: collected where the library is imported
(:func:`collect_docstrings`, in a child process), cached as JSON
(:func:`docstrings_payload`, :func:`docstrings_from_payload`).
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from miner.apiindex.model import CLASS_KINDS, DocString, SymbolKind
from miner.apiindex.profiles import PROFILES
from miner.apiindex.walker import Table, Walker, check_frameworks

__all__ = ["collect_docstrings", "docstrings_from_payload", "docstrings_payload"]


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
    (name,) = check_frameworks((framework,))
    walker = Walker(PROFILES[name](), Table())
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


def docstrings_payload(framework: str, docs: Sequence[DocString]) -> dict[str, Any]:
    """The JSON form of ``framework``'s docstrings, as the cache stores it
    (the cache adds the stamp)."""
    return {"framework": framework, "docs": [[d.api, d.text] for d in docs]}


def docstrings_from_payload(obj: Mapping[str, Any], framework: str) -> list[DocString] | None:
    """Inverse of :func:`docstrings_payload`; None when malformed or of
    another framework."""
    try:
        if obj["framework"] != framework:
            return None
        return [DocString(str(api), framework, str(text)) for api, text in obj["docs"]]
    except (KeyError, TypeError, ValueError):
        return None
