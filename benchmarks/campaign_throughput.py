"""Campaign throughput: cases per second per target mode, side by side.

    python benchmarks/campaign_throughput.py [--mutants N] [--jobs N] [--sandbox]

A fuzzing campaign (mined seeds plus ``--mutants`` mutants per API) over a
fixed list of torch and tensorflow APIs runs once per target mode, each in a
fresh store and fresh workers, one after the other in this process:
``torch.compile`` (inductor), ``torch.compile:backend=aot_eager``,
``tf.function`` and ``tf.xla``.  Each line gives cases per second (whole
campaign, start-up and compiles included: that is what a user waits for),
the valid rate, and the ratio to the fastest mode of the same framework.
The machines are noisy: read the ratios, not the absolute rates.

``--sandbox`` measures what the sandbox costs instead: every mode's campaign
runs sandboxed and unconfined (``--no-sandbox``), alternating which goes
first, ``--repeat`` times after one warm-up campaign that fills the compile
cache, and each line gives the median rate of both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from miner import apiindex  # noqa: E402
from runner.check import record_from_expression  # noqa: E402
from seamfuzz.executors import LocalExecutor  # noqa: E402
from seamfuzz.fuzz import FuzzSettings, build_mutator, fuzz  # noqa: E402
from seamfuzz.store import CampaignStore  # noqa: E402

TORCH_CALLS = [
    "torch.abs(torch.randn(16, 16))", "torch.cumsum(torch.randn(8, 8), dim=1)",
    "torch.softmax(torch.randn(4, 10), dim=-1)", "torch.matmul(torch.randn(8, 8), "
    "torch.randn(8, 8))", "torch.sum(torch.randn(8, 8), dim=0)",
    "torch.nn.functional.relu(torch.randn(16, 16))",
]
TF_CALLS = [
    "tf.math.abs(tf.random.normal([16, 16]))", "tf.math.cumsum(tf.random.normal([8, 8]), "
    "axis=1)", "tf.nn.softmax(tf.random.normal([4, 10]))", "tf.linalg.matmul("
    "tf.random.normal([8, 8]), tf.random.normal([8, 8]))",
    "tf.math.reduce_sum(tf.random.normal([8, 8]), axis=0)", "tf.nn.relu(tf.random.normal([16, 16]))",
]
MODES = {
    "torch": ("torch.compile", "torch.compile:backend=aot_eager"),
    "tensorflow": ("tf.function", "tf.xla"),
}


def one_campaign(records, reference, target, mutants, jobs, index, sandbox=True):
    settings = FuzzSettings(seed=1, mutants=mutants)
    with tempfile.TemporaryDirectory(prefix="seamfuzz-bench-") as d:
        with CampaignStore(d) as store, \
                LocalExecutor(jobs=jobs, timeout=300, log_dir=d, sandbox=sandbox) as executor:
            mutator = build_mutator(records, index, settings)
            fw = records[0].framework
            start = time.perf_counter()
            outs = list(fuzz(records, {fw: (reference, target)}, store, executor, mutator,
                             settings))
            seconds = time.perf_counter() - start
    valid = sum(o.observations[0].outcome.value == "returned" for o in outs)
    return len(outs), valid, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutants", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sandbox", action="store_true",
                    help="compare sandboxed and unconfined campaigns instead")
    ap.add_argument("--repeat", type=int, default=3, help="pairs per mode with --sandbox")
    args = ap.parse_args()
    index = apiindex.load_or_build()
    if args.sandbox:
        compare_sandbox(args, index)
        return
    calls = {"torch": TORCH_CALLS, "tensorflow": TF_CALLS}
    refs = {"torch": "torch.eager", "tensorflow": "tf.eager"}
    print(f"{len(TORCH_CALLS)} torch and {len(TF_CALLS)} tensorflow APIs, {args.mutants} "
          f"mutants each, {args.jobs} workers")
    print(f"{'mode':<36} {'cases':>6} {'valid':>6} {'seconds':>8} {'cases/s':>8} "
          f"{'ratio':>6}")
    for fw, targets in MODES.items():
        records = [record_from_expression(e, index) for e in calls[fw]]
        rows = []
        for target in targets:
            n, valid, seconds = one_campaign(records, refs[fw], target, args.mutants,
                                             args.jobs, index)
            rows.append((target, n, valid, seconds, n / seconds))
        best = max(r[4] for r in rows)
        for target, n, valid, seconds, rate in rows:
            print(f"{target:<36} {n:>6} {100 * valid / max(n, 1):>5.0f}% {seconds:>8.1f} "
                  f"{rate:>8.2f} {rate / best:>6.2f}")


def compare_sandbox(args, index) -> None:
    import statistics

    calls = {"torch": TORCH_CALLS, "tensorflow": TF_CALLS}
    refs = {"torch": "torch.eager", "tensorflow": "tf.eager"}
    print(f"sandboxed vs unconfined: {args.mutants} mutants per API, {args.jobs} workers, "
          f"{args.repeat} pairs per mode after a warm-up")
    print(f"{'mode':<36} {'cases':>6} {'sandboxed/s':>12} {'unconfined/s':>13} {'ratio':>6}")
    for fw, targets in MODES.items():
        records = [record_from_expression(e, index) for e in calls[fw]]
        for target in targets:
            one_campaign(records, refs[fw], target, args.mutants, args.jobs, index)  # warm-up
            rates: dict[bool, list[float]] = {True: [], False: []}
            for r in range(args.repeat):
                for sandbox in ((True, False) if r % 2 == 0 else (False, True)):
                    n, _, seconds = one_campaign(records, refs[fw], target, args.mutants,
                                                 args.jobs, index, sandbox=sandbox)
                    rates[sandbox].append(n / seconds)
            boxed, free = statistics.median(rates[True]), statistics.median(rates[False])
            print(f"{target:<36} {n:>6} {boxed:>12.2f} {free:>13.2f} {boxed / free:>6.2f}")


if __name__ == "__main__":
    main()
