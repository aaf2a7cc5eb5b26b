"""torch modes: eager (the reference) and ``torch.compile``.

torch is imported inside the methods that need it, so the parent process can
read the declarations without it.
"""

from __future__ import annotations

import logging
import warnings
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

__all__ = ["TorchEager", "TorchCompile"]

_TORCH_DEVICE = Option("choice", "where tensors live and the call runs", ("cpu", "cuda"))


class TorchEager(Mode):
    """Plain eager execution on ``device`` (cpu or cuda): the torch
    reference on the CPU, and the ``device`` axis elsewhere."""

    name = "torch.eager"
    framework = "torch"
    options: ClassVar[dict[str, Option]] = {"device": _TORCH_DEVICE}
    devices = ("cpu", "cuda")
    reference = True
    summary = "eager torch (the reference)"

    def unavailable(self) -> Optional[str]:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device on this machine"
        return None


def _tri(value: str) -> Optional[bool]:
    v = value.lower()
    return None if v in ("", "none") else v == "true"


#: The OpenVINO loggers whose lines say where a graph ran (see Note
#: [OpenVINO runs the graph]).
_OV_LOGGERS = ("openvino.frontend.pytorch.torchdynamo.execute",
               "openvino.frontend.pytorch.torchdynamo.backend")


class _OpenVinoDidNotRun(RuntimeError):
    """No part of the call ran in OpenVINO (its backend kept the graph in
    PyTorch or fell back to it), or ran at a precision other than the
    call's: a limit of the backend, not a result to compare."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


class _OpenVinoWatch(logging.Filter):
    """Counts OpenVINO's own debug lines: a partition it ran ("OpenVINO
    graph execution successful") and a fallback ("... Falling back to
    native PyTorch execution", "Failed in OpenVINO execution: ..." before
    it compiles with inductor instead).  It swallows the debug lines it
    reads, and lets warnings through."""

    def __init__(self) -> None:
        super().__init__()
        self.ran = 0
        self.fallback = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            try:
                text = record.getMessage()
            except Exception:
                text = str(record.msg)
            if text.startswith("OpenVINO graph execution successful"):
                self.ran += 1
            elif "Falling back to native PyTorch" in text or \
                    text.startswith("Failed in OpenVINO execution"):
                self.fallback = text[:500]
            return False
        return True


_OV_WATCH: list = []


def _openvino_watch() -> _OpenVinoWatch:
    """The process's watch on OpenVINO's loggers, installed once."""
    if not _OV_WATCH:
        watch = _OpenVinoWatch()
        for name in _OV_LOGGERS:
            log = logging.getLogger(name)
            log.setLevel(logging.DEBUG)
            log.addFilter(watch)
        _OV_WATCH.append(watch)
    return _OV_WATCH[0]


def _openvino_options() -> dict:
    """The OpenVINO backend's options: see Note [OpenVINO runs the graph]
    (a fresh dict per build: the backend writes into its config)."""
    return {"testing": True,
            "config": {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}}


def _openvino_wide(tree: Any) -> bool:
    """Whether a float64 (or complex128) tensor is among ``tree``'s leaves."""
    import torch
    from torch.utils import _pytree as pytree

    return any(isinstance(t, torch.Tensor) and t.dtype in (torch.float64, torch.complex128)
               for t in pytree.tree_leaves(tree))


def _openvino_compiled(compiled: Callable) -> Callable:
    """The call of ``compiled`` (``torch.compile`` with the OpenVINO
    backend), refused when no part of it ran in OpenVINO or when float64
    is involved; see Note [OpenVINO runs the graph]."""
    watch = _openvino_watch()
    why: list[str] = []

    def run(*args: Any) -> Any:
        before = watch.ran
        watch.fallback = ""
        out = compiled(*args)
        if watch.fallback and not why:
            why.append(watch.fallback)
        if watch.ran == before:
            detail = why[0] if why else "its partitioner kept every op in PyTorch"
            raise _OpenVinoDidNotRun(f"no part of the call ran in OpenVINO: {detail}",
                                     "OpenVINO ran no part of the call")
        if _openvino_wide(args) or _openvino_wide(out):
            raise _OpenVinoDidNotRun("OpenVINO's CPU plugin computes float64 in float32",
                                     "float64 (OpenVINO computes it in float32)")
        return out

    return run


