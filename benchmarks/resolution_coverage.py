"""How much of a real corpus turns into valid cases, before and after
resolution (``seamfuzz resolve``), side by side in one run.

    python benchmarks/resolution_coverage.py PATH [PATH ...] [--work DIR]

Steps, each timed: mine PATHs into a fresh store; ``run`` every record once
(no resolution: the "before" figures); ``resolve``; ``run`` again (the
"after" figures).  The target mode is a cheap one per framework
(``torch.compile:backend=eager``, ``tf.function``): validity is decided by
the reference mode, which every run has.

Prints, per framework: mined records and APIs; records whose case the
reference accepted (valid), before and after; mined APIs with at least one
valid case, before and after; the seconds of mining and of resolution, and
the solver's cost per record.  The corpus is read, never imported or run;
the libraries' calls run in sandboxed workers, as in ``seamfuzz run``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from miner.store import CorpusStore  # noqa: E402
from seamfuzz.store import CampaignStore, case_id  # noqa: E402

MODES = "torch.compile:backend=eager,tf.function"


def _seamfuzz(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "seamfuzz", *args], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return time.perf_counter() - start, out


def _validity(corpus: str, campaign: str, resolved: bool) -> dict[str, dict[str, float]]:
    """Per framework: records, valid records, APIs, APIs with a valid case."""
    with CorpusStore(corpus, create=False) as store:
        records = list(store.records(resolved=resolved))
    with CampaignStore(campaign, create=False) as camp:
        outcome = camp.reference_outcomes()
    out: dict[str, dict[str, float]] = {}
    apis: dict[str, dict[str, bool]] = {}
    for r in records:
        fw = out.setdefault(r.framework, {"records": 0, "valid": 0})
        fw["records"] += 1
        ok = outcome.get(case_id(r, 0)) == "returned"
        fw["valid"] += ok
        apis.setdefault(r.framework, {})
        apis[r.framework][r.api] = apis[r.framework].get(r.api, False) or ok
    for fw, per_api in apis.items():
        out[fw]["apis"] = len(per_api)
        out[fw]["apis_valid"] = sum(per_api.values())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="corpus files or folders")
    ap.add_argument("--work", help="folder for the stores (default: a temporary one)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="seamfuzz-coverage-")
    corpus = os.path.join(work, "corpus.sqlite")
    for name in ("corpus.sqlite", "corpus.sqlite-wal", "corpus.sqlite-shm"):
        if os.path.exists(os.path.join(work, name)):
            os.remove(os.path.join(work, name))
    t_mine, _ = _seamfuzz("mine", *args.paths, "--out", corpus, "--json")
    t_before, _ = _seamfuzz("run", "--corpus", corpus, "--out", os.path.join(work, "before"),
                            "--modes", MODES, "--json")
    before = _validity(corpus, os.path.join(work, "before"), resolved=False)
    t_resolve, text = _seamfuzz("resolve", "--corpus", corpus, "--json")
    summary = json.loads(text)
    t_after, _ = _seamfuzz("run", "--corpus", corpus, "--out", os.path.join(work, "after"),
                           "--modes", MODES, "--json")
    after = _validity(corpus, os.path.join(work, "after"), resolved=True)
    print(f"{'framework':<11} {'records':>7} {'valid before':>13} {'valid after':>12} "
          f"{'APIs':>5} {'APIs before':>12} {'APIs after':>11}")
    for fw in sorted(before):
        b, a = before[fw], after[fw]
        print(f"{fw:<11} {b['records']:>7} {b['valid']:>6} ({100 * b['valid'] / b['records']:4.1f}%)"
              f" {a['valid']:>5} ({100 * a['valid'] / a['records']:4.1f}%)"
              f" {b['apis']:>5} {b['apis_valid']:>5} ({100 * b['apis_valid'] / b['apis']:4.1f}%)"
              f" {a['apis_valid']:>4} ({100 * a['apis_valid'] / a['apis']:4.1f}%)")
    tried = summary["solved_now"] + sum(summary["reasons"].values())
    print(f"\nmine {t_mine:.1f} s, resolve {t_resolve:.1f} s (records with unknowns "
          f"{summary['unknown']}, solved {summary['solved']}; solver "
          f"{summary['solver_seconds'] / max(tried, 1) * 1000:.0f} ms and "
          f"{summary['attempts'] / max(tried, 1):.1f} calls per record), "
          f"run before {t_before:.1f} s, after {t_after:.1f} s")
    print("filled values by origin: " + ", ".join(f"{k} {v}" for k, v in
                                                 summary["origins"].items()))
    print(f"stores: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
