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
from typing import Optional

from runner.modes import ModeSpec, parse_mode
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


def _with(spec: ModeSpec, **changes: Optional[str]) -> str:
    opts = dict(spec.options)
    for k, v in changes.items():
        if v is None:
            opts.pop(k, None)
        else:
            opts[k] = v
    text = spec.name + (":" + ",".join(f"{k}={v}" for k, v in sorted(opts.items()))
                        if opts else "")
    return str(parse_mode(text))


def probe_plan(finding: Finding) -> list[tuple[str, ProbeCase, str]]:
    """``(name, case, target)`` probes for a finding (see the module doc)."""
    ref, tgt = finding.reference, parse_mode(finding.target)
    rec, seed = finding.record, finding.seed
    plan: list[tuple[str, ProbeCase, str]] = []
    stage_modes: list[str] = []
    if tgt.name == "torch.compile":
        stage_modes = [_with(tgt, backend="eager"), _with(tgt, backend="aot_eager")]
        dyn = "false" if tgt.option("dynamic").lower() == "true" else "true"
        plan.append(("shapes", ProbeCase(rec, seed, (ref, _with(tgt, dynamic=dyn))),
                     _with(tgt, dynamic=dyn)))
    elif tgt.name == "tf.xla" or (tgt.name == "tf.function" and
                                   tgt.option("jit_compile").lower() == "true"):
        stage_modes = [_with(parse_mode("tf.function"), device=tgt.option("device") or None)]
    device = tgt.option("device")
    if device and device != "cpu":
        eager = "torch.eager" if tgt.framework == "torch" else "tf.eager"
        dev_mode = f"{eager}:device={device}"
        plan.append(("device", ProbeCase(rec, seed, (ref, dev_mode)), dev_mode))
    modes = tuple(dict.fromkeys([ref, *[m for m in stage_modes if m != str(tgt)],
                                 str(tgt)]))
    plan.insert(0, ("stages", ProbeCase(rec, seed, modes), str(tgt)))
    wide = widened(rec, seed)
    if wide is not None:
        plan.append(("float64", ProbeCase(wide, seed, (ref, str(tgt))), str(tgt)))
    dense = contiguous(rec, seed)
    if dense is not None:
        plan.append(("contiguous", ProbeCase(dense, seed, (ref, str(tgt))), str(tgt)))
    return plan


def attribute(finding: Finding, probe: Probe) -> Attribution:
    """Run the probes of :func:`probe_plan` (one batch) and name the axis."""
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
    case, target, result = by_name["stages"]
    tgt = parse_mode(finding.target)
    if not result.breaks(target):
        return Attribution("not-reproduced", tuple(evidence))
    if "device" in by_name and by_name["device"][2].breaks(by_name["device"][1]):
        stage = "device"
    elif tgt.name == "torch.compile":
        backend = tgt.option("backend", "inductor")
        if result.breaks(_with(tgt, backend="eager")) and backend != "eager":
            stage = "dynamo"
        elif backend == "eager":
            stage = "dynamo"
        elif result.breaks(_with(tgt, backend="aot_eager")) or backend == "aot_eager":
            stage = "aot_autograd"
        elif backend == "inductor":
            stage = "inductor"
        else:
            stage = "backend"
    elif tgt.name == "tf.function" and tgt.option("transform"):
        stage = "transform"
    elif tgt.framework == "tensorflow":
        graph = _with(parse_mode("tf.function"), device=tgt.option("device") or None)
        stage = "graph" if (tgt.name == "tf.function" and tgt.option("jit_compile").lower()
                            != "true") or result.breaks(graph) else "xla"
    else:
        stage = "eager"
    qualifiers = []
    for name, label in (("float64", "dtype"), ("contiguous", "layout")):
        if name in by_name and not by_name[name][2].breaks(by_name[name][1]):
            qualifiers.append(label)
    if "shapes" in by_name and not by_name["shapes"][2].breaks(by_name["shapes"][1]):
        qualifiers.append("dynamic-shapes" if tgt.option("dynamic").lower() == "true"
                          else "static-shapes")
    return Attribution("+".join([stage, *qualifiers]), tuple(evidence))
