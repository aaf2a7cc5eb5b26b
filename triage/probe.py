"""Re-running cases for triage, as plain data.

Attribution and shrinking re-run a cluster's case many times, in other
modes or with other inputs.  They do not run anything themselves: the
command layer hands them a :data:`Probe`, a function that runs a batch of
:class:`ProbeCase` objects (in the campaign's isolated workers) and returns
one :class:`ProbeResult` each, in order.  That keeps ``triage/`` free of
processes and frameworks, and lets tests hand in any probe they like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from miner.records import CallRecord
from runner.contract import Verdict
from runner.observation import Observation
from triage.signature import BREAKING_KINDS, Finding, Signature, signature

__all__ = ["ProbeCase", "ProbeResult", "Probe", "finding_of", "signature_of"]


@dataclass(frozen=True, slots=True)
class ProbeCase:
    """One case to re-run: a record, its seed, the modes (reference first)."""

    record: CallRecord
    seed: int
    modes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What every mode of a :class:`ProbeCase` observed, and the verdicts
    of its targets (keyed by target mode spec)."""

    observations: dict[str, Observation]
    verdicts: dict[str, Verdict]

    def breaks(self, target: str) -> bool:
        """The target's verdict is a discrepancy."""
        v = self.verdicts.get(target)
        return v is not None and v.kind.value in BREAKING_KINDS


#: Runs a batch of cases; one result per case, in order.
Probe = Callable[[Sequence[ProbeCase]], list[ProbeResult]]


def finding_of(case: ProbeCase, result: ProbeResult, target: str,
               case_id: str = "") -> Optional[Finding]:
    """The finding a probe made on ``target``, or None if it did not break."""
    if not result.breaks(target):
        return None
    v = result.verdicts[target]
    ref = result.observations.get(case.modes[0])
    tgt = result.observations.get(target)
    if ref is None or tgt is None:
        return None
    return Finding(case_id=case_id, api=case.record.api, framework=case.record.framework,
                   record=case.record, seed=case.seed, reference=case.modes[0], target=target,
                   kind=v.kind.value, detail=v.detail, path=v.path, ref_obs=ref, tgt_obs=tgt)


def signature_of(case: ProbeCase, result: ProbeResult, target: str) -> Optional[Signature]:
    """The signature of what a probe found on ``target`` (None: no finding)."""
    f = finding_of(case, result, target)
    return None if f is None else signature(f)
