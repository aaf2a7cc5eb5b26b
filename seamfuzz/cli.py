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
APIs are really called; `apis` lists what was mined.
"""


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
# main
# ---------------------------------------------------------------------------

_COMMANDS: tuple[Callable[[Any], None], ...] = (_add_mine, _add_apis)


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


def main(argv: Optional[Sequence[str]] = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
