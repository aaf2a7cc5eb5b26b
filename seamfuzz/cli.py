"""The ``seamfuzz`` command line: a thin layer over the stage libraries.

Each subcommand parses its arguments, calls a library function that yields
results, and renders them (a tqdm bar on stderr while it works, a table or
one JSON object on stdout at the end).  A mistake of the user's
(:class:`~miner.errors.InvalidArgument`) is one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

from miner.errors import InvalidArgument

PROG = "seamfuzz"
DEFAULT_CORPUS = os.path.join("snippets", "corpus.sqlite")

DESCRIPTION = """\
seamfuzz finds silent correctness bugs in deep-learning libraries: inputs on
which a compiled or otherwise transformed execution mode (torch.compile,
tf.function, XLA, another device, your own backend) returns something other
than what eager mode returns.

Stages: `mine` reads code statically and records how torch and tensorflow
APIs are really called; `apis` lists what was mined; `check` runs one call in
several modes and judges each against the reference; `run` does that for
every mined call and stores the results.
"""

MODES_HELP = """comma-separated mode specs NAME[:key=value,...]: torch.eager, torch.compile
(backend=inductor|aot_eager|eager|package.module:attr, dynamic=true|false,
device=cpu|cuda), tf.eager, tf.function (transform=package.module:attr,
jit_compile=true), tf.xla (device=cpu|gpu); default: torch.compile,
torch.compile:backend=aot_eager, tf.function, tf.xla"""


class _Formatter(argparse.RawDescriptionHelpFormatter,
                 argparse.ArgumentDefaultsHelpFormatter):
    pass


def _progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr, disable=quiet,
                dynamic_ncols=True, leave=False)


# ---------------------------------------------------------------------------
# mine
# ---------------------------------------------------------------------------


def _add_mine(sub: Any) -> None:
    p = sub.add_parser(
        "mine", formatter_class=_Formatter,
        help="mine torch/tensorflow calls from code and library docstrings",
        description="""\
Mine how torch and tensorflow APIs are called, statically: files are parsed
with LibCST and never imported or run.  PATHs may be files or directories
(.py, .ipynb, .md, .markdown, .rst); --docs mines the doc examples of the
installed libraries.  Identical calls merge and count occurrences in the
store; a second run skips files whose content did not change.

