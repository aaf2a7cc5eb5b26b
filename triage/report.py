"""The campaign report: ``clusters.json``, ``report.html`` and a Markdown
summary, rendered from plain data.

The command layer gathers a :class:`ReportData` from the campaign store
(totals, verdict counts per boundary, one :class:`ClusterRow` per cluster,
the :class:`~triage.cluster.Pile` of each kind of verdict the contract did
not judge) and calls :func:`clusters_json`, :func:`not_judged_json`,
:func:`render_markdown` and :func:`render_html`, or :func:`write_report`
for all of them.  Every report has a "Not judged" section: each pile
(``internal`` apart, as seamfuzz's own failures, and ``sandboxed``, as
calls the sandbox stopped) by reason, with counts, the APIs and boundaries
it touches and an example case, so nothing set aside is hidden.  Nothing
here reads the store, imports a framework, or touches the network.

Note [Untrusted text]
    Every string in a report may come from a library (API names, error
    messages) or from a mined corpus (argument values, hints), and settings
    come from the user.  The HTML page escapes every one of them with
    :func:`html.escape` (quotes included: some land in attributes), links
    only relative reproducer paths and http(s) issue links, and carries a
    Content-Security-Policy that allows no network access and runs only the
    page's own script (by its hash), so a string that slipped through could
    still not run code.  The Markdown summary escapes ``<``, ``>``, ``&``
    and table pipes outside code spans.

Note [One file]
    ``report.html`` must open from a results folder copied anywhere, with no
    network: the CSS and the script are inline and the charts are inline SVG
    drawn here, in Python.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np

from infra.atomic import write_text_atomic
from miner.records import describe_record
from runner.observation import (
    ArrayLeaf,
    MapNode,
    Node,
    Observation,
    OpaqueLeaf,
    Outcome,
    ScalarLeaf,
    SeqNode,
)
from miner.records import CallRecord
from triage.cluster import PILES, Cluster, Pile, dedup_ratio
from triage.known import KnownEntry, KnownSubject
from triage.signature import Finding, Signature, leaf_at

__all__ = [
    "KIND_ORDER",
    "ClusterRow",
    "Example",
    "ReportData",
    "ShrinkStats",
    "Totals",
    "clusters_json",
    "describe_observation",
    "example_for",
    "not_judged_json",
    "render_html",
    "render_markdown",
    "row_for",
    "write_report",
]

#: Verdict kinds in the order charts and tables show them: the breaking kinds
#: most severe first, then the rest.
KIND_ORDER = (
    "crash", "timeout", "value", "dtype", "shape", "status",
    "agree", "invalid", "unsupported", "nondeterministic", "too_large", "skipped", "internal",
    "sandboxed",
)
_BREAKING = frozenset(KIND_ORDER[:6])

# (fill, text colour) per kind; chosen to read as "how bad" at a glance.
_COLORS = {
    "crash": ("#7f1d1d", "#fff"),
    "timeout": ("#6d28d9", "#fff"),
    "value": ("#dc2626", "#fff"),
    "dtype": ("#ea580c", "#fff"),
    "shape": ("#d97706", "#fff"),
    "status": ("#2563eb", "#fff"),
    "agree": ("#86c59a", "#12361f"),
    "invalid": ("#a3a3a3", "#1f1f1f"),
    "unsupported": ("#cbd5e1", "#1e293b"),
    "nondeterministic": ("#5eadaa", "#0b2e2d"),
    "too_large": ("#d6d3d1", "#292524"),
    "skipped": ("#e7e5e4", "#292524"),
    "internal": ("#111827", "#fde68a"),
    "sandboxed": ("#0f766e", "#fff"),
}
_OTHER_COLOR = ("#64748b", "#fff")

#: Rows of the Markdown cluster table; the rest are counted.
MARKDOWN_TOP = 15


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    """How much the campaign ran."""

    #: Distinct APIs with at least one case.
    apis: int
    #: Cases run.
    cases: int
    #: Cases on which the reference returned (the input is in the API's
    #: domain, so the boundary could be judged).
    valid: int
    #: framework -> (valid cases, cases).
    frameworks: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: Where cases' arguments came from: ``mined`` (all from code),
    #: ``resolved`` (some filled by ``seamfuzz resolve``), ``synthesized``
    #: (built from the schema) -> cases (see :func:`origin_of`).
    origins: Mapping[str, int] = field(default_factory=dict)

    @property
    def valid_rate(self) -> float:
        """``valid / cases`` (0.0 without cases)."""
        return self.valid / self.cases if self.cases else 0.0


@dataclass(frozen=True, slots=True)
class Example:
    """One case of a cluster as the report shows it: normally the shrunk
    form of the representative (see :func:`example_for`)."""

    #: The call, described (:func:`~miner.records.describe_record`).
    call: str
    #: Its arguments as JSON-able data (the record's ``args``, ``kwargs``,
    #: ``init_args``, ``init_kwargs`` that are not empty).
    args: Mapping[str, Any]
    #: What the reference observed, one short line.
    reference: str
    #: What the target observed, one short line.
    target: str
    #: The case's seed.
    seed: int
    #: The representative's case id in the campaign store.
    case_id: str = ""
    #: The representative verdict's detail (known-issue regexes search it).
    detail: str = ""
    #: Why no reproducer could be written; "" when one was.
    repro_unsupported: str = ""
    #: How much of the call came from real code (:func:`origin_of`).
    origin: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict (``repro_unsupported`` and ``origin`` only when set)."""
        out = {"call": self.call, "args": dict(self.args), "reference": self.reference,
               "target": self.target, "seed": int(self.seed), "case_id": self.case_id,
               "detail": self.detail}
        if self.repro_unsupported:
            out["repro_unsupported"] = self.repro_unsupported
        if self.origin:
            out["origin"] = self.origin
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Example":
        """Inverse of :meth:`to_json`; missing keys are empty (files written
        before a key existed still read).  Raises ValueError when malformed."""
        try:
            args = obj.get("args") or {}
            return cls(call=str(obj.get("call", "")),
                       args=dict(args) if isinstance(args, Mapping) else {"args": args},
                       reference=str(obj.get("reference", "")),
                       target=str(obj.get("target", "")), seed=int(obj.get("seed") or 0),
                       case_id=str(obj.get("case_id", "")), detail=str(obj.get("detail", "")),
                       repro_unsupported=str(obj.get("repro_unsupported", "")),
                       origin=str(obj.get("origin", "")))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed example: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class ShrinkStats:
    """What shrinking a cluster's representative did."""

    #: Candidates tried.
    tried: int
    #: Candidates kept (each still broke the boundary the same way).
    kept: int
    #: Seconds spent.
    seconds: float
    #: True when the time limit stopped it.
    timed_out: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"tried": self.tried, "kept": self.kept, "seconds": round(self.seconds, 1),
                "timed_out": self.timed_out}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> "ShrinkStats | None":
        """Inverse of :meth:`to_json`; None for an empty or missing dict."""
        if not obj:
            return None
        try:
            return cls(int(obj["tried"]), int(obj["kept"]), float(obj["seconds"]),
                       bool(obj["timed_out"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed shrink stats: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class ClusterRow:
    """One triaged cluster, as the campaign store keeps it and the report
    shows it (see :func:`row_for`).  :meth:`to_json` is its ``clusters.json``
    object; :meth:`from_json` reads it back, and :meth:`from_stored` reads
    the campaign store's row."""

    #: The signature key.
    id: str
    #: The API name as recorded.
    api: str
    #: The verdict kind.
    kind: str
    #: Reference mode spec.
    reference: str
    #: Target mode spec.
    target: str
    #: The setting that flips the result (``dynamic``, ``dtype``), or "" when
    #: not attributed.
    axis: str
    #: Distinct cases in the cluster.
    cases: int
    #: The cluster's signature (a mapping of its parts is converted).
    signature: Signature
    #: The reproducer, relative to the output folder; "" when none.
    repro: str
    #: True when a known-issues entry matches.
    known: bool
    #: The matching entry's reason and link ("" when not known).
    known_reason: str
    known_link: str
    #: :data:`~triage.cluster.SEVERITY` rank; higher is more severe.
    severity: int
    #: The shown case (a mapping of its fields is converted).
    example: Example
    #: The attribution's evidence: probe name -> verdict kind of its target
    #: (:class:`~triage.attribute.Attribution`'s ``probes``).
    probes: tuple[tuple[str, str], ...] = ()
    #: What shrinking did; None when it did not run.
    shrink: ShrinkStats | None = None
    #: The shrunk call and its seed; None when not shrunk (or not kept).
    shrunk_record: CallRecord | None = None
    shrunk_seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.signature, Mapping):
            object.__setattr__(self, "signature", Signature.from_parts(self.signature))
        if isinstance(self.example, Mapping):
            object.__setattr__(self, "example", Example.from_json(self.example))
        object.__setattr__(self, "probes",
                           tuple((str(k), str(v)) for k, v in self.probes))

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
                            message=self.signature.message, detail=self.example.detail)

    def with_known(self, entry: KnownEntry | None) -> "ClusterRow":
        """A copy marked with a known-issues entry (or unmarked for None)."""
        return replace(self, known=entry is not None,
                       known_reason=entry.reason if entry is not None else "",
                       known_link=(entry.link or "") if entry is not None else "")

    def _shrunk_json(self) -> dict[str, Any]:
        if self.shrunk_record is None:
            return {}
        return {"record": self.shrunk_record.to_json(), "seed": self.shrunk_seed}

    def to_json(self) -> dict[str, Any]:
        """The ``clusters.json`` object."""
        return {
            "id": self.id,
            "api": self.api,
            "kind": self.kind,
            "reference": self.reference,
            "target": self.target,
            "boundary": self.boundary,
            "axis": self.axis,
            "cases": int(self.cases),
            "severity": int(self.severity),
            "signature": self.signature.parts(),
            "summary": self.signature.summary(),
            "repro": self.repro,
            "known": bool(self.known),
            "known_reason": self.known_reason,
            "known_link": self.known_link,
            "example": self.example.to_json(),
            "probes": [[k, v] for k, v in self.probes],
            "shrink": self.shrink.to_json() if self.shrink is not None else {},
            "shrunk": self._shrunk_json(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "ClusterRow":
        """Inverse of :meth:`to_json`.  Reads ``clusters.json`` objects of
        earlier versions too (no ``probes``, ``shrink`` or ``shrunk``), and
        the campaign store's rows (:meth:`from_stored`).  Raises ValueError
        when malformed."""
        try:
            known = obj.get("known")
            if isinstance(known, Mapping):  # the store keeps {"reason", "link"}
                reason, link = str(known.get("reason", "")), str(known.get("link") or "")
                known = bool(known)
            else:
                reason = str(obj.get("known_reason", ""))
                link = str(obj.get("known_link") or "")
            detail = obj.get("axis_detail") or {}
            probes = obj.get("probes", detail.get("probes", ()))
            if isinstance(probes, Mapping):
                probes = probes.items()
            shrunk = obj.get("shrunk") or {}
            record = shrunk.get("record")
            return cls(
                id=str(obj["id"]), api=str(obj["api"]), kind=str(obj["kind"]),
                reference=str(obj["reference"]), target=str(obj["target"]),
                axis=str(obj.get("axis", "")), cases=int(obj["cases"]),
                signature=Signature.from_parts(obj.get("signature") or {}),
                repro=str(obj.get("repro", "")), known=bool(known), known_reason=reason,
                known_link=link, severity=int(obj.get("severity", 0)),
                example=Example.from_json(obj.get("example") or {}),
                probes=tuple((str(k), str(v)) for k, v in probes),
                shrink=ShrinkStats.from_json(obj.get("shrink", detail.get("shrink"))),
                shrunk_record=None if record is None else CallRecord.from_json(record),
                shrunk_seed=None if record is None else int(shrunk.get("seed") or 0),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed cluster row: {exc!r}") from exc

    @classmethod
    def from_stored(cls, row: Mapping[str, Any]) -> "ClusterRow":
        """A row of :meth:`seamfuzz.store.CampaignStore.clusters`."""
        return cls.from_json(row)

    def store_info(self) -> dict[str, Any]:
        """The ``info`` :meth:`seamfuzz.store.CampaignStore.put_clusters`
        stores beside the cluster (JSON-able)."""
        return {
            "axis": self.axis,
            # Pairs, not a dict: the store sorts JSON keys, and the probes'
            # order (the compiler stages in turn) is part of the evidence.
            "axis_detail": {"probes": [[k, v] for k, v in self.probes],
                            "shrink": self.shrink.to_json() if self.shrink else {}},
            "shrunk": self._shrunk_json(),
            "repro": self.repro,
            "known": ({"reason": self.known_reason, "link": self.known_link}
                      if self.known else {}),
            "example": self.example.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a report shows, as plain data."""

    title: str
    #: Campaign settings (name -> value), shown as given.
    settings: Mapping[str, Any]
    #: Library name -> version (``torch``, ``tensorflow``, ``python``,
    #: ``seamfuzz``).
    versions: Mapping[str, str]
    #: The device the campaign ran on, in words.
    device: str
    totals: Totals
    #: ``"REF -> TGT"`` -> verdict kind -> number of cases.
    boundaries: Mapping[str, Mapping[str, int]]
    clusters: Sequence[ClusterRow]
    #: The verdicts the contract did not judge, by kind and reason (see
    #: :func:`triage.cluster.piles`).
    piles: Sequence[Pile] = ()
    #: When the report was made (free text; "" to leave it out, which keeps
    #: the output byte-identical between runs).
    generated: str = ""

    def sorted_clusters(self) -> tuple[list[ClusterRow], list[ClusterRow]]:
        """(new clusters, known clusters), each most severe first."""
        rows = sorted(self.clusters, key=ClusterRow.sort_key)
        return [r for r in rows if not r.known], [r for r in rows if r.known]

    @property
    def findings(self) -> int:
        """Cases over all clusters."""
        return sum(int(r.cases) for r in self.clusters)


# ---------------------------------------------------------------------------
# Building rows from clusters
# ---------------------------------------------------------------------------

_MAX_OBSERVED = 240


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt_number(x: Any) -> str:
    # numpy prints the shortest text that round-trips in the value's own
    # dtype (float32 0.1 is "0.1", not 0.10000000149011612).
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return _cut(str(x), 24)


def _summarize(node: Node | None, depth: int = 0) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, ArrayLeaf):
        head = f"{node.dtype}[{','.join(map(str, node.shape))}]"
        try:
            flat = node.to_numpy().reshape(-1)
            vals = ", ".join(_fmt_number(v) for v in flat[:4])
        except (ValueError, TypeError):
            return head
        more = ", ..." if node.size > 4 else ""
        return f"{head} [{vals}{more}]"
    if isinstance(node, ScalarLeaf):
        return _cut(repr(node.value), 60)
    if isinstance(node, OpaqueLeaf):
        return f"<{node.type_name}>"
    if depth >= 2:
        return "..."
    if isinstance(node, SeqNode):
        inner = ", ".join(_summarize(x, depth + 1) for x in node.items[:3])
        more = ", ..." if len(node.items) > 3 else ""
        name = node.kind.split(":", 1)[-1] if node.kind.startswith("namedtuple:") else node.kind
        return f"{name}({inner}{more})"
    if isinstance(node, MapNode):
        inner = ", ".join(f"{k}: {_summarize(x, depth + 1)}" for k, x in node.items[:3])
        more = ", ..." if len(node.items) > 3 else ""
        return "{" + inner + more + "}"
    return type(node).__name__


def describe_observation(obs: Observation, path: str = "") -> str:
    """A short line for what one mode observed: ``returned float32[4] [0.85,
    ...]``, ``raised RuntimeError: ...``, ``crashed (killed by signal 11)``.
    With a ``path``, the node there is shown too."""
    o = obs.outcome
    if o is Outcome.RETURNED:
        text = f"returned {_summarize(obs.output)}"
        if path:
            node = leaf_at(obs, path)
            if node is not None and node is not obs.output:
                text += f"; at {path}: {_summarize(node)}"
        return _cut(text, _MAX_OBSERVED)
    if o is Outcome.RAISED:
        msg = obs.error_message or ""
        return _cut(f"raised {obs.error_type or 'an error'}" + (f": {msg}" if msg else ""),
                    _MAX_OBSERVED)
    if o is Outcome.CRASHED:
        return _cut(f"crashed ({obs.detail or 'no detail'})", _MAX_OBSERVED)
    if o is Outcome.TIMEOUT:
        return _cut(f"timed out ({obs.detail or 'no detail'})", _MAX_OBSERVED)
    return _cut(f"{o.value}: {obs.detail or obs.describe_error()}", _MAX_OBSERVED)


def origin_kind(record: Any) -> str:
    """``synthesized``, ``resolved`` or ``mined``: where a case's arguments
    came from."""
    if record.synthesized:
        return "synthesized"
    return "resolved" if record.origins else "mined"


def origin_of(record: Any) -> str:
    """One line saying how much of a call came from real code: all of it,
    all but the values ``seamfuzz resolve`` filled (each with its origin),
    or none (synthesized from the API's schema)."""
    kind = origin_kind(record)
    if kind == "synthesized":
        return "synthesized from the API's schema (no mined call)"
    if kind == "mined":
        return "mined: every argument from code"
    filled = ", ".join(f"{slot} {how}" for slot, how in record.origins)
    return f"mined, {len(record.origins)} value(s) filled by resolution: {filled}"


def example_for(f: Finding, call: str = "") -> Example:
    """The :class:`Example` of a finding (normally the cluster's
    representative, or its shrunk form): ``call`` defaults to
    :func:`~miner.records.describe_record` of the finding's record."""
    ident = f.record.identity()
    args = {k: ident[k] for k in ("args", "kwargs", "init_args", "init_kwargs") if ident[k]}
    try:
        described = call or describe_record(f.record)
    except TypeError:
        described = f.api + "(...)"
    return Example(
        call=described,
        args=args,
        reference=describe_observation(f.ref_obs, f.path),
        target=describe_observation(f.tgt_obs, f.path),
        seed=int(f.seed),
        case_id=f.case_id,
        # The verdict's detail: known-issue message regexes search it.
        detail=_cut(f.detail, 1000),
        origin=origin_of(f.record),
    )


def row_for(
    c: Cluster,
    *,
    axis: str = "",
    repro: str = "",
    known: KnownEntry | None = None,
    example: Example | Mapping[str, Any] | None = None,
    probes: Sequence[tuple[str, str]] = (),
    shrink: ShrinkStats | None = None,
    shrunk: Finding | None = None,
) -> ClusterRow:
    """A :class:`ClusterRow` for a cluster; ``example`` defaults to
    :func:`example_for` its representative; ``shrunk`` is the shrunk form of
    the representative, when shrinking ran."""
    if example is None:
        example = example_for(c.representative)
    elif isinstance(example, Mapping):
        example = Example.from_json(example)
    return ClusterRow(
        id=c.id,
        api=c.api,
        kind=c.kind,
        reference=c.reference,
        target=c.target,
        axis=axis,
        cases=c.cases,
        signature=c.signature,
        repro=repro,
        known=known is not None,
        known_reason=known.reason if known is not None else "",
        known_link=(known.link or "") if known is not None else "",
        severity=c.severity,
        example=example,
        probes=tuple(probes),
        shrink=shrink,
        shrunk_record=shrunk.record if shrunk is not None else None,
        shrunk_seed=int(shrunk.seed) if shrunk is not None else None,
    )


# ---------------------------------------------------------------------------
# clusters.json and Markdown
# ---------------------------------------------------------------------------


def clusters_json(data: ReportData) -> list[dict[str, Any]]:
    """The ``clusters.json`` list: new clusters most severe first, then the
    known ones."""
    new, known = data.sorted_clusters()
    return [r.to_json() for r in new + known]


def _sandbox_of(data: ReportData) -> str:
    """How the campaign's cases ran (:mod:`infra.sandbox`), as recorded."""
    return str(data.settings.get("sandbox") or "not recorded (a campaign from before the "
                                               "sandbox)")


def not_judged_json(data: ReportData) -> list[dict[str, Any]]:
    """The ``not_judged.json`` list: one object per pile of verdicts the
    contract did not judge (:meth:`~triage.cluster.Pile.to_json`), in
    :data:`~triage.cluster.PILES` order."""
    return [p.to_json() for p in data.piles]


#: Reasons per pile the Markdown summary lists; the rest are counted.
MARKDOWN_REASONS = 10
#: Reasons per pile the HTML page lists.
HTML_REASONS = 50

_PILE_TITLES = {
    "internal": "internal: seamfuzz's own failures",
    "sandboxed": "sandboxed: stopped by the sandbox",
    "unsupported": "unsupported: a mode declared a limit, or is unavailable here",
    "invalid": "invalid: the input is outside the reference's domain",
    "skipped": "skipped: not run (unresolved arguments, a denied API)",
    "too_large": "too_large: inputs over the memory cap",
    "nondeterministic": "nondeterministic: the reference disagrees with itself",
}
_INTERNAL_NOTE = ("These are failures of seamfuzz itself (building inputs, converting "
                  "outputs, a worker that raised), not observations of the library; "
                  "they are counted here so none is hidden.")
_SANDBOXED_NOTE = ("These calls tried to write outside their temporary folder or to reach "
                   "the network, and the sandbox stopped them; they are neither the "
                   "library's failures nor seamfuzz's, and are counted here so none is "
                   "hidden.")
#: The piles that are no observation of the library: kind -> (lead, note)
#: shown above them.
_PILE_NOTES = {
    "internal": ("Not the library's failures.", _INTERNAL_NOTE),
    "sandboxed": ("Stopped by the sandbox.", _SANDBOXED_NOTE),
}


def _ordered_piles(piles: Sequence[Pile]) -> list[Pile]:
    order = {k: i for i, k in enumerate(PILES)}
    return sorted(piles, key=lambda p: (order.get(p.kind, len(PILES)), p.kind))


def _names(pairs: Sequence[tuple[str, int]], total: int) -> list[str]:
    out = [f"{name} ({n})" for name, n in pairs]
    if total > len(pairs):
        out.append(f"+{total - len(pairs)} more")
    return out


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def _kinds_present(boundaries: Mapping[str, Mapping[str, int]]) -> list[str]:
    seen = {k for counts in boundaries.values() for k, n in counts.items() if n}
    return [k for k in KIND_ORDER if k in seen] + sorted(seen - set(KIND_ORDER))


def _md_text(text: Any) -> str:
    """Plain Markdown table-cell text: HTML-escaped, pipes escaped, one line."""
    s = " ".join(str(text).split())
    return html.escape(s, quote=False).replace("|", "\\|")


def _md_code(text: Any) -> str:
    """An inline code span (entities are not decoded there, so no
    escaping but the pipe, which GitHub tables split on even in code)."""
    s = " ".join(str(text).split()).replace("|", "\\|")
    if not s:
        return ""
    ticks = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or ticks else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def render_markdown(data: ReportData) -> str:
    """A short Markdown summary to paste into an issue: totals, verdicts per
    boundary, the top new clusters with their reproducers, the known ones."""
    t = data.totals
    new, known = data.sorted_clusters()
    out = [f"# {_md_text(data.title)}", ""]
    stamp = [f"device: {_md_text(data.device)}"] if data.device else []
    stamp.append(f"sandbox: {_md_text(_sandbox_of(data))}")
    stamp += [f"{_md_text(k)} {_md_text(v)}" for k, v in data.versions.items()]
    if data.generated:
        stamp.append(f"generated {_md_text(data.generated)}")
    if stamp:
        out += [" · ".join(stamp), ""]
    fw = ", ".join(f"{_md_text(name)} {_pct(v, n)} ({v}/{n})"
                   for name, (v, n) in sorted(t.frameworks.items()))
    out.append(f"**{t.apis} APIs, {t.cases} cases, {t.valid} valid "
               f"({_pct(t.valid, t.cases)})**" + (f" — {fw}" if fw else ""))
    out.append("")
    if t.origins:
        out.append("Arguments: " + _origins_line(t.origins))
        out.append("")
    out.append(f"**{data.findings} findings in {len(data.clusters)} clusters** "
               f"({len(new)} new, {len(known)} known; "
               f"{dedup_ratio(data.findings, len(data.clusters)):.1f} findings per cluster)")
    out.append("")
    if data.boundaries:
        kinds = _kinds_present(data.boundaries)
        out += ["## Verdicts per boundary", ""]
        out.append("| boundary | " + " | ".join(map(_md_text, kinds)) + " | total |")
        out.append("|---|" + "---:|" * (len(kinds) + 1))
        for name, counts in sorted(data.boundaries.items()):
            cells = [str(int(counts.get(k, 0))) for k in kinds]
            out.append(f"| {_md_code(name)} | " + " | ".join(cells)
                       + f" | {sum(int(n) for n in counts.values())} |")
        out.append("")
    out += ["## New clusters (most severe first)", ""]
    if new:
        out.append("| # | kind | API | boundary | axis | cases | signature | reproducer |")
        out.append("|---:|---|---|---|---|---:|---|---|")
        for i, r in enumerate(new[:MARKDOWN_TOP], 1):
            out.append(
                f"| {i} | {_md_text(r.kind)} | {_md_code(r.api)} | {_md_code(r.boundary)} "
                f"| {_md_text(r.axis or '—')} | {int(r.cases)} "
                f"| {_md_text(_cut(r.signature.summary(), 120))} "
                f"| {_md_code(r.repro) or '—'} |"
            )
        if len(new) > MARKDOWN_TOP:
            out.append("")
            out.append(f"… and {len(new) - MARKDOWN_TOP} more in `clusters.json`.")
    else:
        out.append("None.")
    out.append("")
    if known:
        out += ["## Known clusters", ""]
        out.append("| kind | API | boundary | cases | reason |")
        out.append("|---|---|---|---:|---|")
        for r in known:
            reason = _md_text(r.known_reason)
            if r.known_link and _safe_link(r.known_link):
                url = quote(r.known_link, safe=":/?#[]@!$&'()*+,;=%~")
                reason += f" ([link](<{url}>))"
            out.append(f"| {_md_text(r.kind)} | {_md_code(r.api)} | {_md_code(r.boundary)} "
                       f"| {int(r.cases)} | {reason} |")
        out.append("")
    out += _markdown_piles(data.piles)
    return "\n".join(out)


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------


def _origins_line(origins: Mapping[str, int]) -> str:
    labels = {"mined": "all from code", "resolved": "from code with values resolved",
              "synthesized": "synthesized from schemas"}
    total = sum(origins.values())
    return ", ".join(f"{int(origins[k])} cases {labels[k]} ({_pct(int(origins[k]), total)})"
                     for k in ("mined", "resolved", "synthesized") if origins.get(k))


def _markdown_piles(piles: Sequence[Pile]) -> list[str]:
    out = ["## Not judged", ""]
    if not piles:
        return out + ["Nothing: every verdict judged the boundary.", ""]
    out += ["Verdicts the contract set aside, by reason (all of them are in "
            "`not_judged.json`).", ""]
    for pile in _ordered_piles(piles):
        title = _PILE_TITLES.get(pile.kind, pile.kind)
        out += [f"### {_md_text(title)}: {pile.count} verdicts, {pile.cases} cases", ""]
        if pile.kind in _PILE_NOTES:
            lead, note = _PILE_NOTES[pile.kind]
            out += [f"> **{_md_text(lead)}** {_md_text(note)}", ""]
        out.append("| reason | verdicts | cases | APIs | boundaries | example |")
        out.append("|---|---:|---:|---|---|---|")
        for r in pile.reasons[:MARKDOWN_REASONS]:
            apis = ", ".join(_names(r.apis, r.api_count))
            bounds = ", ".join(_names(r.boundaries, r.boundary_count))
            example = _md_code(r.example_case)
            if r.example_call:
                example += " " + _md_code(_cut(r.example_call, 160))
            out.append(f"| {_md_text(_cut(r.reason, 160))} | {r.count} | {r.cases} "
                       f"| {_md_text(apis)} | {_md_text(bounds)} | {example} |")
        if len(pile.reasons) > MARKDOWN_REASONS:
            out += ["", f"… and {len(pile.reasons) - MARKDOWN_REASONS} more reasons in "
                    f"`not_judged.json`."]
        out.append("")
    return out


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _safe_link(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _repro_href(path: str) -> str:
    """A relative href for a reproducer path, or "" when it is not a plain
    relative path (no scheme, not absolute, no ``..``)."""
    p = path.replace("\\", "/")
    if not p or p.startswith("/") or ":" in p.split("/", 1)[0] or ".." in p.split("/"):
        return ""
    return quote(p, safe="/._-~")


def _color(kind: str) -> tuple[str, str]:
    return _COLORS.get(kind, _OTHER_COLOR)


def _chip(kind: str) -> str:
    fill, ink = _color(kind)
    return (f'<span class="chip" style="background:{fill};color:{ink}">{_e(kind)}</span>')


def _stacked_bars(rows: Sequence[tuple[str, Mapping[str, int]]], kinds: Sequence[str],
                  label: str, width: int = 760, flag_breaking: bool = False) -> str:
    """An inline SVG of one horizontal stacked bar per row, scaled to the
    largest row; the row's name is written above its bar and its total to
    the right (with ``flag_breaking``, the number of breaking verdicts
    too).  Segments get a tooltip (``<title>``)."""
    right, bar_h, label_h, gap = 70, 20, 17, 12
    scale_w = width - right
    row_h = label_h + bar_h + gap
    height = max(1, len(rows)) * row_h
    biggest = max([sum(max(0, int(n)) for n in c.values()) for _, c in rows] + [1])
    parts = [
        (f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
         f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">')
    ]
    for i, (name, counts) in enumerate(rows):
        y = i * row_h
        total = sum(max(0, int(n)) for n in counts.values())
        parts.append(f'<text class="rowlabel" x="0" y="{y + 12}">{_e(name)}</text>')
        bad = sum(max(0, int(n)) for k, n in counts.items() if k in _BREAKING)
        if flag_breaking and bad:
            parts.append(f'<text class="flag" x="{scale_w}" y="{y + 12}">{bad} breaking</text>')
        by = y + label_h
        parts.append(f'<rect x="0" y="{by}" width="{scale_w}" height="{bar_h}" rx="3" '
                     f'class="track"/>')
        x = 0.0
        for kind in kinds:
            n = max(0, int(counts.get(kind, 0)))
            if not n:
                continue
            w = max(3.0, scale_w * n / biggest)  # a single case stays visible
            w = min(w, scale_w - x) if x < scale_w else 0.0
            if w <= 0:
                break
            fill, ink = _color(kind)
            parts.append(
                f'<rect x="{x:.1f}" y="{by}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{fill}"><title>{_e(name)}: {_e(kind)} {n}</title></rect>'
            )
            text = str(n)
            if w >= 8 * len(text) + 8:
                parts.append(f'<text class="seg" x="{x + w / 2:.1f}" y="{by + 14}" '
                             f'fill="{ink}">{text}</text>')
            x += w
        parts.append(f'<text class="total" x="{width}" y="{by + 14}">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(kinds: Sequence[str], totals: Mapping[str, int]) -> str:
    items = []
    for kind in kinds:
        fill, _ = _color(kind)
        items.append(f'<li><span class="swatch" style="background:{fill}"></span>'
                     f'{_e(kind)} <b>{int(totals.get(kind, 0))}</b></li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _kv_table(items: Iterable[tuple[str, Any]]) -> str:
    rows = []
    for k, v in items:
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        rows.append(f"<tr><th>{_e(k)}</th><td><code>{_e(text)}</code></td></tr>")
    if not rows:
        return '<p class="muted">None recorded.</p>'
    return f'<table class="kv">{"".join(rows)}</table>'


def _observed(example: Example) -> str:
    out = []
    for side, text in (("reference", example.reference), ("target", example.target)):
        if text:
            out.append(f'<div class="obs"><span class="side">{side}</span>'
                       f'<span>{_e(text)}</span></div>')
    return "".join(out)


def _cluster_table(rows: Sequence[ClusterRow], known: bool) -> str:
    head = ("<th>severity</th><th>cluster</th><th>what differs</th><th>shrunk case</th>"
            "<th>axis</th><th class=num>cases</th><th>"
            + ("known because" if known else "reproducer") + "</th>")
    body = []
    for r in rows:
        ex = r.example
        call, seed, args = ex.call, ex.seed, ex.args
        args_html = ""
        if args not in (None, "", {}, []):
            text = args if isinstance(args, str) else json.dumps(args, sort_keys=True,
                                                                 default=str)
            args_html = (f'<details><summary>arguments</summary>'
                         f'<pre>{_e(_cut(text, 4000))}</pre></details>')
        summary = r.signature.summary() or r.kind
        href = _repro_href(r.repro)
        if href:
            repro = (f'<a class="repro" href="{_e(href)}">{_e(r.repro)}</a>')
        elif r.repro:
            repro = f"<code>{_e(r.repro)}</code>"
        else:
            repro = '<span class="muted">none</span>'
        if known:
            reason = _e(r.known_reason)
            if r.known_link and _safe_link(r.known_link):
                reason += (f' <a href="{_e(r.known_link)}" rel="noreferrer noopener">'
                           f'link</a>')
            elif r.known_link:
                reason += f' <span class="muted">{_e(r.known_link)}</span>'
            last = f"{reason}<div class=small>{repro}</div>"
        else:
            last = repro
        body.append(
            f'<tr class="crow" id="c-{_e(r.id)}">'
            f"<td>{_chip(r.kind)}</td>"
            f'<td><div class="api">{_e(r.api)}</div>'
            f'<div class="small mono">{_e(r.reference)} &rarr; {_e(r.target)}</div>'
            f'<div class="small muted mono">#{_e(r.id)}</div></td>'
            f'<td class="what"><div>{_e(_cut(summary, 400))}</div>{_observed(ex)}</td>'
            f'<td class="case"><code class="call">{_e(call)}</code>'
            f'<div class="small muted">seed {_e(seed)}</div>'
            + (f'<div class="small muted origin">{_e(ex.origin)}</div>' if ex.origin else "")
            + f'{args_html}</td>'
            f'<td>{_e(r.axis) if r.axis else "<span class=muted>—</span>"}</td>'
            f"<td class=num>{int(r.cases)}</td>"
            f'<td class="last">{last}</td></tr>'
        )
    if not body:
        return '<p class="muted">None.</p>'
    cols = "".join(f'<col class="c-{c}">' for c in
                   ("sev", "clu", "what", "case", "axis", "n", "last"))
    return (f'<table class="clusters"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _piles_html(piles: Sequence[Pile]) -> str:
    if not piles:
        return '<p class="muted">Nothing: every verdict judged the boundary.</p>'
    blocks = ['<p class="muted small">Verdicts the contract set aside, by reason; all of '
              'them are in <code>not_judged.json</code>.</p>']
    for pile in _ordered_piles(piles):
        title = _PILE_TITLES.get(pile.kind, pile.kind)
        cls, note = "pile", ""
        if pile.kind in _PILE_NOTES:
            lead, text = _PILE_NOTES[pile.kind]
            cls = f"pile {_e(pile.kind)}"
            note = f'<p class="pile-note"><b>{_e(lead)}</b> {_e(text)}</p>'
        head = (f'<h3>{_chip(pile.kind)} {_e(title)} <span class="muted">'
                f"({pile.count} verdicts, {pile.cases} cases)</span></h3>")
        rows = []
        for r in pile.reasons[:HTML_REASONS]:
            apis = "<br>".join(_e(x) for x in _names(r.apis, r.api_count))
            bounds = "<br>".join(_e(x) for x in _names(r.boundaries, r.boundary_count))
            call = (f'<code class="call">{_e(_cut(r.example_call, 400))}</code>'
                    if r.example_call else "")
            rows.append(
                f'<tr class="prow"><td class="mono">{_e(r.reason)}</td>'
                f"<td class=num>{int(r.count)}</td><td class=num>{int(r.cases)}</td>"
                f'<td class="small mono">{apis}</td><td class="small mono">{bounds}</td>'
                f'<td class="case">{call}<div class="small muted mono">case '
                f"{_e(r.example_case)}</div></td></tr>")
        more = (f'<p class="muted small">… and {len(pile.reasons) - HTML_REASONS} more '
                f"reasons in not_judged.json.</p>" if len(pile.reasons) > HTML_REASONS
                else "")
        blocks.append(
            f'<div class="{cls}" id="pile-{_e(pile.kind)}">{head}{note}'
            '<table class="piles"><thead><tr><th>reason</th><th class=num>verdicts</th>'
            '<th class=num>cases</th><th>APIs</th><th>boundaries</th><th>example</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}</div>')
    return "".join(blocks)


_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--card:#fff;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header.top{background:#111827;color:#f9fafb;padding:20px 32px}
header.top h1{margin:0 0 4px;font-size:22px;font-weight:600}
header.top .stamp{color:#cbd5e1;font-size:12.5px}
header.top .stamp span{margin-right:14px}
main{padding:20px 32px 40px;max-width:1500px;margin:0 auto}
h2{font-size:16px;margin:0 0 12px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;
margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .n{font-size:24px;font-weight:650}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .s{color:var(--muted);font-size:12px;margin-top:2px}
.grid2{display:grid;grid-template-columns:minmax(0,1.3fr) minmax(0,1fr);gap:16px;
margin-bottom:16px}
@media (max-width:1000px){.grid2{grid-template-columns:1fr}}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:16px 18px;margin-bottom:16px;min-width:0}
.grid2 .panel{margin-bottom:0}
svg.chart{display:block}
svg.chart text{font:12px var(--mono)}
svg.chart text.rowlabel{fill:#374151}
svg.chart text.seg{text-anchor:middle;font-weight:600;font-size:11px}
svg.chart text.total{text-anchor:end;fill:#374151;font-weight:600}
svg.chart text.flag{text-anchor:end;fill:#b91c1c;font-weight:600}
svg.chart rect.track{fill:#f3f4f6}
.legend{list-style:none;padding:0;margin:12px 0 0;display:flex;flex-wrap:wrap;gap:6px 16px;
font-size:12.5px}
.legend .swatch{display:inline-block;width:11px;height:11px;border-radius:2px;
margin-right:5px;vertical-align:-1px}
.chip{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;
font-weight:600;white-space:nowrap}
table{border-collapse:collapse;width:100%}
table.clusters th{text-align:left;font-size:12px;color:var(--muted);font-weight:600;
text-transform:uppercase;letter-spacing:.03em;border-bottom:2px solid var(--line);
padding:6px 8px}
table.clusters td{border-bottom:1px solid var(--line);padding:9px 8px;vertical-align:top}
table.clusters tr:hover td{background:#fafbfc}
.num{text-align:right}
.api{font:600 13px var(--mono);overflow-wrap:anywhere}
table.clusters{table-layout:fixed}
col.c-sev{width:86px}col.c-clu{width:20%}col.c-what{width:27%}col.c-case{width:26%}
col.c-axis{width:88px}col.c-n{width:62px}col.c-last{width:17%}
td.last{overflow-wrap:anywhere}
.mono{font-family:var(--mono)}
.small{font-size:12px}
.muted{color:var(--muted)}
td.what{overflow-wrap:anywhere}
code.call{display:block;font:12.5px/1.4 var(--mono);background:#f3f4f6;border-radius:5px;
padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere}
.obs{font-size:12px;margin-top:4px;font-family:var(--mono);color:#374151;
overflow-wrap:anywhere}
.obs .side{display:inline-block;min-width:72px;color:var(--muted);font-family:inherit}
details summary{cursor:pointer;color:var(--muted);font-size:12px;margin-top:4px}
details pre{font:12px var(--mono);background:#f9fafb;border:1px solid var(--line);
padding:6px;white-space:pre-wrap;overflow-wrap:anywhere;max-height:240px;overflow:auto}
a{color:#1d4ed8}
a.repro{font:12px var(--mono)}
.toolbar{display:flex;align-items:center;gap:12px;margin-bottom:10px}
.toolbar input{flex:0 1 360px;padding:6px 10px;border:1px solid #d1d5db;border-radius:6px;
font:13px inherit}
.toolbar .count{color:var(--muted);font-size:12.5px}
table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:4px 12px 4px 0;
width:1%;white-space:nowrap;vertical-align:top}
table.kv td{padding:4px 0;border-bottom:1px solid #f3f4f6}
table.kv code{font:12.5px var(--mono);overflow-wrap:anywhere}
table.counts{font-size:12px;margin-top:8px}
table.counts th,table.counts td{padding:3px 8px;border-bottom:1px solid var(--line)}
table.counts th{color:var(--muted);font-weight:600;text-align:right}
table.counts th:first-child,table.counts td:first-child{text-align:left}
table.counts td{text-align:right;font-family:var(--mono)}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px 0 24px}
.pile{margin-top:14px}
.pile h3{font-size:14px;font-weight:600;margin:0 0 6px}
.pile.internal{border:2px solid #111827;border-radius:8px;padding:10px 12px;background:#fffbeb}
.pile.sandboxed{border:2px solid #0f766e;border-radius:8px;padding:10px 12px;background:#f0fdfa}
.pile-note{margin:0 0 8px;font-size:13px}
table.piles{table-layout:fixed;font-size:12.5px}
table.piles th{text-align:left;font-size:12px;color:var(--muted);font-weight:600;
border-bottom:2px solid var(--line);padding:5px 8px}
table.piles td{border-bottom:1px solid var(--line);padding:6px 8px;vertical-align:top;
overflow-wrap:anywhere}
"""

# The page's only script: a filter over the cluster rows.  It marks the body
# data-ready="1" when it has run to the end (the browser test checks that).
_JS = """
(function () {
  "use strict";
  var input = document.getElementById("filter");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.crow"));
  var count = document.getElementById("shown");
  function apply() {
    var q = input ? input.value.trim().toLowerCase() : "";
    var shown = 0;
    rows.forEach(function (row) {
      var hit = !q || row.textContent.toLowerCase().indexOf(q) !== -1;
      row.hidden = !hit;
      if (hit) { shown += 1; }
    });
    if (count) {
      count.textContent = shown + " of " + rows.length + " clusters shown (known included)";
    }
  }
  if (input) { input.addEventListener("input", apply); }
  apply();
  document.body.dataset.ready = "1";
}());
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_JS.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")


def _card(label: str, number: str, sub: str = "") -> str:
    s = f'<div class="s">{sub}</div>' if sub else ""
    return (f'<div class="card"><div class="l">{_e(label)}</div>'
            f'<div class="n">{number}</div>{s}</div>')


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (see Note [One file] and
    Note [Untrusted text])."""
    t = data.totals
    new, known = data.sorted_clusters()
    kinds = _kinds_present(data.boundaries)
    kind_totals: dict[str, int] = {}
    for counts in data.boundaries.values():
        for k, n in counts.items():
            kind_totals[k] = kind_totals.get(k, 0) + int(n)

    stamp = [f"<span>device: {_e(data.device)}</span>"] if data.device else []
    stamp.append(f"<span>sandbox: {_e(_sandbox_of(data))}</span>")
    stamp += [f"<span>{_e(k)} {_e(v)}</span>" for k, v in data.versions.items()]
    if data.generated:
        stamp.append(f"<span>generated {_e(data.generated)}</span>")

    fw_lines = "<br>".join(f"{_e(name)} {_pct(v, n)}" for name, (v, n) in
                          sorted(t.frameworks.items()))
    cards = "".join([
        _card("APIs", str(int(t.apis))),
        _card("cases", str(int(t.cases))),
        _card("valid", _pct(t.valid, t.cases), f"{int(t.valid)} of {int(t.cases)} cases"
              + (f"<br>{fw_lines}" if fw_lines else "")),
        *([_card("arguments from code",
                 _pct(int(t.origins.get("mined", 0)), sum(t.origins.values())),
                 _e(_origins_line(t.origins)))] if t.origins else []),
        _card("findings", str(data.findings),
              f"{dedup_ratio(data.findings, len(data.clusters)):.1f} per cluster"),
        _card("new clusters", str(len(new)),
              f"{sum(1 for r in new if r.kind in ('crash', 'timeout'))} crash/timeout"),
        _card("known clusters", str(len(known))),
    ])

    boundary_rows = sorted(data.boundaries.items())
    if boundary_rows:
        verdict_chart = (_stacked_bars(boundary_rows, kinds, "verdicts per boundary",
                                       flag_breaking=True)
                         + _legend(kinds, kind_totals))
        head = "".join(f"<th>{_e(k)}</th>" for k in kinds)
        body = "".join(
            f"<tr><td>{_e(name)}</td>"
            + "".join(f"<td>{int(counts.get(k, 0))}</td>" for k in kinds) + "</tr>"
            for name, counts in boundary_rows)
        verdict_chart += (f'<details><summary>counts</summary><table class="counts">'
                          f"<tr><th>boundary</th>{head}</tr>{body}</table></details>")
    else:
        verdict_chart = '<p class="muted">No verdicts.</p>'

    axes: dict[str, dict[str, int]] = {}
    for r in data.clusters:
        name = r.axis or "(not attributed)"
        axes.setdefault(name, {})
        axes[name][r.kind] = axes[name].get(r.kind, 0) + 1
    axis_rows = sorted(axes.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    if axis_rows:
        axis_kinds = _kinds_present(dict(axis_rows))
        axis_chart = (_stacked_bars(axis_rows, axis_kinds, "clusters per axis", width=540)
                      + _legend(axis_kinds, {k: sum(c.get(k, 0) for _, c in axis_rows)
                                             for k in axis_kinds}))
    else:
        axis_chart = '<p class="muted">No clusters.</p>'

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp())}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(data.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        (f'<header class="top"><h1>{_e(data.title)}</h1>'
         f'<div class="stamp">{"".join(stamp)}</div></header>'),
        "<main>",
        f'<section class="cards">{cards}</section>',
        '<section class="grid2">',
        f'<div class="panel"><h2>Verdicts per boundary</h2>{verdict_chart}</div>',
        f'<div class="panel"><h2>Clusters per axis</h2>{axis_chart}</div>',
        "</section>",
        ('<section class="panel" id="clusters"><h2>New clusters '
         f'<span class="muted">({len(new)}, most severe first)</span></h2>'),
        ('<div class="toolbar"><input id="filter" type="search" '
         'placeholder="Filter by API, kind, mode, message…" aria-label="filter clusters">'
         '<span class="count" id="shown"></span></div>'),
        _cluster_table(new, known=False),
        "</section>",
        (f'<section class="panel" id="known"><h2>Known clusters '
         f'<span class="muted">({len(known)})</span></h2>'),
        _cluster_table(known, known=True),
        "</section>",
        ('<section class="panel" id="not-judged"><h2>Not judged '
         f'<span class="muted">({sum(p.count for p in data.piles)} verdicts)</span></h2>'),
        _piles_html(data.piles),
        "</section>",
        '<section class="grid2">',
        f'<div class="panel"><h2>Campaign settings</h2>{_kv_table(data.settings.items())}</div>',
        (f'<div class="panel"><h2>Library versions</h2>'
         f'{_kv_table(list(data.versions.items()) + [("device", data.device)])}</div>'),
        "</section>",
        "</main>",
        "<footer>seamfuzz report · reproducers are relative to this file's folder</footer>",
        f"<script>{_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def write_report(data: ReportData, out_dir: str | Path) -> dict[str, Path]:
    """Write ``clusters.json``, ``not_judged.json``, ``report.html`` and
    ``summary.md`` into ``out_dir`` (each through a temporary file and a
    rename); returns their paths by name.

    ``clusters.json`` stays a list of clusters, as earlier versions wrote
    it; the piles the contract did not judge go beside it, in
    ``not_judged.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "clusters.json": json.dumps(clusters_json(data), indent=2, sort_keys=True,
                                    ensure_ascii=False, allow_nan=False) + "\n",
        "not_judged.json": json.dumps(not_judged_json(data), indent=2, sort_keys=True,
                                      ensure_ascii=False, allow_nan=False) + "\n",
        "report.html": render_html(data),
        "summary.md": render_markdown(data),
    }
    paths = {}
    for name, text in files.items():
        path = out / name
        write_text_atomic(path, text)
        paths[name] = path
    return paths
