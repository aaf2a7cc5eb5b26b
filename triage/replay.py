"""Replaying reproducers: does each discrepancy still happen?

A reproducer written by :func:`triage.repro.write_repro` exits 1 when its
discrepancy reproduces and 0 when it does not.  :func:`replay` (or
:func:`iter_replay`, which yields results as they come, for a progress bar)
runs one script or every ``*.py`` of a directory, each in a fresh
interpreter (``sys.executable``) in its own temporary working directory and
its own process group, killed with that group on timeout, and classifies
each as a :class:`ReplayResult`.  :func:`format_replay` renders results as
the table ``seamfuzz replay PATH`` prints.

Library use::

    from triage.replay import replay, format_replay
    results = replay(["results/run1/repros"], timeout=300)
    print(format_replay(results))
    exit_status = 1 if any(r.status is ReplayStatus.REPRODUCES for r in results) else 0

Each script runs in the sandbox the campaign's workers run in
(:mod:`infra.sandbox`; ``sandbox=False`` runs it unconfined): it can write
only its temporary folder and the compile cache, reach no network, and sees
an environment scrubbed of credentials (``PYTHONPATH`` kept, which is how a
plug-in backend named in a reproducer is found).  Unconfined, it runs with
this process's environment.  Either way not in this working directory.

Note [Telling sys.exit(1) from a crash of the script]
    Python also exits with status 1 when an exception escapes, so the exit
    status alone cannot tell "reproduces" from "this script is broken".
    Each script therefore runs under a small launcher
    (``python -c LAUNCHER script.py``) that executes it as ``__main__`` with
    :func:`runpy.run_path` (``__file__``, ``sys.argv`` and ``sys.path[0]``
    as if it were run directly) and turns an escaping exception into exit
    status :data:`UNCAUGHT_STATUS` after printing the traceback.  Only an
    explicit ``sys.exit(1)`` (or ``os._exit(1)``) counts as "reproduces".
"""

from __future__ import annotations

import enum
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.errors import InvalidArgument
from infra.sandbox import Sandbox, compile_cache_dir, require

__all__ = [
    "DEFAULT_TIMEOUT",
    "UNCAUGHT_STATUS",
    "ReplayResult",
    "ReplayStatus",
    "collect_scripts",
    "format_replay",
    "iter_replay",
    "replay",
    "replay_one",
]

#: Seconds one reproducer may run (an inductor compile or two, plus imports).
DEFAULT_TIMEOUT = 300.0
#: Exit status the launcher gives a script that an exception escaped from.
UNCAUGHT_STATUS = 3
#: Characters of a script's stderr kept for an ``error`` result.
TAIL_CHARS = 2000

_LAUNCHER = f"""\
import runpy, sys, traceback
path = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = __import__("os").path.dirname(path)
try:
    runpy.run_path(path, run_name="__main__")
except SystemExit as exc:
    if exc.code is None or isinstance(exc.code, int):
        raise
    print(exc.code, file=sys.stderr)
    sys.exit({UNCAUGHT_STATUS})
except BaseException:
    traceback.print_exc()
    sys.exit({UNCAUGHT_STATUS})
"""


