"""One call written as Python -> a record, with the miner's argument model.

``seamfuzz check 'torch.cumsum(torch.randn(3, 4).T, dim=-1)'`` parses the
expression with LibCST (never evaluates it) after a prelude binding the
usual aliases, and takes the record of its outermost call.  Everything the
miner can resolve is accepted: literals (``float('nan')``, ``math.inf``,
``np.nan``, ``torch.inf``), dtypes, tensor builders, and the transformations
the miner follows (``.T``, ``.permute``, ``.to``, ``.contiguous(memory_format=
torch.channels_last)``), so layouts can be written the way users write them.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from infra.errors import InvalidArgument
from miner.extract import extract_module
from miner.records import CallRecord, describe, is_resolved

__all__ = ["PRELUDE", "record_from_expression"]

PRELUDE = (
    "import math\nimport numpy as np\nimport torch\nimport torch.nn as nn\n"
    "import torch.nn.functional as F\nimport tensorflow as tf\nimport keras\n"
)


def record_from_expression(expr: str, index: Any) -> CallRecord:
    """The record of the outermost call in ``expr``; InvalidArgument when it
    does not parse, is not one call of a torch/tensorflow API, or has an
    argument the miner cannot resolve."""
    text = expr.strip()
    if not text:
        raise InvalidArgument("empty expression")
    try:
        node = cst.parse_expression(text)
    except cst.ParserSyntaxError as exc:
        raise InvalidArgument(f"cannot parse {text!r}: {exc.message}") from None
    if not isinstance(node, cst.Call):
        raise InvalidArgument(f"not a call: {text!r}")
    source = PRELUDE + "__seamfuzz_result__ = " + text + "\n"
    module = cst.parse_module(source)
    records = list(extract_module(module, index, source=source).records)
    if not records:
        raise InvalidArgument(
            f"no torch or tensorflow API call found in {text!r} (names are resolved "
            f"against the installed libraries, with the aliases: torch, nn, F, tf, np, math)")
    rec = records[-1]
    unresolved = [describe(v) for v in rec.values() if not is_resolved(v)]
    if unresolved:
        raise InvalidArgument(
            f"cannot resolve argument(s) {', '.join(unresolved)} of {rec.api} statically")
    return rec
