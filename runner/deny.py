"""The APIs seamfuzz never executes (files, network, processes, model hubs,
global settings, unpickling), read from ``denylist.json`` beside this file,
or from the file ``$SEAMFUZZ_DENYLIST`` names (same format).

The list is the first filter, for clear skip reasons; the sandbox
(:mod:`infra.sandbox`) is the guarantee, and the tests run hostile calls
with an empty list to show it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
from typing import Optional

from infra.errors import InvalidArgument
from miner.records import CallRecord, Constructed, iter_values

__all__ = ["denied", "denied_record", "nondeterministic", "DENYLIST_PATH"]

DENYLIST_PATH = os.path.join(os.path.dirname(__file__), "denylist.json")


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot read the deny list {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"the deny list {path} is not a JSON object")
    return data


def _patterns(section: str = "patterns") -> tuple[tuple[str, str], ...]:
    path = os.environ.get("SEAMFUZZ_DENYLIST") or DENYLIST_PATH
    return tuple((str(p), str(r)) for p, r in _load(path).get(section, ()))


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
