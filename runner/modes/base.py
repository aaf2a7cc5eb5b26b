"""What a mode is: its spec, its option schema and the class every mode
implements.

A mode is one class, registered by name in :mod:`runner.modes`.  The class
attributes are its light declaration (name, framework, options, devices,
whether it is a reference or a default target, its attribution ladder); they
are read in the parent process, which never imports torch or tensorflow.
The methods that compile, export or run import the framework lazily and are
used inside a worker, and verbatim inside a standalone reproducer: this
module and the mode modules are embedded in reproducers (see
:mod:`triage.embed`), so they import only the standard library and the
framework, and of seamfuzz only other embedded modules (:mod:`infra.errors`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import types
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional

from infra.errors import InvalidArgument

__all__ = [
    "ExportRefusal",
    "Exported",
    "Mode",
    "ModeSpec",
    "ModeUsageError",
    "Option",
    "Stage",
    "device_rung",
    "fresh_function",
    "import_dotted",
    "limit_in",
    "root_causes",
    "stage",
    "stage_of",
]


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """A validated mode: a registered name, its framework and its options.

    It crosses process boundaries as a value; ``str(spec)`` is its canonical
    text ``NAME[:key=value,...]`` (options sorted), which is how stores and
    reports name it.  Build one with :func:`runner.modes.parse_mode`.
    """

    #: The registered mode name (``torch.compile``).
    name: str
    #: ``torch`` or ``tensorflow``: the worker that runs it.
    framework: str
    #: ``(key, value)`` pairs, sorted by key, as given (strings).
    options: tuple[tuple[str, str], ...] = ()

    def option(self, key: str, default: str = "") -> str:
        """The value given for ``key``, or ``default``."""
        return dict(self.options).get(key, default)

    @property
    def device(self) -> str:
        """The device the mode runs on (``cpu`` unless ``device=`` says)."""
        return self.option("device", "cpu")

    def replace(self, **changes: Optional[str]) -> "ModeSpec":
        """This spec with options set (a string) or removed (None).  The
        caller validates the result (:func:`runner.modes.parse_mode` of its
        text) when the change could make it invalid."""
        opts = dict(self.options)
        for key, value in changes.items():
            if value is None:
                opts.pop(key, None)
            else:
                opts[key] = value
        return ModeSpec(self.name, self.framework, tuple(sorted(opts.items())))

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.options)


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a mode: what values it takes, checked in the parent."""

    #: ``bool`` (true/false), ``tri`` (true/false/none), ``choice`` (one of
    #: :attr:`choices`), ``dotted`` (a plug-in ``package.module:attr``),
    #: ``backend`` (a name, or a plug-in ``package.module:attr``) or ``str``.
    kind: str
    #: What the option does, for ``--help`` and error messages.
    doc: str
    #: The allowed values of a ``choice``.
    choices: tuple[str, ...] = ()

    def placeholder(self) -> str:
        """The values it takes, for ``--help`` (``true|false``)."""
        if self.choices:
            return "|".join(self.choices)
        return {"bool": "true|false", "tri": "true|false|none", "dotted": "pkg.mod:attr",
                "backend": "NAME|pkg.mod:attr"}.get(self.kind, "TEXT")

    def check(self, mode: str, key: str, value: str) -> Optional[str]:
        """Why ``value`` is not acceptable, or None."""
        low = value.lower()
        if self.kind == "bool" and low not in ("true", "false"):
            return f"{key} of {mode} must be true or false, got {value!r}"
        if self.kind == "tri" and low not in ("true", "false", "none"):
            return f"{key} of {mode} must be true, false or none, got {value!r}"
        if self.kind == "choice" and value not in self.choices:
            return f"{key} of {mode} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.kind == "dotted" or (self.kind == "backend" and ":" in value):
            module, _, attr = value.partition(":")
            if not module or not attr or not all(
                    p.isidentifier() for p in (*module.split("."), *attr.split("."))):
                return f"{key} of {mode} must be 'package.module:attr', got {value!r}"
        if self.kind == "backend" and ":" not in value and not value.isidentifier():
            return f"{key} of {mode} must be a backend name or 'package.module:attr', " \
                   f"got {value!r}"
        return None


