"""The versioned on-disk cache of what seamfuzz learns from the installed
libraries: the API index, the docstrings with examples, the API signatures.

Each entry is one JSON file named by its kind, its part (``torch``,
``tensorflow``, ``base``) and a hash of its *stamp*: the versions of the
libraries it was read from plus the schema version of its kind
(``"format"``), so an upgrade of either makes a new file and stale ones are
never read.  The file records the stamp again (``"format"``,
``"versions"``), and :meth:`CacheEntry.read` refuses a file whose stamp
differs.  Files are written atomically (a temporary file, then a rename),
so concurrent campaigns never read a half-written entry.

Versions come from package metadata, never from importing the libraries.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.atomic import atomic_open
from infra.errors import InvalidArgument
from infra.paths import cache_root

__all__ = [
    "CacheEntry",
    "cache_directory",
    "installed_version",
    "library_versions",
    "stamp",
    "write_json",
]

#: Distribution names under which a library may be installed; the first one
#: found gives its version.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "keras": ("keras",),
    "numpy": ("numpy",),
}


def cache_directory(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where seamfuzz caches what it learns of the installed libraries
    (created): ``cache_dir`` when given, else ``$SEAMFUZZ_CACHE``, else
    ``$XDG_CACHE_HOME/seamfuzz``, else ``~/.cache/seamfuzz``."""
    if cache_dir is None:
        cache_dir = cache_root()
    path = Path(cache_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def installed_version(library: str) -> str | None:
    """The installed version of ``library`` (``torch``, ``tensorflow``,
    ``keras``, ``numpy``), or None when it is not installed."""
    for dist in _DISTRIBUTIONS.get(library, (library,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def library_versions(libraries: Iterable[str], optional: Iterable[str] = ()) -> dict[str, str]:
    """``{library: version}`` of ``libraries``, sorted by name; one that is
    not installed raises :class:`InvalidArgument`, unless it is ``optional``
    (then it is left out)."""
    skip = frozenset(optional)
    out: dict[str, str] = {}
    for lib in libraries:
        version = installed_version(lib)
        if version is not None:
            out[lib] = version
        elif lib not in skip:
            raise InvalidArgument(f"{lib} is not installed")
    return dict(sorted(out.items()))


def write_json(path: str | os.PathLike[str], obj: object) -> None:
    """Write ``obj`` as compact JSON, atomically (no NaN: encode it first)."""
    with atomic_open(Path(path)) as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One file of the cache: what it holds and the stamp it is valid for.

    ``CacheEntry.of("signatures", "torch", "1", {"torch": "2.5.1"})`` is
    ``signatures-torch-<hash>.json`` in :func:`cache_directory`."""

    #: What the file holds: ``apiindex``, ``docstrings``, ``signatures``.
    kind: str
    #: Which part of it: a framework, or ``base`` (numpy and ``math`` only).
    part: str
    #: The library versions and ``("format", schema)``, sorted: the file is
    #: valid only for exactly these.
    stamp: tuple[tuple[str, str], ...]
    #: The cache directory holding the file.
    directory: Path

    @classmethod
    def of(
        cls,
        kind: str,
        part: str,
        schema: str,
        versions: Mapping[str, str],
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> CacheEntry:
        """The entry of ``kind``/``part`` in schema version ``schema`` for
        the library ``versions`` (see :func:`library_versions`), in
        :func:`cache_directory` ``(cache_dir)``."""
        return cls(kind, part, stamp(schema, versions), cache_directory(cache_dir))

    @property
    def versions(self) -> dict[str, str]:
        """The stamp as the file records it under ``"versions"``."""
        return dict(self.stamp)

    @property
    def schema(self) -> str:
        return self.versions["format"]

    @property
    def path(self) -> Path:
        blob = json.dumps([self.kind, self.part, self.versions], sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self.directory / f"{self.kind}-{self.part}-{digest}.json"

    @property
    def log(self) -> Path:
        """Beside the file: the stderr of the child process that builds it."""
        return self.path.with_suffix(".log")

    def envelope(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``payload`` stamped as the file stores it."""
        return {**payload, "format": self.schema, "versions": self.versions}

    def read(self) -> dict[str, Any] | None:
        """The stored object (payload and stamp), or None when the file is
        missing, unreadable, or of another stamp."""
        try:
            with open(self.path, encoding="utf-8") as f:
                obj = json.load(f)
        except (OSError, ValueError):
            return None
        if (
            not isinstance(obj, dict)
            or obj.get("versions") != self.versions
            or obj.get("format") != self.schema
        ):
            return None
        return obj

    def write(self, payload: Mapping[str, Any]) -> None:
        """Store ``payload`` with the stamp, atomically."""
        write_json(self.path, self.envelope(payload))


def stamp(schema: str, versions: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Library ``versions`` with ``("format", schema)``, sorted."""
    return tuple(sorted({**versions, "format": schema}.items()))
