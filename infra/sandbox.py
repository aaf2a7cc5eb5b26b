"""Confining the processes that run library calls.

seamfuzz runs calls that were mined from somebody else's code and then
mutated; some of them have effects (``tf.raw_ops.WriteFile``, a method of a
returned dataset that saves it, a helper that starts a shell).  The deny
list (:mod:`runner.deny`) turns the known ones away with a clear reason; this
module is the guarantee behind it.  Every process that runs cases (the
runner's workers, and every reproducer ``seamfuzz replay`` starts) is
launched inside a :class:`Sandbox`:

- a private mount namespace where the whole filesystem is read-only except
  the process's own temporary folder and the compile cache
  (:func:`compile_cache_dir`); home folders (``$HOME``, ``/root``,
  ``/home``) are hidden behind empty ones, the Python installation and
  ``sys.path`` excepted, and the password files behind ``/dev/null``;
- a private network namespace (loopback only, and nobody listens on it);
- a private PID namespace: when the worker dies, everything it started dies
  with it, daemons included;
- a scrubbed environment (:func:`scrubbed_environment`): an allow list of
  what the libraries read, minus anything that looks like a credential;
- resource limits, set by the worker itself (file size, processes, address
  space where no accelerator is used; see :mod:`runner.execute`).

The mechanism is Linux namespaces through bubblewrap (``bwrap``, Debian's
``bubblewrap``).

Note [Why bubblewrap]
    Measured on the project's machines (2 cores, Debian 12, kernel 6.x):
    bubblewrap 0.8.0 works as root and as an ordinary user (through
    unprivileged user namespaces), inside the container these machines are,
    and adds about 20 ms to a spawned worker's start (see
    ``benchmarks/sandbox_startup.py``).  ``unshare`` needs root for mount
    namespaces without ``--map-root-user`` and leaves the bind mounts to a
    shell script; Landlock restricts the filesystem but not the network
    (before ABI 4) and needs a kernel that has it enabled, which the
    container does not tell.  bubblewrap does all of it in one audited
    setuid-free binary.

Note [What a refusal looks like]
    The sandbox does not stop a call by killing it: the call's write fails
    with ``EROFS`` (read-only file system), its connection with "network is
    unreachable" or "connection refused", its name lookup with a resolver
    error.  :func:`refusal` recognises these in an exception (and in its
    causes) so the worker can file the case as stopped by the sandbox
    rather than as the library's behaviour.  It only answers inside a
    sandbox (:data:`SANDBOX_ENV` set): outside one a read-only file system is
    the machine's, not ours.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from infra.errors import InvalidArgument

__all__ = [
    "SANDBOX_ENV",
    "Sandbox",
    "SandboxUnavailable",
    "compile_cache_dir",
    "no_sandbox",
    "pids_cgroup",
    "probe",
    "refusal",
    "require",
    "scrubbed_environment",
]

#: Set in a sandboxed process's environment to the sandbox's description.
SANDBOX_ENV = "SEAMFUZZ_SANDBOX"

#: What the README tells users to install.
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; "
                "Fedora: dnf install bubblewrap)")


class SandboxUnavailable(InvalidArgument):
    """No sandbox can be had here and ``--no-sandbox`` was not given."""


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------

_WRITE = "sandboxed: write outside temp"
_NETWORK = "sandboxed: network"

_ERRNO = {
    errno.EROFS: _WRITE,
    errno.ENETUNREACH: _NETWORK,
    errno.EHOSTUNREACH: _NETWORK,
    errno.ENETDOWN: _NETWORK,
    errno.ECONNREFUSED: _NETWORK,
    errno.EADDRNOTAVAIL: _NETWORK,
}

# Messages of errors that carry no errno (TensorFlow's status errors, torch's
# RuntimeErrors, urllib's wrappers): the C library's strerror texts.
_MESSAGES = (
    (re.compile(r"read-only file system", re.I), _WRITE),
    (re.compile(r"network is unreachable|no route to host|connection refused|"
                r"temporary failure in name resolution|name or service not known|"
                r"cannot assign requested address", re.I), _NETWORK),
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[Optional[BaseException]] = [exc]
    while todo and len(seen) < 16:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)
                 if isinstance(getattr(e, "reason", None), BaseException) else None]
    return seen


def refusal(exc: BaseException) -> Optional[str]:
    """``"sandboxed: <what>"`` when ``exc`` (or an exception it was raised
    from) is the sandbox refusing an effect, else None; None outside a
    sandbox (Note [What a refusal looks like])."""
    if not os.environ.get(SANDBOX_ENV):
        return None
    import socket

    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return _NETWORK
        if isinstance(e, OSError) and e.errno in _ERRNO:
            return _ERRNO[e.errno]
        text = str(e)
        for pattern, what in _MESSAGES:
            if pattern.search(text):
                return what
    return None


# ---------------------------------------------------------------------------
# The environment a confined process sees
# ---------------------------------------------------------------------------

#: Variables passed through: what the Python interpreter, the libraries,
#: their thread pools, the accelerators and the locale read.  Anything else
#: (tokens, cloud credentials, proxies, a user's shell state) stays out.
_ALLOWED = {"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH", "PYTHONHASHSEED",
            "PYTHONWARNINGS", "PYTHONFAULTHANDLER", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
            "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_PATH", "XLA_FLAGS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"}
_ALLOWED_PREFIXES = ("LC_", "TF_", "TORCH_", "TORCHINDUCTOR_", "TORCHDYNAMO_", "PYTORCH_",
                     "NVIDIA_", "CUDA_", "CUBLAS_", "CUDNN_", "NCCL_", "TRITON_",
                     "SEAMFUZZ_")
#: Never passed, whatever the prefix: what credentials are called.
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE|AUTH|"
                     r"COOKIE|SESSION", re.I)


def scrubbed_environment(environ: Mapping[str, str], *, home: str, tmp: str,
                         cache: str, description: str) -> dict[str, str]:
    """The environment of a confined process: the allowed part of
    ``environ``, then ``HOME`` and ``TMPDIR`` inside its own folder, and the
    compilers' caches in ``cache``."""
    env = {k: v for k, v in environ.items()
           if (k in _ALLOWED or k.startswith(_ALLOWED_PREFIXES)) and not _SECRET.search(k)}
    if cache:
        env.update(cache_environment(cache))
    env.update({"HOME": home, "TMPDIR": tmp, "TMP": tmp, "TEMP": tmp,
                "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                "PYTHONDONTWRITEBYTECODE": "1", SANDBOX_ENV: description})
    return env


def cache_environment(cache: str) -> dict[str, str]:
    """Where torch's compilers keep their caches: under ``cache``."""
    return {"TORCHINDUCTOR_CACHE_DIR": os.path.join(cache, "inductor"),
            "TRITON_CACHE_DIR": os.path.join(cache, "triton")}


def compile_cache_dir() -> str:
    """The compile cache workers share (``compile`` in
    :func:`infra.paths.cache_root`), created: the one folder outside their
    own that a confined worker may write.

    Note [A shared compile cache]
        Inductor's FX graph cache turns a 6-7 s cold compile into well under
        a second, and campaigns, triage and replay compile the same graphs
        over and over; a cache private to each worker would throw that
        away.  The folder is seamfuzz's own (nothing else reads it), so the
        worst a hostile call can do there is spoil later compiles, which
        then show as discrepancies that a clean replay does not confirm.
        ``rm -r`` it to start afresh.
    """
    from infra.paths import cache_root

    base = cache_root() / "compile"
    base.mkdir(parents=True, exist_ok=True)
    return str(base.resolve())


# ---------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------

#: Namespaces and process settings of every sandboxed process.
#:
#: Note [No capabilities]
#:     Started by root, bubblewrap leaves the sandboxed process every
#:     capability, and with CAP_SYS_ADMIN in its mount namespace a call can
#:     ``mount -o remount,bind,rw /`` and write anywhere (seen on the
#:     project's machines).  ``--cap-drop ALL`` takes them all away, for
#:     root and ordinary users alike.
_ISOLATION = ("--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
              "--unshare-uts", "--unshare-net", "--unshare-cgroup-try", "--cap-drop", "ALL")
#: Hidden behind empty folders (their Python installation excepted): homes,
#: and where private keys and mounted secrets live (root owns them, and a
#: sandbox started by root could otherwise read them).
_HIDDEN_DIRS = ("/root", "/home", "/etc/ssl/private", "/run/secrets", "/var/run/secrets")
#: Hidden behind /dev/null.
_HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
#: Accelerator device files kept reachable for GPU modes.
_DEVICE_GLOBS = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri", "/dev/kfd")


@dataclass(frozen=True, slots=True)
class Sandbox:
    """How processes that run cases are confined: bubblewrap at
    ``executable``, or nothing (``--no-sandbox``).  A value: it crosses
    process boundaries (Ray actors resolve their own with :func:`require`)."""

    #: "bubblewrap", or "" when cases run unconfined.
    mechanism: str
    executable: str = ""
    version: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.mechanism)

    def describe(self) -> str:
        """One line for settings, reports and reproducer headers."""
        if not self.enabled:
            return "none (--no-sandbox): cases ran unconfined"
        return (f"{self.mechanism} {self.version}".strip()
                + ": read-only filesystem but a temporary folder, no network, "
                  "scrubbed environment, resource limits")

    def environment(self, environ: Mapping[str, str], *, home: str, tmp: str,
                    cache: str) -> dict[str, str]:
        """The environment of a process started in ``home``'s folder
        (:func:`scrubbed_environment`; unconfined, ``environ`` with the
        temporary folder and caches redirected)."""
        if self.enabled:
            return scrubbed_environment(environ, home=home, tmp=tmp, cache=cache,
                                        description=self.describe())
        env = dict(environ)
        env.pop(SANDBOX_ENV, None)
        if cache:
            env.update(cache_environment(cache))
        env.update({"TMPDIR": tmp, "TMP": tmp, "TEMP": tmp})
        return env

    def command(self, argv: Sequence[str], *, writable: Sequence[str],
                chdir: str, devices: bool = False, readable: Sequence[str] = ()) -> list[str]:
        """``argv`` run inside the sandbox, with the folders ``writable``
        (created beforehand) the only ones it can write, started in
        ``chdir``; ``readable`` stay visible even inside a hidden folder;
        ``devices`` keeps the accelerators' device files.  Unconfined:
        ``argv`` itself."""
        if not self.enabled:
            return list(argv)
        args = [self.executable, *_ISOLATION, "--ro-bind", "/", "/", "--dev", "/dev",
                "--proc", "/proc"]
        keep = sorted({*_python_paths(), *(os.path.abspath(r) for r in readable)})
        hidden = _hidden_dirs()
        for folder in hidden:
            args += ["--tmpfs", folder]
            for path in keep:
                if _under(path, folder):
                    args += ["--ro-bind", path, path]
        for f in _HIDDEN_FILES:
            if os.path.exists(f):
                args += ["--ro-bind", "/dev/null", f]
        if devices:
            import glob

            for pattern in _DEVICE_GLOBS:
                for dev in sorted(glob.glob(pattern)):
                    args += ["--dev-bind", dev, dev]
        for w in writable:
            w = os.path.abspath(w)
            args += ["--bind", w, w]
        for folder in hidden:  # last: the mount points above are made in them first
            args += ["--remount-ro", folder]
        args += ["--chdir", os.path.abspath(chdir), "--", *argv]
        return args

    def signal_of(self, returncode: Optional[int]) -> Optional[int]:
        """The signal that killed a process, from its launcher's exit status
        (bubblewrap exits with 128 + the signal of its child)."""
        if returncode is None:
            return None
        if returncode < 0:
            return -returncode
        if self.enabled and returncode > 128:
            return returncode - 128
        return None


# ---------------------------------------------------------------------------
# A cap on processes that also holds for root
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PidsCgroup:
    """A pids cgroup of one worker: at most ``pids.max`` processes and
    threads in the worker and everything it starts.

    Note [Process count as root]
        ``RLIMIT_NPROC`` (set by every worker, see ``runner.execute``) is
        not enforced for root, in a user namespace or not, and CI runs as
        root; a call that forks without end would then exhaust the machine's
        PIDs until its deadline.  Where this process may create a pids
        cgroup (root, cgroup v1's ``pids`` hierarchy or v2's root with the
        controller enabled) each worker gets one; elsewhere the rlimit is
        the cap.
    """

    path: str

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` started inside the cgroup (a shell moves itself in, then
        becomes ``argv``: everything started later is in it)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.path, *argv]

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (best effort: the
        kernel refuses while a process is still being reaped)."""
        import time

        for _ in range(20):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def _pids_base() -> str:
    v1 = "/sys/fs/cgroup/pids"
    if os.path.isfile(os.path.join(v1, "cgroup.procs")) and os.access(v1, os.W_OK):
        return v1
    v2 = "/sys/fs/cgroup"
    try:
        with open(os.path.join(v2, "cgroup.subtree_control"), encoding="ascii") as f:
            enabled = f.read().split()
        with open("/proc/self/cgroup", encoding="ascii") as f:
            at_root = "0::/\n" in f.read()
    except OSError:
        return ""
    return v2 if "pids" in enabled and at_root and os.access(v2, os.W_OK) else ""


def pids_cgroup(limit: int) -> Optional[PidsCgroup]:
    """A new pids cgroup capped at ``limit``, or None where none can be made
    (Note [Process count as root])."""
    base = _pids_base() if limit > 0 else ""
    if not base:
        return None
    import uuid

    path = os.path.join(base, f"seamfuzz-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, "pids.max"), "w", encoding="ascii") as f:
            f.write(str(limit))
    except OSError:
        PidsCgroup(path).remove()
        return None
    return PidsCgroup(path)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _hidden_dirs() -> list[str]:
    """The folders hidden behind empty ones: ``$HOME``, ``/root`` and
    ``/home``, outermost only (``/home/me`` goes with ``/home``)."""
    candidates = {os.path.realpath(d) for d in (os.path.expanduser("~"), *_HIDDEN_DIRS)}
    out: list[str] = []
    for d in sorted(candidates, key=len):
        if d not in ("/", "") and os.path.isdir(d) and not any(_under(d, o) for o in out):
            out.append(d)
    return out


def _python_paths() -> list[str]:
    """What a worker must still read inside hidden folders: the
    interpreter's installation (and what its symlinks point to) and every
    ``sys.path`` entry."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.abspath(sys.executable))}
    for p in sys.path + os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if p:
            paths.add(os.path.abspath(p))
    found = sorted({q for p in paths for q in (p, os.path.realpath(p)) if os.path.exists(q)})
    out: list[str] = []
    for p in found:  # sorted: a folder comes before what lies under it
        if not any(_under(p, o) for o in out):
            out.append(p)
    return out


def no_sandbox() -> Sandbox:
    """Cases run unconfined (the user asked, with ``--no-sandbox``)."""
    return Sandbox("")


@dataclass(frozen=True, slots=True)
class SandboxSupport:
    """Whether bubblewrap works here, and why not."""

    sandbox: Optional[Sandbox]
    #: Why not ("" when it works).
    reason: str = ""


@functools.lru_cache(maxsize=None)
def probe(executable: str = "") -> SandboxSupport:
    """Find bubblewrap (``$SEAMFUZZ_BWRAP`` or ``bwrap`` on ``PATH``) and
    start ``true`` in the sandbox this module builds, once per process."""
    if not sys.platform.startswith("linux"):
        return SandboxSupport(None, f"the sandbox needs Linux namespaces; this is {sys.platform}")
    exe = executable or os.environ.get("SEAMFUZZ_BWRAP") or shutil.which("bwrap") or ""
    if not exe or not os.access(exe, os.X_OK):
        return SandboxSupport(None, f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
        version = out.stdout.strip().split()[-1] if out.stdout.strip() else ""
        sandbox = Sandbox("bubblewrap", exe, version)
        tmp = os.path.realpath(os.environ.get("TMPDIR") or "/tmp")
        trial = sandbox.command(["true"], writable=[], chdir=tmp if os.path.isdir(tmp) else "/")
        run = subprocess.run(trial, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxSupport(None, f"bubblewrap does not start: {exc}")
    if run.returncode != 0:
        why = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return SandboxSupport(None, f"bubblewrap cannot create namespaces here ({why}); "
                                    "user namespaces may be disabled "
                                    "(sysctl kernel.unprivileged_userns_clone, "
                                    "user.max_user_namespaces)")
    return SandboxSupport(sandbox)


def require(sandbox: bool = True) -> Sandbox:
    """The sandbox cases run in: bubblewrap, or :func:`no_sandbox` when
    ``sandbox`` is False.  Raises :class:`SandboxUnavailable` (exit status
    2 on the command line) when it cannot be had: seamfuzz refuses to run
    mined calls unconfined unless told so."""
    if not sandbox:
        return no_sandbox()
    support = probe()
    if support.sandbox is None:
        raise SandboxUnavailable(
            f"cannot sandbox the processes that run cases: {support.reason}. "
            "seamfuzz runs calls mined from other people's code and will not run "
            "them unconfined; pass --no-sandbox to run them anyway")
    return support.sandbox
