"""Clusters: findings grouped by signature, ranked by severity; and the
verdicts the contract set aside, grouped by reason.

:func:`cluster` groups :class:`~triage.signature.Finding` values whose
:func:`~triage.signature.signature` keys are equal, picks one deterministic
representative per group (the smallest case), and returns the clusters most
severe first.

:func:`piles` groups the verdicts that judged nothing (:data:`PILES`:
``internal``, ``sandboxed``, ``unsupported``, ``invalid``, ``skipped``,
``too_large``, ``nondeterministic``) by kind and by reason (the verdict's
detail through :func:`~triage.signature.normalize_reason`), so a report
shows what was set aside and why instead of dropping it.

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

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from miner.records import CallRecord, TensorSpec, describe_record, iter_values
from triage.known import KnownSubject
from triage.signature import Finding, Signature, normalize_reason, signature

__all__ = [
    "PILES",
    "SEVERITY",
    "Cluster",
    "Pile",
    "PileReason",
    "Unjudged",
    "cluster",
    "dedup_ratio",
    "piles",
    "record_elements",
    "severity_of",
]

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

    def known_subject(self) -> KnownSubject:
        """What known-issues entries look at (:mod:`triage.known`)."""
        return KnownSubject(id=self.id, api=self.api, reference=self.reference,
                            target=self.target, kind=self.kind,
                            message=self.signature.message, detail=self.representative.detail)


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


# ---------------------------------------------------------------------------
# Piles: what the contract did not judge
# ---------------------------------------------------------------------------

#: The verdict kinds that judged nothing, in the order reports show them.
#: ``internal`` (seamfuzz itself failed) comes first and is shown apart: it is
#: a failure of the tool, not an observation of the library.  ``sandboxed``
#: (the sandbox stopped a call's write or connection) follows, apart too: it
#: is neither the library's failure nor the tool's.
PILES = ("internal", "sandboxed", "unsupported", "invalid", "skipped", "too_large",
         "nondeterministic")

#: How many APIs and boundaries a :class:`PileReason` names.
PILE_TOP = 5


@dataclass(frozen=True, slots=True)
class Unjudged:
    """One verdict of a :data:`PILES` kind, as :func:`piles` takes it."""

    #: The case's id in the campaign store.
    case_id: str
    #: The API the case calls.
    api: str
    #: ``"REFERENCE -> TARGET"``.
    boundary: str
    #: One of :data:`PILES`.
    kind: str
    #: The verdict's detail line.
    detail: str


def _counted(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:PILE_TOP])


def _pairs(raw: Any) -> tuple[tuple[str, int], ...]:
    return tuple((str(name), int(n)) for name, n in (raw or ()))


@dataclass(frozen=True, slots=True)
class PileReason:
    """The verdicts of one pile that share a reason."""

    #: The normalized detail (:func:`~triage.signature.normalize_reason`).
    reason: str
    #: Verdicts with this reason (a case counts once per boundary).
    count: int
    #: Distinct cases.
    cases: int
    #: The APIs it touches, most verdicts first: up to :data:`PILE_TOP`
    #: ``(api, verdicts)`` pairs.
    apis: tuple[tuple[str, int], ...]
    #: All distinct APIs (``len(apis)`` may be smaller).
    api_count: int
    #: The boundaries it touches, like :attr:`apis`.
    boundaries: tuple[tuple[str, int], ...]
    #: All distinct boundaries.
    boundary_count: int
    #: The example: the smallest case id with this reason.
    example_case: str
    #: The example's call, described (``torch.cumsum(Tensor[...], dim=0)``);
    #: "" when the case could not be described.
    example_call: str
    #: The example's raw verdict detail, and its boundary.
    example_detail: str
    example_boundary: str

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict (pairs as two-item lists)."""
        return {
            "reason": self.reason,
            "count": self.count,
            "cases": self.cases,
            "apis": [[a, n] for a, n in self.apis],
            "api_count": self.api_count,
            "boundaries": [[b, n] for b, n in self.boundaries],
            "boundary_count": self.boundary_count,
            "example": {"case_id": self.example_case, "call": self.example_call,
                        "detail": self.example_detail, "boundary": self.example_boundary},
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "PileReason":
        """Inverse of :meth:`to_json`; raises ValueError when malformed."""
        try:
            ex = obj.get("example") or {}
            return cls(
                reason=str(obj["reason"]), count=int(obj["count"]), cases=int(obj["cases"]),
                apis=_pairs(obj.get("apis")), api_count=int(obj.get("api_count", 0)),
                boundaries=_pairs(obj.get("boundaries")),
                boundary_count=int(obj.get("boundary_count", 0)),
                example_case=str(ex.get("case_id", "")), example_call=str(ex.get("call", "")),
                example_detail=str(ex.get("detail", "")),
                example_boundary=str(ex.get("boundary", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed pile reason: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class Pile:
    """The verdicts of one kind the contract did not judge, by reason."""

    #: One of :data:`PILES`.
    kind: str
    #: Verdicts in the pile.
    count: int
    #: Distinct cases in the pile.
    cases: int
    #: Most verdicts first, then by reason.
    reasons: tuple[PileReason, ...]

    @property
    def seamfuzz_failure(self) -> bool:
        """True for the ``internal`` pile: failures of seamfuzz itself, not
        of the library."""
        return self.kind == "internal"

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"kind": self.kind, "count": self.count, "cases": self.cases,
                "seamfuzz_failure": self.seamfuzz_failure,
                "reasons": [r.to_json() for r in self.reasons]}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Pile":
        """Inverse of :meth:`to_json`; raises ValueError when malformed."""
        try:
            return cls(str(obj["kind"]), int(obj["count"]), int(obj["cases"]),
                       tuple(PileReason.from_json(r) for r in obj.get("reasons") or ()))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed pile: {exc!r}") from exc


def piles(items: Iterable[Unjudged],
          describe: Callable[[str], str] = lambda case_id: "") -> tuple[Pile, ...]:
    """Group verdicts that judged nothing by kind (in :data:`PILES` order,
    then any other kind by name; empty piles left out) and by reason.
    ``describe`` gives the call of an example case from its id (it is asked
    once per reason, not per verdict).  The result does not depend on the
    order of ``items``."""
    groups: dict[str, dict[str, list[Unjudged]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        groups[item.kind][normalize_reason(item.detail) or "(no detail)"].append(item)
    order = {k: i for i, k in enumerate(PILES)}
    out = []
    for kind in sorted(groups, key=lambda k: (order.get(k, len(PILES)), k)):
        reasons = []
        for reason, members in groups[kind].items():
            example = min(members, key=lambda u: (u.case_id, u.boundary))
            apis = Counter(u.api for u in members)
            bounds = Counter(u.boundary for u in members)
            reasons.append(PileReason(
                reason=reason, count=len(members), cases=len({u.case_id for u in members}),
                apis=_counted(apis), api_count=len(apis), boundaries=_counted(bounds),
                boundary_count=len(bounds), example_case=example.case_id,
                example_call=describe(example.case_id), example_detail=example.detail,
                example_boundary=example.boundary))
        reasons.sort(key=lambda r: (-r.count, r.reason))
        members_all = [u for ms in groups[kind].values() for u in ms]
        out.append(Pile(kind, len(members_all), len({u.case_id for u in members_all}),
                        tuple(reasons)))
    return tuple(out)
