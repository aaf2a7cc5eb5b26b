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
import tempfile
import os
import traceback
import time
from dataclasses import dataclass
from typing import Any, Optional

from infra.errors import InternalError
from infra.sandbox import refusal
from miner.records import CallRecord
from runner import materialize
from runner.call import (
    INIT_SEED_OFFSET,
    LibraryRaised,
    call_in_mode,
    pin_threads,
    prepare_call,
    seed_all,
)
from runner.materialize import DEFAULT_MAX_ELEMENTS
from runner.modes import ModeSpec, ModeUsageError, load_mode, parse_mode
from runner.modes.base import stage_of
from runner.observation import Observation, Outcome
from runner.outputs import tensor_to_numpy, to_node

__all__ = ["CaseTask", "CaseResult", "ModeProbe", "ModeStatus", "WorkerLimits", "init_worker",
           "run_case", "run_batch", "DEFAULT_MAX_ELEMENTS", "INIT_SEED_OFFSET"]


@dataclass(frozen=True, slots=True)
class CaseTask:
    """One case to run: a record, a seed, and the modes (reference first).
    Mode texts are parsed into :class:`~runner.modes.ModeSpec` values."""

    case_id: str
    record: CallRecord
    seed: int
    #: Mode specs; ``modes[0]`` is the reference.
    modes: tuple[ModeSpec, ...]
    #: Also run the reference a second time and in float64.
    checks: bool = True
    max_elements: int = DEFAULT_MAX_ELEMENTS

    def __post_init__(self) -> None:
        modes = tuple(parse_mode(m) for m in self.modes)
        if not modes or len({m.framework for m in modes}) != 1:
            raise InternalError(f"a case runs in modes of one framework, not {modes}")
        object.__setattr__(self, "modes", modes)

    @property
    def framework(self) -> str:
        """The framework of every mode (and so of the worker)."""
        return self.modes[0].framework


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


@dataclass(frozen=True, slots=True)
class ModeProbe:
    """Ask a worker whether modes can run there, before any case does."""

    modes: tuple[ModeSpec, ...]


@dataclass(frozen=True, slots=True)
class ModeStatus:
    """A worker's answer to a :class:`ModeProbe`, per mode in its order."""

    #: Why each mode cannot run on this machine ("" when it can).
    unavailable: tuple[str, ...]
    #: The usage error of each mode ("" when none): an unknown backend, a
    #: plug-in that does not import.
    usage_errors: tuple[str, ...]


# ---------------------------------------------------------------------------
# Worker state
# ---------------------------------------------------------------------------

_FRAMEWORK = ""
_MODES: dict[ModeSpec, Any] = {}


#: Address-space limit of a worker: a backstop behind the element cap for
#: calls that allocate far more than their inputs (``torch.empty(2**40)``).
#: Virtual, not resident memory; both frameworks (XLA included) run under it.
DEFAULT_ADDRESS_SPACE = 16 << 30


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """Resource limits a worker sets on itself (and so on everything it
    starts); 0 means no limit.

    Note [Which limits]
        The address space bounds what one call can allocate (not with an
        accelerator: CUDA reserves far more virtual space than any sensible
        cap at context creation).  The file size bounds what a call can
        write into the worker's folder, the only place it can write.  The
        process count (threads count too; TensorFlow starts a few dozen
        even with one thread per pool) stops a call that forks without end.
        Linux does not apply it to root, so the pool also puts a sandboxed
        worker in a pids cgroup where it can make one (Note [Process count
        as root] in :mod:`infra.sandbox`); and the sandbox's private PID
        namespace ends every process with the worker.
    """

    address_space: int = DEFAULT_ADDRESS_SPACE
    file_size: int = 1 << 30
    processes: int = 4096


def _limit(which: int, value: int) -> None:
    import resource

    if value <= 0:
        return
    try:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard if hard != resource.RLIM_INFINITY else value))
    except (ValueError, OSError):
        pass  # a lower limit is already in force


def init_worker(framework: str, limits: Optional[WorkerLimits] = None) -> None:
    """Worker initializer: a private temporary directory (inside the
    worker's folder, see :mod:`infra.pool`), resource limits, one thread
    (:func:`runner.call.pin_threads`), the framework imported.  The pool
    sends the worker's output to its log."""
    global _FRAMEWORK
    _FRAMEWORK = framework
    os.chdir(tempfile.mkdtemp(prefix=f"seamfuzz-{framework}-"))
    import resource

    limits = limits if limits is not None else WorkerLimits()
    _limit(resource.RLIMIT_AS, limits.address_space)
    _limit(resource.RLIMIT_FSIZE, limits.file_size)
    _limit(resource.RLIMIT_NPROC, limits.processes)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if framework == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    pin_threads(framework)


def _mode(spec: ModeSpec) -> Any:
    m = _MODES.get(spec)
    if m is None:
        m = _MODES[spec] = load_mode(spec)
    return m


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
    except Exception:  # a tensor numpy cannot hold (quantized, sparse): not compared
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


def _internal(name: str, what: str) -> Observation:
    """seamfuzz failed: the traceback of the exception being handled."""
    return Observation(mode=name, outcome=Outcome.INTERNAL,
                       detail=f"{what}\n{traceback.format_exc()}"[-4000:])


