"""A small pool of killable worker processes.

``concurrent.futures.ProcessPoolExecutor`` cannot take a task back from a
worker that hangs, and one worker killed by a signal breaks the whole pool.
Mining untrusted files (a parser can hang or overflow its native stack on
pathological input) and running library calls (which can segfault or spin)
both need the opposite: every task gets a deadline; a worker that overruns
it or dies is killed with its whole process group and replaced, and the task
comes back as a :class:`TaskFailure` value while the other tasks go on.

Note [Why fresh interpreters]
    Workers are fresh interpreters, never forks: forking a process that has
    initialised CUDA, or that has run a TensorFlow op, can deadlock the
    child.  The pool starts them itself (``subprocess`` and a socket pair
    carrying :mod:`multiprocessing.connection` messages) rather than through
    :mod:`multiprocessing`'s ``spawn`` so that it decides the whole command
    line and environment: a worker that runs library calls starts inside a
    :class:`~infra.sandbox.Sandbox` (bubblewrap in front of the
    interpreter, a scrubbed environment), which ``spawn`` cannot express
    without process-global state.  Each worker is the leader of a new
    session, so killing its process group also kills what it started
    (inductor's compile workers, for instance); inside a sandbox its private
    PID namespace ends with it, daemons included.  Core dumps are off.

Note [A folder per worker]
    Every worker gets a fresh folder with ``home/`` and ``tmp/``;
    ``TMPDIR`` points into it (and, in a sandbox, ``HOME``, and it is the
    only place the worker can write besides the compile cache).  The pool
    removes it when the worker ends, whatever the worker left there.
"""

from __future__ import annotations

import enum
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator, Optional

from infra.errors import InternalError
from infra.sandbox import SANDBOX_ENV, PidsCgroup, Sandbox, no_sandbox, pids_cgroup

__all__ = ["FailureKind", "TaskFailure", "WorkerPool"]


class FailureKind(str, enum.Enum):
    """Why a task produced no result."""

    #: The worker ran past the task's deadline and was killed.
    TIMEOUT = "timeout"
    #: The worker process died (signal, abort, ``os._exit``).
    CRASHED = "crashed"
    #: The task function raised; the traceback is in ``detail``.
    RAISED = "raised"


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """A task that did not return a result."""

    kind: FailureKind
    #: Exit status or signal, traceback, or the deadline that passed.
    detail: str = ""


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (a worker is the
    leader of its own process group, so a signal to the parent's group does
    not reach it, and a hung worker would otherwise outlive a killed run)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the worker still exits at EOF on its pipe
    if os.getppid() == 1 and not os.environ.get(SANDBOX_ENV):
        # The parent is already gone.  (In a sandbox, PID 1 is bubblewrap's
        # init, the worker's legitimate parent, which --die-with-parent ties
        # to the pool.)
        os._exit(0)


