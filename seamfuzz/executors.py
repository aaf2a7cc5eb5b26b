"""Executors: where a campaign's cases run.

An executor takes :class:`~runner.execute.CaseTask` objects and yields
``(task, result)`` pairs as results arrive; the campaign (the driver) alone
judges them and writes the store.  Both executors keep the runner's
isolation rules: every case runs in a spawned worker process of its
framework that a crash or a hang cannot take down with it.

- :class:`LocalExecutor`: the runner's worker pools on this machine.
- :class:`RayExecutor`: the same workers hosted by Ray actors on a cluster
  (an optional extra, ``pip install .[ray]``).

Both offer :meth:`run_clean`, one case in a worker that ran nothing else
(Note [Confirmation in a clean worker] in :mod:`seamfuzz.campaign`).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Iterable, Iterator, Optional, Protocol, Sequence

from infra.errors import InvalidArgument
from infra.sandbox import Sandbox
from runner.dispatch import BATCH, Runner
from runner.execute import CaseResult, CaseTask, ModeStatus
from runner.modes import ModeSpec

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "make_executor"]


class Executor(Protocol):
    """What the campaign needs from an executor."""

    def run(self, tasks: Iterable[CaseTask]) -> Iterator[tuple[CaseTask, CaseResult]]: ...

    def run_clean(self, task: CaseTask) -> CaseResult: ...

    def check_modes(self, modes: Sequence[ModeSpec]) -> ModeStatus: ...

    def close(self) -> None: ...


def _run_alone(task: CaseTask, timeout: float, log_dir: str,
               sandbox: "bool | Sandbox") -> CaseResult:
    """One case in a fresh worker that runs nothing else."""
    with Runner(jobs=1, timeout=timeout, batch=1, log_dir=log_dir, sandbox=sandbox) as clean:
        ((_, result),) = list(clean.run([task]))
    return result


class LocalExecutor:
    """``jobs`` workers per framework on this machine (a :class:`Runner`
    that lives as long as the executor, so compiled callables are reused
    across the campaign's rounds).  ``sandbox`` as for :class:`Runner`:
    resolved here, so a missing sandbox stops the executor's creation."""

    def __init__(self, *, jobs: int, timeout: float, log_dir: str, batch: int = BATCH,
                 sandbox: "bool | Sandbox" = True) -> None:
        self.timeout = timeout
        self.log_dir = log_dir
        self._runner = Runner(jobs=jobs, timeout=timeout, batch=batch, log_dir=log_dir,
                              sandbox=sandbox)
        self.sandbox = self._runner.sandbox

    def run(self, tasks: Iterable[CaseTask]) -> Iterator[tuple[CaseTask, CaseResult]]:
        return self._runner.run(tasks)

    def run_clean(self, task: CaseTask) -> CaseResult:
        return _run_alone(task, self.timeout, self.log_dir, self.sandbox)

    def check_modes(self, modes: Sequence[ModeSpec]) -> ModeStatus:
        return self._runner.check_modes(modes)

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Host:
    """The body of a Ray actor: one runner worker per framework, kept for
    the actor's life (compiled callables are reused between batches).

    Note [Workers inside actors]
        The actor does not run cases in its own process: it hosts a
        :class:`Runner`, whose spawned worker runs them.  A case that
        segfaults or hangs kills that worker, which the runner replaces,
        exactly as on the local executor; the actor survives and reports
        the crash as an observation.  So the verdicts do not depend on the
        executor.
    """

    def __init__(self, timeout: float, batch: int, log_dir: str, sandbox: bool) -> None:
        self.timeout = timeout
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)
        # Each node finds its own sandbox (and refuses without one).
        self.runner = Runner(jobs=1, timeout=timeout, batch=batch, log_dir=log_dir,
                             sandbox=sandbox)

    def run(self, tasks: list[CaseTask]) -> list[tuple[CaseTask, CaseResult]]:
        return list(self.runner.run(tasks))

    def run_clean(self, task: CaseTask) -> CaseResult:
        return _run_alone(task, self.timeout, self.log_dir, self.runner.sandbox)

    def sandbox(self) -> Sandbox:
        return self.runner.sandbox

    def check_modes(self, modes: Sequence[ModeSpec]) -> ModeStatus:
        return self.runner.check_modes(modes)

    def close(self) -> None:
        self.runner.close()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidArgument("--executor ray needs Ray: pip install 'seamfuzz[ray]'") from None
    return ray


