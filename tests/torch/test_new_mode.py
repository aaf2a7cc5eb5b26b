"""A mode added as one module: nothing else changes.

The module below (written to a temporary folder, as a user's or a future
export mode's would be) declares ``torch.functionalize``, which runs a call
through ``torch.func.functionalize``.  Registered by name, it is parsed and
validated, built and run by the worker code, judged, given an attribution
plan, and written into a reproducer that replays standalone: dispatch,
campaign, triage and the reproducer need no change for it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

from infra.errors import InvalidArgument
from miner.apiindex import load_or_build
from runner import modes
from runner.check import record_from_expression
from runner.contract import VerdictKind
from runner.dispatch import judge_case
from runner.execute import CaseTask, init_worker, run_case
from triage.attribute import probe_plan
from triage.replay import ReplayStatus, replay_one
from triage.repro import write_repro
from triage.signature import Finding

MODULE = '''\
"""A mode in one module: torch.func.functionalize of the call."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from runner.modes.base import Mode, ModeSpec, Option


class TorchFunctionalize(Mode):
    """``torch.func.functionalize(fn)``: mutations rewritten as copies."""

    name = "torch.functionalize"
    framework = "torch"
    options: ClassVar[dict[str, Option]] = {
        "device": Option("choice", "where the call runs", ("cpu",)),
        "remove": Option("choice", "what functionalize removes",
                         ("mutations", "mutations_and_views")),
    }
    summary = "torch.func.functionalize"

    @classmethod
    def stage_name(cls, spec: ModeSpec) -> str:
        return "functionalize"

    def build(self, fn: Callable) -> Callable:
        import torch

        return torch.func.functionalize(fn, remove=self.spec.option("remove", "mutations"))
'''


@pytest.fixture
def new_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module importable (here and by reproducers) and registered."""
    (tmp_path / "extra_mode_functionalize.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setitem(modes.MODES, "torch.functionalize",
                        "extra_mode_functionalize:TorchFunctionalize")
    return "torch.functionalize"


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """This process as a torch worker (as tests/torch/test_execute_torch.py)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    threads = torch.get_num_threads()
    init_worker("torch")
    yield
    torch.set_num_threads(threads)


def test_a_mode_in_one_module_runs_everywhere(new_mode: str, worker, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="remove of torch.functionalize"):
        modes.parse_mode(f"{new_mode}:remove=everything")
    spec = modes.parse_mode(f"{new_mode}:remove=mutations_and_views")
    assert spec.framework == "torch"
    assert new_mode in modes.describe_modes()
    # In-place and view-producing calls are exactly what functionalize rewrites.
    record = record_from_expression("torch.Tensor.add_(torch.randn(3, 4).T, 1.5)",
                                    load_or_build())
    task = CaseTask("new-mode", record, 7, ("torch.eager", spec))
    result = run_case(task)
    (verdict,) = judge_case(task, result)
    assert verdict.kind is VerdictKind.AGREE, verdict
    assert result.observations[1].mutated, "the in-place write is observed in the new mode"
    ref = result.observations[0]
    finding = Finding("c", record.api, "torch", record, 7, "torch.eager", str(spec), "value",
                      "", "", ref, ref)
    stages = probe_plan(finding)[0]
    assert stages[0] == "stages" and stages[1].modes == ("torch.eager", str(spec))
    path = write_repro(tmp_path / "repros", "functionalize", record, 7, "torch.eager",
                       str(spec), "value")
    assert "class TorchFunctionalize(Mode):" in path.read_text()
    outcome = replay_one(path, timeout=300)
    assert outcome.status is ReplayStatus.FIXED, outcome.detail