@dataclass(frozen=True, slots=True)
class Stage:
    """One rung of a mode's attribution ladder: a mode that runs the stages
    of the target up to and including ``name``.  The first rung whose mode
    already breaks the contract names the axis of a discrepancy."""

    #: The axis this rung isolates (``dynamo``, ``aot_autograd``, ``xla``).
    name: str
    #: The mode that stops after that stage (the target itself for the last).
    mode: ModeSpec


def device_rung(eager: "type[Mode]", spec: ModeSpec) -> tuple[Stage, ...]:
    """The first rung of a ladder off the CPU: the framework's ``eager``
    mode on ``spec``'s device (so a device bug is not blamed on a compiler)."""
    if spec.device == "cpu":
        return ()
    return (Stage("device", ModeSpec(eager.name, eager.framework, (("device", spec.device),))),)


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


#: How an exception names the stage of an export path it came from (a note,
#: :pep:`678`, so the exception keeps its own type and message).
STAGE_NOTE = "seamfuzz stage: "


@contextlib.contextmanager
def stage(name: str) -> Any:
    """Tag an exception raised inside with the stage ``name`` (export,
    convert, load, session, run), unless an inner stage already did."""
    try:
        yield
    except Exception as exc:
        if stage_of(exc) is None:
            exc.add_note(STAGE_NOTE + name)
        raise


def stage_of(exc: BaseException) -> Optional[str]:
    """The stage :func:`stage` tagged ``exc`` (or a cause of it) with."""
    for e in root_causes(exc):
        for note in getattr(e, "__notes__", ()):
            if isinstance(note, str) and note.startswith(STAGE_NOTE):
                return note[len(STAGE_NOTE):]
    return None


class Exported:
    """What an export mode builds from a call's function: an artifact made
    at the first call, from that call's inputs, then run for every call.

    Note [Export once per signature]
        A mode's callable is cached per signature key (dtypes, shapes,
        strides, devices and the values of the non-tensor arguments, see
        ``runner.call``), so every input this object sees has the layout of
        the first one: the artifact (an exported program, a compiled
        package, an ONNX session, a SavedModel, a TFLite interpreter) is
        made once and fed exactly what it was made for.  ``make(args)``
        returns the function that runs the artifact; an error while making
        it is remembered and raised again for the next inputs of the same
        signature, as a compiler's would be, rather than paying for the
        failing export again.
    """

    def __init__(self, make: Callable[[tuple], Callable[..., Any]]) -> None:
        self._make = make
        self._run: Optional[Callable[..., Any]] = None
        self._error: Optional[BaseException] = None

    def __call__(self, *args: Any) -> Any:
        if self._error is not None:
            raise self._error
        if self._run is None:
            try:
                self._run = self._make(args)
            except Exception as exc:
                self._error = exc
                raise
        with stage("run"):
            return self._run(*args)


