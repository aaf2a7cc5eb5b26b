"""Mining throughput as a ratio of bare ``libcst.parse_module`` on the same files.

    python benchmarks/mine_throughput.py PATH [PATH ...]
    python benchmarks/mine_throughput.py --docs torch tensorflow

Side by side in one run (absolute times on a shared machine mean little):

* ``parse``: read every file (or docstring), split it into code units
  exactly as the miner does (no framework prefilter), and
  ``libcst.parse_module`` each unit, in this process;
* ``mine -j1``: the whole mining run into a fresh store, in this process
  (reading, prefilter, parsing, extraction, store writes);
* ``mine -jN``: the same with N worker processes (N = cores).

Prints the files, both throughputs, the ratio mine/parse (goal >= 0.70) and
the speed-up of N workers over one.  The API index and docstrings are loaded
from the cache before timing (``seamfuzz mine`` builds them once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import libcst as cst

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from miner import apiindex, sources  # noqa: E402
from miner import mine as mining  # noqa: E402
from miner.store import CorpusStore  # noqa: E402


def bare_parse(paths: list[str], docs: list[str]) -> tuple[int, float]:
    """Units parsed and seconds: the baseline."""
    docstrings = [(fw, d) for fw in docs for d in apiindex.load_or_collect_docstrings(fw)]
    start = time.perf_counter()
    texts = [u.text for fw, d in docstrings for u in sources.docstring_units(d.text, d.api, fw)]
    n = 0
    for top in paths:
        for _, real in sources.discover([top]):
            if isinstance(real, sources.Failed):
                continue
            result = sources.read_file(real, prefilter=False)
            if isinstance(result, sources.Units):
                texts_here = [u.text for u in result.units]
            else:
                continue
            for t in texts_here:
                n += 1
                try:
                    cst.parse_module(t)
                except Exception:
                    pass
    for t in texts:
        n += 1
        try:
            cst.parse_module(t)
        except Exception:
            pass
    return n, time.perf_counter() - start


def timed_mine(paths: list[str], docs: list[str], jobs: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with CorpusStore(os.path.join(tmp, "c.sqlite")) as store:
            planned = mining.plan(paths, docs=docs, store=store)
            start = time.perf_counter()
            n = sum(1 for _ in mining.run(planned, store=store, jobs=jobs))
            return n, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--docs", nargs="*", default=[])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    apiindex.load_or_build()
    for fw in a.docs:
        apiindex.load_or_collect_docstrings(fw)
    # Warm the page cache and the imports once, untimed.
    bare_parse(a.paths, [])
    units, t_parse = bare_parse(a.paths, a.docs)
    files, t_mine1 = timed_mine(a.paths, a.docs, 1)
    _, t_mineN = timed_mine(a.paths, a.docs, a.jobs)
    print(f"corpus: {' '.join(a.paths)} {'docs:' + ','.join(a.docs) if a.docs else ''}")
    print(f"files/docstrings: {files}   code units parsed by the baseline: {units}")
    print(f"bare parse (1 process):  {t_parse:7.2f} s  {files / t_parse:8.1f} files/s")
    print(f"mine --jobs 1:           {t_mine1:7.2f} s  {files / t_mine1:8.1f} files/s")
    print(f"mine --jobs {a.jobs}:           {t_mineN:7.2f} s  {files / t_mineN:8.1f} files/s")
    print(f"ratio mine/parse, 1 process: {t_parse / t_mine1:.2f}  (goal >= 0.70)")
    print(f"ratio mine -j{a.jobs}/parse:        {t_parse / t_mineN:.2f}")
    print(f"speed-up of {a.jobs} jobs over 1:   {t_mine1 / t_mineN:.2f}x")


if __name__ == "__main__":
    main()