Every file ends up mined, skipped (empty, too large, no framework mentioned,
unchanged, no code) or failed (unreadable, binary, undecodable, broken
notebook, syntax error, Python 2, too deep), with its reason counted.""",
        epilog="examples:\n  seamfuzz mine --docs torch tensorflow\n"
               "  seamfuzz mine path/to/project notebooks/ --out my.sqlite --json",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to mine")
    p.add_argument("--docs", nargs="+", default=[], metavar="LIB",
                   choices=["torch", "tensorflow"],
                   help="also mine the docstring examples of these installed libraries")
    p.add_argument("--out", default=DEFAULT_CORPUS, metavar="STORE",
                   help="corpus store to write (SQLite; created if missing)")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes (0: one per core; 1: in-process)")
    p.add_argument("--file-timeout", type=float, default=60.0, metavar="S",
                   help="seconds one file may take before its worker is killed")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON object on stdout instead of a table")
    p.add_argument("--export", metavar="JSONL", help="afterwards, export the store as JSON lines")
    p.add_argument("--import", dest="import_", metavar="JSONL",
                   help="import records from a JSON-lines export before mining")
    p.set_defaults(func=cmd_mine)


def cmd_mine(args: argparse.Namespace) -> int:
    from miner import mine as mining
    from miner.store import CorpusStore

    if args.jobs < 0:
        raise InvalidArgument(f"--jobs must be >= 0, got {args.jobs}")
    if args.file_timeout <= 0:
        raise InvalidArgument(f"--file-timeout must be > 0, got {args.file_timeout}")
    if not args.paths and not args.docs and not args.import_:
        raise InvalidArgument("nothing to mine: give PATHs, --docs LIB or --import JSONL")
    start = time.perf_counter()
    with CorpusStore(args.out) as store:
        if args.import_:
            n = store.import_jsonl(args.import_)
            if not args.json:
                print(f"imported {n} records from {args.import_}", file=sys.stderr)
        planned = mining.plan(args.paths, docs=args.docs, store=store)
        outcomes = []
        with _progress(len(planned), "mining", args.json and not sys.stderr.isatty()) as bar:
            for o in mining.run(planned, store=store, jobs=args.jobs,
                                file_timeout=args.file_timeout):
                outcomes.append(o)
                bar.update(1)
        summary = mining.summarize(outcomes, store, time.perf_counter() - start)
        if args.export:
            store.export_jsonl(args.export)
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        _print_mine_summary(summary, args.out)
    return 0


def _print_mine_summary(s: Any, out: str) -> None:
    rows = [("files seen", s.seen), ("  mined", s.mined)]
    rows += [(f"  skipped: {k}", v) for k, v in sorted(s.skipped.items())]
    rows += [(f"  failed: {k}", v) for k, v in sorted(s.failed.items())]
    rows += [("records (distinct calls)", s.records)]
    rows += [(f"APIs: {fw}", n) for fw, n in sorted(s.apis.items())]
    rows += [("arguments fully resolved", f"{100 * s.resolved_args:.1f}%"),
             ("seconds", f"{s.seconds:.1f}")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v:>10}")
    if s.unresolved:
        print("\ncall sites not resolved (reason: count, examples):")
        for reason, n in sorted(s.unresolved.items(), key=lambda kv: -kv[1]):
            ex = ", ".join(s.unresolved_examples.get(reason, [])[:3])
            print(f"  {reason}: {n}  ({ex})")
    print(f"\nstore: {out}")


# ---------------------------------------------------------------------------
# apis
# ---------------------------------------------------------------------------


def _add_apis(sub: Any) -> None:
    p = sub.add_parser(
        "apis", formatter_class=_Formatter,
        help="list mined APIs, the most used first",
        description="List the APIs in a corpus store ranked by occurrences (how often "
                    "calls were seen), with the number of distinct calls (records).",
    )
    p.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="STORE",
                   help="corpus store to read")
    p.add_argument("--framework", choices=["torch", "tensorflow"],
                   help="only this framework's APIs")
    p.add_argument("--top", type=int, default=0, metavar="N",
                   help="show only the N most used (0: all)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {api, framework, records, occurrences}")
    p.set_defaults(func=cmd_apis)


def cmd_apis(args: argparse.Namespace) -> int:
    from miner.store import CorpusStore

    if args.top < 0:
        raise InvalidArgument(f"--top must be >= 0, got {args.top}")
    if not os.path.exists(args.corpus):
        raise InvalidArgument(f"no corpus store at {args.corpus} (run `seamfuzz mine` first)")
    with CorpusStore(args.corpus, create=False) as store:
        stats = [s for s in store.api_stats()
                 if args.framework is None or s.framework == args.framework]
    if args.top:
        stats = stats[: args.top]
    if args.json:
        print(json.dumps([{"api": s.api, "framework": s.framework, "records": s.records,
                           "occurrences": s.occurrences} for s in stats]))
        return 0
    if not stats:
        print("no APIs in this store")
        return 0
    width = max(len(s.api) for s in stats)
    print(f"{'api':<{width}}  {'framework':<10}  {'records':>7}  {'occurrences':>11}")
    for s in stats:
        print(f"{s.api:<{width}}  {s.framework:<10}  {s.records:>7}  {s.occurrences:>11}")
    return 0


# ---------------------------------------------------------------------------
# check / run
# ---------------------------------------------------------------------------


def _add_common_run_args(p: Any) -> None:
    p.add_argument("--modes", metavar="M,...", help=MODES_HELP)
    p.add_argument("--reference", metavar="MODE",
                   help="reference mode (default: the framework's eager CPU mode)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed from which every input is drawn")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds one case may take in a worker (a first inductor compile "
                        "takes several seconds)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _add_check(sub: Any) -> None:
    p = sub.add_parser(
        "check", formatter_class=_Formatter,
        help="run one call in several modes and judge each against the reference",
        description="""\
