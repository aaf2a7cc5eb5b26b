"""torch modes: eager (the reference) and ``torch.compile``."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from runner.modes.base import Mode, import_dotted, root_causes

__all__ = ["TorchEager", "TorchCompile"]


class TorchEager(Mode):
    """Plain eager execution on ``device`` (cpu or cuda)."""

    framework = "torch"

    def unavailable(self) -> Optional[str]:
        if self.device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device on this machine"
        return None

    def compile(self, fn: Callable) -> Callable:
        return fn


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

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        backend = spec.option("backend", "inductor")
        self.backend: Any = import_dotted(backend) if ":" in backend else backend
        self.dynamic = _tri(spec.option("dynamic"))
        self.fullgraph = _tri(spec.option("fullgraph", "true")) is not False
        self.mode = spec.option("mode") or None
        # Hitting the recompile limit must be loud, never a silent eager run.
        torch._dynamo.config.fail_on_recompile_limit_hit = True

    def compile(self, fn: Callable) -> Callable:
        return torch.compile(fn, backend=self.backend, dynamic=self.dynamic,
                             fullgraph=self.fullgraph, mode=self.mode)

    def unsupported(self, exc: BaseException) -> bool:
        from torch._dynamo import exc as dynamo_exc

        for e in root_causes(exc):
            # Dynamo reports the call's own error, met while tracing with fake
            # tensors (a bad shape, an out-of-range dim), as a graph break of
            # type "RuntimeError/TypeError when making fake tensor call": that
            # is the call failing, not a missing feature.
            if isinstance(e, dynamo_exc.Unsupported) and not \
                    str(getattr(e, "gb_type", "")).endswith("when making fake tensor call"):
                return True
            # Control flow on a tensor's value cannot be captured in one
            # graph (fullgraph=True): a limit of the mode, like a graph break.
            if isinstance(e, dynamo_exc.UserError) and "data-dependent" in str(e):
                return True
        return super().unsupported(exc)
