"""How a sandboxed process is launched: the bubblewrap command line, the
hidden folders, the scrubbed environment, refusal without a sandbox.  Each
command is run for real with bubblewrap where it is installed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra import sandbox as sb
from infra.sandbox import (
    SANDBOX_ENV,
    SandboxUnavailable,
    no_sandbox,
    probe,
    require,
    scrubbed_environment,
)

BOX = probe().sandbox
needs_sandbox = pytest.mark.skipif(BOX is None, reason=f"no sandbox here: {probe().reason}")


def run_in(box, script: str, *, writable=(), readable=(), env=None) -> subprocess.CompletedProcess:
    argv = box.command([sys.executable, "-c", script], writable=list(writable),
                       chdir=str(writable[0]) if writable else "/", readable=list(readable))
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


@needs_sandbox
def test_a_home_inside_a_hidden_folder_is_hidden_with_it(tmp_path, monkeypatch):
    # An ordinary user's $HOME lies inside /home; hiding both used to hide
    # the first mount point and bubblewrap refused to start.
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    (home / ".netrc").write_text("password hunter2\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(sb, "_HIDDEN_DIRS", (str(tmp_path / "users"),))
    assert sb._hidden_dirs() == [str(tmp_path / "users")]
    work = tmp_path / "work"
    work.mkdir()
    done = run_in(BOX, f"import os; print(os.listdir({str(home)!r}) "
                       f"if os.path.isdir({str(home)!r}) else 'gone')", writable=[work])
    assert done.returncode == 0, done.stderr
    assert "netrc" not in done.stdout


@needs_sandbox
def test_only_the_writable_folders_can_be_written_and_readable_files_stay_visible(tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(sb, "_HIDDEN_DIRS", (str(tmp_path / "hidden"),))
    shown = tmp_path / "hidden" / "script.txt"
    shown.parent.mkdir()
    shown.write_text("visible")
    (tmp_path / "hidden" / "secret.txt").write_text("hunter2")
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "import os\n"
        f"open({str(work / 'ok.txt')!r}, 'w').write('x')\n"
        "for p in (%r, %r):\n"
        "    try:\n"
        "        open(p, 'w').write('x'); print('wrote', p)\n"
        "    except OSError as e:\n"
        "        print('refused', e.errno)\n"
        f"print(open({str(shown)!r}).read())\n"
        f"print(os.path.exists({str(tmp_path / 'hidden' / 'secret.txt')!r}))\n"
    ) % (str(tmp_path / "outside.txt"), "/usr/seamfuzz-escape.txt")
    done = run_in(BOX, script, writable=[work], readable=[shown])
    assert done.returncode == 0, done.stderr
    assert "wrote" not in done.stdout and done.stdout.count("refused") == 2
    assert "visible" in done.stdout and "False" in done.stdout
    assert (work / "ok.txt").exists() and not (tmp_path / "outside.txt").exists()


@needs_sandbox
def test_no_capabilities_and_not_even_this_machine_s_loopback(tmp_path):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    script = ("import socket\n"
              "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0])\n"
              "try:\n"
              f"    socket.create_connection(('127.0.0.1', {port}), 2); print('connected')\n"
              "except OSError as e:\n"
              "    print('no network', e.errno)\n")
    try:
        done = run_in(BOX, script, writable=[tmp_path])
        unconfined = run_in(no_sandbox(), script)
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    assert "CapEff:\t0000000000000000" in done.stdout and "no network" in done.stdout
    assert "connected" in unconfined.stdout  # the listener was there to be reached


def test_the_environment_keeps_what_libraries_read_and_no_credentials():
    environ = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3",
               "CUDA_VISIBLE_DEVICES": "0", "PYTHONPATH": "/plugins", "LC_ALL": "C",
               "AWS_SECRET_ACCESS_KEY": "x", "GITHUB_TOKEN": "x", "TF_API_KEY": "x",
               "HF_TOKEN": "x", "SSH_AUTH_SOCK": "/tmp/agent", "HTTP_PROXY": "http://p",
               "SEAMFUZZ_PASSWORD": "x", "HOME": "/root", "TMPDIR": "/var/tmp"}
    env = scrubbed_environment(environ, home="/w/home", tmp="/w/tmp", cache="/c",
                               description="test box")
    kept = {"PATH", "LANG", "TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "PYTHONPATH",
            "LC_ALL"}
    assert kept <= set(env)
    for gone in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "TF_API_KEY", "HF_TOKEN",
                 "SSH_AUTH_SOCK", "HTTP_PROXY", "SEAMFUZZ_PASSWORD"):
        assert gone not in env, gone
    assert env["HOME"] == "/w/home" and env["TMPDIR"] == "/w/tmp"
    assert env["TORCHINDUCTOR_CACHE_DIR"] == "/c/inductor" and env[SANDBOX_ENV] == "test box"


def test_unconfined_means_the_command_itself_and_says_so():
    box = no_sandbox()
    assert not box.enabled and box.command(["python", "-V"], writable=[], chdir="/") == \
        ["python", "-V"]
    assert "--no-sandbox" in box.describe()
    env = box.environment({"PATH": "/bin", SANDBOX_ENV: "stale", "GITHUB_TOKEN": "x"},
                          home="/h", tmp="/t", cache="")
    assert SANDBOX_ENV not in env and env["TMPDIR"] == "/t" and "GITHUB_TOKEN" in env
    assert require(False) == box


def test_without_bubblewrap_seamfuzz_refuses_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAMFUZZ_BWRAP", str(tmp_path / "no-bwrap"))
    probe.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="bubblewrap.*--no-sandbox"):
            require()
    finally:
        monkeypatch.delenv("SEAMFUZZ_BWRAP")
        probe.cache_clear()


def test_a_launcher_exit_status_tells_the_signal():
    assert no_sandbox().signal_of(-9) == 9 and no_sandbox().signal_of(137) is None
    if BOX is not None:
        assert BOX.signal_of(137) == 9 and BOX.signal_of(3) is None
