"""Execution modes: a registry of names, imported only when used.

A mode spec is ``NAME[:key=value,...]`` (``torch.compile:backend=aot_eager``,
``tf.function:transform=mypkg.mod:attr``).  :func:`parse_mode` validates a
spec in the parent process without importing any framework; the mode object
itself (:class:`runner.modes.base.Mode`) is built inside the framework's
worker by :func:`load_mode`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from infra.errors import InvalidArgument

__all__ = ["ModeSpec", "MODES", "REFERENCE", "parse_mode", "parse_modes", "load_mode"]

#: name -> "module:Class"; the module is imported in the worker only.
MODES: dict[str, str] = {
    "torch.eager": "runner.modes.torch_modes:TorchEager",
    "torch.compile": "runner.modes.torch_modes:TorchCompile",
    "tf.eager": "runner.modes.tf_modes:TfEager",
    "tf.function": "runner.modes.tf_modes:TfFunction",
    "tf.xla": "runner.modes.tf_modes:TfXla",
}

#: Options each mode accepts (validated before any worker starts).
OPTIONS: dict[str, frozenset[str]] = {
    "torch.eager": frozenset({"device"}),
    "torch.compile": frozenset({"backend", "dynamic", "device", "fullgraph", "mode"}),
    "tf.eager": frozenset({"device"}),
    "tf.function": frozenset({"transform", "device", "jit_compile"}),
    "tf.xla": frozenset({"device"}),
}

#: The reference mode of each framework.
REFERENCE = {"torch": "torch.eager", "tensorflow": "tf.eager"}

_DEVICES = {"torch": ("cpu", "cuda"), "tensorflow": ("cpu", "gpu")}


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """A parsed mode spec; ``str(spec)`` is its canonical text."""

    name: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def framework(self) -> str:
        return "torch" if self.name.startswith("torch.") else "tensorflow"

    def option(self, key: str, default: str = "") -> str:
        return dict(self.options).get(key, default)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.options)


def _check_dotted(value: str, what: str) -> None:
    module, _, attr = value.partition(":")
    if not module or not attr or not all(p.isidentifier() for p in module.split(".")) or \
            not all(p.isidentifier() for p in attr.split(".")):
        raise InvalidArgument(f"{what} must be 'package.module:attr', got {value!r}")


def parse_mode(text: str) -> ModeSpec:
    """Parse and validate ``NAME[:key=value,...]``; raises
    :class:`~infra.errors.InvalidArgument` naming the known modes/options."""
    text = text.strip()
    name, sep, rest = text.partition(":")
    if name not in MODES:
        raise InvalidArgument(
            f"unknown mode {name!r}; known modes: {', '.join(sorted(MODES))}")
    options: list[tuple[str, str]] = []
    if sep:
        # A plug-in value contains ':' itself (package.module:attr), so split
        # on ',' first and on the first '=' of each item.
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise InvalidArgument(f"mode option must be key=value, got {item!r} in {text!r}")
            if key not in OPTIONS[name]:
                raise InvalidArgument(
                    f"mode {name} takes options {', '.join(sorted(OPTIONS[name]))}; not {key!r}")
            options.append((key, value))
    spec = ModeSpec(name, tuple(sorted(options)))
    fw = spec.framework
    device = spec.option("device", "cpu")
    if device not in _DEVICES[fw]:
        raise InvalidArgument(f"device of {name} must be one of {_DEVICES[fw]}, got {device!r}")
    for key in ("dynamic", "fullgraph", "jit_compile"):
        if key in dict(spec.options) and spec.option(key).lower() not in (
                "true", "false", "none"):
            raise InvalidArgument(f"{key} must be true, false or none, got {spec.option(key)!r}")
    backend = spec.option("backend")
    if ":" in backend:
        _check_dotted(backend, "a plug-in backend")
    if spec.option("transform"):
        _check_dotted(spec.option("transform"), "a plug-in transform")
    return spec


def parse_modes(text: str) -> list[ModeSpec]:
    """A comma-separated list whose items may carry options: items start
    with a known mode name (``tf.function,torch.compile:backend=eager,dynamic=true``)."""
    items: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        head = part.split(":", 1)[0]
        if head in MODES or not items:
            items.append(part)
        else:
            items[-1] += "," + part  # an option of the previous mode
    if not items:
        raise InvalidArgument("no modes given")
    specs = [parse_mode(i) for i in items]
    if len({str(s) for s in specs}) != len(specs):
        raise InvalidArgument(f"a mode is listed twice in {text!r}")
    return specs


def load_mode(spec: ModeSpec):  # -> runner.modes.base.Mode (imported lazily)
    """Import and build the mode object (in a worker of its framework)."""
    module, _, cls = MODES[spec.name].partition(":")
    return getattr(importlib.import_module(module), cls)(spec)
