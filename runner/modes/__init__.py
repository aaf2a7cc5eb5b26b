"""Execution modes: one class per mode, registered by name.

A mode spec is ``NAME[:key=value,...]`` (``torch.compile:backend=aot_eager``,
``tf.function:transform=mypkg.mod:attr``).  :func:`parse_mode` validates a
spec against its class's declaration in the parent process, which never
imports torch or tensorflow (the mode modules import them lazily); the mode
object itself is built in a worker by :func:`load_mode`.

Adding a mode is one module here with a :class:`~runner.modes.base.Mode`
subclass, one line in :data:`MODES`, and its tests; dispatch, campaigns,
triage and reproducers read everything else from the class.
"""

from __future__ import annotations

import importlib
from typing import Any

from infra.errors import InvalidArgument
from runner.modes.base import Mode, ModeSpec, ModeUsageError, Option, Stage

__all__ = [
    "MODES",
    "Mode",
    "ModeSpec",
    "ModeUsageError",
    "Option",
    "Stage",
    "default_targets",
    "describe_modes",
    "load_mode",
    "mode_class",
    "parse_mode",
    "parse_modes",
    "reference_of",
]

#: name -> "module:Class".
MODES: dict[str, str] = {
    "torch.eager": "runner.modes.torch_modes:TorchEager",
    "torch.compile": "runner.modes.torch_modes:TorchCompile",
    "tf.eager": "runner.modes.tf_modes:TfEager",
    "tf.function": "runner.modes.tf_modes:TfFunction",
    "tf.xla": "runner.modes.tf_modes:TfXla",
    "torch.export": "runner.modes.torch_export:TorchExport",
    "torch.aoti": "runner.modes.torch_export:TorchAoti",
    "torch.onnx": "runner.modes.torch_export:TorchOnnx",
    "tf.saved_model": "runner.modes.tf_export:TfSavedModel",
    "tf.lite": "runner.modes.tf_export:TfLite",
    "tf.onnx": "runner.modes.tf_export:TfOnnx",
}


def mode_class(name: str) -> type[Mode]:
    """The class registered as ``name``; :class:`InvalidArgument` naming the
    known modes otherwise."""
    path = MODES.get(name)
    if path is None:
        raise InvalidArgument(f"unknown mode {name!r}; known modes: {', '.join(sorted(MODES))}")
    module, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if cls.name != name:
        raise InvalidArgument(f"mode {name!r} is registered as class {path} named {cls.name!r}")
    return cls


def parse_mode(text: "str | ModeSpec") -> ModeSpec:
    """Parse and validate ``NAME[:key=value,...]`` (a :class:`ModeSpec` is
    returned as it is); raises :class:`InvalidArgument` naming the known
    modes or options."""
    if isinstance(text, ModeSpec):
        return text
    text = text.strip()
    name, sep, rest = text.partition(":")
    cls = mode_class(name)
    options: dict[str, str] = {}
    if sep:
        # A plug-in value contains ':' itself (package.module:attr), so split
        # on ',' first and on the first '=' of each item.
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise InvalidArgument(f"mode option must be key=value, got {item!r} in {text!r}")
            if key not in cls.options:
                raise InvalidArgument(
                    f"mode {name} takes options {', '.join(sorted(cls.options))}; not {key!r}")
            if key in options:
                raise InvalidArgument(f"option {key} given twice in {text!r}")
            options[key] = value
    spec = ModeSpec(name, cls.framework, tuple(sorted(options.items())))
    why = cls.check(spec)
    if why:
        raise InvalidArgument(why)
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


def reference_of(framework: str) -> ModeSpec:
    """The framework's reference mode (its eager mode on the CPU)."""
    for name in MODES:
        cls = mode_class(name)
        if cls.framework == framework and cls.reference:
            return ModeSpec(name, framework)
    raise InvalidArgument(f"no reference mode for framework {framework!r}")


def default_targets() -> dict[str, tuple[ModeSpec, ...]]:
    """Per framework, the target modes run when ``--modes`` is not given."""
    out: dict[str, list[ModeSpec]] = {}
    for name in MODES:
        cls = mode_class(name)
        for options in cls.default_targets:
            spec = ModeSpec(name, cls.framework, tuple(sorted(options)))
            why = cls.check(spec)
            if why:
                raise InvalidArgument(f"default target of {name}: {why}")
            out.setdefault(cls.framework, []).append(spec)
    return {fw: tuple(specs) for fw, specs in out.items()}


def describe_modes() -> str:
    """Every registered mode with its options, for ``--help``."""
    lines = []
    for name in MODES:
        cls = mode_class(name)
        opts = ", ".join(f"{k}={o.placeholder()}" for k, o in cls.options.items())
        lines.append(f"{name} ({opts}): {cls.summary}")
    targets = ", ".join(str(m) for ms in default_targets().values() for m in ms)
    return "\n".join(lines) + f"\ndefault targets: {targets}"


def load_mode(spec: "ModeSpec | str") -> Any:
    """Build the mode object (in a worker of its framework)."""
    spec = parse_mode(spec)
    return mode_class(spec.name)(spec)