class RayExecutor:
    """Cases in batches on Ray actors that each host a runner worker.

    ``address`` is passed to ``ray.init``: ``None`` starts a local Ray
    instance with ``jobs`` CPUs, ``"auto"`` joins the cluster this machine
    belongs to, ``"ray://host:port"`` a remote one.  ``jobs`` actors are
    started (0: one per CPU of the cluster).  Results stream back to the
    driver as batches finish.  The cluster's nodes need seamfuzz and the
    same library versions installed, and bubblewrap unless ``sandbox`` is
    False.
    """

    def __init__(self, *, jobs: int, timeout: float, log_dir: str,
                 address: Optional[str] = None, batch: int = BATCH,
                 sandbox: bool = True) -> None:
        ray = self._ray = _ray()
        self.timeout = timeout
        self.batch = batch
        self._sandboxed = bool(sandbox)
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address:
                kwargs["address"] = address
            elif jobs:
                kwargs["num_cpus"] = jobs
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InvalidArgument(f"cannot start or join Ray at {address or 'local'}: "
                                      f"{exc}") from None
            self._started = True
        if not jobs:
            jobs = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor = ray.remote(num_cpus=1)(_Host)
        self._actors = [actor.remote(timeout, batch, log_dir, self._sandboxed)
                        for _ in range(jobs)]
        self._clean_actor = ray.remote(num_cpus=0)(_Host)
        self.log_dir = log_dir
        try:  # an actor that cannot sandbox its worker fails here, not mid-campaign
            self.sandbox: Sandbox = ray.get(self._actors[0].sandbox.remote())
        except Exception as exc:
            self.close()
            raise InvalidArgument(f"a Ray actor cannot start its runner: {exc}") from None

    def run(self, tasks: Iterable[CaseTask]) -> Iterator[tuple[CaseTask, CaseResult]]:
        ray = self._ray
        by_fw: dict[str, list[CaseTask]] = {}
        for t in tasks:
            by_fw.setdefault(t.framework, []).append(t)
        # Frameworks one after the other, as the local runner: an actor's
        # worker of each framework then stays warm for the next round.
        batches: deque[list[CaseTask]] = deque(
            fw_tasks[i:i + self.batch] for fw_tasks in by_fw.values()
            for i in range(0, len(fw_tasks), self.batch))
        idle = deque(self._actors)
        running: dict[Any, Any] = {}
        while batches or running:
            while batches and idle:
                actor = idle.popleft()
                running[actor.run.remote(batches.popleft())] = actor
            (ready,), _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(ready)
            idle.append(actor)
            yield from ray.get(ready)

    def check_modes(self, modes: Sequence[ModeSpec]) -> ModeStatus:
        return self._ray.get(self._actors[0].check_modes.remote(tuple(modes)))

    def run_clean(self, task: CaseTask) -> CaseResult:
        ray = self._ray
        host = self._clean_actor.remote(self.timeout, 1, self.log_dir, self._sandboxed)
        try:
            return ray.get(host.run_clean.remote(task))
        finally:
            ray.kill(host)

    def close(self) -> None:
        ray = self._ray
        for actor in self._actors:
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception:  # an actor that is already gone
                pass
            ray.kill(actor)
        self._actors = []
        if self._started:
            ray.shutdown()
            self._started = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(kind: str, *, jobs: int, timeout: float, log_dir: str,
                  address: Optional[str] = None, sandbox: bool = True) -> Any:
    """``local`` or ``ray`` (see the classes); both have ``sandbox``, the
    :class:`~infra.sandbox.Sandbox` their workers run in."""
    if kind == "local":
        if address:
            raise InvalidArgument("--ray-address needs --executor ray")
        return LocalExecutor(jobs=jobs or os.cpu_count() or 1, timeout=timeout,
                             log_dir=log_dir, sandbox=sandbox)
    if kind == "ray":
        return RayExecutor(jobs=jobs, timeout=timeout, log_dir=log_dir, address=address,
                           sandbox=sandbox)
    raise InvalidArgument(f"unknown executor {kind!r}: local or ray")
