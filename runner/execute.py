"""Running one case in every mode (inside a framework's worker process).

A case is a call record plus a seed.  Its inputs are drawn once (numpy, from
the seed) and converted afresh for every mode, so every mode sees the same
bytes and no mode can corrupt another's input.  The function handed to a
mode takes the call's tensors as positional parameters and binds everything
else (scalars, dtypes, lists, the module's structure) inside itself; a mode
compiles it once per argument signature and reuses it for every case with
the same signature.

Besides the modes' observations a case result carries what the contract
needs to judge honestly: a second run of the reference (nondeterminism), the
reference recomputed with float64 inputs (rounding arbitration), and whether
the call consumed the framework's random number generator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from miner.records import CallKind, CallRecord
from runner import materialize
from runner.modes import load_mode, parse_mode
from runner.observation import Observation, Outcome
from runner.outputs import is_tensor, tensor_to_numpy, to_node

__all__ = ["CaseTask", "CaseResult", "init_worker", "run_case", "run_batch"]

#: Element cap over all input tensors of a case (``too_large`` beyond it).
DEFAULT_MAX_ELEMENTS = 1 << 22
#: Added to a case's seed to draw a module constructor's tensor arguments.
INIT_SEED_OFFSET = 0x5EED


@dataclass(frozen=True, slots=True)
class CaseTask:
    """One case to run: a record, a seed, and the modes (reference first)."""

    case_id: str
    record: CallRecord
    seed: int
    #: Mode specs; ``modes[0]`` is the reference.
    modes: tuple[str, ...]
    #: Also run the reference a second time and in float64.
    checks: bool = True
    max_elements: int = DEFAULT_MAX_ELEMENTS


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What every mode observed for one case."""

    case_id: str
    #: One per mode of the task, in its order.
    observations: tuple[Observation, ...]
    #: The reference run again with the same seed (None if not run).
    ref_repeat: Optional[Observation] = None
    #: The reference with floating inputs in float64 (None if not applicable).
    oracle: Optional[Observation] = None
    #: The reference call advanced the framework's random generator.
    consumes_rng: bool = False


# ---------------------------------------------------------------------------
# Worker state
# ---------------------------------------------------------------------------

_FRAMEWORK = ""
_MODES: dict[str, Any] = {}


#: Address-space limit of a worker: a backstop behind the element cap for
#: calls that allocate far more than their inputs (``torch.empty(2**40)``).
#: Virtual, not resident memory; both frameworks (XLA included) run under it.
DEFAULT_ADDRESS_SPACE = 16 << 30


def init_worker(framework: str, log_path: Optional[str] = None,
                address_space: int = DEFAULT_ADDRESS_SPACE) -> None:
    """Worker initializer: a private temporary directory, output to a log,
    one thread, the framework imported.

    Note [One thread]
        Thread count changes results in both frameworks (matmul sums,
        softmax, half-precision reductions), so every mode runs on one
        thread; parallelism comes from several workers.
    """
    global _FRAMEWORK
    _FRAMEWORK = framework
    if log_path:
        log_path = os.path.abspath(log_path)  # before leaving the caller's directory
    os.chdir(tempfile.mkdtemp(prefix=f"seamfuzz-{framework}-"))
    if address_space > 0:
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        except (ValueError, OSError):
            pass  # a lower hard limit is already in force
    if log_path:
        # Library noise (TF's C++ logging, inductor warnings) goes to the log;
        # results travel on the worker's pipe.
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if framework == "torch":
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    else:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass


def _mode(spec: str) -> Any:
    m = _MODES.get(spec)
    if m is None:
        m = _MODES[spec] = load_mode(parse_mode(spec))
    return m


def _convert(args: tuple, kwargs: tuple, device: str, seed: int) -> tuple[tuple, dict]:
    """Fresh framework objects from drawn values (a new copy per call)."""
    if _FRAMEWORK == "torch":
        return materialize.to_torch(args, kwargs, device=device, seed=seed)
    return materialize.to_tf(args, kwargs)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    if _FRAMEWORK == "torch":
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


# ---------------------------------------------------------------------------
# Building the call
# ---------------------------------------------------------------------------


class _Slot:
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


def _tensor_signature(t: Any) -> str:
    if _FRAMEWORK == "torch":
        return f"{t.dtype}{tuple(t.shape)}{t.stride()}{int(t.requires_grad)}{t.device}"
    return f"{t.dtype.name}{tuple(t.shape)}"


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


