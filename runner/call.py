"""Building one call from drawn inputs and running it in one mode.

This is the code a worker runs for every mode of a case, and the very code a
reproducer runs: :mod:`triage.repro` embeds this module verbatim (with
:mod:`runner.materialize`, :mod:`miner.records`, the dtype table and the
mode classes), so a reproducer cannot drift from what the worker did.  It
therefore imports only the standard library, numpy, the framework (lazily)
and those embedded modules.

The function handed to a mode takes the call's tensors as positional
parameters and binds everything else (scalars, dtypes, lists, a module's
structure) inside itself; a mode builds it once per argument signature
(:attr:`PreparedCall.key`) and reuses it for every case with that signature.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from miner.records import CallKind, CallRecord
from runner.materialize import DEFAULT_MAX_ELEMENTS, Drawn, draw, resolve_api, to_tf, to_torch

__all__ = [
    "INIT_SEED_OFFSET",
    "PreparedCall",
    "build_call",
    "is_tensor",
    "pin_threads",
    "observe_call",
    "call_in_mode",
    "prepare_call",
    "seed_all",
]

#: Added to a case's seed to draw a module constructor's tensor arguments.
INIT_SEED_OFFSET = 0x5EED


def pin_threads(framework: str) -> None:
    """Run the framework on one thread, as every worker does.

    Note [One thread]
        Thread count changes results in both frameworks (matmul sums,
        softmax, half-precision reductions), so every mode runs on one
        thread; parallelism comes from several workers.
    """
    import os

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if framework == "torch":
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # too late once torch ran parallel work
            pass
    else:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # too late once tensorflow has started
            pass


def seed_all(framework: str, seed: int) -> None:
    """Seed every generator a call may draw from: Python's, numpy's and the
    framework's (keras's too for tensorflow)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    if framework == "torch":
        import torch

        # The generator itself: torch.manual_seed also captures a stack
        # trace on every call (0.5 ms), more than most calls under test.
        torch.random.default_generator.manual_seed(seed)
        if torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(seed)
    else:
        import tensorflow as tf

        tf.random.set_seed(seed)
        try:
            import keras

            keras.utils.set_random_seed(seed % (1 << 32))
        except Exception:  # keras absent or refuses: tf seed is set anyway
            pass


def convert(framework: str, args: tuple, kwargs: tuple, device: str,
            seed: int) -> tuple[tuple, dict]:
    """Fresh framework objects from drawn values (a new copy per call)."""
    if framework == "torch":
        return to_torch(args, kwargs, device=device, seed=seed)
    return to_tf(args, kwargs)


def is_tensor(obj: Any) -> bool:
    """A torch tensor, a tensorflow tensor or variable (not numpy, not a
    ragged tensor), without importing a framework the object is not of."""
    mod = type(obj).__module__
    if mod.startswith("torch"):
        import torch

        return isinstance(obj, torch.Tensor)
    if mod.startswith(("tensorflow", "keras")):
        import tensorflow as tf

        return isinstance(obj, (tf.Tensor, tf.Variable)) and not isinstance(
            obj, tf.RaggedTensor)
    return False


