"""Clusters: findings grouped by signature, ranked by severity.

:func:`cluster` groups :class:`~triage.signature.Finding` values whose
:func:`~triage.signature.signature` keys are equal, picks one deterministic
representative per group (the smallest case), and returns the clusters most
severe first.

Note [Severity]
    A crash or a hang loses the user's whole process, so it ranks first.  A
    silent wrong value comes next: nothing tells the user, and results are
    simply wrong.  A wrong dtype or shape is usually noticed downstream (a
    later op fails or promotes), so it ranks below.  A status difference
    (the target raises where eager returned, or accepts what eager rejects)
    is loud by construction and ranks last.  :data:`SEVERITY` holds the
    ranks; a higher number is more severe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from miner.records import CallRecord, TensorSpec, describe_record, iter_values
from triage.signature import Finding, Signature, signature

__all__ = ["SEVERITY", "Cluster", "cluster", "dedup_ratio", "record_elements", "severity_of"]

#: Verdict kind -> severity rank (higher is more severe); see Note [Severity].
SEVERITY: dict[str, int] = {
    "crash": 6,
    "timeout": 5,
    "value": 4,
    "dtype": 3,
    "shape": 2,
    "status": 1,
}

# A tensor of unknown size sorts after every known one.
_UNKNOWN_SIZE = 1 << 62


def severity_of(kind: str) -> int:
    """The severity rank of a verdict kind (0 for a kind not in
    :data:`SEVERITY`)."""
    return SEVERITY.get(str(getattr(kind, "value", kind)), 0)


def record_elements(record: CallRecord) -> int:
    """Total number of tensor elements in a record's arguments (constructor
    arguments and nested values included)."""
    total = 0
    for top in record.values():
        for v in iter_values(top):
            if isinstance(v, TensorSpec):
                n = v.numel
                total += _UNKNOWN_SIZE if n is None else n
    return total


def _smallness(f: Finding) -> tuple[int, int, str]:
    try:
        text = describe_record(f.record)
    except TypeError:  # a value describe() does not know
        text = repr(f.record)
    return record_elements(f.record), len(text), f.case_id


@dataclass(frozen=True, slots=True)
class Cluster:
    """Findings that share one signature."""

    #: The signature key.
    id: str
    signature: Signature
    api: str
    #: The verdict kind (a :data:`~triage.signature.BREAKING_KINDS` value).
    kind: str
    #: Reference mode spec.
    reference: str
    #: Target mode spec.
    target: str
    #: Ids of the cases in this cluster, sorted, without repeats.
    case_ids: tuple[str, ...]
    #: The finding with the smallest inputs (fewest tensor elements, then the
    #: shortest description, then the smallest case id).
    representative: Finding
    #: :func:`severity_of` the kind; higher is more severe.
    severity: int
    #: How many findings were grouped (a case counts once per boundary, so
    #: this normally equals ``len(case_ids)``).
    findings: int

    @property
    def cases(self) -> int:
        """Number of distinct cases."""
        return len(self.case_ids)

    @property
    def boundary(self) -> str:
        """``"REFERENCE -> TARGET"``."""
        return f"{self.reference} -> {self.target}"

    def sort_key(self) -> tuple[int, int, str]:
        """Most severe first, then more cases first, then by id."""
        return (-self.severity, -self.cases, self.id)


def cluster(findings: Iterable[Finding]) -> list[Cluster]:
    """Group findings by signature key; the clusters come sorted by
    :meth:`Cluster.sort_key`.  The result does not depend on the order of
    ``findings``."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    sigs: dict[str, Signature] = {}
    for f in findings:
        sig = signature(f)
        key = sig.key
        sigs.setdefault(key, sig)
        groups[key].append(f)
    out = []
    for key, members in groups.items():
        sig = sigs[key]
        rep = min(members, key=_smallness)
        out.append(
            Cluster(
                id=key,
                signature=sig,
                api=sig.api,
                kind=sig.kind,
                reference=rep.reference,
                target=rep.target,
                case_ids=tuple(sorted({f.case_id for f in members})),
                representative=rep,
                severity=severity_of(sig.kind),
                findings=len(members),
            )
        )
    out.sort(key=Cluster.sort_key)
    return out


def dedup_ratio(findings: Collection[Finding] | int, clusters: Collection[Cluster] | int) -> float:
    """Findings per cluster: how many reports one cluster saves a reader
    (0.0 when there are no clusters).  Either argument may be a count."""
    n = findings if isinstance(findings, int) else len(findings)
    k = clusters if isinstance(clusters, int) else len(clusters)
    return n / k if k else 0.0
