"""The worker's own code, embedded verbatim in a reproducer.

A reproducer must run exactly what the worker ran: draw the inputs, build
the call, seed the generators, build the mode.  Rather than a second
implementation of each step, a reproducer carries the source of the modules
that do them (:data:`RUNTIME` plus the modules of its two mode classes),
concatenated into one namespace so that the script stays standalone (numpy
and the framework; ml_dtypes only for dtypes numpy lacks).

Note [What may be embedded]
    An embedded module imports only the standard library, numpy, ml_dtypes,
    the frameworks, and other embedded modules (with ``from MODULE import
    NAME [as ALIAS]`` at the top level).  Those intra-runtime imports are
    replaced by comments (and ``ALIAS = NAME`` lines); ``from __future__
    import annotations`` is hoisted once to the script's top.  Two embedded
    modules must not define the same top-level name, since they share one
    namespace.  :func:`runtime_source` checks all of this and raises
    :class:`~infra.errors.InternalError` otherwise, so a module that grows
    a forbidden import fails the reproducer tests, not a user's script.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.errors import InternalError

__all__ = ["RUNTIME", "defined_names", "runtime_source"]

#: The modules every reproducer embeds, in dependency order; the mode
#: classes' modules go between ``runner.modes.base`` and ``runner.call``.
RUNTIME = (
    "infra.errors",
    "infra.dtypes",
    "miner.records",
    "miner.apiindex.names",
    "runner.materialize",
    "runner.modes.base",
    "runner.call",
)

#: Third-party packages an embedded module may import: the frameworks and
#: the runtimes of the export modes (imported inside their methods).
_ALLOWED_ROOTS = frozenset({"numpy", "ml_dtypes", "torch", "tensorflow", "keras", "onnx",
                            "onnxruntime", "onnxscript", "openvino", "ai_edge_litert",
                            "tf2onnx"})


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise InternalError(f"cannot find the source of {module}")
    return Path(spec.origin).read_text(encoding="utf-8")


def _check_import(module: str, node: ast.AST, embedded: set[str]) -> None:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
        [node.module or ""]
    for name in names:
        root = name.split(".")[0]
        if name in embedded or name == "__future__" or root in _ALLOWED_ROOTS or \
                root in sys.stdlib_module_names:
            continue
        raise InternalError(f"{module} (embedded in reproducers) imports {name}")


def defined_names(tree: "ast.Module | str") -> set[str]:
    """The top-level names a module (or source text) defines, ``__all__``
    aside: what it adds to a reproducer's one namespace."""
    if isinstance(tree, str):
        tree = ast.parse(tree)
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                out |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out - {"__all__"}


def _embed_one(module: str, embedded: set[str]) -> tuple[str, set[str]]:
    text = _source(module)
    tree = ast.parse(text)
    lines = text.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _check_import(module, node, embedded)
    # Top-level imports of other embedded modules become comments.
    replace: dict[int, tuple[int, list[str]]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (
                node.module in embedded or node.module == "__future__"):
            if node.module == "__future__":
                new = ["# from __future__ import annotations: hoisted to the top"]
            else:
                new = [f"# from {node.module} import ...: embedded above"]
                new += [f"{a.asname} = {a.name}" for a in node.names
                        if a.asname and a.asname != a.name]
            replace[node.lineno - 1] = (node.end_lineno or node.lineno, new)
        elif isinstance(node, ast.Import) and any(a.name in embedded for a in node.names):
            raise InternalError(f"{module}: import embedded modules by name, not as modules")
    for node in ast.walk(tree):
        inner = isinstance(node, ast.ImportFrom) and node.module in embedded
        if inner and node.lineno - 1 not in replace:
            raise InternalError(f"{module}: a nested import of {node.module} cannot be embedded")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in replace:
            end, new = replace[i]
            out += new
            i = end
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out), defined_names(tree)


def _mode_dependencies(module: str, seen: list[str]) -> None:
    """``module`` after the other mode modules it imports (an export mode's
    module builds on its framework's compile modes), each once."""
    if module in seen or module in RUNTIME:
        return
    for node in ast.parse(_source(module)).body:
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("runner.modes.") and node.module not in RUNTIME:
            _mode_dependencies(node.module, seen)
    seen.append(module)


def runtime_source(mode_modules: Sequence[str]) -> str:
    """The embedded runtime: :data:`RUNTIME` with ``mode_modules`` (the
    modules of the reproducer's mode classes, and the mode modules they
    import) inserted before ``runner.call``, each under a banner naming
    it."""
    modes: list[str] = []
    for m in mode_modules:
        _mode_dependencies(m, modes)
    order = list(RUNTIME[:-1]) + modes + [RUNTIME[-1]]
    embedded = set(order)
    owner: dict[str, str] = {}
    parts: list[str] = []
    for module in order:
        text, names = _embed_one(module, embedded)
        for name in sorted(names):
            if name in owner:
                raise InternalError(f"{module} and {owner[name]} both define {name}: "
                                    "they cannot share a reproducer's namespace")
            owner[name] = module
        bar = "#" * 79
        parts.append(f"{bar}\n# seamfuzz module {module}, embedded verbatim\n{bar}\n\n{text}\n")
    return "\n\n".join(parts)
