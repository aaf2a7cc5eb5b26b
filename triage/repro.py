"""Standalone reproducers: one discrepancy as a Python script.

:func:`render_repro` turns a call record, its seed, the two modes of a
boundary and the verdict kind found there into the text of a script that
needs only numpy and the framework (ml_dtypes for dtypes numpy lacks, and a
plug-in backend or transform from its dotted path).  The script runs the
call in the reference mode and in the target mode and compares the two with
a check for that kind.  It exits 1 when the discrepancy reproduces, 0 when
it does not, and 2 when something else happens (a different discrepancy,
the script itself failing), so it doubles as a regression test and
:mod:`triage.replay` can run a directory of them.  :func:`write_repro`
stores it as ``<directory>/<cluster_id>.py``.

Note [The script runs the worker's code]
    Drawing the inputs (random draws, special values, casts, layouts),
    building the call (functions, methods on their receiver, modules
    through ``functional_call``, keras layers, constructed arguments),
    seeding and building the mode are done by seamfuzz's own modules,
    embedded verbatim at the end of the script (:mod:`triage.embed`): the
    script calls :func:`runner.call.observe_call`, exactly what a worker
    calls, on the record (as JSON), the seed and a mode object of the
    worker's mode class.  So the script sees the bytes, the call and the
    compiled callable the worker saw; the reproducer tests check this by
    comparing the script's observations with the worker's, byte for byte.

Note [What the script compares]
    Status, then dtypes, then shapes, then values of the output and of every
    input after the call (in-place writes): integers exactly, floats with the
    tolerance of :data:`runner.contract.DEFAULT_TOLERANCES` for their dtype,
    NaN equal to NaN.  The runner's float64 arbitration is left out, so a
    rounding difference just over the tolerance reads as a value
    discrepancy here.  Both sides raising counts as agreement for a
    ``status`` discrepancy (the target now rejects what the reference
    rejects) and as "something else" otherwise.  For ``crash`` and
    ``timeout`` the script runs the target in a child process (itself, with
    ``--target``): the discrepancy reproduces when that child dies or hangs.

What cannot be reproduced faithfully raises :class:`ReproUnsupported`
instead of writing a script that would test something else: unresolved
arguments, inputs over the element cap, a tensor of a framework other than
the call's, a mode of the other framework, a verdict kind that is not a
discrepancy.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.atomic import write_text_atomic
from infra.dtypes import dtype_category
from infra.errors import InternalError, InvalidArgument, SeamfuzzError
from miner.apiindex.names import canonical_to_path
from miner.records import (
    ApiRef,
    CallKind,
    CallRecord,
    Constructed,
    TensorSpec,
    describe_record,
    iter_values,
)
from runner import materialize
from runner.call import INIT_SEED_OFFSET
from runner.contract import DEFAULT_TOLERANCES, PYTHON_COMPLEX, PYTHON_FLOAT
from runner.dispatch import DEFAULT_TIMEOUT
from runner.materialize import DEFAULT_MAX_ELEMENTS
from runner.modes import ModeSpec, mode_class, parse_mode
from triage.embed import defined_names, runtime_source

__all__ = [
    "REPRO_KINDS",
    "Observed",
    "ReproUnsupported",
    "Stamp",
    "render_repro",
    "write_repro",
]

REPRO_KINDS = frozenset({"value", "status", "dtype", "shape", "crash", "timeout"})

_WIDTH = 88
#: The frameworks reproducers are written for.
_FRAMEWORKS = ("torch", "tensorflow")
_TOLERANCE_DTYPES = ("float16", "bfloat16", "float32", "float64", "complex32", "complex64",
                     "complex128")
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class ReproUnsupported(SeamfuzzError):
    """A discrepancy that no reproducer can replay faithfully (its message
    says why); the caller records "no reproducer" instead of a script."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where and how a discrepancy was found, for a reproducer's header."""

    #: ``(library, version)`` pairs (a mapping is accepted and sorted).
    versions: tuple[tuple[str, str], ...] = ()
    #: The machine's device, as the campaign recorded it (``cpu``,
    #: ``NVIDIA H100``).
    device: str = ""
    #: The seamfuzz command line that found it.
    command: str = ""
    #: How the cases that found it ran (:meth:`infra.sandbox.Sandbox.describe`).
    sandbox: str = ""

    def __post_init__(self) -> None:
        versions = self.versions
        if isinstance(versions, Mapping):
            versions = tuple(versions.items())
        object.__setattr__(self, "versions",
                           tuple(sorted((str(k), str(v)) for k, v in versions)))


