"""Writing a file all at once: readers see the old file or the new one,
never half of it (caches, exports, reports, reproducers)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_open", "write_text_atomic"]


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A text file to write ``path`` through: a temporary file beside it,
    renamed over ``path`` when the block ends without an exception and
    removed when it raises.  The file gets mode 0644 (``mkstemp`` makes it
    private to its owner); parent folders are created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_open`."""
    with atomic_open(path) as fh:
        fh.write(text)
