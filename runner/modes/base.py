"""The interface every execution mode implements (built inside a worker)."""

from __future__ import annotations

import importlib
import os
import types
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Optional

from runner.modes import ModeSpec

__all__ = ["Mode", "fresh_function", "import_dotted", "root_causes"]


def fresh_function(fn: Callable, tag: str) -> Callable:
    """A copy of ``fn`` with its own code object.

    Note [One code object per signature]
        Dynamo caches compiled graphs on the code object.  Closures made
        from one ``def`` share it, so compiling a fresh closure per API would
        still pile guards onto a single cache entry; after
        ``recompile_limit`` entries dynamo silently runs the function
        eagerly and every comparison passes.  A renamed code object per
        signature gives each its own cache.
    """
    code = fn.__code__.replace(co_name=f"seamfuzz_{tag}")
    new = types.FunctionType(code, fn.__globals__, f"seamfuzz_{tag}", fn.__defaults__,
                             fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def import_dotted(path: str) -> Any:
    """``package.module:attr.sub`` -> the object (a plug-in backend or transform)."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def root_causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first."""
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen:
        out.append(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return out


class Mode(ABC):
    """One way of executing a call: eager, compiled, graph, on a device.

    A mode turns the Python function that makes a call (its tensors as
    positional parameters, everything else bound inside it) into the callable
    to run, once per argument signature (:meth:`callable_for` caches by key).
    """

    #: ``torch`` or ``tensorflow``.
    framework: ClassVar[str]

    def __init__(self, spec: ModeSpec) -> None:
        self.spec = spec
        self._cache: dict[str, Callable] = {}
        self._counter = 0

    @property
    def name(self) -> str:
        return str(self.spec)

    @property
    def device(self) -> str:
        return self.spec.option("device", "cpu")

    def unavailable(self) -> Optional[str]:
        """Why this mode cannot run on this machine, or None."""
        return None

    #: Reuse compiled callables across cases of one signature.  Off only to
    #: measure what reuse saves (``SEAMFUZZ_COMPILE_CACHE=0``, see
    #: benchmarks/compile_reuse.py).
    reuse: bool = os.environ.get("SEAMFUZZ_COMPILE_CACHE", "1") != "0"

    def callable_for(self, key: str, fn: Callable) -> tuple[Callable, bool]:
        """The compiled callable for signature ``key`` and whether it is new."""
        got = self._cache.get(key) if self.reuse else None
        if got is not None:
            return got, False
        self._counter += 1
        got = self.compile(fresh_function(fn, str(self._counter)))
        self._cache[key] = got
        return got, True

    @abstractmethod
    def compile(self, fn: Callable) -> Callable:
        """Turn ``fn`` into what this mode runs (identity for eager)."""

    def run(self, fn: Callable, args: tuple) -> Any:
        """Call ``fn(*args)`` in this mode's context (device scope)."""
        return fn(*args)

    def unsupported(self, exc: BaseException) -> bool:
        """True when ``exc`` says the mode does not support this call (a graph
        break, an op the backend does not implement), rather than a bug."""
        return any(isinstance(e, NotImplementedError) for e in root_causes(exc))
