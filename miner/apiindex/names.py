"""Canonical API names and import paths, converted by rule.

A canonical name is how users write an API (``tf.math.abs``,
``torch.nn.Conv2d``, ``numpy.float32``); an import path is how it is
reached from the imported module (``tensorflow.math.abs``).  The two differ
only in their first segment, by the table below, so the conversion needs no
index and imports no library: the campaign's parent process, which never
imports torch or TensorFlow, uses it too.  Whether the name exists is the
index's business (:meth:`~miner.apiindex.ApiIndex.lookup_name`).

This module is the one place that knows the spellings; code elsewhere calls
these functions instead of testing for ``"tf."``.
"""

from __future__ import annotations

__all__ = ["canonical_to_path", "path_to_canonical", "script_name"]

#: First segment of a canonical name -> the module it is imported from, where
#: they differ.
_CANONICAL_HEADS: dict[str, str] = {"tf": "tensorflow"}
#: The conventional import aliases (``import numpy as np``): accepted in
#: names that users type, and written in standalone scripts.
_SCRIPT_ALIASES: dict[str, str] = {"tensorflow": "tf", "numpy": "np"}
_MODULES_OF_ALIASES = {alias: module for module, alias in _SCRIPT_ALIASES.items()}
_HEADS_OF_MODULES = {module: head for head, module in _CANONICAL_HEADS.items()}


def _replace_head(name: str, table: dict[str, str]) -> str:
    head, dot, rest = name.partition(".")
    new = table.get(head)
    return name if new is None else new + dot + rest


def canonical_to_path(name: str) -> str:
    """The import path of a canonical name: ``tf.math.abs`` ->
    ``tensorflow.math.abs``; ``torch.relu`` and ``numpy.float32`` are
    unchanged.  A name written with a conventional alias is accepted too
    (``np.float32`` -> ``numpy.float32``), and an import path is returned as
    it is."""
    name = _replace_head(name, _CANONICAL_HEADS)
    return _replace_head(name, _MODULES_OF_ALIASES)


def path_to_canonical(path: str) -> str:
    """The canonical spelling of an import path: ``tensorflow.math.abs`` ->
    ``tf.math.abs``; a canonical name is returned as it is (the inverse of
    :func:`canonical_to_path`).  Only the first segment is rewritten: which
    of several paths to one object is canonical is the index's knowledge
    (``tensorflow.abs`` is ``tf.math.abs`` only there)."""
    return _replace_head(canonical_to_path(path), _HEADS_OF_MODULES)


def script_name(name: str) -> str:
    """A canonical name or import path as a script that does
    ``import tensorflow as tf`` and ``import numpy as np`` writes it:
    ``tensorflow.math.abs`` and ``tf.math.abs`` -> ``tf.math.abs``,
    ``numpy.float32`` -> ``np.float32``, ``torch.relu`` unchanged."""
    return _replace_head(canonical_to_path(name), _SCRIPT_ALIASES)