@dataclass(frozen=True, slots=True)
class Observed:
    """What each side of the boundary was seen to do, in a few words
    (``returned tensor(0.85)``, ``raised RuntimeError: ...``)."""

    #: The reference mode's observation, one line.
    reference: str = ""
    #: The target mode's observation, one line.
    target: str = ""


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def render_repro(
    record: CallRecord,
    seed: int,
    reference: str,
    target: str,
    kind: str,
    *,
    observed: Observed = Observed(),
    stamp: Stamp = Stamp(),
    cluster_id: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> str:
    """The text of a standalone script reproducing a ``kind`` discrepancy of
    ``record`` with inputs from ``seed`` between mode specs ``reference`` and
    ``target`` (``torch.eager``, ``torch.compile:backend=aot_eager``,
    ``tf.xla``, ...).  ``timeout`` is how long a ``crash`` / ``timeout``
    script waits for the target; ``max_elements`` is the element cap the
    campaign ran under.  Raises :class:`ReproUnsupported` when the case
    cannot be replayed faithfully and
    :class:`~infra.errors.InvalidArgument` for a bad mode or kind."""
    kind = str(getattr(kind, "value", kind))
    if kind not in REPRO_KINDS:
        raise InvalidArgument(
            f"a reproducer checks one of {', '.join(sorted(REPRO_KINDS))}; not {kind!r}")
    if not timeout > 0:
        raise InvalidArgument(f"timeout must be > 0, got {timeout!r}")
    fw = record.framework
    if fw not in _FRAMEWORKS:
        raise ReproUnsupported(f"no reproducers for framework {fw!r}")
    modes = (parse_mode(reference), parse_mode(target))
    for spec in modes:
        if spec.framework != fw:
            raise ReproUnsupported(f"mode {spec} does not run {fw} calls")
    _check_record(record, int(seed), max_elements)
    text = _render(record, int(seed), modes, kind, observed, stamp, cluster_id,
                   float(timeout), max_elements)
    try:
        compile(text, f"<repro {cluster_id or record.api}>", "exec")
    except SyntaxError as exc:  # a bug of this module, never of the case
        raise InternalError(f"rendered reproducer does not compile: {exc}") from exc
    return text


def write_repro(
    directory: str | os.PathLike[str],
    cluster_id: str,
    record: CallRecord,
    seed: int,
    reference: str,
    target: str,
    kind: str,
    *,
    observed: Observed = Observed(),
    stamp: Stamp = Stamp(),
    timeout: float = DEFAULT_TIMEOUT,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Path:
    """Render the reproducer (:func:`render_repro`) and write it atomically
    to ``<directory>/<cluster_id>.py``; returns that path.  ``cluster_id``
    must be a plain file name (letters, digits, ``_ . -``)."""
    if not _SAFE_ID.fullmatch(cluster_id) or cluster_id.startswith("."):
        raise InvalidArgument(f"cluster id {cluster_id!r} is not usable as a file name")
    text = render_repro(record, seed, reference, target, kind, observed=observed, stamp=stamp,
                        cluster_id=cluster_id, timeout=timeout, max_elements=max_elements)
    path = Path(directory) / f"{cluster_id}.py"
    write_text_atomic(path, text)  # mode 0644: a reproducer is for sharing
    return path


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _all_values(record: CallRecord) -> list[Any]:
    """Every value of the record, nested ones included."""
    return [v for top in record.values() for v in iter_values(top)]


def _check_record(record: CallRecord, seed: int, max_elements: int) -> None:
    """Raise :class:`ReproUnsupported` for what the script could not replay
    as the worker did: names outside the framework, a tensor of another
    framework, inputs that cannot be drawn."""
    fw = record.framework
    names = [record.api] + [v.api for v in _all_values(record)
                            if isinstance(v, (ApiRef, Constructed))]
    for name in names:
        if canonical_to_path(name).split(".")[0] not in (fw, "numpy") or \
                not all(p.isidentifier() for p in name.split(".")):
            raise ReproUnsupported(f"API {name!r} is not a {fw} or numpy name")
    for v in _all_values(record):
        if isinstance(v, TensorSpec) and v.framework not in (fw, "numpy"):
            raise ReproUnsupported(f"a {v.framework} tensor in a {fw} call")
    streams = [("the call's inputs", (record.args, record.kwargs), seed)]
    if record.kind is CallKind.MODULE:
        streams.append(("the constructor's inputs", (record.init_args, record.init_kwargs),
                        seed + INIT_SEED_OFFSET))
    for what, values, s in streams:
        try:
            materialize.draw(values, s, max_elements=max_elements)
        except materialize.MaterializeError as exc:
            raise ReproUnsupported(f"{what}: {exc}") from exc


def _comment(text: str, limit: int = 400) -> str:
    """``text`` safe inside a ``#`` comment or a docstring: one line, no
    control characters, no backslashes or triple quotes."""
    clean = "".join(c if c.isprintable() else " " for c in str(text))
    clean = " ".join(clean.replace("\\", "/").replace('"""', "'''").split())
    return clean if len(clean) <= limit else clean[:limit - 3] + "..."


def _header(record: CallRecord, seed: int, modes: tuple[ModeSpec, ModeSpec], kind: str,
            observed: Observed, stamp: Stamp, cluster_id: str) -> str:
    ref, tgt = (str(m) for m in modes)
    title = "seamfuzz reproducer" + (f" for cluster {_comment(cluster_id, 80)}"
                                     if cluster_id else "") + f": a {kind} discrepancy"
    lines = [title, ""]
    lines += textwrap.wrap("call:      " + _comment(describe_record(record), 600),
                           width=_WIDTH - 4, subsequent_indent=" " * 11,
                           break_long_words=True)
    lines.append(f"reference: {_comment(ref, 120)}"
                 + (f" -> {_comment(observed.reference, 200)}" if observed.reference else ""))
    lines.append(f"target:    {_comment(tgt, 120)}"
                 + (f" -> {_comment(observed.target, 200)}" if observed.target else ""))
    versions = ", ".join(f"{_comment(k, 40)} {_comment(v, 40)}" for k, v in stamp.versions)
    lines.append(f"seed {seed}" + (f"; {versions}" if versions else "")
                 + (f"; device {_comment(stamp.device, 80)}" if stamp.device else ""))
    if stamp.command:
        lines.append("found by:  " + _comment(stamp.command, 300))
    if record.synthesized or record.origins:
        # Say which arguments no code wrote (they came from `seamfuzz resolve`).
        origin = ("synthesized from the API's schema" if record.synthesized else
                  "filled by resolution: " + ", ".join(f"{k} {v}" for k, v in record.origins))
        lines += textwrap.wrap("arguments: " + _comment(origin, 300), width=_WIDTH - 4,
                               subsequent_indent=" " * 11)
    lines += textwrap.wrap("sandbox:   " + _comment(stamp.sandbox or "not recorded", 300),
                           width=_WIDTH - 4, subsequent_indent=" " * 11)
    lines += ["           (this script itself runs unconfined unless started by",
              "           'seamfuzz replay', which runs it in the same sandbox)"]
    lines += [
        "",
        "Exit status 1: the discrepancy reproduces; 0: it does not (fixed);",
        "2: something else happened (another discrepancy, or this script failed).",
        "",
        "The inputs, the call, the seeding and the mode are built by seamfuzz's own",
        "worker code, embedded verbatim after the line 'seamfuzz runtime' below, so",
        "this script does exactly what the campaign's worker did.  Import it and",
        "call run(REFERENCE) or run(TARGET) to get (result, inputs after the call).",
    ]
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, width=_WIDTH - 4, subsequent_indent="    ",
                                     break_long_words=True) or [""])
    return '"""' + "\n".join(wrapped) + '\n"""'


