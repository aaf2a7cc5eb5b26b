"""The APIs seamfuzz never executes (files, network, processes, model hubs,
global settings, unpickling), read from ``denylist.json`` beside this file."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
from typing import Optional

from miner.records import CallRecord, Constructed, iter_values

__all__ = ["denied", "denied_record", "nondeterministic", "DENYLIST_PATH"]

DENYLIST_PATH = os.path.join(os.path.dirname(__file__), "denylist.json")


@functools.lru_cache(maxsize=1)
def _load() -> dict:
    with open(DENYLIST_PATH, encoding="utf-8") as f:
        return json.load(f)


def _patterns(section: str = "patterns") -> tuple[tuple[str, str], ...]:
    return tuple((str(p), str(r)) for p, r in _load().get(section, ()))


def nondeterministic(api: str) -> Optional[str]:
    """Why ``api``'s values cannot be compared (uninitialised memory), or
    None.  Such APIs run; their verdicts judge structure, dtype and shape."""
    for pattern, reason in _patterns("nondeterministic"):
        if fnmatch.fnmatchcase(api, pattern):
            return reason
    return None


def denied(api: str) -> Optional[str]:
    """The reason ``api`` is never executed, or None."""
    for pattern, reason in _patterns():
        if fnmatch.fnmatchcase(api, pattern):
            return reason
    return None


def denied_record(rec: CallRecord) -> Optional[str]:
    """The reason a record cannot run: its API, or an API it needs to build
    an argument, is denied."""
    why = denied(rec.api)
    if why:
        return f"{rec.api}: {why}"
    for v in rec.values():
        for x in iter_values(v):
            if isinstance(x, Constructed):
                why = denied(x.api)
                if why:
                    return f"{x.api}: {why}"
    return None
