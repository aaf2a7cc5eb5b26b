"""Per-framework knowledge for walking the installed libraries: which roots
a library's public namespace starts from, which modules belong to it, how
its objects are classified (dtypes, layers, tensor types) and what name the
library itself gives them (TensorFlow's ``tf_export`` registry).

A profile imports its library when it is constructed, so only the child
processes that build the index (:mod:`miner.apiindex.walker`) create one.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from collections.abc import Callable
from pathlib import Path

from miner.apiindex.names import path_to_canonical

__all__ = ["PROFILES", "NumpyProfile", "Profile", "TensorflowProfile", "TorchProfile", "module_of",
           "name_of_object"]


def module_of(obj: object) -> str:
    """The module an object comes from, without calling into it."""
    try:
        m = getattr(obj, "__module__", None)
    except Exception:
        m = None
    if isinstance(m, str):
        return m
    return type(obj).__module__ or ""


def name_of_object(obj: object) -> str | None:
    """``__name__`` of a class or routine; other objects may answer any
    attribute through ``__getattr__`` (and some raise from there)."""
    if not isinstance(obj, type) and not inspect.isroutine(obj):
        return None
    try:
        name = obj.__name__  # type: ignore[attr-defined]
    except Exception:
        return None
    return name if isinstance(name, str) else None


def _name_of(module: types.ModuleType) -> str | None:
    """A module's ``__name__`` read from its dictionary: a lazy module's
    ``__getattr__`` would import it."""
    try:
        name = vars(module).get("__name__")
    except TypeError:
        return None
    return name if isinstance(name, str) else None


class Profile:
    """How to walk one library: its roots, which modules belong to its public
    namespace, and how its objects are classified and named."""

    framework: str = ""
    #: Module-name prefixes of the library's own objects.
    own: tuple[str, ...] = ()
    #: sys.modules prefixes scanned for other paths to public objects...
    loaded: tuple[str, ...] = ()
    #: ...except these (generated API modules, walked already).
    unscanned: tuple[str, ...] = ()

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        """``(path, module, rank)``; a lower rank wins canonical-name ties."""
        raise NotImplementedError

    def restricted_roots(self) -> list[tuple[str, types.ModuleType]]:
        """Roots whose paths are indexed only for objects that have a
        canonical name from elsewhere (TensorFlow's compat.v1)."""
        return []

    def fixed_aliases(self) -> dict[str, str]:
        return {}

    def admit(self, module: types.ModuleType) -> bool:
        """Whether to walk into ``module``."""
        raise NotImplementedError

    def resolve_module(self, obj: types.ModuleType) -> types.ModuleType | None:
        """The plain module behind a module attribute (some are wrappers
        whose dictionary does not hold the contents), or None."""
        if type(obj) is types.ModuleType:
            return obj
        # A registered module object of a subclass (TF's compat.v1 wrappers
        # copy the contents into their dictionary), or the module a wrapper
        # stands for.
        real = sys.modules.get(_name_of(obj) or "")
        return real if real is obj or type(real) is types.ModuleType else None

    def admit_restricted(self, module: types.ModuleType) -> bool:
        return False

    def public(self, path: str) -> str:
        """A walked path as users write it."""
        return path

    def export_name(self, obj: object) -> str | None:
        """The library's own canonical name for ``obj``, if it records one."""
        return None

    def rank(self, path: str, obj: object, rank: int) -> int:
        """The rank of one path to ``obj`` (its root's rank by default)."""
        return rank

    def dtype_name(self, obj: object) -> str | None:
        return None

    def is_layer(self, cls: type) -> bool:
        return False

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        """``(canonical, classes)``: the classes' public attributes are
        indexed as ``canonical.<name>``; the first class is the public one."""
        return []

    def owns(self, obj: object) -> bool:
        return module_of(obj).startswith(self.own)


def _public_module_name(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


class NumpyProfile(Profile):
    """numpy, walked for its dtypes and the ``random``, ``linalg`` and ``fft``
    modules."""

    framework = "numpy"
    own = ("numpy",)
    loaded = ("numpy.",)
    _WALKED = ("numpy.random", "numpy.linalg", "numpy.fft")

    def __init__(self) -> None:
        import numpy

        self.np = numpy
        for name in self._WALKED:  # numpy.random and numpy.fft load lazily
            importlib.import_module(name)

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        return [("numpy", self.np, 0)]

    def admit(self, module: types.ModuleType) -> bool:
        return _name_of(module) in self._WALKED

    def dtype_name(self, obj: object) -> str | None:
        np = self.np
        if isinstance(obj, np.dtype):
            return str(obj.name)
        if isinstance(obj, type) and issubclass(obj, np.generic):
            try:
                return str(np.dtype(obj).name)
            except TypeError:  # abstract: np.floating, np.generic
                return None
        return None

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        return [("numpy.ndarray", (self.np.ndarray,))]


class TorchProfile(Profile):
    """torch: one root, every public submodule but the operator namespaces."""

    framework = "torch"
    own = ("torch",)
    loaded = ("torch.",)
    #: Namespaces of operator overloads (``torch.ops.aten``), which create
    #: attributes on access.
    _SKIP = ("torch.ops", "torch.classes")

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        return [("torch", self.torch, 0)]

    def admit(self, module: types.ModuleType) -> bool:
        name = _name_of(module)
        return (
            isinstance(name, str)
            and (name == "torch" or name.startswith("torch."))
            and _public_module_name(name)
            and not any(name == s or name.startswith(s + ".") for s in self._SKIP)
        )

    def resolve_module(self, obj: types.ModuleType) -> types.ModuleType | None:
        # torch.backends.cudnn and friends are PropModule wrappers that keep
        # the real module in their "m" attribute.
        inner = vars(obj).get("m")
        if type(obj) is not types.ModuleType and type(inner) is types.ModuleType:
            return inner
        return super().resolve_module(obj)

    def dtype_name(self, obj: object) -> str | None:
        if isinstance(obj, self.torch.dtype):
            return str(obj).removeprefix("torch.")
        return None

    def is_layer(self, cls: type) -> bool:
        return issubclass(cls, self.torch.nn.Module)

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        return [("torch.Tensor", (self.torch.Tensor,))]


class TensorflowProfile(Profile):
    """TensorFlow and Keras: the generated ``tf`` API modules, ``tf.keras``
    and ``keras`` roots, ``compat.v1`` restricted, ``tf_export`` names."""

    framework = "tensorflow"
    own = ("tensorflow", "keras")
    loaded = ("tensorflow.", "keras.")
    unscanned = ("tensorflow._api.",)
    _API = "tensorflow._api.v2."
    _V1 = "tensorflow._api.v2.compat.v1"
    _V2 = "tensorflow._api.v2.compat.v2"

    def __init__(self) -> None:
        import keras
        import tensorflow
        from tensorflow.python.util import tf_export

        self.tf = tensorflow
        self.keras = keras
        self.tf_export = tf_export
        self.layer_bases: tuple[type, ...] = (tensorflow.Module, keras.layers.Layer)

    def roots(self) -> list[tuple[str, types.ModuleType, int]]:
        tf_keras = self.resolve_module(vars(self.tf)["keras"])
        return [
            *([("tensorflow.keras", tf_keras, 0)] if tf_keras is not None else []),
            ("tensorflow", self.tf, 0),
            ("keras", self.keras, 1),
        ]

    def restricted_roots(self) -> list[tuple[str, types.ModuleType]]:
        return [("tensorflow.compat.v1", self.tf.compat.v1)]

    def fixed_aliases(self) -> dict[str, str]:
        return {"tensorflow.compat.v2": "tensorflow"}

    def admit(self, module: types.ModuleType) -> bool:
        name = _name_of(module)
        if not isinstance(name, str):
            return False
        if name.startswith(self._API) or self._api_file(module):
            return not name.startswith((self._V1, self._V2))
        if name == "keras._tf_keras.keras" or name.startswith("keras._tf_keras.keras."):
            return True
        # The keras package's public API; keras.src is its implementation.
        return (
            (name == "keras" or name.startswith("keras."))
            and not name.startswith("keras.src")
            and _public_module_name(name)
        )

    @staticmethod
    def _api_file(module: types.ModuleType) -> bool:
        # tf.experimental is generated API code under a name without _api.
        file = vars(module).get("__file__")
        return isinstance(file, str) and ("_api", "v2") in zip(
            Path(file).parts, Path(file).parts[1:]
        )

    def admit_restricted(self, module: types.ModuleType) -> bool:
        name = _name_of(module)
        return (
            isinstance(name, str)
            and name.startswith(self._V1)
            and not name.startswith(self._V1 + ".compat.")
        )

    def resolve_module(self, obj: types.ModuleType) -> types.ModuleType | None:
        if "_tfll_name" in vars(obj):
            # A LazyLoader (tf.keras, tf.losses, ...): load what it stands for,
            # as the first attribute access would.
            try:
                real = importlib.import_module(obj.__name__)
            except Exception:  # e.g. Keras missing
                return None
            return real if type(real) is types.ModuleType else None
        return super().resolve_module(obj)

    def public(self, path: str) -> str:
        return path_to_canonical(path)

    def rank(self, path: str, obj: object, rank: int) -> int:
        # Keras objects are spelled tf.keras.*, even where a shorter alias
        # exists (tf.optimizers.Adam is tf.keras.optimizers.Adam).
        if path.startswith("tensorflow.keras.") and module_of(obj).startswith("keras"):
            return rank - 1
        return rank

    def export_name(self, obj: object) -> str | None:
        try:
            name = self.tf_export.get_canonical_name_for_symbol(obj, add_prefix_to_v1_names=True)
            if isinstance(name, str) and name and not _public_module_name(name):
                # tf.__internal__.*, tf.__operators__.*: another TF2 name, if
                # public, else none (such objects count as private).
                names = [n for n in self.tf_export.get_v2_names(obj) if isinstance(n, str)]
                name = next((n for n in names if _public_module_name(n)), None)
        except Exception:
            return None
        # With the prefix flag, a symbol without a TF2 name comes back as
        # "compat.v1.<v1 name>" (or "compat.v1.None").
        if not isinstance(name, str) or not name or name.startswith("compat.v1."):
            return None
        return path_to_canonical("tensorflow." + name)

    def dtype_name(self, obj: object) -> str | None:
        if isinstance(obj, self.tf.dtypes.DType):
            return str(obj.name)
        return None

    def is_layer(self, cls: type) -> bool:
        return issubclass(cls, self.layer_bases)

    def tensor_types(self) -> list[tuple[str, tuple[type, ...]]]:
        classes: list[type] = [self.tf.Tensor]
        ops = sys.modules.get("tensorflow.python.framework.ops")
        eager = getattr(ops, "EagerTensor", None)
        if isinstance(eager, type):
            classes.append(eager)
        return [("tf.Tensor", tuple(classes))]


PROFILES: dict[str, Callable[[], Profile]] = {
    "numpy": NumpyProfile,
    "torch": TorchProfile,
    "tensorflow": TensorflowProfile,
}