def _tolerances(record: CallRecord) -> str:
    tol = []
    for name in _TOLERANCE_DTYPES:
        rtol, atol = DEFAULT_TOLERANCES.get(name)
        tol.append(f'"{name}": ({rtol!r}, {atol!r})')
    for key, name in ((PYTHON_FLOAT, "float"), (PYTHON_COMPLEX, "complex")):
        rtol, atol = DEFAULT_TOLERANCES.get(key)
        tol.append(f'"{name}": ({rtol!r}, {atol!r})')
    extra = sorted({v.dtype for v in _all_values(record)
                    if isinstance(v, TensorSpec)
                    and dtype_category(v.dtype) in ("float", "complex")
                    and v.dtype not in _TOLERANCE_DTYPES})
    for name in extra:
        rtol, atol = DEFAULT_TOLERANCES.get(name)
        tol.append(f'"{name}": ({rtol!r}, {atol!r})')
    return "TOL = {\n" + "".join(f"    {t},\n" for t in tol) + "}"


def _spec_literal(spec: ModeSpec) -> str:
    return f"ModeSpec({spec.name!r}, {spec.framework!r}, {spec.options!r})"


def _render(record: CallRecord, seed: int, modes: tuple[ModeSpec, ModeSpec], kind: str,
            observed: Observed, stamp: Stamp, cluster_id: str, timeout: float,
            max_elements: int) -> str:
    classes = [mode_class(m.name) for m in modes]
    call_json = json.dumps(record.to_json(), indent=1, sort_keys=True)
    if "'''" in call_json or call_json.endswith("\\"):
        call_text = f"json.loads({json.dumps(call_json)})"
    else:
        call_text = f"json.loads(r'''\n{call_json}\n''')"
    constants = "\n".join([
        "#: The call as seamfuzz recorded it (a miner.records.CallRecord).",
        f"CALL = {call_text}",
        f"SEED = {seed}",
        f"FRAMEWORK = {record.framework!r}",
        f"KIND = {kind!r}",
        f"MAX_ELEMENTS = {max_elements}  # the campaign's cap on input elements",
        f"TIMEOUT = {timeout!r}  # seconds the target may take (crash and timeout)",
        "# (rtol, atol) per dtype, as seamfuzz's contract; Python floats as float32.",
        _tolerances(record),
    ])
    run = f'''\
def run(spec):
    """What mode ``spec`` makes of the call: (result or exception, the call's
    tensors after it), through the worker's own code (runner.call)."""
    pin_threads(FRAMEWORK)  # one thread, as every seamfuzz worker
    mode = MODE_CLASSES[spec.name](spec)
    why = mode.unavailable()
    if why:
        raise RuntimeError(f"mode {{spec}} cannot run here: {{why}}")
    return observe_call(CallRecord.from_json(CALL), SEED, mode, max_elements=MAX_ELEMENTS)


REFERENCE = {_spec_literal(modes[0])}
TARGET = {_spec_literal(modes[1])}
MODE_CLASSES = {{cls.name: cls for cls in ({", ".join(dict.fromkeys(c.__name__ for c in classes))},)}}'''
    leaf = _TORCH_LEAF if record.framework == "torch" else _TF_LEAF
    compare = _SHOW if kind in ("crash", "timeout") else "\n\n\n".join((_SHOW, leaf, _COMPARE))
    main = _MAIN_CHILD if kind in ("crash", "timeout") else _MAIN
    runtime = runtime_source([c.__module__ for c in classes])
    clash = defined_names("\n\n".join((compare, main, run))) & defined_names(runtime)
    if clash:  # the script's own functions would be shadowed
        raise InternalError(f"reproducer names clash with the runtime: {sorted(clash)}")
    bar = "#" * 79
    parts = [
        _header(record, seed, modes, kind, observed, stamp, cluster_id),
        "from __future__ import annotations\n\nimport json\nimport subprocess\nimport sys\n"
        "import traceback\n\nimport numpy as np\n"
        + ("import torch" if record.framework == "torch" else "import tensorflow as tf"),
        constants,
        compare,
        main,
        f"{bar}\n# seamfuzz runtime: the worker's own modules, verbatim (do not edit)\n{bar}",
        runtime,
        run,
        _ENTRY,
    ]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


