"""The APIs seamfuzz never executes (files, network, processes, model hubs,
global settings, unpickling), read from ``denylist.json`` beside this file."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
from typing import Optional

from miner.records import CallRecord, Constructed, iter_values

__all__ = ["denied", "denied_record", "DENYLIST_PATH"]

DENYLIST_PATH = os.path.join(os.path.dirname(__file__), "denylist.json")


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[str, str], ...]:
    with open(DENYLIST_PATH, encoding="utf-8") as f:
        data = json.load(f)
    return tuple((str(p), str(r)) for p, r in data["patterns"])


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
