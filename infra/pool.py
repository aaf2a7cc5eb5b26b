"""A small pool of killable worker processes.

``concurrent.futures.ProcessPoolExecutor`` cannot take a task back from a
worker that hangs, and one worker killed by a signal breaks the whole pool.
Mining untrusted files (a parser can hang or overflow its native stack on
pathological input) and running library calls (which can segfault or spin)
both need the opposite: every task gets a deadline; a worker that overruns
it or dies is killed with its whole process group and replaced, and the task
comes back as a :class:`TaskFailure` value while the other tasks go on.

Note [Why spawn]
    Workers are started with the ``spawn`` method: forking a process that has
    initialised CUDA, or that has run a TensorFlow op, can deadlock the child.
    Each worker makes itself a process-group leader so that killing it also
    kills what it started (inductor's compile workers, for instance), and
    turns off core dumps.
"""

from __future__ import annotations

import enum
import multiprocessing
import os
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator, Optional

from infra.errors import InternalError

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
    if os.getppid() == 1:
        os._exit(0)  # the parent is already gone


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


class _Worker:
    __slots__ = ("proc", "conn", "task", "deadline", "started", "limit", "ready")

    def __init__(self, proc: Any, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.task: Any = None
        self.deadline = 0.0
        self.started = 0.0
        self.limit = 0.0
        #: The initializer finished (imports done); until then a task's
        #: deadline also allows for start-up.
        self.ready = False


class WorkerPool:
    """``jobs`` spawned workers running ``fn(task)``; see the module docstring.

    ``fn``, ``initializer`` and the tasks must be picklable (``fn`` a
    module-level function).  Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, fn: Callable[[Any], Any], *, jobs: int = 1, timeout: float = 60.0,
                 initializer: Optional[Callable[..., None]] = None,
                 initargs: tuple = (), startup_grace: float = 120.0) -> None:
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
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        #: Workers replaced after a timeout or crash.
        self.restarts = 0

    # -- lifecycle ------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_worker_main, args=(child, self.initializer, self.initargs, self.fn),
            daemon=True,
        )
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _kill(self, w: _Worker) -> None:
        pid = w.proc.pid
        if pid is not None:
            for kill in (lambda: os.killpg(pid, signal.SIGKILL),
                         lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError, OSError):
                    pass
        w.proc.join(5)
        w.conn.close()

    def close(self) -> None:
        """Stop every worker (politely, then by force)."""
        for w in self._workers:
            try:
                w.conn.close()
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for w in self._workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
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
                    w.proc.join(5)
                    code = w.proc.exitcode
                    self._replace(w)
                    desc = (f"killed by signal {-code}" if code is not None and code < 0
                            else f"exit status {code}")
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