# ---------------------------------------------------------------------------
# The script's own parts: summaries, comparison, main
# ---------------------------------------------------------------------------

_SHOW = '''\
def summary(x):
    """A one-line summary of a result."""
    if isinstance(x, Exception):
        text = f"raised {type(x).__name__}: {x}"
    else:
        text = f"returned {x!r}"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."'''

_TORCH_LEAF = '''\
def leaf_meta(x):
    """A leaf's dtype name and shape."""
    if isinstance(x, torch.Tensor):
        return str(x.dtype).removeprefix("torch."), tuple(x.shape)
    return type(x).__name__, ()


def leaf_values(x):
    """A leaf's leaf_values as a numpy array; floating ones in float64."""
    if not isinstance(x, torch.Tensor):
        return np.asarray(x)
    x = x.detach().cpu().resolve_conj().resolve_neg()
    x = x.to_dense() if x.layout != torch.strided else x
    if x.is_complex():
        return x.to(torch.complex128).numpy()
    return (x.double() if x.is_floating_point() else x).numpy()


COMPARED_TYPES = (torch.Tensor, bool, int, float, complex, str)'''

_TF_LEAF = '''\
def leaf_meta(x):
    """A leaf's dtype name and shape."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x.dtype.name, tuple(x.shape)
    return type(x).__name__, ()


def leaf_values(x):
    """A leaf's leaf_values as a numpy array; floating ones in float64."""
    if not isinstance(x, (tf.Tensor, tf.Variable)):
        return np.asarray(x)
    if x.dtype.is_floating:
        x = tf.cast(x, tf.float64)
    elif x.dtype.is_complex:
        x = tf.cast(x, tf.complex128)
    return np.asarray(x.numpy())


COMPARED_TYPES = (tf.Tensor, tf.Variable, bool, int, float, complex, str)'''

