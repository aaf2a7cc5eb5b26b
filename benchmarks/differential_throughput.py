"""Differential throughput of the runner, as ratios measured side by side.

    python benchmarks/differential_throughput.py [--seeds N]

(a) eager vs eager: the same calls (a fixed list of torch APIs x N seeds)
    through the whole runner (isolated worker, inputs drawn and converted per
    mode, observations across the process boundary, the contract), with
    modes torch.eager -> torch.eager:device=cpu, against a raw in-process loop
    that draws the same inputs and makes the same calls once.  Goal >= 0.25.
(b) compiled modes: cases per second of torch.compile (inductor) with one
    compiled callable per signature reused across seeds, against compiling
    per case (SEAMFUZZ_COMPILE_CACHE=0).  Goal >= 10x.

Both sides run in warm workers (started, imports done, each signature seen
once): a campaign's workers are long-lived, so start-up is not throughput.
The first inductor compile of a signature (seconds) is paid once per worker
either way; what (b) measures is the cost of every further case.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from miner import apiindex  # noqa: E402
from runner.check import record_from_expression  # noqa: E402
from runner.dispatch import Runner, judge_case  # noqa: E402
from runner.execute import CaseTask  # noqa: E402

CALLS = [
    "torch.abs(torch.randn(16, 16))", "torch.exp(torch.randn(16, 16))",
    "torch.sigmoid(torch.randn(64))", "torch.cumsum(torch.randn(8, 8), dim=1)",
    "torch.sum(torch.randn(8, 8), dim=0)", "torch.softmax(torch.randn(4, 10), dim=-1)",
    "torch.matmul(torch.randn(8, 8), torch.randn(8, 8))", "torch.clamp(torch.randn(32), -0.5, 0.5)",
    "torch.where(torch.ones(4, 4, dtype=torch.bool), torch.randn(4, 4), torch.zeros(4, 4))",
    "torch.cat([torch.randn(2, 3), torch.randn(2, 3)], dim=0)",
    "torch.nn.functional.relu(torch.randn(16, 16).T)", "torch.tanh(torch.randn(16, 16))",
    "torch.mean(torch.randn(8, 8), dim=1)", "torch.flip(torch.randn(8, 8), dims=[0])",
    "torch.remainder(torch.randint(-50, 50, (32,)), 7)", "torch.sort(torch.randn(32))",
    "torch.topk(torch.randn(32), 4)", "torch.log1p(torch.rand(32))",
    "torch.nn.functional.gelu(torch.randn(16, 16))", "torch.max(torch.randn(8, 8), dim=1)",
]


def tasks_for(records, seeds, modes):
    return [CaseTask(f"{i}-{s}", rec, s, modes) for i, rec in enumerate(records)
            for s in range(seeds)]


def raw_loop(tasks) -> float:
    """In-process: draw the inputs, convert, call; nothing compared."""
    from runner import execute, materialize

    execute.init_worker("torch")
    fns = {t.record.api: materialize.resolve_api(t.record.api) for t in tasks}
    start = time.perf_counter()
    for t in tasks:
        drawn = materialize.draw((t.record.args, t.record.kwargs), t.seed)
        args, kwargs = materialize.to_torch(drawn.args, drawn.kwargs, seed=t.seed)
        fns[t.record.api](*args, **kwargs)
    return time.perf_counter() - start


def differential(runner: Runner, tasks) -> float:
    """Seconds for ``tasks`` through warm workers, judged."""
    start = time.perf_counter()
    n = 0
    for task, result in runner.run(tasks):
        judge_case(task, result)
        n += 1
    assert n == len(tasks)
    return time.perf_counter() - start


def warm(jobs: int, tasks) -> Runner:
    """A runner whose workers have started and run every signature once."""
    runner = Runner(jobs=jobs, timeout=600)
    differential(runner, tasks)
    return runner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--compile-cases", type=int, default=30)
    a = ap.parse_args()
    index = apiindex.load_or_build()
    records = [record_from_expression(e, index) for e in CALLS]

    eager = ("torch.eager", "torch.eager:device=cpu")
    tasks = tasks_for(records, a.seeds, eager)
    with warm(1, tasks[: len(records) * 2]) as r1:
        t_diff1 = differential(r1, tasks)
    with warm(2, tasks[: len(records) * 4]) as r2:
        t_diff2 = differential(r2, tasks)
    raw_loop(tasks[: len(records)])  # warm the imports and kernels
    t_raw = raw_loop(tasks)
    n = len(tasks)
    print(f"(a) eager vs eager, {n} cases ({len(records)} APIs x {a.seeds} seeds)")
    print(f"    raw in-process loop:        {t_raw:7.2f} s  {n / t_raw:8.1f} calls/s")
    print(f"    differential, 1 worker:     {t_diff1:7.2f} s  {n / t_diff1:8.1f} cases/s")
    print(f"    differential, 2 workers:    {t_diff2:7.2f} s  {n / t_diff2:8.1f} cases/s")
    print(f"    ratio, 1 worker:  {t_raw / t_diff1:.2f}   2 workers: {t_raw / t_diff2:.2f}"
          f"   (goal >= 0.25; workers started and warmed before timing)")

    rec = record_from_expression("torch.cumsum(torch.randn(8, 8), dim=1)", index)
    compiled = ("torch.eager", "torch.compile")
    ctasks = [CaseTask(f"c{s}", rec, s, compiled) for s in range(a.compile_cases)]
    with warm(1, ctasks[:1]) as r:
        t_reuse = differential(r, ctasks)
    os.environ["SEAMFUZZ_COMPILE_CACHE"] = "0"  # read by the workers when they start
    try:
        with warm(1, ctasks[:1]) as r:
            t_fresh = differential(r, ctasks)
    finally:
        del os.environ["SEAMFUZZ_COMPILE_CACHE"]
    m = len(ctasks)
    print(f"(b) torch.compile (inductor), {m} cases of one signature")
    print(f"    one compile per signature:  {t_reuse:7.2f} s  {m / t_reuse:8.2f} cases/s")
    print(f"    one compile per case:       {t_fresh:7.2f} s  {m / t_fresh:8.2f} cases/s")
    print(f"    speed-up of reuse: {t_fresh / t_reuse:.1f}x   (goal >= 10x)")


if __name__ == "__main__":
    main()
