"""Every registered mode passes the same conformance checks.

For each mode in :data:`runner.modes.MODES`: its options validate in the
parent (which imports no framework); a worker reports whether it is
available; a simple case agrees with the reference (or, where the mode is
unavailable here, is judged ``unsupported`` with the reason); a reproducer
for it runs and exits 0; and it yields an attribution plan whose last rung
is the mode itself.  A new mode gets all of this by registering.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.errors import InvalidArgument
from miner.records import CallRecord, Normal, TensorSpec
from runner.contract import VerdictKind
from runner.dispatch import Runner, check_modes, judge_case
from runner.execute import CaseTask
from runner.modes import MODES, mode_class, parse_mode, reference_of
from triage.attribute import probe_plan
from triage.replay import ReplayStatus, replay_one
from triage.repro import write_repro
from triage.signature import Finding

pytestmark = pytest.mark.slow

#: One simple, well-defined call per framework.
CALLS = {
    "torch": CallRecord(api="torch.abs", framework="torch",
                        args=(TensorSpec("torch", (3, 4), "float32", Normal()),)),
    "tensorflow": CallRecord(api="tf.math.abs", framework="tensorflow",
                             args=(TensorSpec("tensorflow", (3, 4), "float32", Normal()),)),
}


def test_options_are_validated_without_a_framework() -> None:
    for name in MODES:
        cls = mode_class(name)
        assert parse_mode(name).framework == cls.framework
        assert "device" in cls.options, name
        with pytest.raises(InvalidArgument, match="takes options"):
            parse_mode(f"{name}:no_such_option=1")
        with pytest.raises(InvalidArgument, match="device"):
            parse_mode(f"{name}:device=tpu9")
        for key, option in cls.options.items():
            if option.kind in ("bool", "tri"):
                with pytest.raises(InvalidArgument, match=key):
                    parse_mode(f"{name}:{key}=maybe")
    # The parent process never imports a framework to validate a mode.
    probe = ("import sys\nfrom runner.modes import MODES, default_targets, mode_class, "
             "parse_mode\n"
             "for n in MODES:\n    c = mode_class(n); c.ladder(parse_mode(n))\n"
             "default_targets()\n"
             "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", probe], check=True)


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_every_mode_runs_agrees_reproduces_and_plans(framework: str, tmp_path: Path) -> None:
    ref = reference_of(framework)
    modes = [parse_mode(n) for n in MODES if mode_class(n).framework == framework]
    assert ref in modes
    targets = [m for m in modes if m != ref]
    rec = CALLS[framework]
    with Runner(jobs=1, timeout=300) as runner:
        check_modes(runner, modes)  # no usage error in any default spec
        status = runner.check_modes(modes)
        assert status.usage_errors == ("",) * len(modes)
        task = CaseTask("conformance", rec, 3, (ref, *targets))
        ((_, result),) = list(runner.run([task]))
    for mode, verdict in zip(targets, judge_case(task, result)):
        assert verdict.kind is VerdictKind.AGREE, (str(mode), verdict)
    for mode in modes:
        path = write_repro(tmp_path, mode.name.replace(".", "_"), rec, 3, str(ref), str(mode),
                           "value")
        outcome = replay_one(path, timeout=300)
        assert outcome.status is ReplayStatus.FIXED, (str(mode), outcome.detail)
        obs = result.observations[0]
        finding = Finding("c", rec.api, framework, rec, 3, str(ref), str(mode), "value", "", "",
                          obs, obs)
        plan = probe_plan(finding)
        assert plan[0][0] == "stages" and plan[0][1].modes[-1] == str(mode)
        ladder = mode_class(mode.name).ladder(mode)
        assert ladder[-1].mode == mode and all(s.name for s in ladder)


def test_unknown_backend_is_a_usage_error_before_any_case() -> None:
    bad = [parse_mode("torch.compile:backend=no_such_backend"),
           parse_mode("torch.compile:backend=no_such_pkg.mod:fn")]
    with Runner(jobs=1, timeout=300) as runner:
        with pytest.raises(InvalidArgument) as info:
            check_modes(runner, [reference_of("torch"), *bad])
    assert "no backend 'no_such_backend'" in str(info.value)
    assert "no_such_pkg.mod:fn cannot be loaded" in str(info.value)
