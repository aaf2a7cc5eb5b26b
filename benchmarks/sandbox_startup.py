"""What the sandbox adds to a worker's start, side by side.

    python benchmarks/sandbox_startup.py [--rounds N]

Starts workers one at a time through :class:`infra.pool.WorkerPool`, as the
runner does, and times each from launch to its first result: a bare worker
(the interpreter and the pool's bootstrap), and a torch and a tensorflow
worker (:func:`runner.execute.init_worker`: the framework imported, threads
pinned).  Each kind runs sandboxed (bubblewrap) and unconfined in turn,
alternating which goes first, ``--rounds`` times; the table gives medians and
the difference.  The machines are noisy: read the difference and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from infra.pool import WorkerPool  # noqa: E402
from infra.sandbox import compile_cache_dir, no_sandbox, require  # noqa: E402
from runner.execute import init_worker  # noqa: E402


def start_once(sandbox, framework: str) -> float:
    initializer, initargs = (init_worker, (framework,)) if framework else (None, ())
    start = time.perf_counter()
    with WorkerPool(abs, jobs=1, timeout=300, initializer=initializer,
                    initargs=initargs, sandbox=sandbox, cache_dir=compile_cache_dir(),
                    log_path=os.devnull) as pool:
        ((_, result),) = list(pool.imap_unordered([-1]))
    assert result == 1, result
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    boxed, free = require(), no_sandbox()
    print(f"worker start-up, median of {args.rounds}; sandbox: {boxed.describe()}")
    print(f"{'worker':<12} {'unconfined s':>13} {'sandboxed s':>12} {'added s':>8} {'ratio':>6}")
    for framework in ("", "torch", "tensorflow"):
        start_once(boxed, framework)  # warm the page cache
        times: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.rounds):
            for sandboxed in ((True, False) if r % 2 == 0 else (False, True)):
                times[sandboxed].append(start_once(boxed if sandboxed else free, framework))
        b, f = statistics.median(times[True]), statistics.median(times[False])
        print(f"{framework or 'bare':<12} {f:>13.3f} {b:>12.3f} {b - f:>8.3f} {b / f:>6.2f}")


if __name__ == "__main__":
    main()
