"""Fuzzing campaigns: mined calls as seeds, mutants around them, in rounds.

For each API (most used in the corpus first) the mined records run first,
as they are; then mutants, in rounds of :attr:`FuzzSettings.round_size`
per API, until ``mutants`` per API are done or the time budget is spent.
After each round the reference mode's verdict on every mutant (did it
accept the input?) goes back to the :class:`~mutator.Mutator`, which
biases its choice of operators toward those that keep cases valid.

Note [Resumable rounds]
    The campaign is a deterministic function of the corpus, the settings and
    the results of earlier rounds: mutant ``i`` of an API is drawn from a
    generator seeded by ``(seed, api, i)`` and the mutator's state, which
    only the results of earlier rounds change.  A rerun on the same store
    therefore *replays* the rounds: it regenerates each round's mutants
    (finding them already stored), runs those still pending, feeds back the
    stored results, and carries on.  After ``kill -9`` of a campaign the
    rerun finishes with every case present exactly once (the store keys
    cases by content hash) and no stored result lost or run again.

Note [Grouping by signature]
    Compiling dominates the cost of compiled modes, and a worker compiles a
    call once per *signature* (the API, every tensor's dtype, shape and
    layout, every constant).  Within a round, cases are ordered so that
    mutants that change only tensor contents (which keep their parent's
    signature) come first, next to each other, and the signature-changing
    ones follow grouped by signature; the runner's batches then hand a
    worker runs of cases its compiled callables serve.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from miner.records import CallRecord, TensorSpec, iter_values, value_to_json
from seamfuzz.campaign import CaseOutcome, mined_cases, run_cases
from seamfuzz.executors import Executor
from seamfuzz.store import CampaignStore, NewCase, case_id

__all__ = ["FuzzSettings", "build_mutator", "fuzz", "order_apis", "mutant_seed",
           "call_signature", "DEFAULT_MUTANTS"]

#: Mutants per API when ``--mutants`` is not given.
DEFAULT_MUTANTS = 200


@dataclass(frozen=True, slots=True)
class FuzzSettings:
    """What a campaign does, besides which records and modes."""

    seed: int = 0
    #: Mutants per API (mined records come on top).
    mutants: int = DEFAULT_MUTANTS
    #: Wall-clock budget of the whole campaign (None: no limit).
    seconds: Optional[float] = None
    #: Mutants per API per round (validity feedback comes between rounds).
    round_size: int = 16
    #: Cap on the input elements of a mutant (and of any case).
    max_elements: int = 1 << 20
    confirm_limit: int = 100


def build_mutator(records: Sequence[CallRecord], index: Any, settings: FuzzSettings) -> Any:
    """A :class:`mutator.Mutator` over ``records`` (grouped by API, in
    :func:`order_apis` order) with the APIs' signatures (inspected in child
    processes, cached) and the API index telling which in-place variants
    exist."""
    from mutator import Mutator
    from miner.schema import collect_schemas
    from mutator.signatures import collect_signatures

    seeds: dict[str, list[CallRecord]] = {}
    for r in records:
        seeds.setdefault(r.api, []).append(r)
    order = order_apis(records)
    wanted = [(api, seeds[api][0].framework, seeds[api][0].kind.value) for api in order]
    signatures = collect_signatures(wanted)
    schemas = collect_schemas(wanted)

    def has_api(name: str) -> bool:
        return index is not None and index.lookup_name(name) is not None

    return Mutator({api: seeds[api] for api in order}, signatures,
                   max_elements=settings.max_elements, seed=settings.seed, has_api=has_api,
                   schemas=schemas)


def order_apis(records: Iterable[CallRecord]) -> list[str]:
    """APIs by how often the corpus uses them (occurrences summed), then name."""
    uses: Counter[str] = Counter()
    for r in records:
        uses[r.api] += r.occurrences
    return sorted(uses, key=lambda a: (-uses[a], a))


def mutant_seed(seed: int, api: str, index: int) -> int:
    """The input seed of mutant ``index`` of ``api`` (stable across runs and
    platforms: a hash, never Python's ``hash``)."""
    digest = hashlib.sha256(f"mutant-input:{seed}:{api}:{index}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def call_signature(record: CallRecord) -> str:
    """What a worker compiles once for: the call with tensor contents left
    out (dtype, shape and layout kept) and every other value kept."""
    def strip(v: Any) -> Any:
        if isinstance(v, TensorSpec):
            return ["T", v.framework, list(v.shape), v.dtype, v.layout.kind.value,
                    list(v.layout.dims), v.requires_grad]
        return value_to_json(v)

    parts = [record.api, record.kind.value,
             [strip(v) for v in record.init_args], [[k, strip(v)] for k, v in record.init_kwargs],
             [strip(v) for v in record.args], [[k, strip(v)] for k, v in record.kwargs]]
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def _has_tensor(record: CallRecord) -> bool:
    """A call without tensors has no contents to vary without recompiling."""
    return any(isinstance(x, TensorSpec) for v in record.values() for x in iter_values(v))


def _ordered_round(cases: list[NewCase], parents: dict[str, CallRecord]) -> list[NewCase]:
    """Note [Grouping by signature]."""
    sig = {c.id: call_signature(c.record) for c in cases}
    same: list[NewCase] = []
    changed: list[NewCase] = []
    for c in cases:
        parent = parents.get(c.parent)
        if parent is not None and _has_tensor(c.record) and \
                call_signature(parent) == sig[c.id]:
            same.append(c)
        else:
            changed.append(c)
    same.sort(key=lambda c: (c.record.framework, sig[c.id], c.api, c.mutant_index))
    changed.sort(key=lambda c: (c.record.framework, sig[c.id], c.api, c.mutant_index))
    return same + changed


def fuzz(records: Sequence[CallRecord], modes: dict[str, tuple[str, ...]],
         store: CampaignStore, executor: Executor, mutator: Any, settings: FuzzSettings,
         *, on_total: Optional[Callable[[int], None]] = None) -> Iterator[CaseOutcome]:
    """Run a campaign (module docstring); yields every case's outcome as it
    completes.  ``mutator`` is a :class:`mutator.Mutator` over ``records``.
    ``on_total`` is told how many cases the campaign holds when complete
    (for a progress bar); cases done by an earlier run count as done."""
    start = time.monotonic()
    deadline = None if settings.seconds is None else start + settings.seconds
    records = [r for r in records if r.framework in modes]
    apis = order_apis(records)
    by_id = {r.id: r for r in records}
    mined = mined_cases(records, modes, settings.seed)
    if on_total is not None:
        on_total(len(mined) + settings.mutants * len(apis))
    yield from run_cases(mined, store, executor, max_elements=settings.max_elements,
                         confirm_limit=settings.confirm_limit, deadline=deadline)

    produced = {api: 0 for api in apis}
    exhausted: set[str] = set()
    parents: dict[str, CallRecord] = dict(by_id)
    while deadline is None or time.monotonic() < deadline:
        round_cases: list[NewCase] = []
        for api in apis:
            have = produced[api]
            want = min(settings.round_size, settings.mutants - have)
            if api in exhausted or want <= 0:
                continue
            made = mutator.mutants(api, have, want)
            if not made:
                exhausted.add(api)
                continue
            framework = made[0].record.framework
            for m in made:
                index = m.index
                seed = mutant_seed(settings.seed, api, index)
                cid = case_id(m.record, seed)
                parents[m.record.id] = m.record
                round_cases.append(NewCase(cid, m.record, seed, "mutant", modes[framework],
                                           parent=m.parent, operators=tuple(m.operators),
                                           mutant_index=index, api=api))
            produced[api] = have + want  # an index that yields nothing stays empty
        if not round_cases:
            break
        ordered = _ordered_round(round_cases, parents)
        yield from run_cases(ordered, store, executor, max_elements=settings.max_elements,
                             confirm_limit=settings.confirm_limit, deadline=deadline)
        outcomes = store.reference_outcomes()
        for case in sorted(round_cases, key=lambda c: (c.api, c.mutant_index)):
            if case.id in outcomes:  # not run: the deadline came first
                mutator.observe(case.api, case.operators,
                                outcomes[case.id] == "returned", case.record)
