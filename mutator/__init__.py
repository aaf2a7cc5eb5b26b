"""seamfuzz mutator stage: seeded variations of mined call records.

A mutant is another :class:`~miner.records.CallRecord` (never code text);
the campaign pairs it with a seed.  :class:`Mutator` draws numbered mutants
per API from one campaign seed, composing small validated operators of
seven families (:data:`FAMILIES`): dtype, type, shape, values, layout,
borrow and signature, and biases its choice toward operators whose mutants
the reference mode accepts (:meth:`Mutator.observe`).
:func:`collect_signatures` reads API signatures in spawned children, since
the campaign's process never imports torch or TensorFlow.
"""

from mutator.base import BorrowEntry, BorrowPool, MutationContext, Operator, Slot
from mutator.check import check_record, check_spec
from mutator.driver import ApiStats, Mutant, Mutator, OperatorStats, default_operators
from mutator.signatures import ApiSignature, Param, ParamKind, collect_signatures
from mutator.space import DTYPES, FAMILIES, MAX_RANK, record_elements, spec_elements

__all__ = [
    "DTYPES",
    "FAMILIES",
    "MAX_RANK",
    "ApiSignature",
    "ApiStats",
    "BorrowEntry",
    "BorrowPool",
    "Mutant",
    "MutationContext",
    "Mutator",
    "Operator",
    "OperatorStats",
    "Param",
    "ParamKind",
    "Slot",
    "check_record",
    "check_spec",
    "collect_signatures",
    "default_operators",
    "record_elements",
    "spec_elements",
]
