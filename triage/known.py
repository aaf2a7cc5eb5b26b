"""Known issues: clusters a user has already looked at.

A TOML file lists known bugs (reported upstream, or accepted) so that a
report shows them apart from the new ones.  A known cluster is *shown*, in
its own section with the reason and link, never dropped: a known bug that
stops appearing is news too.

Format::

    # known.toml
    [[known]]
    reason = "inductor promotes cumsum of bool to int64 differently"
    link = "https://github.com/pytorch/pytorch/issues/00000"
    api = "torch.cumsum"                 # fnmatch glob over the API name
    target = "torch.compile*"            # glob over the target mode spec
    kind = "dtype"                       # a breaking verdict kind

    [[known]]
    reason = "XLA rejects dynamic shapes here"
    api = "tf.*"
    target = "tf.xla*"
    message = "must be a compile-time constant"   # regex

    [[known]]
    reason = "seen in campaign 3"
    signature = "3f2a9c0d1e4b"           # an exact cluster id

Each ``[[known]]`` entry needs ``reason`` (a non-empty string) and at least
one matcher; ``link`` is optional.  The matchers, all optional and all
required to match when given:

``signature``
    The cluster id (signature key), exactly.
``api``
    An :func:`fnmatch.fnmatchcase` glob over the API name as recorded (the
    public alias, ``tf.math.cumsum``, ``torch.Tensor.sum``).
``reference``, ``target``
    Globs over the mode specs (``torch.compile:backend=aot_eager``).
``kind``
    One of ``value``, ``status``, ``dtype``, ``shape``, ``crash``,
    ``timeout``.
``message``
    A regular expression (:func:`re.search`) tried on the signature's
    normalized message and on the representative's raw verdict detail.

Entries match a :class:`KnownSubject`: the few facts of a cluster they
look at.  A fresh :class:`~triage.cluster.Cluster` and a stored
:class:`~triage.report.ClusterRow` both give one (``known_subject()``), so
``seamfuzz triage`` and ``seamfuzz report --known`` match alike.

The first entry that matches a cluster, in file order, is the one shown.
Any other key, a bad glob type, a bad regular expression or a missing
reason is an :class:`~infra.errors.InvalidArgument` naming the file and the
entry number (1-based).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Protocol, TypeVar

from infra.errors import InvalidArgument
from triage.signature import BREAKING_KINDS

__all__ = ["HasKnownSubject", "KnownEntry", "KnownIssues", "KnownSubject", "load_known",
           "parse_known"]


@dataclass(frozen=True, slots=True)
class KnownSubject:
    """What a known-issues entry looks at in a cluster."""

    #: The cluster id (signature key).
    id: str
    #: The API name as recorded.
    api: str
    #: Reference mode spec.
    reference: str
    #: Target mode spec.
    target: str
    #: The verdict kind.
    kind: str
    #: The signature's normalized message.
    message: str = ""
    #: The representative's raw verdict detail.
    detail: str = ""


class HasKnownSubject(Protocol):
    """A cluster record that can say what known issues look at."""

    def known_subject(self) -> KnownSubject: ...


_C = TypeVar("_C", bound=HasKnownSubject)


def subject_of(c: KnownSubject | HasKnownSubject) -> KnownSubject:
    """The :class:`KnownSubject` of a cluster record (or the subject itself)."""
    if isinstance(c, KnownSubject):
        return c
    return c.known_subject()


_MATCHERS = ("signature", "api", "reference", "target", "kind", "message")
_KEYS = frozenset(("reason", "link") + _MATCHERS)


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """One ``[[known]]`` entry: why it is known, and what it matches."""

    #: Why the cluster is known (shown in the report).
    reason: str
    #: Where to read more (an issue URL); may be empty.
    link: str = ""
    #: Exact signature key, or "" for any.
    signature: str = ""
    #: Globs; "" for any.
    api: str = ""
    reference: str = ""
    target: str = ""
    #: Exact verdict kind, or "" for any.
    kind: str = ""
    #: Regular expression, or "" for any.
    message: str = ""
    #: 1-based position in the file (for messages).
    number: int = 0
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False,
                                              compare=False)

    def __post_init__(self) -> None:
        if self.message:
            try:
                regex = re.compile(self.message)
            except re.error as exc:
                raise InvalidArgument(f"bad message regex {self.message!r}: {exc}") from None
            object.__setattr__(self, "_regex", regex)

    def matches(self, c: KnownSubject | HasKnownSubject) -> bool:
        """True when every matcher this entry gives matches the cluster."""
        c = subject_of(c)
        if self.signature and self.signature != c.id:
            return False
        if self.api and not fnmatchcase(c.api, self.api):
            return False
        if self.reference and not fnmatchcase(c.reference, self.reference):
            return False
        if self.target and not fnmatchcase(c.target, self.target):
            return False
        if self.kind and self.kind != c.kind:
            return False
        if self._regex is not None:
            texts = (c.message, c.detail)
            if not any(self._regex.search(t) for t in texts):
                return False
        return True


@dataclass(frozen=True, slots=True)
class KnownIssues:
    """The entries of a known-issues file, in file order."""

    entries: tuple[KnownEntry, ...] = ()
    #: The file they came from ("" when built in memory).
    source: str = ""

    def match(self, c: KnownSubject | HasKnownSubject) -> KnownEntry | None:
        """The first entry that matches a cluster, or None."""
        subject = subject_of(c)
        for entry in self.entries:
            if entry.matches(subject):
                return entry
        return None

    def split(self, clusters: Iterable[_C]) -> tuple[list[_C], list[tuple[_C, KnownEntry]]]:
        """(new clusters, known clusters with their entries), each in the
        given order."""
        new: list[_C] = []
        known: list[tuple[_C, KnownEntry]] = []
        for c in clusters:
            entry = self.match(c)
            if entry is None:
                new.append(c)
            else:
                known.append((c, entry))
        return new, known

    def __len__(self) -> int:
        return len(self.entries)


def _entry(raw: Any, number: int, where: str) -> KnownEntry:
    def fail(why: str) -> InvalidArgument:
        return InvalidArgument(f"{where}: [[known]] entry {number}: {why}")

    if not isinstance(raw, dict):
        raise fail(f"expected a table, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)} "
                   f"(allowed: {', '.join(sorted(_KEYS))})")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise fail(f"{key} must be a string, got {type(value).__name__}")
    reason = raw.get("reason", "").strip()
    if not reason:
        raise fail("missing reason (every known issue says why it is known)")
    if not any(raw.get(k) for k in _MATCHERS):
        raise fail(f"no matcher: give at least one of {', '.join(_MATCHERS)}")
    kind = raw.get("kind", "")
    if kind and kind not in BREAKING_KINDS:
        raise fail(f"kind {kind!r} is not one of {', '.join(BREAKING_KINDS)}")
    try:
        return KnownEntry(
            reason=reason,
            link=raw.get("link", "").strip(),
            signature=raw.get("signature", "").strip(),
            api=raw.get("api", ""),
            reference=raw.get("reference", ""),
            target=raw.get("target", ""),
            kind=kind,
            message=raw.get("message", ""),
            number=number,
        )
    except InvalidArgument as exc:
        raise fail(str(exc)) from None


def parse_known(text: str, source: str = "<known issues>") -> KnownIssues:
    """Parse the TOML text of a known-issues file (see the module
    docstring); ``source`` names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(doc) - {"known"})
    if extra:
        raise InvalidArgument(
            f"{source}: unknown top-level key(s) {', '.join(extra)}; "
            f"entries are [[known]] tables"
        )
    raw = doc.get("known", [])
    if not isinstance(raw, list):
        raise InvalidArgument(f"{source}: 'known' must be an array of tables ([[known]])")
    return KnownIssues(tuple(_entry(r, i, source) for i, r in enumerate(raw, 1)), source)


def load_known(path: str | Path) -> KnownIssues:
    """Load a known-issues TOML file; raises InvalidArgument for a missing,
    unreadable or malformed file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read known-issues file {p}: {exc}") from None
    return parse_known(text, str(p))