_COMPARE = '''\
def leaf_paths(x, path):
    """(path, leaf) pairs; lists, tuples and dicts are walked."""
    if isinstance(x, (list, tuple)):
        return [p for i, v in enumerate(x) for p in leaf_paths(v, f"{path}[{i}]")]
    if isinstance(x, dict):
        return [p for k in sorted(x, key=repr) for p in leaf_paths(x[k], f"{path}[{k!r}]")]
    return [(path, x)]


def first_difference(ref, tgt):
    """The first discrepancy between two runs as (kind, message), or None:
    status, then dtypes, shapes and leaf_values of the output and the inputs."""
    (r, r_inputs), (t, t_inputs) = ref, tgt
    r_exc, t_exc = isinstance(r, Exception), isinstance(t, Exception)
    if r_exc and t_exc:
        return None if KIND == "status" else ("invalid", "both raised")
    if r_exc or t_exc:
        return "status", f"the reference {summary(r)[:100]}; the target {summary(t)[:100]}"
    a = leaf_paths(r, "out") + leaf_paths(list(r_inputs), "inputs")
    b = leaf_paths(t, "out") + leaf_paths(list(t_inputs), "inputs")
    if [p for p, _ in a] != [p for p, _ in b]:
        return "shape", f"structures differ: {[p for p, _ in a]} vs {[p for p, _ in b]}"
    for kind, i in (("dtype", 0), ("shape", 1)):
        for (path, x), (_, y) in zip(a, b):
            if leaf_meta(x)[i] != leaf_meta(y)[i]:
                return kind, f"{path}: {leaf_meta(x)[i]} vs {leaf_meta(y)[i]}"
    for (path, x), (_, y) in zip(a, b):
        if not isinstance(x, COMPARED_TYPES):
            continue  # an opaque object: compared by type only
        rtol, atol = TOL.get(leaf_meta(x)[0], max(TOL.values()))
        x, y = leaf_values(x), leaf_values(y)
        if x.dtype.kind in "fc":
            bad = ~np.isclose(y, x, rtol=rtol, atol=atol, equal_nan=True)
        else:
            bad = np.asarray(x != y)
        if bad.any():
            at = np.unravel_index(np.argmax(bad), bad.shape)
            return "value", (f"{path}: {bad.sum()} of {bad.size} elements differ; at "
                             f"{list(map(int, at))}: {x[at].tolist()!r} vs {y[at].tolist()!r}")
    return None'''

_MAIN = '''\
def declared_limit(spec, result):
    """The limit mode ``spec`` declares ``result`` (an exception) to be, as
    the worker asks it (an op an exporter cannot carry, a graph break), or
    None."""
    if not isinstance(result, Exception):
        return None
    return MODE_CLASSES[spec.name](spec).declared_limit(result)


def main():
    ref, tgt = run(REFERENCE), run(TARGET)
    print("reference:", summary(ref[0]))
    print("target:   ", summary(tgt[0]))
    limit = declared_limit(TARGET, tgt[0])
    if limit and not isinstance(ref[0], Exception):
        print(f"FIXED: not a discrepancy: the target declares this a limit of its own ({limit})")
        return 0
    found = first_difference(ref, tgt)
    if found is None:
        print("FIXED: no discrepancy")
        return 0
    kind, message = found
    if kind == KIND:
        print(f"REPRODUCES: {kind} discrepancy: {message}")
        return 1
    print(f"OTHER: {kind} discrepancy, not the {KIND} one: {message}", file=sys.stderr)
    return 2'''

_MAIN_CHILD = '''\
def main():
    if sys.argv[1:] == ["--target"]:  # the child: run the target alone
        print("target:   ", summary(run(TARGET)[0]), flush=True)
        return 0
    print("reference:", summary(run(REFERENCE)[0]), flush=True)
    try:
        child = subprocess.run([sys.executable, __file__, "--target"], timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        found = "timeout", f"the target ran longer than {TIMEOUT} s"
    else:
        if child.returncode == 0:
            print("FIXED: the target finished")
            return 0
        if child.returncode == 2:
            return 2  # the child failed to build the call
        found = "crash", f"the target's process died with status {child.returncode}"
    if found[0] == KIND:
        print(f"REPRODUCES: {found[0]}: {found[1]}")
        return 1
    print(f"OTHER: {found[0]}, not a {KIND}: {found[1]}", file=sys.stderr)
    return 2'''

_ENTRY = '''\
if __name__ == "__main__":
    try:
        status = main()
    except Exception:
        traceback.print_exc()
        status = 2  # the script itself failed: neither reproduced nor fixed
    sys.exit(status)'''
