"""Where seamfuzz keeps what outlives a command."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """seamfuzz's cache folder (not created): ``$SEAMFUZZ_CACHE``, else
    ``$XDG_CACHE_HOME/seamfuzz``, else ``~/.cache/seamfuzz``."""
    env, xdg = os.environ.get("SEAMFUZZ_CACHE"), os.environ.get("XDG_CACHE_HOME")
    root = env or (Path(xdg) / "seamfuzz" if xdg else Path.home() / ".cache" / "seamfuzz")
    return Path(root).expanduser()