class TorchCompile(TorchEager):
    """``torch.compile(fn, backend=..., dynamic=..., fullgraph=True)``.

    ``backend`` is a registered backend name (inductor, aot_eager, eager) or a
    plug-in ``package.module:attr``, any callable ``(gm, example_inputs) ->
    callable``.  ``fullgraph`` defaults to true: a graph break raises (and is
    classified ``unsupported``) instead of silently running part of the call
    eagerly, which would make agreement meaningless.

    Note [OpenVINO runs the graph]
        ``backend=openvino`` imports ``openvino.torch`` (which registers the
        backend) and passes ``options={"testing": True, "config":
        {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}}``.
        Without ``testing`` OpenVINO's partitioner leaves a one-op graph in
        PyTorch (nothing would be tested); its default precision on CPUs
        with bf16 support is bf16 (a float32 call would come back rounded);
        and it starts a thread per core.  The backend also falls back
        silently: to PyTorch when a partition fails to compile or run (a
        bfloat16 input: "OpenVINO execution failed with torch.bfloat16"),
        to inductor when the whole graph fails, and it keeps ops its
        partitioner does not support in PyTorch.  So every call counts the
        partitions OpenVINO ran, from its own debug log lines ("OpenVINO
        graph execution successful"); a call in which none ran raises
        :class:`_OpenVinoDidNotRun`, a declared limit, rather than
        returning PyTorch's result as OpenVINO's.  OpenVINO's CPU plugin
        computes float64 in float32 (a float64 matmul is off by 1e-5),
        so a call with float64 inputs or outputs is refused the same way.
        Measured with openvino 2026.4.1 and torch 2.13: ``exp``, ``cumsum``
        and ``softmax`` of float32 inputs ran in OpenVINO (one execution
        line per call) and differ from eager in the last bits, while
        ``abs`` agrees bit for bit; a float16 input stays float16.
        ``import openvino.torch`` sets dynamo's ``inline_inbuilt_nn_modules``
        to False for the process, a flag torch 2.13 ignores (it always
        inlines), so other modes in the worker are not affected.
    """

    name = "torch.compile"
    options: ClassVar[dict[str, Option]] = {
        "device": _TORCH_DEVICE,
        "backend": Option("backend", "inductor, aot_eager, eager, another registered "
                          "backend, or a plug-in package.module:attr"),
        "dynamic": Option("tri", "dynamic shapes: true, false, or none (torch decides)"),
        "fullgraph": Option("bool", "one graph or an error (default true)"),
        "mode": Option("str", "inductor's mode (default, reduce-overhead, max-autotune)"),
    }
    reference = False
    default_targets = ((), (("backend", "aot_eager"),))
    summary = "torch.compile (inductor unless backend= says)"

    @classmethod
    def check(cls, spec: ModeSpec) -> Optional[str]:
        why = super().check(spec)
        if why is None and spec.option("backend") == "openvino":
            if spec.option("mode"):
                return "mode of torch.compile is inductor's: backend=openvino takes none"
            if spec.device != "cpu":
                return "backend=openvino of torch.compile runs on the CPU only"
        return why

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        backend = spec.option("backend", "inductor")
        if backend in ("eager", "aot_eager", "inductor"):
            return {"eager": "dynamo", "aot_eager": "aot_autograd"}.get(backend, backend)
        return "backend"

    @classmethod
    def ladder(cls, spec: ModeSpec) -> tuple[Stage, ...]:
        # dynamo's capture run as traced, then AOTAutograd's functionalization
        # and decompositions, then the backend itself.
        rungs = [*device_rung(TorchEager, spec)]
        for backend in ("eager", "aot_eager"):
            if spec.option("backend", "inductor") == backend:
                break  # the target itself is this stage
            rung = spec.replace(backend=backend, mode=None)  # mode is inductor's
            rungs.append(Stage(cls.stage_name(rung), rung))
        rungs.append(Stage(cls.stage_name(spec), spec))
        return tuple(rungs)

    @classmethod
    def shape_probe(cls, spec: ModeSpec) -> Optional[tuple[str, ModeSpec]]:
        if spec.option("dynamic").lower() == "true":
            return "dynamic-shapes", spec.replace(dynamic="false")
        return "static-shapes", spec.replace(dynamic="true")

    def __init__(self, spec: ModeSpec) -> None:
        super().__init__(spec)
        self.dynamic = _tri(spec.option("dynamic"))
        self.fullgraph = _tri(spec.option("fullgraph", "true")) is not False
        self.mode = spec.option("mode") or None
        self._backend: Any = None

    def backend(self) -> Any:
        """The backend's name or plug-in callable; :class:`ModeUsageError`
        when torch knows no such backend or the plug-in does not import."""
        if self._backend is None:
            import torch

            name = self.spec.option("backend", "inductor")
            if ":" in name:
                try:
                    self._backend = import_dotted(name)
                except Exception as exc:
                    raise ModeUsageError(f"plug-in backend {name} cannot be loaded: "
                                         f"{type(exc).__name__}: {exc}") from None
                if not callable(self._backend):
                    raise ModeUsageError(f"plug-in backend {name} is not callable")
            else:
                if name == "openvino":
                    try:
                        with warnings.catch_warnings():  # its FutureWarning on import
                            warnings.simplefilter("ignore")
                            import openvino.torch  # noqa: F401  (registers the backend)
                    except Exception as exc:
                        raise ModeUsageError(f"backend openvino cannot be loaded: "
                                             f"{type(exc).__name__}: {exc}") from None
                known = torch._dynamo.list_backends(exclude_tags=())
                if name not in known:
                    raise ModeUsageError(f"torch.compile has no backend {name!r}; "
                                         f"known: {', '.join(sorted(known))}")
                self._backend = name
            # Hitting the recompile limit must be loud, never a silent eager run.
            torch._dynamo.config.fail_on_recompile_limit_hit = True
        return self._backend

    @property
    def openvino(self) -> bool:
        return self.spec.option("backend") == "openvino"

    def unavailable(self) -> Optional[str]:
        if self.openvino:
            try:
                import openvino  # noqa: F401
            except ImportError as exc:
                return f"openvino is not installed ({exc}) (pip install 'seamfuzz[export]')"
        self.backend()
        return super().unavailable()

    def build(self, fn: Callable) -> Callable:
        import torch

        if self.openvino:
            return _openvino_compiled(torch.compile(
                fn, backend=self.backend(), dynamic=self.dynamic, fullgraph=self.fullgraph,
                mode=self.mode, options=_openvino_options()))
        return torch.compile(fn, backend=self.backend(), dynamic=self.dynamic,
                             fullgraph=self.fullgraph, mode=self.mode)

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        from torch._dynamo import exc as dynamo_exc

        for e in root_causes(exc):
            if isinstance(e, _OpenVinoDidNotRun):
                return e.why
            # Dynamo reports the call's own error, met while tracing with fake
            # tensors (a bad shape, an out-of-range dim), as a graph break of
            # type "RuntimeError/TypeError when making fake tensor call": that
            # is the call failing, not a limit of the mode.
            if isinstance(e, dynamo_exc.Unsupported) and not \
                    str(getattr(e, "gb_type", "")).endswith("when making fake tensor call"):
                return "graph break under fullgraph"
            # Control flow on a tensor's value cannot be captured in one
            # graph (fullgraph=True): a limit of the mode, like a graph break.
            if isinstance(e, dynamo_exc.UserError) and "data-dependent" in str(e):
                return "data-dependent control flow"
        return None
