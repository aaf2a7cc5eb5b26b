"""tensorflow modes: eager (the reference), ``tf.function`` and XLA.

tensorflow is imported inside the methods that need it, so the parent
process can read the declarations without it.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional

from runner.modes.base import (
    Mode,
    ModeSpec,
    ModeUsageError,
    Option,
    Stage,
    device_rung,
    import_dotted,
    root_causes,
)

__all__ = ["TfEager", "TfFunction", "TfXla"]

_TF_DEVICE = Option("choice", "the device scope of the call", ("cpu", "gpu"))

#: What tf.function declares it cannot express: graph semantics that differ
#: from eager by design.
_GRAPH_LIMITS = (
    # A traced function returns tensors only, and creates a variable on its
    # first trace only.
    ("Python functions must return zero or more Tensors", "returns a non-tensor"),
    ("only supports singleton tf.Variables created on the first call",
     "creates variables on every call"),
    # Eager-only APIs (tf.data iterators to numpy) refuse to run in a graph.
    ("is only supported in eager mode", "an eager-only API"),
    # Methods eager tensors have and graph tensors lack (numpy(), ...).
    ("'SymbolicTensor' object has no attribute", "an eager-only tensor method"),
    # A TensorArray made eagerly cannot be captured by a traced function.
    ("Attempting to build a graph-mode TF2-style TensorArray from either an eager-mode",
     "captures an eager TensorArray"),
)

#: What XLA declares it cannot compile.
_XLA_LIMITS = (
    ("Detected unsupported operations when trying to compile graph", "an op with no XLA kernel"),
    ("is not supported by XLA", "not supported by XLA"),
    ("XLA compilation requires", "an XLA compile-time constant requirement"),
    ("could not be compiled", "an op XLA could not compile"),
    ("No registered '", "an op with no XLA kernel"),
    # XLA needs both branches of a conditional to have one shape.
    ("left_branch_shape.dimensions_size() != right_branch_shape.dimensions_size()",
     "branches of different shapes"),
    ("crossing the XLA/TF boundary is not implemented", "a TensorList crossing the XLA boundary"),
    ("so this tf.function cannot be run on XLA", "variables created inside an XLA function"),
)

#: XLA's own "unimplemented" while converting a graph: a kernel that does
#: not cover this case (TridiagonalSolve without pivoting).  Only with the
#: UnimplementedError type: other errors during conversion may be bugs.
_XLA_UNIMPLEMENTED = "tf2xla conversion failed"


def _limit(exc: BaseException, table: tuple[tuple[str, str], ...]) -> Optional[str]:
    for e in root_causes(exc):
        text = str(e)
        for marker, why in table:
            # "No registered" also means a missing CPU kernel, which is no
            # limit of XLA: only the XLA device's own message counts.
            if marker in text and (marker != "No registered '" or "XLA_" in text):
                return why
    return None


class TfEager(Mode):
    """Eager execution on ``device`` (cpu or gpu): the tensorflow reference
    on the CPU, and the ``device`` axis elsewhere."""

    name = "tf.eager"
    framework = "tensorflow"
    options: ClassVar[dict[str, Option]] = {"device": _TF_DEVICE}
    devices = ("cpu", "gpu")
    reference = True
    summary = "eager tensorflow (the reference)"

    def unavailable(self) -> Optional[str]:
        import tensorflow as tf

        if self.device == "gpu" and not tf.config.list_physical_devices("GPU"):
            return "no GPU on this machine"
        return None

    def run(self, fn: Callable, args: tuple) -> Any:
        import tensorflow as tf

        with tf.device(f"/{self.device.upper()}:0"):
            return fn(*args)


class TfFunction(TfEager):
    """A transform of the calling function: ``tf.function`` by default
    (``jit_compile`` option), or a plug-in ``package.module:attr`` that takes
    the Python function and returns the callable to run in its place."""

    name = "tf.function"
    options: ClassVar[dict[str, Option]] = {
        "device": _TF_DEVICE,
        "transform": Option("dotted", "a plug-in package.module:attr: fn -> callable"),
        "jit_compile": Option("bool", "compile the graph with XLA"),
    }
    reference = False
    default_targets = ((),)
    summary = "tf.function (graph mode, Grappler; XLA with jit_compile=true)"

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        if spec.option("transform"):
            return "transform"
        return "xla" if spec.option("jit_compile").lower() == "true" else "graph"

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        rungs = [*device_rung(TfEager, spec)]
        if cls.stage_name(spec) == "xla":
            graph = ModeSpec(TfFunction.name, TfFunction.framework,
                             (("device", spec.device),) if spec.device != "cpu" else ())
            rungs.append(Stage("graph", graph))
        rungs.append(Stage(cls.stage_name(spec), spec))
        return tuple(rungs)

    def __init__(self, spec: ModeSpec) -> None:
        super().__init__(spec)
        self.jit_compile = spec.option("jit_compile", "false").lower() == "true"
        self._transform: Any = None

    def transform(self) -> Optional[Callable]:
        """The plug-in transform, or None; :class:`ModeUsageError` when it
        does not load."""
        path = self.spec.option("transform")
        if path and self._transform is None:
            try:
                self._transform = import_dotted(path)
            except Exception as exc:
                raise ModeUsageError(f"plug-in transform {path} cannot be loaded: "
                                     f"{type(exc).__name__}: {exc}") from None
            if not callable(self._transform):
                raise ModeUsageError(f"plug-in transform {path} is not callable")
        return self._transform

    def unavailable(self) -> Optional[str]:
        self.transform()
        return super().unavailable()

    def build(self, fn: Callable) -> Callable:
        import tensorflow as tf

        transform = self.transform()
        if transform is not None:
            return transform(fn)
        return tf.function(fn, jit_compile=self.jit_compile)

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        import tensorflow as tf

        for e in root_causes(exc):
            # Python control flow on a tensor's value: a graph cannot
            # express it (autograph did not convert it).
            if isinstance(e, tf.errors.OperatorNotAllowedInGraphError):
                return "data-dependent control flow"
        why = _limit(exc, _GRAPH_LIMITS)
        if why is None and self.jit_compile:
            why = _limit(exc, _XLA_LIMITS)
            if why is None and any(isinstance(e, tf.errors.UnimplementedError) and
                                   _XLA_UNIMPLEMENTED in str(e) for e in root_causes(exc)):
                why = "an XLA kernel that does not cover this case"
        return why


class TfXla(TfFunction):
    """``tf.function(fn, jit_compile=True)``."""

    name = "tf.xla"
    options: ClassVar[dict[str, Option]] = {"device": _TF_DEVICE}
    default_targets = ((),)
    summary = "tf.function(jit_compile=True): XLA"

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        return "xla"

    def __init__(self, spec: ModeSpec) -> None:
        super().__init__(spec)
        self.jit_compile = True
