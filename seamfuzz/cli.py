"""The ``seamfuzz`` command line: a thin layer over the stage libraries.

Each subcommand parses its arguments, calls a library function that yields
results, and renders them (a tqdm bar on stderr while it works, a table or
one JSON object on stdout at the end).  A mistake of the user's
(:class:`~infra.errors.InvalidArgument`) is one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

from infra.errors import InvalidArgument

PROG = "seamfuzz"
DEFAULT_CORPUS = os.path.join("snippets", "corpus.sqlite")

DESCRIPTION = """\
seamfuzz finds silent correctness bugs in deep-learning libraries: inputs on
which a compiled or otherwise transformed execution mode (torch.compile,
tf.function, XLA, another device, your own backend) returns something other
than what eager mode returns.

Stages: `mine` reads code statically and records how torch and tensorflow
APIs are really called; `resolve` fills, by asking the library, what mining
could not tell (a tensor that came from a parameter); `apis` lists what was
mined (`--all`: the whole public surface, with synthesized cases); `check`
runs one call in several modes and judges each against the reference; `run`
does that for every mined call; `fuzz` adds mutants; `triage` and `report`
explain what broke.
"""

MODES_HELP = """comma-separated mode specs NAME[:key=value,...] (the modes are listed
at the end of this help)"""


class _Formatter(argparse.RawDescriptionHelpFormatter,
                 argparse.ArgumentDefaultsHelpFormatter):
    pass


class _JoinCommaLists(argparse.Action):
    """A flag taking comma-separated lists (``--modes``) that may be repeated
    and given several values: ``--modes a,b c --modes d`` is ``"a,b,c,d"``,
    every use adding to the earlier ones (argparse's default keeps only the
    last)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        earlier = getattr(namespace, self.dest, None)
        items = [earlier] if earlier else []
        items += values if isinstance(values, list) else [values]
        setattr(namespace, self.dest, ",".join(items))


def _progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr, disable=quiet,
                dynamic_ncols=True, leave=False)


def _reporter(bar: Any) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that drives a tqdm bar."""

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total)
        bar.update(done - bar.n)

    return progress


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
    p.add_argument("--docs", nargs="+", action="extend", default=[], metavar="LIB",
                   choices=["torch", "tensorflow"],
                   help="also mine the docstring examples of these installed libraries "
                        "(repeatable)")
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
# resolve
# ---------------------------------------------------------------------------


def _add_resolve(sub: Any) -> None:
    p = sub.add_parser(
        "resolve", formatter_class=_Formatter,
        help="fill what mining left unknown by asking the library (sandboxed)",
        description="""\
