"""Building the index and collecting docstrings in child processes, behind
the versioned cache: :func:`load_or_build`, :func:`load_or_collect_docstrings`
and the child's command line (``python -m miner.apiindex``).

The caller never imports torch or TensorFlow (see Note [Why a child
process]).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from miner.apiindex.cache import CacheEntry, write_json
from miner.apiindex.docstrings import (
    collect_docstrings,
    docstrings_from_payload,
    docstrings_payload,
)
from miner.apiindex.model import (
    FRAMEWORKS,
    INDEX_FORMAT,
    ApiIndex,
    DocString,
    IndexBuildError,
    Symbol,
)
from miner.apiindex.walker import build_index, check_frameworks, index_versions

__all__ = [
    "BUILD_TIMEOUT_S",
    "installed_frameworks",
    "load_or_build",
    "load_or_collect_docstrings",
    "main",
]

#: Seconds a child process may take to build one part of the index.
BUILD_TIMEOUT_S = 900

_log = logging.getLogger("seamfuzz.miner")
#: The repository root, put on the child's PYTHONPATH.
_ROOT = Path(__file__).resolve().parents[2]


def _entry(kind: str, part: str, cache_dir: str | os.PathLike[str] | None) -> CacheEntry:
    """The cache entry of one part; its stamp is :func:`index_versions`."""
    versions = index_versions([part])
    return CacheEntry.of(kind, part, INDEX_FORMAT, versions, cache_dir)


def _start_child(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m miner.apiindex ARGS`` with its stderr in ``log``.

    Note [Why a child process]
        Importing torch or TensorFlow costs seconds and hundreds of megabytes,
        and TensorFlow writes to file descriptor 2 from C++; a fresh
        interpreter keeps both out of the caller, and redirecting the child's
        descriptor (not ``sys.stderr``) catches the C++ logging too.  It is a
        new process, not a fork, so it is safe after CUDA is initialised.
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "miner.apiindex", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )


def _wait_children(children: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    failed: list[str] = []
    try:
        for what, (proc, log) in children.items():
            try:
                rc: int | None = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = None
            if rc != 0:
                status = "timed out" if rc is None else f"exit status {rc}"
                failed.append(f"{what} ({status}; see {log}){_tail(log)}")
    finally:  # timed out, interrupted: leave no builder behind
        for proc, _ in children.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failed:
        raise IndexBuildError("building in a child process failed: " + "; ".join(failed))


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("\n" + "\n".join(text)) if text else ""


def installed_frameworks() -> tuple[str, ...]:
    """The frameworks of :data:`FRAMEWORKS` installed here (found without
    importing them)."""
    return tuple(f for f in FRAMEWORKS if importlib.util.find_spec(f) is not None)

def load_or_build(
    frameworks: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ApiIndex:
    """The index of ``frameworks`` (default: those installed; plus numpy
    and ``math``), from the cache or built in child processes: the caller
    never imports torch or TensorFlow.

    The cache lives in :func:`~miner.apiindex.cache.cache_directory`, one
    file per framework named by a hash of the installed versions; missing
    parts are built concurrently, each child's stderr going to a ``.log``
    file beside it."""
    names = check_frameworks(installed_frameworks() if frameworks is None else frameworks)
    parts = names or ("base",)
    entries = {part: _entry("apiindex", part, cache_dir) for part in parts}
    loaded = {part: _load_cached(entry) for part, entry in entries.items()}
    missing = [part for part, index in loaded.items() if index is None]
    children = {}
    for part in missing:
        entry = entries[part]
        args = ["--build", str(entry.path), "--frameworks", "" if part == "base" else part]
        children[f"API index of {part}"] = (_start_child(args, entry.log), entry.log)
    _wait_children(children)
    for part in missing:
        loaded[part] = _load_cached(entries[part])
        if loaded[part] is None:
            raise IndexBuildError(f"the child wrote no usable index at {entries[part].path}")
    return _merge([loaded[part] for part in parts])  # type: ignore[misc]


def _load_cached(entry: CacheEntry) -> ApiIndex | None:
    obj = entry.read()
    if obj is None:
        return None
    try:
        index = ApiIndex.from_json(obj)
    except ValueError:
        return None
    return index if index.versions == entry.versions else None


def _merge(indexes: Sequence[ApiIndex]) -> ApiIndex:
    if len(indexes) == 1:
        return indexes[0]
    versions: dict[str, str] = {}
    paths: dict[str, Symbol] = {}
    aliases: dict[str, str] = {}
    members: dict[str, dict[str, Symbol]] = {}
    bases: dict[str, tuple[str, ...]] = {}
    for index in indexes:  # numpy is in every part, identically
        versions.update(index.versions)
        for path, sym in index.paths.items():
            paths.setdefault(path, sym)
        for path, target in index.aliases.items():
            aliases.setdefault(path, target)
        for owner, own in index.members.items():
            members.setdefault(owner, own)
        for cls, mro in index.bases.items():
            bases.setdefault(cls, mro)
    return ApiIndex(
        versions=dict(sorted(versions.items())),
        paths=paths,
        aliases=aliases,
        members=members,
        bases=bases,
    )



def load_or_collect_docstrings(
    framework: str, cache_dir: str | os.PathLike[str] | None = None
) -> list[DocString]:
    """:func:`~miner.apiindex.docstrings.collect_docstrings`, cached like
    :func:`load_or_build` and run in a child process when the cache is
    missing."""
    (name,) = check_frameworks((framework,))
    entry = _entry("docstrings", name, cache_dir)
    docs = _load_docstrings(entry, name)
    if docs is None:
        child = _start_child(["--docs", name, str(entry.path)], entry.log)
        _wait_children({f"docstrings of {name}": (child, entry.log)})
        docs = _load_docstrings(entry, name)
        if docs is None:
            raise IndexBuildError(f"the child wrote no usable docstrings at {entry.path}")
    return docs


def _load_docstrings(entry: CacheEntry, framework: str) -> list[DocString] | None:
    obj = entry.read()
    return None if obj is None else docstrings_from_payload(obj, framework)


# ---------------------------------------------------------------------------
# Command line (the child processes)
# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``--build OUT [--frameworks a,b]`` or ``--docs FRAMEWORK OUT``."""
    parser = argparse.ArgumentParser(
        prog="python -m miner.apiindex", description="Build seamfuzz's API index."
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--build", metavar="OUT", help="write the API index to OUT (JSON)")
    group.add_argument(
        "--docs",
        nargs=2,
        metavar=("FRAMEWORK", "OUT"),
        help="write FRAMEWORK's docstrings with examples to OUT (JSON)",
    )
    parser.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated frameworks for --build (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    start = time.perf_counter()
    if args.build:
        index = build_index([f for f in args.frameworks.split(",") if f])
        index.save(args.build)
        _log.info(
            "wrote %d paths to %s in %.1f s", len(index), args.build, time.perf_counter() - start
        )
    else:
        framework, out = args.docs
        docs = collect_docstrings(framework)
        entry = CacheEntry.of("docstrings", framework, INDEX_FORMAT, index_versions([framework]),
                              Path(out).parent)
        write_json(out, entry.envelope(docstrings_payload(framework, docs)))
        _log.info(
            "wrote %d docstrings to %s in %.1f s", len(docs), out, time.perf_counter() - start
        )
    return 0