class _Slot:
    """Where the ``i``-th tensor parameter goes in a call's arguments."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def _flatten(obj: Any, tensors: list) -> Any:
    """Replace tensors in ``obj`` by slots, collecting them in order."""
    if is_tensor(obj):
        tensors.append(obj)
        return _Slot(len(tensors) - 1)
    if isinstance(obj, list):
        return [_flatten(x, tensors) for x in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_flatten(x, tensors) for x in obj)
    if isinstance(obj, dict):
        return {k: _flatten(v, tensors) for k, v in obj.items()}
    return obj


def _fill(template: Any, tensors: tuple) -> Any:
    if isinstance(template, _Slot):
        return tensors[template.i]
    if isinstance(template, list):
        return [_fill(x, tensors) for x in template]
    if isinstance(template, tuple):
        return tuple(_fill(x, tensors) for x in template)
    if isinstance(template, dict):
        return {k: _fill(v, tensors) for k, v in template.items()}
    return template


def _describe_constant(obj: Any) -> str:
    if isinstance(obj, _Slot):
        return f"T{obj.i}"
    if isinstance(obj, (list, tuple)):
        inner = ",".join(_describe_constant(x) for x in obj)
        return f"[{inner}]" if isinstance(obj, list) else f"({inner})"
    if isinstance(obj, dict):
        return "{" + ",".join(f"{k}:{_describe_constant(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, float):
        return repr(obj) + "f"
    return f"{type(obj).__name__}:{obj!r}"[:200]


def _tensor_signature(framework: str, t: Any) -> str:
    """What a compiled callable is specialised on: dtype, shape, strides,
    requires_grad and device (torch); dtype and shape (tensorflow)."""
    if framework == "torch":
        if t.is_nested or t.layout is not _strided_layout():  # no sizes or strides
            return f"{t.dtype}{t.layout}{t.is_nested}{t.dim()}{int(t.requires_grad)}{t.device}"
        return f"{t.dtype}{tuple(t.shape)}{t.stride()}{int(t.requires_grad)}{t.device}"
    return f"{t.dtype.name}{t.shape}"  # str(): an unknown rank has no tuple


def _strided_layout() -> Any:
    import torch

    return torch.strided


def _method_call(name: str) -> Callable:
    """``receiver.name(*rest)``: the method of the receiver's own class.

    Note [Methods dispatch on the receiver]
        A method record names the class the miner saw (``tf.Tensor.set_shape``,
        ``tf.keras.metrics.MeanMetricWrapper.update_state``), but the object
        at run time is often a subclass that overrides it (an ``EagerTensor``
        in eager mode, a symbolic ``Tensor`` in a graph, ``SquaredHinge``).
        Calling the named class's function on it would bypass the override,
        and eager and graph mode would disagree for that reason alone; user
        code writes ``x.set_shape(...)``, and so does the runner.
    """

    def call(receiver: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(receiver, name)(*args, **kwargs)

    call.__name__ = name
    return call


def build_call(framework: str, api_fn: Callable, args_t: Any, kwargs_t: Any, n_params: int,
               module: Any) -> Callable:
    """The function a mode compiles: tensors in, the call's result out."""
    if module is not None:
        import torch

        names = [n for n, _ in module.named_parameters()] + \
            [n for n, _ in module.named_buffers()]

        def call_module(*tensors: Any) -> Any:
            # Parameters and buffers come first; the slots of the call's own
            # tensors are numbered after them.
            state = dict(zip(names, tensors[:n_params]))
            return torch.func.functional_call(module, state, _fill(args_t, tensors),
                                              _fill(kwargs_t, tensors))

        return call_module

    if framework == "tensorflow":
        import tensorflow as tf

        def as_tensor(v: Any) -> Any:
            return tf.convert_to_tensor(v) if isinstance(v, (bool, int, float)) else v

        def call_tf(*tensors: Any) -> Any:
            # tf.function returns Python numbers as tensors; every mode
            # returns them so, the reference included, so that only values
            # are compared.
            out = api_fn(*_fill(args_t, tensors), **_fill(kwargs_t, tensors))
            return tf.nest.map_structure(as_tensor, out)

        return call_tf

    def call(*tensors: Any) -> Any:
        return api_fn(*_fill(args_t, tensors), **_fill(kwargs_t, tensors))

    return call


def _built_layer(layer: Any, args: tuple) -> Any:
    """Build a keras layer's weights eagerly, before any mode traces it: a
    layer first built inside a traced function keeps tensors of that graph
    and cannot be used from the next one."""
    build = getattr(layer, "build", None)
    if getattr(layer, "built", True) or build is None or not args:
        return layer
    shape = getattr(args[0], "shape", None)
    if shape is not None:
        try:
            build(tuple(shape))
        except Exception:
            pass  # the layer builds itself on first call instead
    return layer


def _widen(t: Any, wide: bool) -> Any:
    """float64 (complex128) copy of a floating torch tensor when ``wide``."""
    if not wide:
        return t
    if t.is_complex():
        import torch

        return t.to(torch.complex128)
    return t.double() if t.is_floating_point() else t


class LibraryRaised(Exception):
    """The library raised while the call's inputs were being built (a
    module's constructor, say): the case is outside the API's domain.
    ``__cause__`` is the library's exception."""


@dataclass(frozen=True, slots=True, eq=False)
class PreparedCall:
    """One call ready to run in one mode: the function a mode builds, the
    tensors it takes, and the signature its built callable is cached by."""

    #: Takes :attr:`tensors` positionally and makes the call.
    fn: Callable
    #: Module parameters and buffers first, then the call's own tensors.
    tensors: tuple
    #: How many of :attr:`tensors` are module parameters and buffers.
    n_params: int
    #: The constants, the API and every tensor's dtype, shape, strides and
    #: device, hashed: one built callable per key.
    key: str


