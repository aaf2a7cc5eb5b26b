"""torch modes: eager (the reference) and ``torch.compile``.

torch is imported inside the methods that need it, so the parent process can
read the declarations without it.
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


class TorchCompile(TorchEager):
    """``torch.compile(fn, backend=..., dynamic=..., fullgraph=True)``.

    ``backend`` is a registered backend name (inductor, aot_eager, eager) or a
    plug-in ``package.module:attr``, any callable ``(gm, example_inputs) ->
    callable``.  ``fullgraph`` defaults to true: a graph break raises (and is
    classified ``unsupported``) instead of silently running part of the call
    eagerly, which would make agreement meaningless.
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
                known = torch._dynamo.list_backends(exclude_tags=())
                if name not in known:
                    raise ModeUsageError(f"torch.compile has no backend {name!r}; "
                                         f"known: {', '.join(sorted(known))}")
                self._backend = name
            # Hitting the recompile limit must be loud, never a silent eager run.
            torch._dynamo.config.fail_on_recompile_limit_hit = True
        return self._backend

    def unavailable(self) -> Optional[str]:
        self.backend()
        return super().unavailable()

    def build(self, fn: Callable) -> Callable:
        import torch

        return torch.compile(fn, backend=self.backend(), dynamic=self.dynamic,
                             fullgraph=self.fullgraph, mode=self.mode)

    def declared_limit(self, exc: BaseException) -> Optional[str]:
        from torch._dynamo import exc as dynamo_exc

        for e in root_causes(exc):
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