def _worker_main(conn: Connection, initializer: Optional[Callable[..., None]],
                 initargs: tuple, fn: Callable[[Any], Any]) -> None:
    """Entry point of a worker: run tasks from ``conn`` until EOF."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _die_with_parent()
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    try:
        if initializer is not None:
            initializer(*initargs)
        message: tuple = ("ready", None)  # the parent's clock for a task starts now
    except BaseException:
        message = ("init_failed", traceback.format_exc(limit=20))
    try:
        conn.send(message)
    except (BrokenPipeError, OSError):
        return
    if message[0] == "init_failed":
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result: Any = ("ok", fn(task))
        except BaseException:  # a value at the process boundary
            result = ("raised", traceback.format_exc(limit=20))
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


#: What a worker's interpreter runs: read ``sys.path`` from the parent, then
#: the function, initializer and its arguments (by reference, pickled), then
#: serve tasks.
_BOOTSTRAP = """\
import sys
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
sys.path[:] = conn.recv()
from infra.pool import _worker_main
_worker_main(conn, *conn.recv())
"""


class _Worker:
    __slots__ = ("proc", "conn", "folder", "cgroup", "task", "deadline", "started", "limit",
                 "ready")

    def __init__(self, proc: subprocess.Popen[bytes], conn: Connection, folder: str,
                 cgroup: Optional[PidsCgroup]) -> None:
        self.proc = proc
        self.conn = conn
        #: The worker's own folder (Note [A folder per worker]).
        self.folder = folder
        #: Its pids cgroup, if any (Note [Process count as root]).
        self.cgroup = cgroup
        self.task: Any = None
        self.deadline = 0.0
        self.started = 0.0
        self.limit = 0.0
        #: The initializer finished (imports done); until then a task's
        #: deadline also allows for start-up.
        self.ready = False


class WorkerPool:
    """``jobs`` spawned workers running ``fn(task)``; see the module docstring.

    ``fn``, ``initializer`` and the tasks must be picklable (``fn`` and
    ``initializer`` module-level functions of an importable module).
    ``sandbox`` confines every worker (default: none); ``cache_dir`` is
    where the compilers' caches go (writable in the sandbox);
    ``log_path`` receives the workers' stdout and stderr (default: this
    process's); ``devices`` keeps accelerator device files reachable in the
    sandbox.  Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, fn: Callable[[Any], Any], *, jobs: int = 1, timeout: float = 60.0,
                 initializer: Optional[Callable[..., None]] = None,
                 initargs: tuple = (), startup_grace: float = 120.0,
                 sandbox: Optional[Sandbox] = None, cache_dir: str = "",
                 log_path: str = "", devices: bool = False, max_processes: int = 0) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.fn = fn
        self.jobs = jobs
        self.timeout = timeout
        self.initializer = initializer
        self.initargs = initargs
        #: Seconds a new worker may take to start (imports) before its first
        #: task's own deadline begins.
        self.startup_grace = startup_grace
        self.sandbox = sandbox if sandbox is not None else no_sandbox()
        self.cache_dir = os.path.abspath(cache_dir) if cache_dir else ""
        self.log_path = os.path.abspath(log_path) if log_path else ""
        self.devices = devices
        self.max_processes = max_processes
        self._workers: list[_Worker] = []
        #: Workers replaced after a timeout or crash.
        self.restarts = 0

    # -- lifecycle ------------------------------------------------------------

    def _spawn(self) -> _Worker:
        folder = os.path.realpath(tempfile.mkdtemp(prefix="seamfuzz-worker-"))
        home, tmp = os.path.join(folder, "home"), os.path.join(folder, "tmp")
        os.mkdir(home)
        os.mkdir(tmp)
        writable = [folder] + ([self.cache_dir] if self.cache_dir else [])
        for d in writable[1:]:
            os.makedirs(d, exist_ok=True)
        env = self.sandbox.environment(os.environ, home=home, tmp=tmp, cache=self.cache_dir)
        parent, child = socket.socketpair()
        log = open(self.log_path, "ab") if self.log_path else None
        cgroup = pids_cgroup(self.max_processes) if self.sandbox.enabled else None
        try:
            argv = self.sandbox.command(
                [sys.executable, "-c", _BOOTSTRAP, str(child.fileno())],
                writable=writable, chdir=tmp, devices=self.devices)
            if cgroup is not None:
                argv = cgroup.wrap(argv)
            proc = subprocess.Popen(argv, pass_fds=(child.fileno(),), env=env, cwd=tmp,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        except BaseException:
            parent.close()
            shutil.rmtree(folder, ignore_errors=True)
            if cgroup is not None:
                cgroup.remove()
            raise
        finally:
            child.close()
            if log is not None:
                log.close()
        conn = Connection(parent.detach())
        try:
            conn.send(list(sys.path))
            conn.send((self.initializer, self.initargs, self.fn))
        except (BrokenPipeError, OSError):
            pass  # the worker died at once: noticed as EOF
        return _Worker(proc, conn, folder, cgroup)

    def _kill(self, w: _Worker) -> None:
        for kill in (lambda: os.killpg(w.proc.pid, signal.SIGKILL),
                     lambda: os.kill(w.proc.pid, signal.SIGKILL)):
            try:
                kill()
            except (ProcessLookupError, PermissionError, OSError):
                pass
        self._reap(w)

    def _reap(self, w: _Worker, wait_s: float = 5.0) -> None:
        try:
            w.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            pass
        w.conn.close()
        shutil.rmtree(w.folder, ignore_errors=True)
        if w.cgroup is not None:
            w.cgroup.remove()

    def _death(self, w: _Worker) -> str:
        """How a worker that closed its pipe ended."""
        try:
            code = w.proc.wait(5)
        except subprocess.TimeoutExpired:
            return "closed its pipe but did not exit"
        sig = self.sandbox.signal_of(code)
        return f"killed by signal {sig}" if sig is not None else f"exit status {code}"

    def close(self) -> None:
        """Stop every worker (politely, then by force)."""
        for w in self._workers:
            try:
                w.conn.close()
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for w in self._workers:
            try:
                w.proc.wait(max(0.01, deadline - time.monotonic()))
                self._reap(w)
            except subprocess.TimeoutExpired:
                self._kill(w)
        self._workers = []

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ----------------------------------------------------------------

    def imap_unordered(self, tasks: Iterable[Any],
                       timeout_of: Optional[Callable[[Any], float]] = None
                       ) -> Iterator[tuple[Any, Any]]:
        """Yield ``(task, result)`` as tasks finish; ``result`` is
        ``fn(task)`` or a :class:`TaskFailure`.  ``timeout_of(task)``
        overrides the pool's timeout per task."""
        pending = iter(tasks)
        queue: deque = deque()
        exhausted = False
        while not self._workers or len(self._workers) < self.jobs:
            self._workers.append(self._spawn())
        busy: dict[Connection, _Worker] = {}

        def refill() -> None:
            nonlocal exhausted
            while not exhausted and len(queue) < self.jobs * 2:
                try:
                    queue.append(next(pending))
                except StopIteration:
                    exhausted = True

        def dispatch() -> None:
            for w in self._workers:
                if w.task is None and queue:
                    task = queue.popleft()
                    w.task = task
                    w.started = time.monotonic()
                    w.limit = timeout_of(task) if timeout_of else self.timeout
                    w.deadline = w.started + w.limit + (0 if w.ready else self.startup_grace)
                    try:
                        w.conn.send(task)
                    except (BrokenPipeError, OSError):
                        pass  # noticed as EOF below
                    busy[w.conn] = w

        refill()
        dispatch()
        while busy:
            now = time.monotonic()
            wait_for = max(0.0, min(w.deadline for w in busy.values()) - now)
            ready = wait(list(busy), timeout=wait_for)
            for conn in ready:
                w = busy[conn]  # type: ignore[index]
                try:
                    status, payload = w.conn.recv()
                    if status == "init_failed":
                        # Not a task's fault: the environment or seamfuzz is
                        # broken, and every worker would fail the same way.
                        raise InternalError(f"a worker failed to start:\n{payload}")
                    if status == "ready":
                        w.ready = True
                        w.started = time.monotonic()
                        w.deadline = w.started + w.limit
                        continue
                except (EOFError, OSError):
                    status, payload = "eof", None
                del busy[conn]  # type: ignore[arg-type]
                task, w.task = w.task, None
                if status == "eof":
                    # EOF is death even if the child is not reaped yet.
                    desc = self._death(w)
                    self._replace(w)
                    yield task, TaskFailure(FailureKind.CRASHED, desc)
                    continue
                if status == "ok":
                    yield task, payload
                else:
                    yield task, TaskFailure(FailureKind.RAISED, str(payload))
            now = time.monotonic()
            for conn, w in list(busy.items()):
                if w.deadline <= now and conn not in ready:
                    busy.pop(conn)
                    task, w.task = w.task, None
                    limit = w.deadline - w.started
                    stage = "" if w.ready else " (the worker had not started yet)"
                    self._replace(w)
                    yield task, TaskFailure(FailureKind.TIMEOUT,
                                            f"no result after {limit:.0f} s{stage}")
            refill()
            dispatch()

    def _replace(self, w: _Worker) -> None:
        self._kill(w)
        i = self._workers.index(w)
        self._workers[i] = self._spawn()
        self.restarts += 1