def _build_call(api_fn: Callable, args_t: Any, kwargs_t: Any, n_params: int,
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

    if _FRAMEWORK == "tensorflow":
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


def _marks(tensors: tuple) -> list[Optional[bytes]]:
    """The bytes of every input before the call, to tell afterwards which
    inputs it wrote to.

    Note [Mutation detection]
        torch's version counters would be cheaper, but not every kernel
        bumps them (batch norm's running statistics change without), so the
        values themselves are compared.
    """
    return [_value_bytes(t) for t in tensors]


def _value_bytes(t: Any) -> Optional[bytes]:
    try:
        arr, _ = tensor_to_numpy(t)
    except Exception:
        return None
    # An object array (tf.string) holds pointers that differ on every
    # conversion; such tensors are immutable anyway.
    return arr.tobytes() if arr.dtype.kind != "O" else None


def _changed(tensors: tuple, marks: list[Optional[bytes]]) -> list[int]:
    return [i for i, (t, mark) in enumerate(zip(tensors, marks))
            if mark is not None and _value_bytes(t) != mark]


# ---------------------------------------------------------------------------
# One mode
# ---------------------------------------------------------------------------


def _error_name(exc: BaseException) -> str:
    t = type(exc)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


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


def _observe(spec: str, task: CaseTask, drawn: Any, *, role: str = "",
             wide: bool = False, memo: Optional[dict] = None) -> Observation:
    """Run the task's call in mode ``spec`` and observe what happens
    (``wide``: the float64 recomputation, module weights widened too).

    ``memo`` carries, between the modes of one case, what is the same for
    all of them on one device: the signature key and the inputs' bytes
    before the call (every mode's inputs are copies of the same draw)."""
    mode = _mode(spec)
    name = spec + role
    why = mode.unavailable()
    if why:
        return Observation(mode=name, outcome=Outcome.UNSUPPORTED, detail=why)
    rec = task.record
    try:
        args, kwargs = _convert(drawn.args, drawn.kwargs, mode.device, task.seed)
        module = None
        params: list = []
        if rec.kind is CallKind.METHOD:
            # Note [Methods dispatch on the receiver]: the named class need
            # not have it (tf.Tensor.numpy is EagerTensor's).
            api_fn = _method_call(rec.api.rsplit(".", 1)[1])
        else:
            api_fn = materialize.resolve_api(rec.api)
        if rec.kind is CallKind.MODULE:
            # Its own stream: the constructor's tensors must not repeat the
            # call's.
            init = materialize.draw((rec.init_args, rec.init_kwargs), task.seed + INIT_SEED_OFFSET,
                                    max_elements=task.max_elements)
            init_args, init_kwargs = _convert(init.args, init.kwargs, mode.device, task.seed)
            if wide and _FRAMEWORK == "tensorflow":
                init_kwargs = {**init_kwargs, "dtype": "float64"}  # a keras layer's policy
            _seed_all(task.seed)
            built = api_fn(*init_args, **init_kwargs)
            if _FRAMEWORK == "torch":
                module = built.to(mode.device) if mode.device != "cpu" else built
                params = [_widen(p.detach().clone(), wide).requires_grad_(p.requires_grad)
                          for _, p in module.named_parameters()] + \
                    [_widen(b.detach().clone(), wide) for _, b in module.named_buffers()]
            else:
                api_fn = _built_layer(built, args)
    except materialize.MaterializeError as exc:
        return Observation(mode=name, outcome=Outcome.SKIPPED, detail=str(exc))
    except Exception as exc:
        # Building the inputs (a Constructed argument, the module) failed in
        # the reference framework: the case is outside the API's domain.
        return Observation(mode=name, outcome=Outcome.RAISED, error_type=_error_name(exc),
                           error_message=f"while building inputs: {exc}"[:2000])
    flat: list = list(params)
    args_t = _flatten(args, flat)
    kwargs_t = _flatten(kwargs, flat)
    tensors = tuple(flat)
    shared = (memo if memo is not None else {}).setdefault((mode.device, wide), {})
    if "key" not in shared:
        key_parts = [rec.api, rec.kind.value, _describe_constant(args_t),
                     _describe_constant(kwargs_t)]
        if module is not None:
            key_parts.append(repr(module))
        elif rec.kind is CallKind.MODULE:
            key_parts.append(task.case_id)  # a keras layer object per case
        key_parts.extend(_tensor_signature(t) for t in tensors)
        shared["key"] = hashlib.sha256("|".join(key_parts).encode()).hexdigest()
        shared["marks"] = _marks(tensors)
    key, marks = shared["key"], shared["marks"]
    fn = _build_call(api_fn, args_t, kwargs_t, len(params), module)
    start = time.perf_counter()
    compile_s = 0.0
    try:
        compiled, new = mode.callable_for(key, fn)
        _seed_all(task.seed)
        out = mode.run(compiled, tensors)
        elapsed = time.perf_counter() - start
        if new and spec != task.modes[0]:
            compile_s = elapsed  # first call of a new signature includes compiling
        node = to_node(out)
    except Exception as exc:
        elapsed = time.perf_counter() - start
        outcome = Outcome.UNSUPPORTED if mode.unsupported(exc) else Outcome.RAISED
        return Observation(mode=name, outcome=outcome, error_type=_error_name(exc),
                           error_message=_message(exc), seconds=elapsed)
    # Indices count the call's own tensors; module weights and buffers are
    # numbered from -len(params).
    mutated = [(i - len(params), to_node(tensors[i])) for i in _changed(tensors, marks)]
    return Observation(mode=name, outcome=Outcome.RETURNED, output=node,
                       mutated=tuple(mutated), seconds=elapsed, compile_seconds=compile_s)


def _message(exc: BaseException) -> str:
    text = f"{exc}"
    if not text:
        text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return text[:2000]


def _rng_state() -> Any:
    if _FRAMEWORK == "torch":
        import torch

        return torch.random.get_rng_state().clone()
    return None


def _consumed(before: Any) -> bool:
    if _FRAMEWORK == "torch":
        import torch

        return not torch.equal(before, torch.random.get_rng_state())
    return False


def run_case(task: CaseTask) -> CaseResult:
    """Run ``task`` in all its modes; never raises for a library error."""
    rec = task.record
    try:
        drawn = materialize.draw((rec.args, rec.kwargs), task.seed,
                                 max_elements=task.max_elements)
    except materialize.MaterializeError as exc:
        skipped = tuple(Observation(mode=m, outcome=Outcome.SKIPPED,
                                    detail=str(exc)) for m in task.modes)
        return CaseResult(task.case_id, skipped)
    ref_spec = task.modes[0]
    _seed_all(task.seed)
    state = _rng_state()
    memo: dict = {}
    observations = [_observe(ref_spec, task, drawn, memo=memo)]
    consumes = _consumed(state) if state is not None else False
    for spec in task.modes[1:]:
        observations.append(_observe(spec, task, drawn, memo=memo))
    repeat = oracle = None
    ref = observations[0]
    # Note [Checks only where they can matter]
    #     The repeat run (nondeterminism) and the float64 recomputation
    #     (rounding arbitration) only change a verdict when some target did
    #     not reproduce the reference bit for bit; skipping them otherwise
    #     makes an agreeing case cost one call per mode.
    needed = any(o.outcome is not Outcome.RETURNED or o.output != ref.output
                 or o.mutated != ref.mutated for o in observations[1:])
    if task.checks and ref.outcome is Outcome.RETURNED and needed:
        repeat = _observe(ref_spec, task, drawn, role="#repeat", memo=memo)
        if _FRAMEWORK == "tensorflow" and not consumes:
            # TF keeps no single generator state to compare: an API draws
            # random numbers if reseeding the global generators (same inputs)
            # changes its result.
            other = _observe(ref_spec, dataclasses.replace(task, seed=task.seed + 1), drawn,
                             role="#reseeded", memo=memo)
            consumes = other.outcome is Outcome.RETURNED and other.output != ref.output
        wide = materialize.float64_variant(drawn)
        if wide is not None:
            oracle = _observe(ref_spec, task, wide, role="#float64", wide=True, memo=memo)
    return CaseResult(task.case_id, tuple(observations), repeat, oracle, consumes)


def run_batch(tasks: list[CaseTask]) -> list[CaseResult]:
    """A worker's unit of work: cases of one framework, in order."""
    return [run_case(t) for t in tasks]
