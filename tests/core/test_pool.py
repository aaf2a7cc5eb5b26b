"""The killable worker pool: results, raised errors, crashes and hangs come
back as values and the other tasks go on, unconfined and in the sandbox; a
sandboxed worker writes only its own folder, sees no credentials and takes
everything it started with it when it dies."""

from __future__ import annotations

import errno
import os
import subprocess
import time
import uuid

import pytest

from infra.pool import FailureKind, TaskFailure, WorkerPool
from infra.sandbox import SANDBOX_ENV, no_sandbox, pids_cgroup, probe

BOX = probe().sandbox
needs_sandbox = pytest.mark.skipif(BOX is None, reason=f"no sandbox here: {probe().reason}")
SANDBOXES = [pytest.param(no_sandbox(), id="unconfined"),
             pytest.param(BOX, id="sandboxed", marks=needs_sandbox)]


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
    if kind == "write":
        try:
            with open(arg, "w") as f:
                f.write("escaped")
            return "written"
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))
    if kind == "where":
        import tempfile

        return {"tmp": tempfile.gettempdir(), "home": os.environ.get("HOME"),
                "sandbox": os.environ.get(SANDBOX_ENV, ""), "env": sorted(os.environ)}
    if kind == "forks":  # fork children that wait, until the kernel refuses
        kids = []
        try:
            for _ in range(arg):
                pid = os.fork()
                if pid == 0:
                    time.sleep(2)
                    os._exit(0)
                kids.append(pid)
        except OSError:
            pass
        for pid in kids:
            os.waitpid(pid, 0)
        return len(kids)
    if kind == "daemon":  # a process in its own session that outlives its parent
        subprocess.Popen(["sleep", arg], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return "started"
    raise AssertionError(kind)


def _run(tasks, **kw):
    with WorkerPool(work, **kw) as pool:
        results = dict(pool.imap_unordered(tasks))
        return results, pool.restarts


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_results_come_back_for_every_task(sandbox):
    tasks = [("square", i) for i in range(20)]
    results, restarts = _run(tasks, jobs=2, timeout=30, sandbox=sandbox)
    assert results == {t: t[1] ** 2 for t in tasks}
    assert restarts == 0


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_failures_are_values_and_the_rest_survives(sandbox):
    tasks = [("square", 1), ("raise", 2), ("abort", 0), ("square", 3), ("exit", 7),
             ("hang", 0), ("square", 4)]
    start = time.monotonic()
    results, restarts = _run(tasks, jobs=2, timeout=3, sandbox=sandbox)
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


@needs_sandbox
def test_a_sandboxed_worker_writes_only_its_own_folder_and_sees_no_secrets(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("SEAMFUZZ_TEST_TOKEN", "hunter2")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    outside = tmp_path / "outside.txt"
    with WorkerPool(work, jobs=1, timeout=30, sandbox=BOX) as pool:
        ((_, where),) = list(pool.imap_unordered([("where", None)]))
        inside = os.path.join(where["tmp"], "inside.txt")
        results = dict(pool.imap_unordered([("write", str(outside)), ("write", inside)]))
        folder = pool._workers[0].folder
        assert os.path.exists(os.path.join(folder, "tmp", "inside.txt"))
    assert results == {("write", str(outside)): "EROFS", ("write", inside): "written"}
    assert not outside.exists()
    assert where["tmp"].startswith(folder) and where["home"].startswith(folder)
    assert where["sandbox"].startswith("bubblewrap")
    assert "SEAMFUZZ_TEST_TOKEN" not in where["env"] and "TF_CPP_MIN_LOG_LEVEL" in where["env"]
    assert not os.path.exists(folder), "the worker's folder outlived it"


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


@needs_sandbox
def test_a_sandboxed_worker_takes_its_daemons_with_it():
    marker = f"{3000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    with WorkerPool(work, jobs=1, timeout=30, sandbox=BOX) as pool:
        assert dict(pool.imap_unordered([("daemon", marker)])) == {("daemon", marker): "started"}
        assert _processes_with(marker), "the daemon did not start"
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes_with(marker)
    assert not left, f"a daemon outlived its sandboxed worker: {left}, " + ", ".join(
        open(f"/proc/{p}/status").read().split("\n")[2] for p in left if os.path.exists(
            f"/proc/{p}/status"))


def _cgroup_available() -> bool:
    cgroup = pids_cgroup(10)
    if cgroup is not None:
        cgroup.remove()
    return cgroup is not None


@needs_sandbox
@pytest.mark.skipif(not _cgroup_available(), reason="no pids cgroup can be made here "
                    "(not root, or no writable pids controller): RLIMIT_NPROC is the cap")
def test_a_sandboxed_worker_cannot_fork_without_end():
    with WorkerPool(work, jobs=1, timeout=60, sandbox=BOX, max_processes=64) as pool:
        ((_, forked),) = list(pool.imap_unordered([("forks", 500)]))
        cgroup = pool._workers[0].cgroup.path
    assert isinstance(forked, int) and forked < 64, forked
    assert not os.path.exists(cgroup), "the worker's cgroup outlived it"
