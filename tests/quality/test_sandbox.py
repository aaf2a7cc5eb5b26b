"""The sandbox contains hostile calls, through `check`, `run`, `fuzz` (mutants
included) and `replay`.

A corpus written here calls file, network and process APIs of both
frameworks: writes to absolute paths and into ``$HOME``, the deletion of a
victim folder, a connection to a loopback listener this test starts, a
subprocess that writes a file, a secret read from the environment, and the
same file kernels reached through ``tf.raw_ops`` and through methods of
returned objects.  The corpus is run once with the deny list in force (the
first filter) and once with an empty deny list, so that the sandbox alone
stands between the calls and the machine.  Afterwards nothing outside the
temporary folders has changed, the listener has had no connection, the
secret appears in no output, store, log or report, and the ordinary calls
mixed in still agree, with compiled callables reused.

Real libraries, real bubblewrap (installed by ``.ci/run``); nothing mocked.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.paths import cache_root
from infra.sandbox import probe

pytestmark = pytest.mark.skipif(probe().sandbox is None,
                                reason=f"no sandbox here: {probe().reason}")


class Listener:
    """A loopback TCP listener that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@dataclass
class World:
    base: Path
    victim: Path
    home: Path
    out: Path
    secret: str
    listener: Listener
    env: dict

    def snapshot(self) -> dict[str, str]:
        """Every file and folder under the victim and the home, with a hash
        of its contents."""
        seen = {}
        for root in (self.victim, self.home):
            for p in sorted([root, *root.rglob("*")]):
                key = str(p)
                seen[key] = (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
                             else "dir")
        return seen

    def seamfuzz(self, *args: object, deny: bool = True) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if not deny:
            env["SEAMFUZZ_DENYLIST"] = str(self.base / "empty-denylist.json")
        return subprocess.run([sys.executable, "-m", "seamfuzz", *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=900)


def hostile_sources(w: World) -> dict[str, str]:
    v, h, port = w.victim, w.home, w.listener.port
    connect = (f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 3)'")
    torch_src = f'''
import torch
import torch.utils.collect_env

def hostile():
    torch.save(torch.ones(2), "{v}/saved.pt")
    torch.UntypedStorage.from_file("{h}/storage.bin", True, 16)
    torch.utils.collect_env.run("touch {v}/from_subprocess.txt")
    torch.utils.collect_env.run("rm -rf {v}")
    torch.utils.collect_env.run("mount -o remount,bind,rw / ; touch {v}/after_remount.txt")
    torch.utils.collect_env.run("printenv SEAMFUZZ_TEST_SECRET")
    torch.utils.collect_env.run("{connect.replace('"', chr(92) + '"')}")
    torch.hub.load_state_dict_from_url("http://127.0.0.1:{port}/weights.pt")

def ordinary():
    torch.abs(torch.randn(4, 3))
    torch.abs(torch.rand(4, 3))
    torch.cumsum(torch.randn(5), dim=0)
'''
    tf_src = f'''
import tensorflow as tf

def hostile():
    tf.io.write_file("{v}/io_write.txt", "pwned")
    tf.raw_ops.WriteFile(filename="{v}/raw_write.txt", contents="pwned")
    tf.raw_ops.WriteFile(filename="{h}/raw_home.txt", contents="pwned")
    tf.raw_ops.ReadFile(filename="{h}/.netrc")
    ds = tf.data.Dataset.range(3)
    ds.save("{v}/dataset")
    tf.keras.utils.get_file("weights.h5", origin="http://127.0.0.1:{port}/weights.h5")

def ordinary():
    tf.math.abs(tf.constant([[-1.5, 2.0], [3.0, -4.0]]))
'''
    return {"hostile_torch.py": torch_src, "hostile_tf.py": tf_src}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("hostile")
    victim, home, out = base / "victim", base / "home", tmp_path_factory.mktemp("outputs")
    (victim / "inner").mkdir(parents=True)
    (victim / "keep.txt").write_text("the victim's file\n")
    (victim / "inner" / "deep.txt").write_text("deeper\n")
    home.mkdir()
    secret = f"seamfuzz-secret-{uuid.uuid4().hex}"
    (home / ".netrc").write_text(f"machine example.org login me password {secret}\n")
    (base / "empty-denylist.json").write_text(json.dumps({"patterns": []}))
    env = dict(os.environ)
    env.update({
        "HOME": str(home),
        # The API index, signatures and compile cache stay where they are:
        # nothing of seamfuzz's own lands in the victim's home.
        "SEAMFUZZ_CACHE": str(cache_root()),
        "SEAMFUZZ_TEST_SECRET": secret,
        "AWS_SECRET_ACCESS_KEY": secret,
    })
    listener = Listener()
    w = World(base, victim, home, out, secret, listener, env)
    corpus_dir = base / "corpus"
    corpus_dir.mkdir()
    for name, text in hostile_sources(w).items():
        (corpus_dir / name).write_text(text)
    mined = w.seamfuzz("mine", corpus_dir, "--out", out / "corpus.sqlite", "--jobs", "1")
    assert mined.returncode == 0, mined.stderr
    before = w.snapshot()
    yield w
    listener.stop()
    after = w.snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"changed outside the temporary folders: {changed}"


def assert_contained(w: World, *done: subprocess.CompletedProcess) -> None:
    assert w.victim.joinpath("keep.txt").read_text() == "the victim's file\n"
    assert not any(w.victim.glob("*pwned*")) and not w.victim.joinpath("saved.pt").exists()
    assert not w.home.joinpath("storage.bin").exists()
    assert w.listener.accepted == 0, "a sandboxed call reached the loopback listener"
    for d in done:
        assert w.secret not in d.stdout + d.stderr
    for path in w.out.rglob("*"):
        if path.is_file():
            assert w.secret.encode() not in path.read_bytes(), f"the secret is in {path}"


def verdicts(store: Path) -> dict[str, dict[str, int]]:
    """api -> verdict kind -> count."""
    db = sqlite3.connect(store)
    try:
        rows = db.execute("SELECT c.api, v.kind, COUNT(*) FROM verdicts v "
                          "JOIN cases c ON c.id = v.case_id GROUP BY c.api, v.kind").fetchall()
    finally:
        db.close()
    out: dict[str, dict[str, int]] = {}
    for api, kind, n in rows:
        out.setdefault(api, {})[kind] = n
    return out


MODES = ["torch.compile:backend=aot_eager,tf.function"]


@pytest.mark.parametrize("deny", [True, False], ids=["deny-list", "no-deny-list"])
def test_run_contains_the_hostile_corpus(world: World, deny: bool):
    store = world.out / f"run-{deny}"
    done = world.seamfuzz("run", "--corpus", world.out / "corpus.sqlite", "--out", store,
                          "--modes", *MODES, "--jobs", "1", "--json", deny=deny)
    assert done.returncode == 0, done.stderr
    assert_contained(world, done)
    got = verdicts(store / "campaign.sqlite")
    # The ordinary calls still agree.
    for api in ("torch.abs", "torch.cumsum", "tf.math.abs"):
        assert set(got[api]) == {"agree"}, (api, got[api])
    # Writes that reach the kernels are filed as the sandbox's doing, never
    # as the library's behaviour; without the deny list, so are those it
    # would have stopped.
    for api in ("tf.raw_ops.WriteFile", "tf.data.Dataset.save", "torch.StorageBase.from_file"):
        assert set(got[api]) == {"sandboxed"}, (api, got[api])
    denied = {"torch.save", "torch.hub.load_state_dict_from_url", "tf.io.write_file",
              "tf.keras.utils.get_file"}
    for api in denied:
        assert set(got[api]) == ({"skipped"} if deny else {"sandboxed"}), (api, got[api])
    assert not any(k in ("value", "status", "dtype", "shape", "crash", "timeout", "internal")
                   for kinds in got.values() for k in kinds), got
    db = sqlite3.connect(store / "campaign.sqlite")
    try:
        settings = json.loads(db.execute(
            "SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
        compiled = [json.loads(b).get("compile_seconds", 0) > 0 for (b,) in db.execute(
            "SELECT o.body FROM observations o JOIN cases c ON c.id = o.case_id "
            "WHERE c.api = 'torch.abs' AND o.mode = 'torch.compile:backend=aot_eager'")]
    finally:
        db.close()
    assert settings["sandbox"].startswith("bubblewrap")
    # Two records of one signature: the sandboxed worker compiled once.
    assert sorted(compiled) == [False, True]


def test_check_contains_single_calls(world: World):
    v, port = world.victim, world.listener.port
    for expr in (f'tf.raw_ops.WriteFile(filename="{v}/check.txt", contents="x")',
                 f'torch.utils.collect_env.run("rm -rf {v}")',
                 'torch.utils.collect_env.run("printenv AWS_SECRET_ACCESS_KEY")',
                 f'tf.keras.utils.get_file("w.h5", origin="http://127.0.0.1:{port}/w.h5")'):
        done = world.seamfuzz("check", expr, "--modes", *MODES, "--json", deny=False)
        assert done.returncode == 0, (expr, done.stderr)
        kinds = {v["kind"] for v in json.loads(done.stdout)["verdicts"]}
        # torch.compile declares code that starts processes a graph break.
        assert kinds <= {"sandboxed", "agree", "unsupported"}, (expr, done.stdout)
    assert_contained(world)


def test_fuzz_contains_mutants(world: World):
    store = world.out / "fuzz"
    done = world.seamfuzz("fuzz", "--corpus", world.out / "corpus.sqlite", "--out", store,
                          "--modes", *MODES, "--mutants", "6", "--jobs", "1", "--json",
                          deny=False)
    assert done.returncode == 0, done.stderr
    assert_contained(world, done)
    db = sqlite3.connect(store / "campaign.sqlite")
    try:
        mutants = dict(db.execute("SELECT api, COUNT(*) FROM cases WHERE origin = 'mutant' "
                                  "GROUP BY api"))
    finally:
        db.close()
    # The hostile APIs were mutated too (paths borrowed, arguments changed).
    assert {"tf.raw_ops.WriteFile", "tf.data.Dataset.save", "torch.StorageBase.from_file",
            "torch.save", "tf.keras.utils.get_file"} <= set(mutants), mutants
    got = verdicts(store / "campaign.sqlite")
    assert not any(k in ("internal", "crash") for kinds in got.values() for k in kinds), got


def test_replay_runs_reproducers_in_the_sandbox(world: World):
    v, h, port = world.victim, world.home, world.listener.port
    script = world.out / "repros" / "hostile_repro.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f'''
import os, shutil, socket, subprocess, sys
escaped = []
for attempt in (lambda: open("{v}/replayed.txt", "w").write("pwned"),
                lambda: open("{h}/replayed.txt", "w").write("pwned"),
                lambda: shutil.rmtree("{v}"),
                lambda: socket.create_connection(("127.0.0.1", {port}), 3),
                lambda: subprocess.run(["touch", "{v}/replay_subprocess.txt"], check=True)):
    try:
        attempt()
        escaped.append(attempt)
    except Exception as exc:
        print("refused:", type(exc).__name__, exc)
print("secret seen:", os.environ.get("SEAMFUZZ_TEST_SECRET"))
try:
    print(open("{h}/.netrc").read())
except OSError as exc:
    print("home hidden:", exc)
sys.exit(1 if escaped else 0)
''')
    done = world.seamfuzz("replay", script, "--json", "--timeout", "120")
    assert done.returncode == 0, (done.stdout, done.stderr)
    (result,) = json.loads(done.stdout)
    assert result["status"] == "fixed", result
    assert_contained(world, done)


def test_without_a_sandbox_seamfuzz_refuses_unless_told(world: World):
    env = dict(world.env, SEAMFUZZ_BWRAP=str(world.base / "no-such-bwrap"))
    expr = "torch.abs(torch.randn(3))"
    refused = subprocess.run([sys.executable, "-m", "seamfuzz", "check", expr],
                             capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2
    assert "bubblewrap" in refused.stderr and "--no-sandbox" in refused.stderr
    ran = subprocess.run([sys.executable, "-m", "seamfuzz", "check", expr, "--no-sandbox",
                          "--modes", "torch.compile:backend=aot_eager"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "agree" in ran.stdout
