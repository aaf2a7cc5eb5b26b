"""infra.sandbox.refusal: the sandbox refusing an effect is told apart from
the library's own errors (Note [What a refusal looks like]), and only
inside a sandbox."""

from __future__ import annotations

import errno
import socket
import urllib.error

import pytest

from infra.sandbox import SANDBOX_ENV, refusal

WRITE = "sandboxed: write outside temp"
NETWORK = "sandboxed: network"


def _chained() -> RuntimeError:
    try:
        try:
            raise OSError(errno.EROFS, "Read-only file system", "/data/model.pt")
        except OSError as exc:
            raise RuntimeError("saving the checkpoint failed") from exc
    except RuntimeError as exc:
        return exc


def _refused_connection() -> ConnectionRefusedError:
    """A real refusal: connect to a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket() as s:
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError as exc:
            return exc
    pytest.skip(f"port {port} was taken between bind and connect")


CASES = [
    ("EROFS", lambda: OSError(errno.EROFS, "Read-only file system", "/etc/x"), WRITE),
    ("chained", _chained, WRITE),
    ("gaierror", lambda: socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
     NETWORK),
    ("refused", _refused_connection, NETWORK),
    ("unreachable", lambda: OSError(errno.ENETUNREACH, "Network is unreachable"), NETWORK),
    ("urlerror", lambda: urllib.error.URLError(socket.gaierror(socket.EAI_AGAIN, "x")),
     NETWORK),
    ("message only",
     lambda: RuntimeError("could not open /root/out.txt for writing: Read-only file system"),
     WRITE),
]

UNRELATED = [
    ("ValueError", lambda: ValueError("negative dimensions are not allowed")),
    ("ENOENT", lambda: FileNotFoundError(errno.ENOENT, "No such file or directory", "/x")),
    ("RuntimeError", lambda: RuntimeError("size of tensor a (2) must match b (3)")),
]


@pytest.mark.parametrize("make, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusals_are_recognised_inside_a_sandbox(monkeypatch, make, reason) -> None:
    monkeypatch.setenv(SANDBOX_ENV, "bubblewrap")
    assert refusal(make()) == reason


@pytest.mark.parametrize("make", [c[1] for c in UNRELATED], ids=[c[0] for c in UNRELATED])
def test_other_errors_are_not_refusals(monkeypatch, make) -> None:
    monkeypatch.setenv(SANDBOX_ENV, "bubblewrap")
    assert refusal(make()) is None


@pytest.mark.parametrize("make", [c[1] for c in CASES + UNRELATED],
                         ids=[c[0] for c in CASES + UNRELATED])
def test_nothing_is_a_refusal_outside_a_sandbox(monkeypatch, make) -> None:
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    assert refusal(make()) is None


def test_a_cycle_of_causes_ends(monkeypatch) -> None:
    monkeypatch.setenv(SANDBOX_ENV, "bubblewrap")
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__context__ = b, a
    assert refusal(a) is None