class ExportRefusal(NotImplementedError):
    """An export path cannot carry the call (an in-place write under ONNX,
    a TensorFlow op tf2onnx left unconverted, a variable argument); the
    mode raises it with ``why``, the limit it declares (see
    :func:`limit_in`)."""

    def __init__(self, message: str = "", why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


def limit_in(exc: BaseException, table: tuple[tuple[str, str], ...]) -> Optional[str]:
    """The limit ``exc`` (or a cause) shows: an :class:`ExportRefusal`'s
    ``why``, or the reason paired with the first ``(marker, reason)`` of
    ``table`` whose marker is in its message; None otherwise."""
    for e in root_causes(exc):
        if isinstance(e, ExportRefusal):
            return e.why
        text = str(e)
        for marker, why in table:
            if marker in text:
                return why
    return None


class ModeUsageError(InvalidArgument):
    """The mode's options name something that is not there (an unknown
    backend, a plug-in whose module does not import): a usage error that
    stops a campaign before any case runs, never a library observation."""


class Mode:
    """One way of executing a call: eager, compiled, graph, exported, on a
    device.

    The declaration (class attributes) is read in the parent process; an
    instance lives in a worker or a reproducer.  A mode turns the Python
    function that makes a call (its tensors as positional parameters,
    everything else bound inside it) into the callable to run, once per
    argument signature (:meth:`callable_for` caches by key), runs it, and
    says which of its errors are limits it declares (:meth:`declared_limit`).
    """

    #: The registered name (``torch.compile``).
    name: ClassVar[str]
    #: ``torch`` or ``tensorflow``.
    framework: ClassVar[str]
    #: The options it takes; ``device`` is one of them for every mode.
    options: ClassVar[dict[str, Option]] = {}
    #: The devices ``device=`` may name; the first is the default.
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    #: The framework's reference mode (eager on the CPU unless told).
    reference: ClassVar[bool] = False
    #: Run as a target when ``--modes`` is not given, with these options.
    default_targets: ClassVar[tuple[tuple[tuple[str, str], ...], ...]] = ()
    #: A line for ``--help``.
    summary: ClassVar[str] = ""

    # -- declaration, parent side (no framework import) --------------------

    @classmethod
    def check(cls, spec: ModeSpec) -> Optional[str]:
        """Why ``spec``'s option values are not acceptable, or None; the
        keys are already known to be options of this mode."""
        for key, value in spec.options:
            why = cls.options[key].check(cls.name, key, value)
            if why:
                return why
        if spec.device not in cls.devices:
            return f"device of {cls.name} must be one of {', '.join(cls.devices)}, " \
                   f"got {spec.device!r}"
        return None

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        """The stages of ``spec`` in order, each as the mode that stops after
        it; the last is ``spec`` itself.  A device other than the CPU puts
        the framework's eager mode on that device first (``device``)."""
        return (Stage(cls.stage_name(spec), spec),)

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        """The axis of a discrepancy that only ``spec`` itself shows (an
        eager mode off the CPU: ``device``)."""
        return "eager" if spec.device == "cpu" else "device"

    @classmethod
    def shape_probe(cls, spec: ModeSpec) -> Optional[tuple[str, ModeSpec]]:
        """A variant of ``spec`` that compiles for the other shape regime,
        with the qualifier to add when it agrees (``static-shapes``), or
        None where the mode has no such choice."""
        return None

    # -- implementation, worker side ---------------------------------------

    #: Reuse compiled callables across cases of one signature.  Off only to
    #: measure what reuse saves (``SEAMFUZZ_COMPILE_CACHE=0``, see
    #: benchmarks/differential_throughput.py).
    reuse: ClassVar[bool] = os.environ.get("SEAMFUZZ_COMPILE_CACHE", "1") != "0"

    def __init__(self, spec: ModeSpec) -> None:
        if spec.name != self.name:
            raise ValueError(f"a {self.name} mode built from spec {spec}")
        self.spec = spec
        self._cache: dict[str, Callable] = {}
        self._counter = 0

    @property
    def device(self) -> str:
        return self.spec.device

    def unavailable(self) -> Optional[str]:
        """Why this mode cannot run on this machine (no such device), or
        None.  Raises :class:`ModeUsageError` when its options name
        something that does not exist."""
        return None

    def callable_for(self, key: str, fn: Callable) -> tuple[Callable, bool]:
        """The built callable for signature ``key`` and whether it is new."""
        got = self._cache.get(key) if self.reuse else None
        if got is not None:
            return got, False
        self._counter += 1
        got = self.build(fresh_function(fn, str(self._counter)))
        self._cache[key] = got
        return got, True

    def build(self, fn: Callable) -> Callable:
        """Turn ``fn`` into what this mode runs (identity for eager)."""
        return fn

    def run(self, fn: Callable, args: tuple) -> Any:
        """Call ``fn(*args)`` in this mode's context (device scope)."""
        return fn(*args)

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        """The limit ``exc`` shows, when it is one this mode declares (a
        graph break under ``fullgraph``, data-dependent control flow, an op
        with no XLA kernel, an op an exporter cannot export); None for any
        other error, which the contract then judges as the mode's failure."""
        return None