class ReplayStatus(str, enum.Enum):
    """What replaying one reproducer showed."""

    #: Exit status 1: the discrepancy still happens.
    REPRODUCES = "reproduces"
    #: Exit status 0: it no longer happens.
    FIXED = "fixed"
    #: Anything else: another exit status, an uncaught exception, a signal,
    #: a timeout.
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The outcome of running one reproducer."""

    #: The script, as given or found in a given directory.
    path: str
    status: ReplayStatus
    #: Wall-clock seconds the script ran.
    seconds: float
    #: Its exit status; negative for a signal, None when it timed out.
    returncode: int | None
    #: For ``error``: why, then the tail of stderr.  Otherwise the script's
    #: last line of output (what it found).
    detail: str = ""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def collect_scripts(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The scripts ``paths`` name: files as given, directories' ``*.py``
    (not recursive, sorted).  Raises InvalidArgument for a missing path or a
    file that is not a ``.py`` script, before anything runs."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.glob("*.py") if q.is_file()))
        elif p.is_file():
            if p.suffix != ".py":
                raise InvalidArgument(f"not a Python reproducer: {str(p)!r}")
            out.append(p)
        else:
            raise InvalidArgument(f"no such file or directory: {str(p)!r}")
    return out


def _tail(data: bytes, limit: int = TAIL_CHARS) -> str:
    text = data.decode("utf-8", errors="replace").rstrip()
    return text if len(text) <= limit else "..." + text[-limit:]


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1][:500] if lines else ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _sandbox(sandbox: "bool | Sandbox") -> Sandbox:
    return sandbox if isinstance(sandbox, Sandbox) else require(bool(sandbox))


def replay_one(path: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT,
               sandbox: "bool | Sandbox" = True) -> ReplayResult:
    """Run one reproducer (in ``sandbox``: see the module docstring) and
    classify it; never raises for what the script does.  Raises
    :class:`~infra.sandbox.SandboxUnavailable` when no sandbox can be had."""
    if not timeout > 0:
        raise InvalidArgument(f"timeout must be > 0, got {timeout!r}")
    box = _sandbox(sandbox)
    script = Path(path).resolve()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seamfuzz-replay-") as folder:
        folder = os.path.realpath(folder)
        home, cwd = os.path.join(folder, "home"), os.path.join(folder, "tmp")
        os.mkdir(home)
        os.mkdir(cwd)
        cache = compile_cache_dir()
        argv = box.command([sys.executable, "-c", _LAUNCHER, str(script)],
                           writable=[folder, cache], chdir=cwd, devices=True,
                           readable=[str(script)])
        proc = subprocess.Popen(
            argv, cwd=cwd, env=box.environment(os.environ, home=home, tmp=cwd, cache=cache),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, killed as one
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            seconds = time.perf_counter() - start
            return ReplayResult(str(path), ReplayStatus.ERROR, seconds, None,
                                f"timed out after {timeout:g} s\n{_tail(err)}".rstrip())
        finally:
            if proc.poll() is None:  # interrupted while waiting
                _kill_group(proc)
                proc.wait()
    seconds = time.perf_counter() - start
    code = proc.returncode
    if code == 1:
        return ReplayResult(str(path), ReplayStatus.REPRODUCES, seconds, code, _last_line(out))
    if code == 0:
        return ReplayResult(str(path), ReplayStatus.FIXED, seconds, code, _last_line(out))
    sig = box.signal_of(code)
    if sig is not None:
        try:
            why = f"killed by {signal.Signals(sig).name}"
        except ValueError:
            why = f"killed by signal {sig}"
    elif code == UNCAUGHT_STATUS:
        why = "an exception escaped the script"
    else:
        why = f"exit status {code}"
    return ReplayResult(str(path), ReplayStatus.ERROR, seconds, code,
                        f"{why}\n{_tail(err)}".rstrip())


def iter_replay(paths: Sequence[str | os.PathLike[str]], timeout: float = DEFAULT_TIMEOUT,
                sandbox: "bool | Sandbox" = True) -> Iterator[ReplayResult]:
    """Replay every script ``paths`` name (:func:`collect_scripts`), one at a
    time, yielding each result as it is known."""
    if not timeout > 0:
        raise InvalidArgument(f"timeout must be > 0, got {timeout!r}")
    box = _sandbox(sandbox)
    for script in collect_scripts(paths):
        yield replay_one(script, timeout, box)


def replay(paths: Sequence[str | os.PathLike[str]], timeout: float = DEFAULT_TIMEOUT,
           sandbox: "bool | Sandbox" = True) -> list[ReplayResult]:
    """Replay one reproducer, or every ``*.py`` in a directory, each in its
    own subprocess: ``reproduces`` (exit 1), ``fixed`` (exit 0) or ``error``
    (anything else, with the tail of stderr), and the seconds it took.
    Raises InvalidArgument for a missing path or a bad timeout."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return list(iter_replay(paths, timeout, sandbox))


def format_replay(results: Sequence[ReplayResult]) -> str:
    """A table for the command line: status, seconds, script and what it
    printed last (for errors, why and the last line of stderr), then a
    count per status."""
    if not results:
        return "no reproducers found"
    width = max(len(r.path) for r in results)
    width = min(max(width, len("script")), 60)
    lines = [f"{'status':<10}  {'seconds':>7}  {'script':<{width}}  detail"]
    for r in results:
        detail = r.detail.strip().splitlines()
        note = detail[0] if detail else ""
        if r.status is ReplayStatus.ERROR and len(detail) > 1:
            note = f"{note}: {detail[-1]}"
        path = r.path if len(r.path) <= width else "..." + r.path[-(width - 3):]
        lines.append(f"{r.status.value:<10}  {r.seconds:7.1f}  {path:<{width}}  {note[:120]}")
    counts = {s: sum(r.status is s for r in results) for s in ReplayStatus}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    lines.append(f"{len(results)} reproducer{'s' if len(results) != 1 else ''}: {summary}")
    return "\n".join(lines)