def prepare_call(record: CallRecord, drawn: Drawn, mode: Any, seed: int, *,
                 max_elements: int = DEFAULT_MAX_ELEMENTS, wide: bool = False,
                 instance: str = "") -> PreparedCall:
    """Build ``record``'s call from ``drawn`` for ``mode`` (fresh tensors on
    its device; a module constructed with its tensors drawn from ``seed +
    INIT_SEED_OFFSET`` and its weights seeded by ``seed``; with ``wide``,
    module weights in float64 and keras layers with a float64 policy).

    Raises :class:`~runner.materialize.MaterializeError` when the inputs
    cannot be built, :class:`LibraryRaised` when the library raised while
    building them.  ``instance`` tells apart cases whose built object cannot
    be keyed by value (a keras layer object per case)."""
    framework = mode.framework
    args, kwargs = convert(framework, drawn.args, drawn.kwargs, mode.device, seed)
    module = None
    params: list = []
    if record.kind is CallKind.METHOD:
        # Note [Methods dispatch on the receiver]: the named class need not
        # have it (tf.Tensor.numpy is EagerTensor's).
        api_fn = _method_call(record.api.rsplit(".", 1)[1])
    else:
        api_fn = resolve_api(record.api)
    if record.kind is CallKind.MODULE:
        # Its own stream: the constructor's tensors must not repeat the call's.
        init = draw((record.init_args, record.init_kwargs), seed + INIT_SEED_OFFSET,
                    max_elements=max_elements)
        init_args, init_kwargs = convert(framework, init.args, init.kwargs, mode.device, seed)
        if wide and framework == "tensorflow":
            init_kwargs = {**init_kwargs, "dtype": "float64"}  # a keras layer's policy
        seed_all(framework, seed)
        try:
            built = api_fn(*init_args, **init_kwargs)
        except Exception as exc:
            raise LibraryRaised(f"constructing {record.api}") from exc
        if framework == "torch":
            module = built.to(mode.device) if mode.device != "cpu" else built
            params = [_widen(p.detach().clone(), wide).requires_grad_(p.requires_grad)
                      for _, p in module.named_parameters()] + \
                [_widen(b.detach().clone(), wide) for _, b in module.named_buffers()]
        else:
            api_fn = _built_layer(built, args)
    flat: list = list(params)
    args_t = _flatten(args, flat)
    kwargs_t = _flatten(kwargs, flat)
    tensors = tuple(flat)
    key_parts = [record.api, record.kind.value, _describe_constant(args_t),
                 _describe_constant(kwargs_t)]
    if module is not None:
        key_parts.append(repr(module))
    elif record.kind is CallKind.MODULE:
        key_parts.append(instance)  # a keras layer object per case
    key_parts.extend(_tensor_signature(framework, t) for t in tensors)
    key = hashlib.sha256("|".join(key_parts).encode()).hexdigest()
    fn = build_call(framework, api_fn, args_t, kwargs_t, len(params), module)
    return PreparedCall(fn, tensors, len(params), key)


def call_in_mode(mode: Any, prepared: PreparedCall, seed: int) -> tuple[Any, bool]:
    """Build (or reuse) ``mode``'s callable for ``prepared``, seed every
    generator with ``seed`` and make the call; returns the result and whether
    the callable was built now.  The library's exceptions propagate."""
    built, new = mode.callable_for(prepared.key, prepared.fn)
    seed_all(mode.framework, seed)
    return mode.run(built, prepared.tensors), new


def observe_call(record: CallRecord, seed: int, mode: Any, *,
                 max_elements: int = DEFAULT_MAX_ELEMENTS,
                 drawn: Optional[Drawn] = None) -> tuple[Any, tuple]:
    """Draw ``record``'s inputs from ``seed`` (unless given), build the call
    and run it in ``mode``: the result, or the exception raised, and the
    call's own tensors afterwards (module weights left out).  What a
    reproducer does for each side of its boundary."""
    if drawn is None:
        drawn = draw((record.args, record.kwargs), seed, max_elements=max_elements)
    try:
        prepared = prepare_call(record, drawn, mode, seed, max_elements=max_elements)
    except LibraryRaised as exc:  # the library rejected the inputs (a constructor)
        return exc.__cause__ or exc, ()
    try:
        out, _ = call_in_mode(mode, prepared, seed)
    except Exception as exc:
        out = exc
    return out, prepared.tensors[prepared.n_params:]