Static mining knows which API a line calls and its literals, but a tensor
that comes from a function parameter is unknown, and a record holding an
unknown cannot run.  `resolve` fills each unknown with a value the library
accepts: types come from the API's schema (torch's aten overloads,
TensorFlow's OpDefs, Python signatures), shapes and dtypes are searched
from what the record already knows (a Linear's in_features, a convolution
weight's channels) and from values other records passed for the same
parameter, and each candidate is tried by running the call on small inputs
in the reference mode, in sandboxed workers.  Every filled value keeps its
origin (schema, shape-solved, flowed, borrowed), which cases and reports
show.  Results are stored in the corpus store, per library version; a
second run only solves what is new.  `run` and `fuzz` use them.""",
        epilog="examples:\n  seamfuzz mine path/to/project && seamfuzz resolve\n"
               "  seamfuzz resolve --corpus my.sqlite --framework torch --json",
    )
    p.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="STORE", help="corpus store")
    p.add_argument("--framework", choices=["torch", "tensorflow"],
                   help="only this framework's records")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes per framework (0: one per core)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_sandbox_flag(p)
    p.set_defaults(func=cmd_resolve)


def cmd_resolve(args: argparse.Namespace) -> int:
    from miner.store import CorpusStore
    from seamfuzz.resolving import resolve_corpus

    if args.jobs < 0:
        raise InvalidArgument(f"--jobs must be >= 0, got {args.jobs}")
    if not os.path.exists(args.corpus):
        raise InvalidArgument(f"no corpus store at {args.corpus} (run `seamfuzz mine` first)")
    box = _sandbox_of(args)
    frameworks = (args.framework,) if args.framework else ("torch", "tensorflow")
    quiet = args.json and not sys.stderr.isatty()
    with CorpusStore(args.corpus, create=False) as store, \
            _progress(0, "resolving", quiet) as bar:
        bar.unit = "record"

        progress = _reporter(bar)
        summary = resolve_corpus(store, jobs=args.jobs or os.cpu_count() or 1, sandbox=box,
                                 frameworks=frameworks, progress=progress)
    if args.json:
        print(json.dumps(summary.to_json()))
        return 0
    rows = [("records", summary.records), ("  with unknown arguments", summary.unknown),
            ("  solved", summary.solved), ("    solved now", summary.solved_now),
            ("  not solved", summary.unknown - summary.solved),
            ("calls tried now", summary.attempts),
            ("solver seconds per record",
             f"{summary.solver_seconds / max(summary.solved_now + sum(summary.reasons.values()), 1):.3f}"),
            ("seconds", f"{summary.seconds:.1f}")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v:>10}")
    if summary.origins:
        print("\nfilled values by origin: " + ", ".join(
            f"{o} {n}" for o, n in summary.origins.most_common()))
    if summary.reasons:
        print("not solved (last error of the search): " + ", ".join(
            f"{r} {n}" for r, n in summary.reasons.most_common(8)))
    print(f"\nstore: {args.corpus}")
    return 0


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
    p.add_argument("--all", action="store_true",
                   help="list the whole fuzzable public surface (functions, tensor methods "
                        "and layers of the namespaces that compute on tensors), with mined "
                        "and synthesized cases per API; synthesizes what the cache lacks "
                        "(minutes, once per library version)")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="with --all: worker processes per framework (0: one per core)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {api, framework, records, occurrences} "
                        "(with --all also kind, synthesized, why)")
    _add_sandbox_flag(p)
    p.set_defaults(func=cmd_apis)


def cmd_apis(args: argparse.Namespace) -> int:
    from miner.store import CorpusStore

    if args.top < 0:
        raise InvalidArgument(f"--top must be >= 0, got {args.top}")
    if args.all:
        return _apis_all(args)
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


def _apis_all(args: argparse.Namespace) -> int:
    from miner import apiindex
    from miner.store import CorpusStore
    from seamfuzz.resolving import public_surface, synthesize

    if args.jobs < 0:
        raise InvalidArgument(f"--jobs must be >= 0, got {args.jobs}")
    box = _sandbox_of(args)
    frameworks = (args.framework,) if args.framework else ("torch", "tensorflow")
    mined: dict[str, tuple[int, int]] = {}
    if os.path.exists(args.corpus):
        with CorpusStore(args.corpus, create=False) as store:
            mined = {s.api: (s.records, s.occurrences) for s in store.api_stats()}
    index = apiindex.load_or_build()
    surface = public_surface(index, frameworks)
    quiet = args.json and not sys.stderr.isatty()
    with _progress(0, "synthesizing", quiet) as bar:
        bar.unit = "record"

        progress = _reporter(bar)
        found, failed = synthesize(surface, jobs=args.jobs or os.cpu_count() or 1,
                                   sandbox=box, progress=progress)
    rows = []
    for api, fw, kind in surface:
        recs, occ = mined.get(api, (0, 0))
        rows.append({"api": api, "framework": fw, "kind": kind, "records": recs,
                     "occurrences": occ, "synthesized": len(found.get(api, ())),
                     **({"why": failed[api]} if api in failed else {})})
    rows.sort(key=lambda r: (-r["occurrences"], -r["synthesized"], r["api"]))
    if args.json:
        print(json.dumps(rows[: args.top] if args.top else rows))
        return 0
    shown = rows[: args.top] if args.top else rows
    width = max([len(r["api"]) for r in shown] + [3])
    print(f"{'api':<{width}}  {'framework':<10}  {'kind':<8}  {'mined':>5}  {'synthesized':>11}")
    for r in shown:
        print(f"{r['api']:<{width}}  {r['framework']:<10}  {r['kind']:<8}  {r['records']:>5}  "
              f"{r['synthesized']:>11}")
    for fw in frameworks:
        mine = [r for r in rows if r["framework"] == fw]
        with_case = sum(1 for r in mine if r["records"] or r["synthesized"])
        print(f"\n{fw}: {len(mine)} public APIs, {sum(1 for r in mine if r['records'])} mined, "
              f"{sum(1 for r in mine if r['synthesized'])} with a synthesized case, "
              f"{with_case} with either")
    return 0


# ---------------------------------------------------------------------------
# check / run
# ---------------------------------------------------------------------------


def _add_common_run_args(p: Any) -> None:
    from runner.modes import describe_modes

    p.epilog = ((p.epilog + "\n\n") if p.epilog else "") + "modes:\n" + "\n".join(
        "  " + line for line in describe_modes().splitlines())
    p.add_argument("--modes", nargs="+", action=_JoinCommaLists, metavar="M,...",
                   help=MODES_HELP + " (repeatable: the lists add up)")
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
    _add_sandbox_flag(p)
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
    if o == "sandboxed":  # the sandbox stopped the call: what it refused, and the error
        return f"{obs.detail} ({(obs.error_type or 'error').rsplit('.', 1)[-1]})"[:60]
    if o == "internal":  # seamfuzz's own failure: its first line, never the library's
        return f"seamfuzz error: {(obs.detail or '').splitlines()[0] if obs.detail else ''}"[:60]
    return " ".join(f"{o} {obs.detail}".split())[:60]


def _add_sandbox_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-sandbox", action="store_true",
                   help="run cases unconfined.  By default every process that runs "
                        "library calls starts in a bubblewrap sandbox (read-only "
                        "filesystem but its temporary folder, no network, an environment "
                        "without credentials, resource limits), and seamfuzz refuses to "
                        "run without one")


def _sandbox_of(args: argparse.Namespace) -> Any:
    """The sandbox cases run in (exit 2 when there is none and
    ``--no-sandbox`` was not given), before anything else happens."""
    from infra.sandbox import require

    return require(not args.no_sandbox)


def cmd_check(args: argparse.Namespace) -> int:
    from miner import apiindex
    from runner.check import record_from_expression
    from runner.deny import denied_record
    from runner.dispatch import Runner, check_modes, judge_case
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
    with Runner(jobs=1, timeout=args.timeout, sandbox=_sandbox_of(args)) as runner:
        check_modes(runner, task.modes)  # an unknown backend: exit 2, no case run
        ((_, result),) = list(runner.run([task]))
    verdicts = judge_case(task, result)
    broken = any(v.breaking for v in verdicts)
    if args.json:
        print(json.dumps({
            "api": rec.api, "reference": str(task.modes[0]),
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
    p.add_argument("--api", nargs="+", action="extend", default=[], metavar="GLOB",
                   help="only APIs matching these patterns (public aliases accepted; "
                        "repeatable)")
    p.add_argument("--synthesized", action="store_true",
                   help="also run synthesized cases (built from the API's schema and solved "
                        "against the library) of every public API matching --api that has no "
                        "mined record; without it only APIs named in full by --api get them")
    p.add_argument("--out", default=os.path.join("results", "run"), metavar="DIR",
                   help="campaign directory")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes per framework (0: one per core)")
    _add_common_run_args(p)
    _add_sandbox_flag(p)
    p.set_defaults(func=cmd_run)


def _campaign_inputs(args: argparse.Namespace, need_index: bool) -> tuple[Any, list, Any]:
    """``run`` and ``fuzz``: check the shared options, then the modes per
    framework, the corpus records they select (of those frameworks) and the
    API index (None when not needed: no ``--api`` and ``need_index`` false)."""
    from miner import apiindex
    from miner.store import CorpusStore
    from seamfuzz.campaign import modes_by_framework, select_records

    if args.timeout <= 0:
        raise InvalidArgument(f"--timeout must be > 0, got {args.timeout}")
    if args.jobs < 0:
        raise InvalidArgument(f"--jobs must be >= 0, got {args.jobs}")
    modes = modes_by_framework(args.modes, args.reference)
    if not os.path.exists(args.corpus):
        raise InvalidArgument(f"no corpus store at {args.corpus} (run `seamfuzz mine` first)")
    with CorpusStore(args.corpus, create=False) as corpus:
        records = [r for r in corpus.records(resolved=True) if r.framework in modes]
    index = apiindex.load_or_build() if (need_index or args.api or args.synthesized) else None
    records = select_records(records, args.api, index)
    if args.api or args.synthesized:
        records += _synthesized_inputs(args, index, modes, {r.api for r in records})
    if not records:
        raise InvalidArgument("no records match" + (f" {args.api}" if args.api else ""))
    from miner.records import is_resolved

    unknown = sum(not all(is_resolved(v) for v in r.values()) for r in records)
    if unknown and not args.json:
        print(f"{unknown} of {len(records)} records still hold unknown arguments (they are "
              "skipped); `seamfuzz resolve` fills what the library accepts", file=sys.stderr)
    return modes, records, index


def _synthesized_inputs(args: argparse.Namespace, index: Any, modes: dict[str, Any],
                        mined: set[str]) -> list:
    """Synthesized records (after the mined ones) of the public APIs that
    ``--api`` names, or with ``--synthesized`` of the whole public surface,
    that have no mined record."""
    import fnmatch

    from seamfuzz.campaign import canonical_patterns
    from seamfuzz.resolving import public_surface, synthesize

    patterns = canonical_patterns(args.api, index) if args.api else ["*"]
    surface = [item for item in public_surface(index, tuple(modes))
               if item[0] not in mined and any(fnmatch.fnmatchcase(item[0], p)
                                               for p in patterns)]
    if not args.synthesized:
        # Without --synthesized only names given in full are synthesized.
        surface = [item for item in surface if item[0] in patterns]
    if not surface:
        return []
    quiet = args.json and not sys.stderr.isatty()
    with _progress(0, "synthesizing", quiet) as bar:
        bar.unit = "record"

        progress = _reporter(bar)
        found, failed = synthesize(surface, jobs=args.jobs or os.cpu_count() or 1,
                                   sandbox=not args.no_sandbox, progress=progress)
    if not quiet:
        for api, why in sorted(failed.items()):
            if api in patterns:
                print(f"{api}: no synthesized case ({why})", file=sys.stderr)
    return [r for api, _, _ in surface for r in found.get(api, ())]


def cmd_run(args: argparse.Namespace) -> int:
    from seamfuzz.campaign import record_settings, run_records
    from seamfuzz.store import CampaignStore

    box = _sandbox_of(args)
    modes, records, _ = _campaign_inputs(args, need_index=False)
    start = time.perf_counter()
    jobs = args.jobs or os.cpu_count() or 1
    with CampaignStore(args.out) as store:
        record_settings(store, {"command": "run", "corpus": args.corpus, "api": args.api,
                                "modes": modes, "seed": args.seed, "timeout": args.timeout,
                                "sandbox": box.describe()})
        bar = _progress(0, "cases", args.json and not sys.stderr.isatty())
        bar.unit = "case"
        valid = broken = done = 0
        with bar:
            for out in run_records(records, modes, store, seed=args.seed, jobs=jobs,
                                   timeout=args.timeout, on_start=lambda n: bar.reset(n),
                                   sandbox=box):
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
# fuzz
# ---------------------------------------------------------------------------


def _add_fuzz(sub: Any) -> None:
    p = sub.add_parser(
        "fuzz", formatter_class=_Formatter,
        help="a fuzzing campaign: mined calls and their mutants in every mode",
        description="""\
Run a fuzzing campaign.  APIs are taken in order of how much the corpus uses
them; for each, its mined records run first, then mutants (dtype, type,
shape and rank, special values, memory layout, arguments borrowed from other
APIs, optional arguments dropped or added, in-place and out= variants) up to
--mutants per API or until --seconds are spent.  The reference mode's
acceptance of each round of mutants steers the next round toward operators
that keep inputs valid.  Every case is stored in DIR/campaign.sqlite before
it runs: running the same command again on the same --out continues where it
stopped, even after kill -9.""",
        epilog="""\
examples:
  seamfuzz fuzz --api torch.cumsum 'tf.math.*' --mutants 50 --out results/c1
  seamfuzz fuzz --modes torch.compile --seconds 600 --json
  seamfuzz fuzz --executor ray --ray-address auto --out results/big""")
    p.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="STORE", help="corpus store")
    p.add_argument("--api", nargs="+", action="extend", default=[], metavar="GLOB",
                   help="only APIs matching these patterns (public aliases accepted; "
                        "repeatable); default: every API in the corpus")
    p.add_argument("--synthesized", action="store_true",
                   help="also run synthesized cases (built from the API's schema and solved "
                        "against the library) of every public API matching --api that has no "
                        "mined record; without it only APIs named in full by --api get them")
    p.add_argument("--mutants", type=int, default=200, metavar="N",
                   help="mutants per API, on top of its mined records")
    p.add_argument("--seconds", type=float, default=0, metavar="S",
                   help="time budget of the whole campaign (0: none); a rerun continues")
    p.add_argument("--max-elements", type=int, default=1 << 20, metavar="N",
                   help="cap on the input tensor elements of a case")
    p.add_argument("--out", default=os.path.join("results", "fuzz"), metavar="DIR",
                   help="campaign directory")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes (local: per framework; ray: actors; "
                        "0: one per core)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where cases run: this machine's worker pool, or Ray actors")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join (auto, ray://host:port); default: start a "
                        "local Ray instance")
    _add_common_run_args(p)
    _add_sandbox_flag(p)
    p.set_defaults(func=cmd_fuzz)


def _print_campaign(store: Any, seconds: float, apis: dict[str, dict[str, int]],
                    boundaries: dict[str, dict[str, int]]) -> None:
    width = max([len(a) for a in apis] + [3])
    print(f"{'api':<{width}}  {'cases':>6}  {'valid':>6}  {'discrepancies':>13}")
    for api, c in apis.items():
        rate = f"{100 * c['valid'] / c['cases']:.0f}%" if c["cases"] else "-"
        print(f"{api:<{width}}  {c['cases']:>6}  {rate:>6}  {c['discrepancies']:>13}")
    total = sum(a["cases"] for a in apis.values())
    total_valid = sum(a["valid"] for a in apis.values())
    print(f"\n{total} cases, {total_valid} valid "
          f"({100 * total_valid / max(total, 1):.1f}%), {seconds:.1f} s")
    # The valid rate is the share of inputs the reference accepted among
    # those it ran; cases it never ran (unresolved arguments, denied APIs)
    # are counted apart.
    for fw, c in sorted(store.framework_counts().items()):
        parts = [f"{fw}: {c['cases']} cases, {c['cases'] - c['ran']} not run"]
        for key, label in (("", "all"), ("mined_", "mined"), ("mutants_", "mutants")):
            ran = c[f"{key}ran"]
            if ran:
                parts.append(f"{label} {100 * c[f'{key}valid'] / ran:.1f}% valid "
                             f"({c[f'{key}valid']}/{ran})")
        print("  " + ", ".join(parts))
    print()
    for boundary, counts in boundaries.items():
        print(f"{boundary}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))


def cmd_fuzz(args: argparse.Namespace) -> int:
    from seamfuzz.campaign import record_settings
    from seamfuzz.executors import make_executor
    from seamfuzz.fuzz import FuzzSettings, build_mutator, fuzz, order_apis
    from seamfuzz.store import CampaignStore

    if args.mutants < 0:
        raise InvalidArgument(f"--mutants must be >= 0, got {args.mutants}")
    if args.seconds < 0:
        raise InvalidArgument(f"--seconds must be >= 0, got {args.seconds}")
    if args.max_elements < 1:
        raise InvalidArgument(f"--max-elements must be >= 1, got {args.max_elements}")
    if args.ray_address and args.executor != "ray":
        raise InvalidArgument("--ray-address needs --executor ray")
    if args.executor == "local":
        _sandbox_of(args)  # no sandbox: exit 2 before anything (Ray nodes find their own)
    modes, records, index = _campaign_inputs(args, need_index=True)
    # Validity feedback comes between rounds: a few rounds even for few mutants.
    round_size = max(4, min(16, args.mutants // 4))
    settings = FuzzSettings(seed=args.seed, mutants=args.mutants, round_size=round_size,
                            seconds=args.seconds or None, max_elements=args.max_elements)
    quiet = args.json and not sys.stderr.isatty()
    start = time.perf_counter()
    with CampaignStore(args.out) as store:
        executor = make_executor(args.executor, jobs=args.jobs, timeout=args.timeout,
                                 log_dir=store.dir, address=args.ray_address,
                                 sandbox=not args.no_sandbox)
        record_settings(store, {"command": "fuzz", "corpus": args.corpus, "api": args.api,
                                "modes": modes, "seed": args.seed, "timeout": args.timeout,
                                "mutants": args.mutants, "seconds": args.seconds,
                                "max_elements": args.max_elements, "executor": args.executor,
                                "sandbox": executor.sandbox.describe()})
        if not quiet:
            print(f"preparing mutators for {len(order_apis(records))} APIs", file=sys.stderr)
        mutator = build_mutator(records, index, settings)
        from tqdm import tqdm

        bar = tqdm(total=0, desc="fuzz", unit="case", file=sys.stderr, disable=quiet,
                   dynamic_ncols=True, leave=False)
        valid = broken = done = 0
        with bar, executor:
            def total(n: int) -> None:
                bar.reset(n)

            for out in fuzz(records, modes, store, executor, mutator, settings,
                            on_total=total):
                done += 1
                valid += out.observations[0].outcome.value == "returned"
                broken += any(v.breaking for v in out.verdicts)
                bar.set_postfix(valid=f"{100 * valid / done:.0f}%", discrepancies=broken,
                                refresh=False)
                bar.update(1)
        boundaries = store.verdict_counts()
        counts = store.api_counts()
        order = order_apis(records)
        apis = {a: counts[a] for a in order if a in counts}
        seconds = time.perf_counter() - start
        if args.json:
            total_cases = sum(a["cases"] for a in apis.values())
            print(json.dumps({"cases": total_cases,
                              "valid": sum(a["valid"] for a in apis.values()),
                              "seconds": round(seconds, 2), "boundaries": boundaries,
                              "apis": apis}))
            return 0
        _print_campaign(store, seconds, apis, boundaries)
    print(f"\nstore: {os.path.join(args.out, 'campaign.sqlite')}")
    return 0


# ---------------------------------------------------------------------------
# triage, report, replay
# ---------------------------------------------------------------------------


def _open_campaign(directory: str) -> Any:
    from seamfuzz.store import CampaignStore

    if not os.path.isdir(directory):
        raise InvalidArgument(f"{directory}: no such campaign directory")
    return CampaignStore(directory, create=False)


def _add_triage(sub: Any) -> None:
    p = sub.add_parser(
        "triage", formatter_class=_Formatter,
        help="cluster a campaign's discrepancies, attribute, shrink, write reproducers",
        description="""\
Group the discrepancies of a campaign into clusters (same API, boundary,
verdict kind, normalized error, numeric pattern and dtype family), re-run
each cluster's smallest case across a matrix of modes and variants to name
the axis that flips the result (dynamo / aot_autograd / inductor, graph /
xla, device, dtype, layout, static / dynamic shapes), shrink it while its
signature holds, and write a standalone reproducer DIR/repros/<cluster>.py
that exits 1 while the discrepancy reproduces.  Results are stored in
DIR/campaign.sqlite; `seamfuzz report DIR` shows them.""",
        epilog="known issues file (TOML), one entry per known problem:\n"
               "  [[known]]\n  api = \"tf.math.reduce_max\"\n  target = \"tf.xla*\"\n"
               "  reason = \"XLA's max does not propagate NaN\"\n"
               "  link = \"https://example.org/issue/1\"")
    p.add_argument("dir", metavar="DIR", help="campaign directory (holds campaign.sqlite)")
    p.add_argument("--no-shrink", action="store_true", help="do not shrink the cases")
    p.add_argument("--shrink-seconds", type=float, default=60.0, metavar="S",
                   help="time budget for shrinking one cluster")
    p.add_argument("--known", metavar="FILE",
                   help="known issues (TOML); default: DIR/known_issues.toml if present")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes per framework (0: one per core)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds one re-run may take before it counts as a hang")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_sandbox_flag(p)
    p.set_defaults(func=cmd_triage)


def _load_known(path: Optional[str], directory: str) -> Any:
    from triage.known import load_known

    if path is None:
        default = os.path.join(directory, "known_issues.toml")
        path = default if os.path.exists(default) else None
    elif not os.path.exists(path):
        raise InvalidArgument(f"{path}: no such known-issues file")
    return load_known(path) if path else None


def cmd_triage(args: argparse.Namespace) -> int:
    from seamfuzz.executors import LocalExecutor
    from seamfuzz.triaging import triage_store

    if args.shrink_seconds < 0:
        raise InvalidArgument(f"--shrink-seconds must be >= 0, got {args.shrink_seconds}")
    if args.timeout <= 0:
        raise InvalidArgument(f"--timeout must be > 0, got {args.timeout}")
    if args.jobs < 0:
        raise InvalidArgument(f"--jobs must be >= 0, got {args.jobs}")
    box = _sandbox_of(args)
    quiet = args.json and not sys.stderr.isatty()
    with _open_campaign(args.dir) as store:
        known = _load_known(args.known, args.dir)

        def progress(n: int, total: int, c: Any) -> None:
            if not quiet:
                print(f"[{n + 1}/{total}] {c.api}: {c.kind} on {c.target} "
                      f"({c.cases} cases)", file=sys.stderr)

        with LocalExecutor(jobs=args.jobs or os.cpu_count() or 1, timeout=args.timeout,
                           log_dir=store.dir, sandbox=box) as executor:
            summary = triage_store(store, executor, do_shrink=not args.no_shrink,
                                   shrink_seconds=args.shrink_seconds, known=known,
                                   on_cluster=progress)
        rows = store.clusters()
    if args.json:
        print(json.dumps({"findings": summary.findings, "cases": summary.cases,
                          "clusters": summary.clusters, "problems": summary.problems,
                          "dedup_ratio": summary.dedup_ratio, "known": summary.known,
                          "axes": summary.axes, "seconds": round(summary.seconds, 2)}))
        return 0
    print(f"{summary.findings} discrepancies ({summary.cases} cases) in {summary.clusters} "
          f"clusters (dedup ratio {summary.dedup_ratio}; {summary.problems} once the same "
          f"error on several boundaries counts once), {summary.known} known, "
          f"{summary.seconds:.0f} s")
    for r in rows:
        mark = " (known)" if r["known"] else ""
        print(f"  {r['id']}  {r['kind']:<7} {r['api']}  {r['reference']} -> {r['target']}  "
              f"axis {r['axis']}  {r['cases']} cases  {r['repro'] or 'no repro'}{mark}")
    print(f"\nnext: seamfuzz report {args.dir}")
    return 0


def _add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report", formatter_class=_Formatter,
        help="write DIR/clusters.json, DIR/report.html and DIR/summary.md, print the summary",
        description="""\
Write the triaged campaign's clusters as DIR/clusters.json and a
self-contained HTML report DIR/report.html (settings, library versions,
totals, verdicts per boundary, clusters per axis, the cluster table with
shrunk cases and links to reproducers), and a short Markdown summary to
paste into an issue (DIR/summary.md, also printed).  Run `seamfuzz triage DIR`
first.""")
    p.add_argument("dir", metavar="DIR", help="campaign directory (holds campaign.sqlite)")
    p.add_argument("--known", metavar="FILE",
                   help="re-match clusters against this known-issues file (TOML)")
    p.add_argument("--json", action="store_true",
                   help="print the clusters.json list on stdout instead of Markdown")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    import dataclasses

    from seamfuzz.triaging import report_data
    from triage.report import clusters_json, write_report

    with _open_campaign(args.dir) as store:
        if store.get_meta("triaged") is None:
            raise InvalidArgument(f"{args.dir}: not triaged yet (run `seamfuzz triage "
                                  f"{args.dir}` first)")
        data = report_data(store)
    if args.known:
        known = _load_known(args.known, args.dir)
        rows = [r.with_known(known.match(r)) for r in data.clusters]
        data = dataclasses.replace(data, clusters=rows)
    paths = write_report(data, args.dir)
    if args.json:
        print(json.dumps(clusters_json(data)))
        return 0
    print(paths["summary.md"].read_text(encoding="utf-8"))
    print(f"\nreport: {paths['report.html']}\nclusters: {paths['clusters.json']}")
    return 0


def _add_replay(sub: Any) -> None:
    p = sub.add_parser(
        "replay", formatter_class=_Formatter,
        help="run reproducers and tell which still reproduce",
        description="""\
Run one reproducer or every *.py in a directory (DIR/repros), each in its
own process, and tell which still reproduce (exit 1), which are fixed (exit
0) and which fail to run.  Useful after a library upgrade.  Exit status: 1
when any reproduces, 0 otherwise.""")
    p.add_argument("paths", nargs="+", metavar="PATH", help="reproducer files or directories")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S",
                   help="seconds one reproducer may run")
    p.add_argument("--json", action="store_true", help="print one JSON list on stdout")
    _add_sandbox_flag(p)
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from triage.replay import collect_scripts, format_replay, iter_replay

    for path in args.paths:
        if not os.path.exists(path):
            raise InvalidArgument(f"{path}: no such file or directory")
    if args.timeout <= 0:
        raise InvalidArgument(f"--timeout must be > 0, got {args.timeout}")
    box = _sandbox_of(args)
    from tqdm import tqdm

    total = len(collect_scripts(args.paths))
    if not total:
        raise InvalidArgument(f"no reproducers (*.py) in {' '.join(args.paths)}")
    results = []
    with tqdm(total=total, desc="replay", unit="script", file=sys.stderr, leave=False,
              disable=args.json and not sys.stderr.isatty(), dynamic_ncols=True) as bar:
        for r in iter_replay(args.paths, timeout=args.timeout, sandbox=box):
            results.append(r)
            bar.set_postfix(reproduces=sum(x.status.value == "reproduces" for x in results),
                            refresh=False)
            bar.update(1)
    if args.json:
        print(json.dumps([{"path": str(r.path), "status": r.status.value,
                           "seconds": round(r.seconds, 2), "detail": r.detail}
                          for r in results]))
    else:
        print(format_replay(results))
    return 1 if any(r.status.value == "reproduces" for r in results) else 0


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

_COMMANDS: tuple[Callable[[Any], None], ...] = (_add_mine, _add_resolve, _add_apis, _add_check, _add_run,
                                                _add_fuzz, _add_triage, _add_report,
                                                _add_replay)


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


#: Subcommands whose positional arguments are a list of paths.
_PATH_LISTS = frozenset({"mine", "replay"})


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The parsed command line (nothing is run).  Every list is additive:
    a repeated list flag adds to its earlier values (``--api a b --api c`` is
    ``[a, b, c]``; ``--modes`` joins its comma lists), and paths may be
    given on both sides of options (``mine a --jobs 1 b``)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command in _PATH_LISTS:
        paths = [a for a in extra if not a.startswith("-")]
        if len(paths) == len(extra):
            args.paths = [*args.paths, *paths]
            extra = []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds the context managers: workers are stopped


def main(argv: Optional[Sequence[str]] = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
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
