"""The seeded mutation driver: which mutants of an API a campaign gets.

:class:`Mutator` turns the seed records of each API into numbered mutants.
Mutant ``i`` of an API is drawn from its own ``random.Random``, seeded by a
hash of ``(campaign seed, api, i)``, so it does not depend on how many
mutants were asked for before; it applies one to three operators in turn
to a parent record.  The only state that changes what comes out is what
the caller reports through :meth:`Mutator.observe`.

Note [Validity feedback]
    A mutant the reference mode rejects (it raises: the input is outside
    the API's domain) tests the API's argument checking, not a compiler;
    a few are worth having, a campaign of them is wasted.  So each API
    keeps, per family and per operator, how many of its mutants the caller
    observed and how many were valid, and draws a family, then an operator
    within it, with weight ``max(FLOOR, (valid + 1) / (tried + 2))``: the
    Laplace estimate of staying valid.  Untried ones start at 1/2, and the
    floor keeps every applicable family in play (an API whose mutations
    are all invalid still explores evenly).  What every API observed is a
    prior: an API's estimate counts :data:`PRIOR` pseudo-observations at
    the all-API rate, so an operator that breaks most APIs' inputs (a list
    where a tensor is due) is drawn less from an API's first round on,
    and the API's own results take over as they come in.  Operators that do not apply to
    the record at hand are skipped for that step, not penalised.

    Valid mutants reported with their record join the API's parents
    (at most :data:`REUSE_POOL`, the most recent, of fewer than
    :data:`MAX_GENERATIONS` generations), so mutations compose across
    rounds; a parent is such a mutant with probability :data:`REUSE`.

Note [Duplicates]
    A draw that gives back its parent, a seed record, or a mutant another
    index of the API already produced is retried with the next draws of
    the same generator, at most ``max_attempts`` times; then the index
    yields nothing.  Asking for the same index again with nothing observed
    in between gives the same mutant (an index may repeat its own).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.errors import InvalidArgument
from miner.records import CallRecord
from mutator import arguments, borrow, conversions, dtypes, layouts, shapes, values
from mutator.base import BorrowPool, MutationContext, Operator
from mutator.signatures import ApiSignature
from mutator.space import FAMILIES
from runner.materialize import DEFAULT_MAX_ELEMENTS

__all__ = [
    "FLOOR",
    "PRIOR",
    "ApiStats",
    "Mutant",
    "Mutator",
    "OperatorStats",
    "default_operators",
]

#: The lowest weight a family or operator falls to (Note [Validity feedback]).
FLOOR = 0.05
#: Pseudo-observations of the all-API rate in an API's own estimate.
PRIOR = 4
#: Probability that a parent is a reported valid mutant rather than a seed.
REUSE = 0.25
#: Valid mutants kept per API as parents.
REUSE_POOL = 64
#: Mutants of this many generations are not reused as parents.
MAX_GENERATIONS = 3
#: Draws per mutant index before it yields nothing (Note [Duplicates]).
MAX_ATTEMPTS = 8
#: How many operators one mutant applies, and how likely each count is.
STEPS = (1, 2, 3)
STEP_WEIGHTS = (5, 3, 2)


def default_operators() -> tuple[Operator, ...]:
    """Every operator of every family, in family order."""
    return (
        dtypes.OPERATORS + conversions.OPERATORS + shapes.OPERATORS + values.OPERATORS
        + layouts.OPERATORS + borrow.OPERATORS + arguments.OPERATORS
    )


@dataclass(frozen=True, slots=True)
class Mutant:
    """One mutant of an API: a call record to run (with a seed the campaign
    chooses) and how it was made."""

    #: The mutated call.
    record: CallRecord
    #: Operator names applied, in order, to the :attr:`base` record.
    operators: tuple[str, ...]
    #: Id of the seed record this mutant descends from.
    parent: str
    #: Id of the record the operators were applied to: :attr:`parent`, or
    #: an earlier valid mutant of it (Note [Validity feedback]).
    base: str
    #: The mutant's number for its API.
    index: int


@dataclass(frozen=True, slots=True)
class OperatorStats:
    """How one operator (or a whole family) fared for an API."""

    #: Operator name, or the family's name for a family total.
    name: str
    family: str
    #: Mutants made with it that the caller observed.
    tried: int
    #: Of those, the ones the reference mode accepted.
    valid: int


@dataclass(frozen=True, slots=True)
class ApiStats:
    """Mutation statistics of one API."""

    #: The API, as keyed in the seeds.
    api: str
    #: Mutants handed out.
    produced: int
    #: Indices that gave no mutant (no operator applied, or only
    #: duplicates within the attempts).
    missed: int
    #: Mutants reported through :meth:`Mutator.observe`, and how many of
    #: them were valid.
    observed: int
    valid: int
    #: Per family, then per operator, those observed at least once.
    families: tuple[OperatorStats, ...]
    operators: tuple[OperatorStats, ...]


@dataclass(slots=True)
class _Tally:
    tried: int = 0
    valid: int = 0

    def rate(self) -> float:
        """Laplace estimate of the valid rate."""
        return (self.valid + 1) / (self.tried + 2)

    def weight(self, prior: "_Tally | None" = None) -> float:
        if prior is None:
            return max(FLOOR, self.rate())
        # PRIOR pseudo-observations at the rate seen across all APIs.
        return max(FLOOR, (self.valid + PRIOR * prior.rate() + 1) / (self.tried + PRIOR + 2))


@dataclass(slots=True)
class _ApiState:
    seeds: tuple[CallRecord, ...]
    seed_weights: tuple[int, ...]
    seed_ids: frozenset[str]
    produced: int = 0
    missed: int = 0
    observed: int = 0
    valid: int = 0
    families: dict[str, _Tally] = dataclasses.field(default_factory=dict)
    operators: dict[str, _Tally] = dataclasses.field(default_factory=dict)
    #: mutant id -> (index that produced it, seed id, generation).
    seen: dict[str, tuple[int, str, int]] = dataclasses.field(default_factory=dict)
    #: Valid mutants usable as parents: (record, seed id, generation).
    reuse: deque = dataclasses.field(default_factory=lambda: deque(maxlen=REUSE_POOL))


def _check_type(expected: type, value: object, name: str) -> None:
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise InvalidArgument(
            f"Expected {expected.__name__} but got {name}={value!r} (type={type(value).__name__})"
        )


class Mutator:
    """Seeded mutants of mined call records, with validity feedback.

    ``seeds`` maps each API to its seed records; ``signatures`` (from
    :func:`mutator.signatures.collect_signatures`) name positional
    arguments and tell optional parameters; ``max_elements`` caps the input
    elements of every mutant; ``seed`` is the campaign's; ``has_api``
    answers whether the installed libraries have an API (in-place
    variants: pass the API index's lookup); ``operators`` defaults to
    :func:`default_operators`.
    """

    def __init__(
        self,
        seeds: Mapping[str, Sequence[CallRecord]],
        signatures: Mapping[str, ApiSignature] | None = None,
        *,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
        seed: int = 0,
        has_api: Callable[[str], bool] | None = None,
        operators: Sequence[Operator] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        schemas: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        _check_type(int, seed, "seed")
        _check_type(int, max_elements, "max_elements")
        _check_type(int, max_attempts, "max_attempts")
        if max_elements < 1:
            raise InvalidArgument(f"max_elements must be >= 1, got {max_elements}")
        if max_attempts < 1:
            raise InvalidArgument(f"max_attempts must be >= 1, got {max_attempts}")
        if not isinstance(seeds, Mapping):
            raise InvalidArgument(
                f"Expected a mapping api -> records but got seeds={seeds!r} "
                f"(type={type(seeds).__name__})"
            )
        ops = tuple(default_operators() if operators is None else operators)
        names = [op.name for op in ops]
        if len(set(names)) != len(names):
            raise InvalidArgument(f"operator names repeat: {sorted(names)}")
        for op in ops:
            if not isinstance(op, Operator) or op.family not in FAMILIES:
                raise InvalidArgument(f"not an operator of a known family: {op!r}")
        self.seed = seed
        self.max_elements = max_elements
        self.max_attempts = max_attempts
        self.operators = ops
        self._by_name = {op.name: op for op in ops}
        # Tallies over every API: the prior of an API's own (Note [Validity feedback]).
        self._all_families: dict[str, _Tally] = {}
        self._all_operators: dict[str, _Tally] = {}
        sigs = dict(signatures or {})
        self._states: dict[str, _ApiState] = {}
        for api, records in seeds.items():
            recs = tuple(records)
            for r in recs:
                if not isinstance(r, CallRecord):
                    raise InvalidArgument(f"seeds[{api!r}] holds {r!r}, not a CallRecord")
            self._states[api] = _ApiState(
                recs, tuple(r.occurrences for r in recs), frozenset(r.id for r in recs)
            )
        self.context = MutationContext(
            signatures=sigs,
            pool=BorrowPool.build({a: s.seeds for a, s in self._states.items()}, sigs),
            max_elements=max_elements,
            has_api=has_api if has_api is not None else (lambda name: False),
            schemas=dict(schemas or {}),
        )

    # -- generation ----------------------------------------------------------

    def apis(self) -> tuple[str, ...]:
        """The APIs with seed records, in the order given."""
        return tuple(self._states)

    def mutants(self, api: str, start: int, count: int) -> list[Mutant]:
        """Mutants number ``start`` to ``start + count - 1`` of ``api``
        (fewer when some index yields nothing; none for an API without
        seeds)."""
        _check_type(int, start, "start")
        _check_type(int, count, "count")
        if start < 0 or count < 0:
            raise InvalidArgument(f"start and count must be >= 0, got {start}, {count}")
        state = self._states.get(api)
        if state is None or not state.seeds:
            return []
        out = []
        for i in range(start, start + count):
            m = self._mutant(api, state, i)
            if m is None:
                state.missed += 1
            else:
                state.produced += 1
                out.append(m)
        return out

    def _rng(self, api: str, index: int) -> random.Random:
        key = f"seamfuzz.mutator\0{self.seed}\0{api}\0{index}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:16], "big"))

    def _mutant(self, api: str, state: _ApiState, index: int) -> Mutant | None:
        rng = self._rng(api, index)
        for _ in range(self.max_attempts):
            base, root, generation = self._parent(state, rng)
            steps = rng.choices(STEPS, STEP_WEIGHTS)[0]
            record, applied = base, []
            for _ in range(steps):
                step = self._step(state, record, rng)
                if step is None:
                    break
                name, record = step
                applied.append(name)
            if not applied or record.id == base.id or record.id in state.seed_ids:
                continue
            owner = state.seen.get(record.id)
            if owner is not None and owner[0] != index:
                continue
            # A mutant is a new call: where its seed was seen is not its own.
            record = dataclasses.replace(record, occurrences=1, provenance=())
            state.seen[record.id] = (index, root, generation + 1)
            return Mutant(record, tuple(applied), root, base.id, index)
        return None

    def _parent(self, state: _ApiState, rng: random.Random) -> tuple[CallRecord, str, int]:
        if state.reuse and rng.random() < REUSE:
            return rng.choice(list(state.reuse))
        rec = rng.choices(state.seeds, state.seed_weights)[0]
        return rec, rec.id, 0

    def _step(
        self, state: _ApiState, record: CallRecord, rng: random.Random
    ) -> tuple[str, CallRecord] | None:
        """One operator applied to ``record``: a family drawn by weight,
        then an operator of it; inapplicable ones are set aside."""
        remaining = list(self.operators)
        while remaining:
            families = list(dict.fromkeys(op.family for op in remaining))
            fam_weights = [state.families.get(f, _Tally()).weight(
                self._all_families.get(f)) for f in families]
            family = rng.choices(families, fam_weights)[0]
            ops = [op for op in remaining if op.family == family]
            op_weights = [state.operators.get(op.name, _Tally()).weight(
                self._all_operators.get(op.name)) for op in ops]
            op = rng.choices(ops, op_weights)[0]
            out = op.apply(record, rng, self.context)
            if out is not None:
                return op.name, out
            remaining.remove(op)
        return None

    # -- feedback -------------------------------------------------------------

    def observe(
        self, api: str, operators: Sequence[str], valid: bool,
        record: CallRecord | None = None,
    ) -> None:
        """Report whether the reference mode accepted a mutant of ``api``
        made with ``operators`` (:attr:`Mutant.operators`).  A valid
        mutant's ``record``, when given, may become a parent of later
        mutants (Note [Validity feedback])."""
        state = self._states.get(api)
        if state is None:
            raise InvalidArgument(f"no seed records for API {api!r}")
        unknown = [n for n in operators if n not in self._by_name]
        if unknown:
            raise InvalidArgument(
                f"unknown operators {unknown}; known: {', '.join(sorted(self._by_name))}"
            )
        valid = bool(valid)
        state.observed += 1
        state.valid += valid
        for name in operators:
            family = self._by_name[name].family
            for table, key in ((state.operators, name), (state.families, family),
                               (self._all_operators, name), (self._all_families, family)):
                tally = table.setdefault(key, _Tally())
                tally.tried += 1
                tally.valid += valid
        if valid and record is not None:
            _, root, generation = state.seen.get(record.id, (-1, record.id, 1))
            if generation < MAX_GENERATIONS and all(r.id != record.id for r, _, _ in state.reuse):
                state.reuse.append((record, root, generation))

    def valid_rate(self, api: str) -> float | None:
        """The fraction of observed mutants of ``api`` that were valid
        (None before any was observed)."""
        state = self._states.get(api)
        if state is None or not state.observed:
            return None
        return state.valid / state.observed

    def stats(self) -> tuple[ApiStats, ...]:
        """Per-API statistics, APIs in the order given."""
        out = []
        for api, s in self._states.items():
            fams = tuple(
                OperatorStats(f, f, t.tried, t.valid)
                for f in FAMILIES if (t := s.families.get(f)) is not None
            )
            ops = tuple(
                OperatorStats(op.name, op.family, t.tried, t.valid)
                for op in self.operators if (t := s.operators.get(op.name)) is not None
            )
            out.append(ApiStats(api, s.produced, s.missed, s.observed, s.valid, fams, ops))
        return tuple(out)
