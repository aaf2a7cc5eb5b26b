"""tensorflow modes: eager (the reference), ``tf.function`` and XLA."""

from __future__ import annotations

from typing import Any, Callable, Optional

import tensorflow as tf

from runner.modes.base import Mode, import_dotted, root_causes

__all__ = ["TfEager", "TfFunction", "TfXla"]

#: Messages by which TensorFlow says a graph or XLA cannot express a call.
_UNSUPPORTED_MARKERS = (
    "Detected unsupported operations when trying to compile graph",
    "is not supported by XLA",
    "XLA compilation requires",
    "No registered '",  # no kernel for this op on the device
    "could not be compiled",
    # Graph semantics: a function returns tensors only, and creates a
    # variable on its first trace only.
    "Python functions must return zero or more Tensors",
    # XLA needs both branches of a conditional to have one shape.
    "left_branch_shape.dimensions_size() != right_branch_shape.dimensions_size()",
    "only supports singleton tf.Variables created on the first call",
    # Eager-only APIs (tf.data iterators to numpy) refuse to run in a graph.
    "is only supported in eager mode",
    # Methods eager tensors have and graph tensors lack (numpy(), ...).
    "'SymbolicTensor' object has no attribute",
)


class TfEager(Mode):
    """Eager execution on ``device`` (cpu or gpu)."""

    framework = "tensorflow"

    def unavailable(self) -> Optional[str]:
        if self.device == "gpu" and not tf.config.list_physical_devices("GPU"):
            return "no GPU on this machine"
        return None

    def compile(self, fn: Callable) -> Callable:
        return fn

    def run(self, fn: Callable, args: tuple) -> Any:
        with tf.device(f"/{self.device.upper()}:0"):
            return fn(*args)

    def unsupported(self, exc: BaseException) -> bool:
        for e in root_causes(exc):
            if isinstance(e, (NotImplementedError,
                              tf.errors.OperatorNotAllowedInGraphError)):
                return True
            if any(m in str(e) for m in _UNSUPPORTED_MARKERS):
                return True
        return False


class TfFunction(TfEager):
    """A transform of the calling function: ``tf.function`` by default
    (``jit_compile`` option), or a plug-in ``package.module:attr`` that takes
    the Python function and returns the callable to run in its place."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        transform = spec.option("transform")
        self.transform: Optional[Callable] = import_dotted(transform) if transform else None
        self.jit_compile = spec.option("jit_compile", "false").lower() == "true"

    def compile(self, fn: Callable) -> Callable:
        if self.transform is not None:
            return self.transform(fn)
        return tf.function(fn, jit_compile=self.jit_compile)


class TfXla(TfFunction):
    """``tf.function(fn, jit_compile=True)``."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.jit_compile = True