def _observe(spec: ModeSpec, task: CaseTask, drawn: Any, *, role: str = "",
             wide: bool = False, memo: Optional[dict] = None) -> Observation:
    """Run the task's call in mode ``spec`` and observe what happens
    (``wide``: the float64 recomputation, module weights widened too).

    ``memo`` carries, between the modes of one case, what is the same for
    all of them on one device: the inputs' bytes before the call (every
    mode's inputs are copies of the same draw).

    Note [Library errors and seamfuzz errors]
        Only the library's own exceptions become observations: the call
        raising (RAISED, or UNSUPPORTED when the mode declares the error as
        one of its limits), or a constructor raising while the inputs are
        built (RAISED: the case is outside the API's domain).  An error of
        seamfuzz's own code (building the call, converting the result) is
        INTERNAL: counted and shown apart, never judged.  Either library
        error is SANDBOXED instead when it is the sandbox refusing an effect
        (:func:`infra.sandbox.refusal`: a write outside the temporary folder,
        the network), before the mode is asked about its limits: such a
        failure is the sandbox's, not the library's nor the mode's.
    """
    name = str(spec) + role
    try:
        mode = _mode(spec)
        why = mode.unavailable()
    except ModeUsageError as exc:
        return Observation(mode=name, outcome=Outcome.INTERNAL, detail=f"mode usage error: {exc}")
    except Exception:
        return _internal(name, f"building mode {spec}")
    if why:
        return Observation(mode=name, outcome=Outcome.UNSUPPORTED, detail=why)
    rec = task.record
    try:
        prepared = prepare_call(rec, drawn, mode, task.seed, max_elements=task.max_elements,
                                wide=wide, instance=task.case_id)
    except materialize.MaterializeError as exc:
        return Observation(mode=name, outcome=Outcome.SKIPPED, detail=str(exc))
    except LibraryRaised as exc:
        cause = exc.__cause__ or exc
        stopped = refusal(cause)
        return Observation(mode=name, outcome=Outcome.SANDBOXED if stopped else Outcome.RAISED,
                           error_type=_error_name(cause),
                           error_message=f"while building inputs ({exc}): {cause}"[:2000],
                           detail=stopped or "")
    except Exception:
        return _internal(name, "building the call")
    shared = (memo if memo is not None else {}).setdefault((spec.device, wide), {})
    try:
        if "marks" not in shared:
            shared["marks"] = _marks(prepared.tensors)
        marks = shared["marks"]
    except Exception:
        return _internal(name, "reading the inputs")
    start = time.perf_counter()
    compile_s = 0.0
    try:
        out, new = call_in_mode(mode, prepared, task.seed)
    except InternalError:
        return _internal(name, "seamfuzz code inside the call")
    except Exception as exc:
        elapsed = time.perf_counter() - start
        stopped = refusal(exc)
        if stopped:
            return Observation(mode=name, outcome=Outcome.SANDBOXED, error_type=_error_name(exc),
                               error_message=_message(exc), detail=stopped, seconds=elapsed)
        limit = mode.declared_limit(exc)
        return Observation(mode=name, outcome=Outcome.UNSUPPORTED if limit else Outcome.RAISED,
                           error_type=_error_name(exc), error_message=_message(exc),
                           detail=limit or "", seconds=elapsed)
    elapsed = time.perf_counter() - start
    if new and spec != task.modes[0]:
        compile_s = elapsed  # first call of a new signature includes compiling
    try:
        node = to_node(out)
        # Indices count the call's own tensors; module weights and buffers
        # are numbered from -n_params.
        n = prepared.n_params
        mutated = [(i - n, to_node(prepared.tensors[i]))
                   for i in _changed(prepared.tensors, marks)]
    except Exception:
        return _internal(name, "converting the result")
    return Observation(mode=name, outcome=Outcome.RETURNED, output=node,
                       mutated=tuple(mutated), seconds=elapsed, compile_seconds=compile_s)


def _message(exc: BaseException) -> str:
    """The exception's message, with the export stage it came from when a
    mode tagged one (``runner.modes.base.stage``)."""
    text = f"{exc}"
    if not text:
        text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    where = stage_of(exc)
    if where:
        text = f"[{where}] {text}"
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
        skipped = tuple(Observation(mode=str(m), outcome=Outcome.SKIPPED,
                                    detail=str(exc)) for m in task.modes)
        return CaseResult(task.case_id, skipped)
    ref_spec = task.modes[0]
    seed_all(task.framework, task.seed)
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


def probe_modes(probe: ModeProbe) -> ModeStatus:
    """Build each mode and ask it whether it can run here."""
    unavailable, usage = [], []
    for spec in probe.modes:
        try:
            why = _mode(spec).unavailable() or ""
            unavailable.append(why)
            usage.append("")
        except ModeUsageError as exc:
            unavailable.append(str(exc))
            usage.append(str(exc))
    return ModeStatus(tuple(unavailable), tuple(usage))


def run_batch(tasks: list[Any]) -> list[Any]:
    """A worker's unit of work: cases of one framework, in order (or one
    :class:`ModeProbe`)."""
    return [probe_modes(t) if isinstance(t, ModeProbe) else run_case(t) for t in tasks]
