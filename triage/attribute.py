"""Which axis flips the result: a cluster's case re-run across a matrix.

The representative case of a cluster is re-run in variants of its target
mode and with variants of its inputs; the answers name the *axis*:

Compiler stage (the first part of the axis):

- torch: ``dynamo`` when ``torch.compile:backend=eager`` (dynamo's graph
  capture, run as traced) already differs; ``aot_autograd`` when only
  ``backend=aot_eager`` (capture plus AOTAutograd's functionalization and
  decompositions) does; ``inductor`` when only the inductor backend does;
  ``backend`` for a plug-in backend that differs where aot_eager does not.
- tensorflow: ``graph`` when ``tf.function`` (graph mode, Grappler) already
  differs; ``xla`` when only XLA compilation does; ``transform`` for a
  plug-in transform.
- ``device`` when eager mode on the target's device already differs from
  eager mode on the CPU (the compiler is not at fault).

Each mode class declares these stages as its *ladder* (the modes that stop
after each stage) and its shape probe; this module only runs them.
- ``not-reproduced`` when the re-run of the case itself agrees.

Qualifiers (appended with ``+``), each from one more re-run:

- ``dtype``: the same values in float64 agree (the bug needs low precision);
- ``layout``: a contiguous copy of the inputs agrees (the bug needs a
  non-contiguous input);
- ``static-shapes`` / ``dynamic-shapes``: compiling with the other shape
  mode agrees (torch).

So ``inductor+layout`` reads "inductor's code generation, only for
non-contiguous inputs".  :class:`Attribution` keeps every probe's verdict
kind, so the report can show the matrix behind the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.modes import mode_class, parse_mode
from triage.probe import Probe, ProbeCase
from triage.signature import Finding
from triage.variants import contiguous, widened

__all__ = ["Attribution", "attribute", "probe_plan"]


@dataclass(frozen=True, slots=True)
class Attribution:
    """The axis of a cluster, and the evidence: probe name -> verdict kind
    of its target (``agree``, ``value``, ...) or ``n/a``."""

    axis: str
    probes: tuple[tuple[str, str], ...]


def probe_plan(finding: Finding) -> list[tuple[str, ProbeCase, str]]:
    """``(name, case, target)`` probes for a finding (see the module doc).

    The ``stages`` probe runs the reference and every rung of the target
    mode's attribution ladder (:meth:`runner.modes.Mode.ladder`) on the
    case; the others re-run the target with a variant of the mode (the
    mode's :meth:`~runner.modes.Mode.shape_probe`) or of the inputs."""
    ref, tgt = finding.reference, parse_mode(finding.target)
    cls = mode_class(tgt.name)
    rec, seed = finding.record, finding.seed
    rungs = [str(stage.mode) for stage in cls.ladder(tgt)]
    modes = tuple(dict.fromkeys([ref, *rungs, str(tgt)]))
    plan: list[tuple[str, ProbeCase, str]] = [("stages", ProbeCase(rec, seed, modes), str(tgt))]
    shape = cls.shape_probe(tgt)
    if shape is not None:
        plan.append(("shapes", ProbeCase(rec, seed, (ref, str(shape[1]))), str(shape[1])))
    wide = widened(rec, seed)
    if wide is not None:
        plan.append(("float64", ProbeCase(wide, seed, (ref, str(tgt))), str(tgt)))
    dense = contiguous(rec, seed)
    if dense is not None:
        plan.append(("contiguous", ProbeCase(dense, seed, (ref, str(tgt))), str(tgt)))
    return plan


def attribute(finding: Finding, probe: Probe) -> Attribution:
    """Run the probes of :func:`probe_plan` (one batch) and name the axis:
    the first rung of the target's ladder that already breaks the contract,
    qualified by the probes that agree."""
    plan = probe_plan(finding)
    results = probe([case for _, case, _ in plan])
    evidence: list[tuple[str, str]] = []
    by_name = {}
    for (name, case, target), result in zip(plan, results):
        by_name[name] = (case, target, result)
        if name == "stages":
            for mode in case.modes[1:]:
                v = result.verdicts.get(mode)
                evidence.append((mode, v.kind.value if v else "n/a"))
        else:
            v = result.verdicts.get(target)
            evidence.append((name, v.kind.value if v else "n/a"))
    _, target, result = by_name["stages"]
    if not result.breaks(target):
        return Attribution("not-reproduced", tuple(evidence))
    tgt = parse_mode(finding.target)
    cls = mode_class(tgt.name)
    stage = next(s.name for s in cls.ladder(tgt) if result.breaks(str(s.mode)) or s.mode == tgt)
    qualifiers = []
    for name, label in (("float64", "dtype"), ("contiguous", "layout")):
        if name in by_name and not by_name[name][2].breaks(by_name[name][1]):
            qualifiers.append(label)
    shape = cls.shape_probe(tgt)
    if shape is not None and not by_name["shapes"][2].breaks(by_name["shapes"][1]):
        qualifiers.append(shape[0])
    return Attribution("+".join([stage, *qualifiers]), tuple(evidence))