Run one call, written as Python, in the reference mode and every target mode,
and judge each target against the reference under the contract.  The
expression is parsed, never evaluated: literals (float('nan'), math.inf,
np.nan, torch.inf), dtypes, tensor builders (torch.randn, tf.constant, ...)
and the transformations the miner follows (.T, .permute, .to,
.contiguous(memory_format=torch.channels_last)) are understood; the aliases
torch, nn, F, tf, np, math and keras are bound.

Exit status: 1 when a boundary is broken (value, dtype, shape, status, crash
or timeout verdict), 0 otherwise, 2 on a usage error.""",
        epilog="examples:\n  seamfuzz check 'torch.cumsum(torch.randn(3, 4).T, dim=-1)'\n"
               "  seamfuzz check 'tf.math.cumsum(tf.random.normal([3, 4]), axis=1)' "
               "--modes tf.xla --json",
    )
    p.add_argument("expr", metavar="EXPR", help="one torch or tensorflow call, as Python")
    _add_common_run_args(p)
    p.set_defaults(func=cmd_check)


def _summary_of(obs: Any) -> str:
    from runner.observation import ArrayLeaf, MapNode, ScalarLeaf, SeqNode

    o = obs.outcome.value
    if o == "returned":
        node = obs.output

        def short(n: Any) -> str:
            if isinstance(n, ArrayLeaf):
                return f"{n.dtype}{list(n.shape)}"
            if isinstance(n, ScalarLeaf):
                return repr(n.value)[:30]
            if isinstance(n, SeqNode):
                inner = ", ".join(short(x) for x in n.items[:3])
                return f"({inner}{', ...' if len(n.items) > 3 else ''})"
            if isinstance(n, MapNode):
                return "{" + ", ".join(k for k, _ in n.items[:3]) + "}"
            return type(n).__name__
        text = f"returned {short(node)}"
        if obs.mutated:
            text += f", mutated arg {','.join(str(i) for i, _ in obs.mutated)}"
        return text
    if o in ("raised", "unsupported") and obs.error_type:
        return f"{o} {obs.error_type.rsplit('.', 1)[-1]}"
    return f"{o} {obs.detail}"[:60]


def cmd_check(args: argparse.Namespace) -> int:
    from miner import apiindex
    from runner.check import record_from_expression
    from runner.deny import denied_record
    from runner.dispatch import judge_case, run_cases
    from runner.execute import CaseTask
    from seamfuzz.campaign import modes_by_framework
    from seamfuzz.store import case_id

    if args.timeout <= 0:
        raise InvalidArgument(f"--timeout must be > 0, got {args.timeout}")
    modes = modes_by_framework(args.modes, args.reference)
    rec = record_from_expression(args.expr, apiindex.load_or_build())
    why = denied_record(rec)
    if why:
        raise InvalidArgument(f"seamfuzz does not execute {why}")
    if rec.framework not in modes:
        raise InvalidArgument(f"{rec.api} is a {rec.framework} API; --modes names no "
                              f"{rec.framework} target mode")
    task = CaseTask(case_id(rec, args.seed), rec, args.seed, modes[rec.framework])
    ((_, result),) = list(run_cases([task], jobs=1, timeout=args.timeout))
    verdicts = judge_case(task, result)
    broken = any(v.breaking for v in verdicts)
    if args.json:
        print(json.dumps({
            "api": rec.api, "reference": task.modes[0],
            "observations": {o.mode: o.to_json() for o in result.observations},
            "verdicts": [{"reference": v.reference, "target": v.target, "kind": v.kind.value,
                          "detail": v.detail} for v in verdicts],
        }))
        return 1 if broken else 0
    from miner.records import describe_record

    print(describe_record(rec))
    print(f"seed {args.seed}; reference {task.modes[0]}\n")
    by_target = {v.target: v for v in verdicts}
    rows = [("mode", "observed", "verdict", "explanation")]
    for obs in result.observations:
        v = by_target.get(obs.mode)
        rows.append((obs.mode, _summary_of(obs), v.kind.value if v else "(reference)",
                     (v.detail if v else "") or ""))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    return 1 if broken else 0


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run", formatter_class=_Formatter,
        help="run every mined call unchanged in every mode and store the verdicts",
        description="""\
