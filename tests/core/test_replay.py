"""Replaying reproducers (:mod:`triage.replay`) on tiny hand-written scripts:
exit statuses, an escaping exception, a hang, signals, the table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from infra.errors import InvalidArgument
from triage.replay import (
    UNCAUGHT_STATUS,
    ReplayResult,
    ReplayStatus,
    collect_scripts,
    format_replay,
    replay,
    replay_one,
)


def script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


@pytest.fixture
def repros(tmp_path: Path) -> Path:
    d = tmp_path / "repros"
    d.mkdir()
    script(d, "a_reproduces.py", "import sys\nprint('REPRODUCES: value')\nsys.exit(1)\n")
    script(d, "b_fixed.py", "import sys\nprint('FIXED: no discrepancy')\nsys.exit(0)\n")
    script(d, "c_broken.py", "raise ValueError('broken reproducer')\n")
    script(d, "d_hangs.py", "import time\ntime.sleep(60)\n")
    script(d, "notes.txt", "not a script")
    return d


def test_statuses_of_a_directory(repros: Path) -> None:
    start = time.perf_counter()
    results = replay([str(repros)], timeout=2)
    assert time.perf_counter() - start < 30
    by_name = {Path(r.path).name: r for r in results}
    assert sorted(by_name) == ["a_reproduces.py", "b_fixed.py", "c_broken.py", "d_hangs.py"]

    ok = by_name["a_reproduces.py"]
    assert (ok.status, ok.returncode, ok.detail) == (ReplayStatus.REPRODUCES, 1,
                                                     "REPRODUCES: value")
    fixed = by_name["b_fixed.py"]
    assert (fixed.status, fixed.returncode) == (ReplayStatus.FIXED, 0)

    # An escaping exception exits 1 too; the launcher tells it from sys.exit(1).
    broken = by_name["c_broken.py"]
    assert (broken.status, broken.returncode) == (ReplayStatus.ERROR, UNCAUGHT_STATUS)
    assert "ValueError: broken reproducer" in broken.detail
    assert "Traceback" in broken.detail

    hung = by_name["d_hangs.py"]
    assert hung.status is ReplayStatus.ERROR and hung.timed_out
    assert hung.detail.startswith("timed out after 2 s")
    assert 1.5 < hung.seconds < 20
    assert all(r.seconds >= 0 for r in results)


def test_a_hanging_script_is_killed_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    # The script starts a grandchild that would write the marker after 2 s.
    child = f"import time; time.sleep(2); open({str(marker)!r}, 'w').close()"
    body = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])\n" \
        "time.sleep(60)\n"
    result = replay_one(script(tmp_path, "spawns.py", body), timeout=0.5)
    assert result.status is ReplayStatus.ERROR and result.timed_out
    time.sleep(2.5)
    assert not marker.exists()


def test_script_runs_as_main_in_a_fresh_directory(tmp_path: Path) -> None:
    body = (
        "import os, sys\n"
        "here = os.path.dirname(os.path.abspath(__file__))\n"
        "assert __name__ == '__main__'\n"
        "assert sys.argv[0] == __file__\n"
        "assert sys.path[0] == here, (sys.path[0], here)\n"
        f"assert os.getcwd() != {str(tmp_path)!r}\n"
        "sys.exit(0)\n"
    )
    result = replay_one(script(tmp_path, "env.py", body), timeout=30)
    assert result.status is ReplayStatus.FIXED, result.detail


@pytest.mark.parametrize("body, why", [
    ("import sys\nsys.exit(2)\n", "exit status 2"),
    ("import sys\nsys.exit('a message')\n", "an exception escaped"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "killed by SIGKILL"),
])
def test_other_endings_are_errors(tmp_path: Path, body: str, why: str) -> None:
    result = replay_one(script(tmp_path, "x.py", body), timeout=30)
    assert result.status is ReplayStatus.ERROR
    assert result.detail.startswith(why)


def test_collect_scripts_and_bad_paths(tmp_path: Path, repros: Path) -> None:
    one = repros / "b_fixed.py"
    assert collect_scripts([one]) == [one]
    assert [p.name for p in collect_scripts([repros])][:2] == ["a_reproduces.py", "b_fixed.py"]
    assert replay([], timeout=1) == []
    with pytest.raises(InvalidArgument, match="no such file"):
        replay([tmp_path / "missing.py"])
    with pytest.raises(InvalidArgument, match="not a Python reproducer"):
        replay([repros / "notes.txt"])
    with pytest.raises(InvalidArgument, match="timeout"):
        replay([one], timeout=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert replay([empty]) == []


def test_format_replay_table() -> None:
    results = [
        ReplayResult("repros/c1.py", ReplayStatus.REPRODUCES, 12.34, 1,
                     "REPRODUCES: value discrepancy: out: 1 of 1 elements differ"),
        ReplayResult("repros/c2.py", ReplayStatus.FIXED, 3.0, 0, "FIXED: no discrepancy"),
        ReplayResult("repros/c3.py", ReplayStatus.ERROR, 0.2, UNCAUGHT_STATUS,
                     "an exception escaped the script\nTraceback ...\nValueError: boom"),
        ReplayResult("repros/c4.py", ReplayStatus.ERROR, 5.0, None, "timed out after 5 s"),
    ]
    text = format_replay(results)
    lines = text.splitlines()
    assert lines[0].split() == ["status", "seconds", "script", "detail"]
    assert lines[1].split()[:3] == ["reproduces", "12.3", "repros/c1.py"]
    assert "an exception escaped the script: ValueError: boom" in lines[3]
    assert "timed out after 5 s" in lines[4]
    assert lines[-1] == "4 reproducers: 1 reproduces, 1 fixed, 2 error"
    assert format_replay([]) == "no reproducers found"


def test_uses_this_interpreter(tmp_path: Path) -> None:
    body = f"import sys\nsys.exit(0 if sys.executable == {sys.executable!r} else 5)\n"
    assert replay_one(script(tmp_path, "py.py", body), timeout=30).status is ReplayStatus.FIXED
