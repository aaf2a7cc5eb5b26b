"""The killable worker pool: results, raised errors, crashes and hangs come
back as values and the other tasks go on."""

from __future__ import annotations

import os
import time

import pytest

from infra.pool import FailureKind, TaskFailure, WorkerPool


def work(task):
    kind, arg = task
    if kind == "square":
        return arg * arg
    if kind == "raise":
        raise ValueError(f"bad {arg}")
    if kind == "abort":
        os.abort()
    if kind == "exit":
        os._exit(arg)
    if kind == "hang":
        time.sleep(3600)
    raise AssertionError(kind)


def _run(tasks, **kw):
    with WorkerPool(work, **kw) as pool:
        results = dict(pool.imap_unordered(tasks))
        return results, pool.restarts


def test_results_come_back_for_every_task():
    tasks = [("square", i) for i in range(20)]
    results, restarts = _run(tasks, jobs=2, timeout=30)
    assert results == {t: t[1] ** 2 for t in tasks}
    assert restarts == 0


def test_failures_are_values_and_the_rest_survives():
    tasks = [("square", 1), ("raise", 2), ("abort", 0), ("square", 3), ("exit", 7),
             ("hang", 0), ("square", 4)]
    start = time.monotonic()
    results, restarts = _run(tasks, jobs=2, timeout=3)
    assert time.monotonic() - start < 30
    assert results[("square", 1)] == 1 and results[("square", 3)] == 9
    assert results[("square", 4)] == 16
    raised = results[("raise", 2)]
    assert isinstance(raised, TaskFailure) and raised.kind is FailureKind.RAISED
    assert "ValueError: bad 2" in raised.detail
    aborted = results[("abort", 0)]
    assert aborted.kind is FailureKind.CRASHED and "signal 6" in aborted.detail
    exited = results[("exit", 7)]
    assert exited.kind is FailureKind.CRASHED and "exit status 7" in exited.detail
    hung = results[("hang", 0)]
    assert hung.kind is FailureKind.TIMEOUT
    assert restarts == 3  # abort, exit, hang: each worker replaced once


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        WorkerPool(work, jobs=0)
    with pytest.raises(ValueError):
        WorkerPool(work, timeout=0)


def broken_initializer():
    raise ImportError("no such framework")


def test_a_worker_that_cannot_start_stops_the_run_loudly():
    from infra.errors import InternalError

    with WorkerPool(work, jobs=1, timeout=30, initializer=broken_initializer) as pool:
        with pytest.raises(InternalError, match="no such framework"):
            list(pool.imap_unordered([("square", 2)]))