Run every record of a corpus store once, unchanged (no mutation), in the
reference and target modes of its framework, judge each target against the
reference, and store cases, observations and verdicts in DIR/campaign.sqlite.
Running the same command again continues where it stopped.  Prints, per API,
how many mined records are valid (run in the reference) and the verdict
counts per boundary: also a measure of how well the miner resolved
arguments.""",
    )
    p.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="STORE", help="corpus store")
    p.add_argument("--api", nargs="+", default=[], metavar="GLOB",
                   help="only APIs matching these patterns (public aliases accepted)")
    p.add_argument("--out", default=os.path.join("results", "run"), metavar="DIR",
                   help="campaign directory")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes per framework (0: one per core)")
    _add_common_run_args(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from miner import apiindex
    from miner.store import CorpusStore
    from seamfuzz.campaign import modes_by_framework, record_settings, run_records, \
        select_records
    from seamfuzz.store import CampaignStore

    if args.timeout <= 0:
        raise InvalidArgument(f"--timeout must be > 0, got {args.timeout}")
    if args.jobs < 0:
        raise InvalidArgument(f"--jobs must be >= 0, got {args.jobs}")
    modes = modes_by_framework(args.modes, args.reference)
    if not os.path.exists(args.corpus):
        raise InvalidArgument(f"no corpus store at {args.corpus} (run `seamfuzz mine` first)")
    with CorpusStore(args.corpus, create=False) as corpus:
        records = list(corpus.records())
    records = select_records(records, args.api, apiindex.load_or_build() if args.api else None)
    if not records:
        raise InvalidArgument("no records match" + (f" {args.api}" if args.api else ""))
    start = time.perf_counter()
    jobs = args.jobs or os.cpu_count() or 1
    with CampaignStore(args.out) as store:
        record_settings(store, {"command": "run", "corpus": args.corpus, "api": args.api,
                                "modes": modes, "seed": args.seed, "timeout": args.timeout})
        bar = _progress(0, "cases", args.json and not sys.stderr.isatty())
        bar.unit = "case"
        valid = broken = done = 0
        with bar:
            for out in run_records(records, modes, store, seed=args.seed, jobs=jobs,
                                   timeout=args.timeout, on_start=lambda n: bar.reset(n)):
                done += 1
                valid += out.observations[0].outcome.value == "returned"
                broken += any(v.breaking for v in out.verdicts)
                bar.set_postfix(valid=f"{100 * valid / done:.0f}%", discrepancies=broken,
                                refresh=False)
                bar.update(1)
        boundaries = store.verdict_counts()
        apis = store.api_counts()
    seconds = time.perf_counter() - start
    total = sum(a["cases"] for a in apis.values())
    total_valid = sum(a["valid"] for a in apis.values())
    if args.json:
        print(json.dumps({"cases": total, "valid": total_valid, "seconds": round(seconds, 2),
                          "boundaries": boundaries, "apis": apis}))
        return 0
    width = max([len(a) for a in apis] + [3])
    print(f"{'api':<{width}}  {'records':>7}  {'valid':>5}  {'discrepancies':>13}")
    for api, c in sorted(apis.items()):
        print(f"{api:<{width}}  {c['cases']:>7}  {c['valid']:>5}  {c['discrepancies']:>13}")
    print(f"\n{total} cases, {total_valid} valid ({100 * total_valid / max(total, 1):.1f}%), "
          f"{seconds:.1f} s\n")
    for boundary, counts in boundaries.items():
        print(f"{boundary}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    print(f"\nstore: {os.path.join(args.out, 'campaign.sqlite')}")
    return 0


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

_COMMANDS: tuple[Callable[[Any], None], ...] = (_add_mine, _add_apis, _add_check, _add_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from seamfuzz import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    return parser


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds the context managers: workers are stopped


def main(argv: Optional[Sequence[str]] = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InvalidArgument as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
