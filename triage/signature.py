"""Signatures: what makes two discrepancies "the same bug".

A :class:`Finding` is one breaking verdict on one case and one boundary, as
plain data (the command layer builds it from the campaign store).
:func:`signature` reduces it to the parts that stay the same when the same
bug is hit by different inputs, and hashes them into a short, stable
:attr:`Signature.key`.  Findings with equal keys form one cluster
(:mod:`triage.cluster`).

The parts of a signature:

``api``
    The public API name, as recorded.
``boundary``
    ``"REFERENCE -> TARGET"`` (mode specs).
``kind``
    The verdict kind: ``value``, ``status``, ``dtype``, ``shape``, ``crash``
    or ``timeout``.
``side``
    Which side raised, crashed or hung: ``"target"`` (the usual case),
    ``"reference"`` (the target accepts an input the reference rejects), or
    ``""`` when neither did.
``error_type``
    That side's qualified exception type; ``"crash"`` or ``"timeout"`` for a
    dead or hung worker.
``message``
    That side's error message through :func:`normalize_message` (a crash:
    the signal name, ``SIGSEGV``, or ``exit status 1``; a timeout: empty).
``location``
    ``"output"`` or ``"mutated"``: whether the first difference is in the
    returned value or in an input the call mutated in place; ``""`` when the
    verdict has no output path (status, crash, timeout).
``pattern``
    Sorted tags describing the difference, from the vocabulary below.
``family``
    The dtype family of the reference's output at the differing path (of its
    whole output when there is no path): ``float``, ``int``, ``bool``,
    ``complex``, ``other`` (strings, None, opaque objects), ``mixed`` (a
    container of several families), or ``""`` when nothing was returned.
``dtypes``
    DTYPE verdicts only: the reference's and the target's dtype names at the
    path (``python_float``, ``python_int``, ... for Python scalars, ``None``,
    ``list``/``tuple``/``mapping``/``opaque:<type>`` for other nodes).

Pattern vocabulary (a value can carry several tags):

VALUE verdicts, floating point and complex (complex values are compared per
component).  Elements are *differing* when they fail the contract's default
tolerance for their dtype (NaN equals NaN here):

- ``nan-mismatch``: NaN positions differ;
- ``inf-mismatch``: among elements NaN on neither side, infinities differ in
  position or sign;
- ``sign``: a differing finite element has opposite signs on the two sides;
- ``precision-drift``: differing finite elements all have a relative error
  ``|target - ref| / max(|ref|, 1e-6)`` below :data:`DRIFT_LIMIT` (1e-2), or
  none fails the default tolerance but some are not equal (the contract
  used a tighter per-API tolerance);
- ``large``: some differing finite element is beyond that.

VALUE verdicts, integers and booleans (compared exactly):

- ``int-mismatch``: integer elements differ; with ``off-by-one`` when every
  differing element is off by exactly one, and ``sign`` as above;
- ``bool-mismatch``: boolean elements differ.

Other VALUE tags: ``other-mismatch`` (strings, None, ...),
``one-sided-mutation`` (only one side mutated an argument), and
``incomparable`` (the two leaves could not be found, decoded, or have
different shapes: the signature still forms, from the other parts).

SHAPE verdicts: ``rank-change`` (tensor ranks differ), ``size-change`` (same
rank, other sizes), ``length`` (sequence lengths differ), ``keys`` (mapping
keys differ), ``structure`` (a leaf against a container, a sequence against a
mapping), or ``incomparable``.

Note [What is left out of a signature]
    The case's shapes, values, seed and argument list are left out on
    purpose: they differ between inputs that hit the same bug, and the
    shrinker changes them.  Numbers inside messages go for the same reason
    (:func:`normalize_message`).  Signatures never raise: a missing,
    opaque or malformed leaf yields fewer parts, not an exception.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from miner.records import CallRecord
from runner.contract import DEFAULT_TOLERANCES
from runner.observation import (
    ArrayLeaf,
    MapNode,
    Node,
    Observation,
    OpaqueLeaf,
    Outcome,
    ScalarLeaf,
    SeqNode,
    dtype_category,
)

__all__ = [
    "BREAKING_KINDS",
    "DRIFT_LIMIT",
    "MAX_MESSAGE",
    "Finding",
    "Signature",
    "crash_reason",
    "leaf_at",
    "node_family",
    "normalize_message",
    "normalize_reason",
    "signature",
    "summarize_parts",
    "value_pattern",
]

#: The verdict kinds a :class:`Finding` may carry (the contract's breaking
#: kinds, as strings).
BREAKING_KINDS = ("value", "status", "dtype", "shape", "crash", "timeout")

#: Normalized messages are cut to this many characters.
MAX_MESSAGE = 200

#: Largest relative error still called ``precision-drift``.
DRIFT_LIMIT = 1e-2

# A floor for the relative error's denominator, so a reference of 0 does not
# divide by zero (and a target of 1e-3 there counts as large).
_REL_FLOOR = 1e-6


@dataclass(frozen=True, slots=True)
class Finding:
    """One breaking verdict: a case on a boundary, with both observations."""

    #: The case's content hash in the campaign store.
    case_id: str
    #: Public API name (``torch.cumsum``).
    api: str
    #: ``torch`` or ``tensorflow``.
    framework: str
    #: The call, as run (the mutated record, not the mined one).
    record: CallRecord
    #: The case's seed.
    seed: int
    #: Reference mode spec (``torch.eager``).
    reference: str
    #: Target mode spec (``torch.compile:backend=aot_eager``).
    target: str
    #: A breaking verdict kind: one of :data:`BREAKING_KINDS`.
    kind: str
    #: The verdict's detail line.
    detail: str
    #: Where in the output tree the sides differ (``""``, ``[0]``,
    #: ``mutated[1]``).
    path: str
    #: What the reference observed.
    ref_obs: Observation
    #: What the target observed.
    tgt_obs: Observation

    def __post_init__(self) -> None:
        kind = str(getattr(self.kind, "value", self.kind))  # accept a VerdictKind
        if kind not in BREAKING_KINDS:
            raise ValueError(f"a finding needs a breaking verdict kind "
                             f"({', '.join(BREAKING_KINDS)}), got {kind!r}")
        object.__setattr__(self, "kind", kind)

    @property
    def boundary(self) -> str:
        """``"REFERENCE -> TARGET"``."""
        return f"{self.reference} -> {self.target}"


@dataclass(frozen=True, slots=True)
class Signature:
    """The parts of a finding that identify its bug, and their hash; see the
    module docstring for what each part means."""

    #: Public API name.
    api: str
    #: ``"REFERENCE -> TARGET"``.
    boundary: str
    #: The verdict kind.
    kind: str
    #: ``"target"``, ``"reference"`` or ``""``: which side raised, crashed
    #: or hung.
    side: str = ""
    #: That side's exception type, ``"crash"`` or ``"timeout"``.
    error_type: str = ""
    #: That side's message, normalized (a crash: its signal).
    message: str = ""
    #: ``"output"``, ``"mutated"`` or ``""``.
    location: str = ""
    #: Sorted tags from the pattern vocabulary.
    pattern: tuple[str, ...] = ()
    #: Dtype family of the reference's output at the path.
    family: str = ""
    #: DTYPE verdicts: (reference dtype, target dtype).
    dtypes: tuple[str, ...] = ()

    def parts(self) -> dict[str, Any]:
        """The parts as a JSON-able dict (lists for tuples)."""
        return {
            "api": self.api,
            "boundary": self.boundary,
            "kind": self.kind,
            "side": self.side,
            "error_type": self.error_type,
            "message": self.message,
            "location": self.location,
            "pattern": list(self.pattern),
            "family": self.family,
            "dtypes": list(self.dtypes),
        }

    @property
    def key(self) -> str:
        """12 hex digits of the SHA-256 of the canonical JSON of
        :meth:`parts`: stable across runs, machines and Python versions."""
        text = json.dumps(self.parts(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]

    def summary(self) -> str:
        """One line for humans: the error, or the pattern and dtypes."""
        return summarize_parts(self.parts())

    @classmethod
    def from_parts(cls, parts: Mapping[str, Any]) -> "Signature":
        """Inverse of :meth:`parts` (as stored in ``clusters.json`` and the
        campaign store); a missing part is empty.  Raises ValueError when
        ``parts`` is not a mapping."""
        if not isinstance(parts, Mapping):
            raise ValueError(f"signature parts must be a mapping, got {type(parts).__name__}")

        def text(key: str) -> str:
            v = parts.get(key)
            return "" if v is None else str(v)

        def texts(key: str) -> tuple[str, ...]:
            v = parts.get(key) or ()
            return (str(v),) if isinstance(v, str) else tuple(str(x) for x in v)

        return cls(api=text("api"), boundary=text("boundary"), kind=text("kind"),
                   side=text("side"), error_type=text("error_type"), message=text("message"),
                   location=text("location"), pattern=texts("pattern"), family=text("family"),
                   dtypes=texts("dtypes"))


def summarize_parts(parts: Mapping[str, Any]) -> str:
    """:meth:`Signature.summary` of a parts dict (as stored in
    ``clusters.json``); missing parts are skipped."""
    bits: list[str] = []
    error_type, side = str(parts.get("error_type") or ""), str(parts.get("side") or "")
    message = str(parts.get("message") or "")
    if error_type:
        err = f"{side} {error_type}" if side and side != "target" else error_type
        bits.append(f"{err}: {message}" if message else err)
    dtypes = [str(d) for d in parts.get("dtypes") or ()]
    if dtypes:
        bits.append(" vs ".join(dtypes))
    pattern = [str(p) for p in parts.get("pattern") or ()]
    if pattern:
        bits.append(", ".join(pattern))
    if parts.get("location") == "mutated":
        bits.append("in a mutated input")
    if not bits and parts.get("family"):
        bits.append(str(parts["family"]))
    return "; ".join(bits)


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------

# Boilerplate that torch._dynamo and TF append to the real message.
_TAIL_MARKERS = (
    "Set TORCH_LOGS=",
    "You can suppress this exception",
    "from user code:",
    "For more information, run with",
    "Call stack:",
    "Stack trace for op definition",
)
_TRACEBACK_HEADER = re.compile(r"defined at \(most recent call last\):")
_FRAME = re.compile(r'^\s*File "[^"]*", line \d+(?:, in .*)?$')
_DEVICE = re.compile(r"/job:[\w:/]*?device:[A-Za-z_]+:\d+")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
_PATH = re.compile(
    r"""(?:^|(?<=[\s"'(=<\[]))"""                  # at a token start
    r"""(?:[A-Za-z]:\\|~?/|\.{1,2}/)"""             # C:\ or / or ./ or ~/
    r"""[^\s"'()<>\[\],;]+"""                       # the rest of the path
)
_LINE = re.compile(r"\b(line|lineno|Line)\s*[:=]?\s*\d+")
_QUOTED_SUFFIX = re.compile(r"""(['"`])([A-Za-z_][\w.]*?)(_?)\d+\1""")
# dtype names end in digits too, and must stay (float32, int8, complex64).
_DTYPE_NAME = re.compile(r"(?:torch\.|tf\.|np\.)?(?:b?float|u?int|complex|q?u?int|bool)\d*\w*")
_ID_SUFFIX = re.compile(r"\b([A-Za-z_]\w*?)_\d+\b")
_DIM = r"(?:-?\d+|None|\?)"
_DIMS = rf"\s*(?:{_DIM}\s*(?:,\s*{_DIM}\s*)*,?)?\s*"
_SHAPE_LIST = re.compile(
    rf"(?:torch\.Size|TensorShape)\(\[{_DIMS}\]\)"
    rf"|(?<!\w)\[{_DIMS}\]|(?<!\w)\({_DIMS}\)"
)
_SHAPE_X = re.compile(r"(?<![\w.])\d+(?:\s*x\s*\d+)+(?![\w.])")
_VERSION = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w])")
_NUMBER = re.compile(r"(?<![\w.<])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w<])")
_SPACE = re.compile(r"\s+")
# Symbolic sizes of torch's shape environment (s0, u1, zuf0, zf49) and the
# symbolic expression of a fake tensor's size, both of which vary by input.
_SYMBOL = re.compile(r"\b(?:zuf|zf|zu|u|s)\d+\b")
_FAKE_SIZE = re.compile(r"size=\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")
# An index or a run of numbers (indices[0,0,1]) once numbers are <n>.
_NUMBER_RUN = re.compile(r"<n>(?:\s*,\s*<n>)+")


def normalize_message(text: str) -> str:
    """An error message with what varies between inputs taken out.

    Dropped: Python traceback frames (``File "...", line N, in f``) and the
    boilerplate torch._dynamo and TF append (``Set TORCH_LOGS=...``, ``You can
    suppress this exception ...``, ``from user code:``).  Replaced: TF device
    strings by ``<device>``, hex addresses by ``<addr>``, file paths by
    ``<path>``, line numbers by ``line <n>``, shapes (``[2, 3]``, ``(2,3)``,
    ``torch.Size([2, 3])``, ``2x3``) by ``<shape>``, numeric suffixes of
    identifiers (``add_3``, ``'buf0'``) by ``<n>``, symbolic sizes (``s0``,
    ``u1``, ``zuf0``) by ``<sym>`` and a fake tensor's symbolic
    ``size=(...)`` by ``size=<shape>``, other numbers by ``<n>`` (a run of
    them, ``indices[0,1]``, by ``<n>,...``).  Whitespace is collapsed and the result cut to :data:`MAX_MESSAGE`
    characters.  Numbers inside names (``float32``, ``conv2d``) stay.
    """
    if not text:
        return ""
    text = str(text)
    for marker in _TAIL_MARKERS:
        cut = text.find(marker)
        if cut > 0:
            text = text[:cut]
    lines = []
    frame_indent = -1  # the indent of the frame line just dropped
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if _FRAME.match(line):
            frame_indent = indent
            continue
        if frame_indent >= 0 and indent > frame_indent and line.strip():
            continue  # the frame's source line
        frame_indent = -1
        if line.strip() == "in user code:":  # tf.function's header of its frames
            continue
        lines.append(_TRACEBACK_HEADER.sub("", line))
    text = "\n".join(lines)
    text = _DEVICE.sub("<device>", text)
    text = _ADDRESS.sub("<addr>", text)
    text = _PATH.sub("<path>", text)
    text = _LINE.sub(lambda m: f"{m.group(1)} <n>", text)
    text = _QUOTED_SUFFIX.sub(_quoted_suffix, text)
    text = _ID_SUFFIX.sub(lambda m: f"{m.group(1)}_<n>", text)
    text = _FAKE_SIZE.sub("size=<shape>", text)
    text = _SYMBOL.sub("<sym>", text)
    text = _SHAPE_LIST.sub(_shape_or_keep, text)
    text = _SHAPE_X.sub("<shape>", text)
    text = _VERSION.sub("<n>", text)
    text = _NUMBER.sub("<n>", text)
    text = _NUMBER_RUN.sub("<n>,...", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3].rstrip() + "..."
    return text


def _quoted_suffix(m: re.Match[str]) -> str:
    q, name, sep = m.group(1), m.group(2), m.group(3)
    whole = m.group(0)[1:-1]
    if _DTYPE_NAME.fullmatch(whole):
        return m.group(0)
    return f"{q}{name}{sep}<n>{q}"


def _shape_or_keep(m: re.Match[str]) -> str:
    # "()" and "[]" alone are usually a call or an empty list, not a shape;
    # "torch.Size([])" is a shape.
    s = m.group(0)
    if not any(c.isdigit() or c == "?" for c in s) and "None" not in s:
        return "<shape>" if s.startswith(("torch.Size", "TensorShape")) else s
    return "<shape>"


def normalize_reason(detail: str) -> str:
    """A verdict's detail line reduced to its reason, so that the verdicts the
    contract set aside (``invalid``, ``unsupported``, ...) group by why: the
    error types and words stay, numbers, shapes, paths, addresses and
    identifier suffixes go, as in :func:`normalize_message`; a signal number
    becomes its name (``killed by signal 11`` -> ``killed by SIGSEGV``)."""
    if not detail:
        return ""
    named = re.sub(r"signal\s+(-?\d+)", _signal_name, str(detail))
    return normalize_message(named)


def _signal_name(m: re.Match[str]) -> str:
    try:
        return signal.Signals(abs(int(m.group(1)))).name
    except ValueError:
        return m.group(0)


def crash_reason(detail: str) -> str:
    """A crash's detail reduced to its cause: the signal's name
    (``killed by signal 11`` -> ``SIGSEGV``), ``exit status N`` (exit codes
    are few and meaningful, so the number stays), else the normalized
    detail."""
    m = re.search(r"signal\s+(?:(SIG[A-Z0-9]+)|(-?\d+))", detail or "")
    if m:
        if m.group(1):
            return m.group(1)
        num = abs(int(m.group(2)))
        try:
            return signal.Signals(num).name
        except ValueError:
            return f"signal {num}"
    m = re.search(r"exit (?:status|code)\s*(-?\d+)", detail or "")
    if m:
        return f"exit status {int(m.group(1))}"
    return normalize_message(detail)


# ---------------------------------------------------------------------------
# Output-tree helpers
# ---------------------------------------------------------------------------

_STEP = re.compile(
    r"""\[(?P<index>\d+)\]"""
    r"""|\[(?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]"""
    r"""|\.(?P<attr>[A-Za-z_]\w*)"""
)


def _steps(path: str) -> list[int | str] | None:
    out: list[int | str] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            return None
        if m.group("index") is not None:
            out.append(int(m.group("index")))
        elif m.group("quoted") is not None:
            try:
                out.append(str(ast.literal_eval(m.group("quoted"))))
            except (ValueError, SyntaxError):
                return None
        else:
            out.append(m.group("attr"))
        pos = m.end()
    return out


def leaf_at(obs: Observation, path: str) -> Node | None:
    """The node at a verdict path (``""``, ``[0].values``, ``['k']``,
    ``mutated[1][0]``) in an observation, or None when the observation has no
    such node or the path does not parse."""
    try:
        if path.startswith("mutated["):
            m = re.match(r"mutated\[(\d+)\]", path)
            if m is None:
                return None
            node: Node | None = dict(obs.mutated).get(int(m.group(1)))
            path = path[m.end():]
        else:
            node = obs.output
        steps = _steps(path)
        if steps is None:
            return None
        for step in steps:
            if isinstance(node, SeqNode) and isinstance(step, int):
                node = node.items[step] if step < len(node.items) else None
            elif isinstance(node, MapNode) and isinstance(step, str):
                node = dict(node.items).get(step)
            else:
                return None
        return node
    except (TypeError, AttributeError, IndexError):  # a malformed observation
        return None


def _scalar_family(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    return "other"


def _leaves(node: Node) -> Iterator[Node]:
    if isinstance(node, SeqNode):
        for item in node.items:
            yield from _leaves(item)
    elif isinstance(node, MapNode):
        for _, item in node.items:
            yield from _leaves(item)
    else:
        yield node


def node_family(node: Node | None) -> str:
    """The dtype family of a node: ``float``, ``int``, ``bool``, ``complex``,
    ``other``, ``mixed`` (a container of several), or ``""`` for None."""
    if node is None:
        return ""
    families = set()
    for leaf in _leaves(node):
        if isinstance(leaf, ArrayLeaf):
            try:
                families.add(dtype_category(leaf.dtype))
            except ValueError:
                families.add("other")
        elif isinstance(leaf, ScalarLeaf):
            families.add(_scalar_family(leaf.value))
        else:
            families.add("other")
    if not families:
        return "other"
    return families.pop() if len(families) == 1 else "mixed"


def _type_name(node: Node | None) -> str:
    if node is None:
        return "missing"
    if isinstance(node, ArrayLeaf):
        return node.dtype
    if isinstance(node, ScalarLeaf):
        return "None" if node.value is None else f"python_{type(node.value).__name__}"
    if isinstance(node, SeqNode):
        return "tuple" if node.kind.startswith("namedtuple:") else node.kind
    if isinstance(node, MapNode):
        return "mapping"
    if isinstance(node, OpaqueLeaf):
        return f"opaque:{node.type_name}"
    return "unknown"


# ---------------------------------------------------------------------------
# Value patterns
# ---------------------------------------------------------------------------


def _as_array(node: Node | None) -> tuple[np.ndarray, str] | None:
    """(values, family) of a leaf; None when it holds no numbers."""
    if isinstance(node, ArrayLeaf):
        try:
            family = dtype_category(node.dtype)
            arr = node.to_numpy()
        except ValueError:
            return None
        if family == "float":
            arr = arr.astype(np.float64)
        elif family == "complex":
            arr = arr.astype(np.complex128)
        return arr, family
    if isinstance(node, ScalarLeaf):
        family = _scalar_family(node.value)
        if family == "other":
            return None
        return np.asarray(node.value), family
    return None


def _tolerance(node: Node | None) -> tuple[float, float]:
    name = node.dtype if isinstance(node, ArrayLeaf) else "python_float"
    try:
        return DEFAULT_TOLERANCES.get(name)
    except ValueError:
        return DEFAULT_TOLERANCES.get("python_float")


def _float_tags(r: np.ndarray, t: np.ndarray, rtol: float, atol: float) -> set[str]:
    tags: set[str] = set()
    rn, tn = np.isnan(r), np.isnan(t)
    if np.any(rn != tn):
        tags.add("nan-mismatch")
    both = ~rn & ~tn
    ri, ti = np.isinf(r) & both, np.isinf(t) & both
    if np.any((ri != ti) | (ri & ti & (np.sign(r) != np.sign(t)))):
        tags.add("inf-mismatch")
    finite = both & ~np.isinf(r) & ~np.isinf(t)
    rf, tf = r[finite], t[finite]
    with np.errstate(all="ignore"):
        diff = np.abs(tf - rf)
        differing = diff > atol + rtol * np.abs(rf)
        if np.any(differing):
            rd, td = rf[differing], tf[differing]
            if np.any(rd * td < 0):
                tags.add("sign")
            rel = diff[differing] / np.maximum(np.abs(rd), _REL_FLOOR)
            tags.add("precision-drift" if float(np.max(rel)) < DRIFT_LIMIT else "large")
        elif np.any(diff > 0):  # failed a tighter per-API tolerance only
            tags.add("precision-drift")
    return tags


def value_pattern(ref: Node | None, tgt: Node | None) -> tuple[str, ...]:
    """The sorted pattern tags of a VALUE difference between two leaves (see
    the module docstring); ``("incomparable",)`` when they cannot be
    compared.  Never raises."""
    try:
        return tuple(sorted(_value_tags(ref, tgt)))
    except (ValueError, TypeError, OverflowError, ArithmeticError):
        return ("incomparable",)


def _value_tags(ref: Node | None, tgt: Node | None) -> set[str]:
    if (isinstance(ref, ScalarLeaf) and isinstance(tgt, ScalarLeaf)
            and "other" in (_scalar_family(ref.value), _scalar_family(tgt.value))):
        return {"other-mismatch"}
    a, b = _as_array(ref), _as_array(tgt)
    if a is None or b is None:
        return {"incomparable"}
    (r, rfam), (t, tfam) = a, b
    if r.shape != t.shape:
        return {"incomparable"}
    if rfam == "bool" and tfam == "bool":
        return {"bool-mismatch"} if np.any(r != t) else set()
    if rfam in ("int", "bool") and tfam in ("int", "bool"):
        r, t = r.astype(object), t.astype(object)  # exact, no overflow
        differing = r != t
        if not np.any(differing):
            return set()
        tags = {"int-mismatch"}
        rd, td = r[differing], t[differing]
        if all(abs(x - y) == 1 for x, y in zip(rd.tolist(), td.tolist())):
            tags.add("off-by-one")
        if any(x * y < 0 for x, y in zip(rd.tolist(), td.tolist())):
            tags.add("sign")
        return tags
    rtol, atol = _tolerance(ref)
    if np.iscomplexobj(r) or np.iscomplexobj(t):
        r, t = r.astype(np.complex128), t.astype(np.complex128)
        return (_float_tags(r.real, t.real, rtol, atol)
                | _float_tags(r.imag, t.imag, rtol, atol))
    return _float_tags(r.astype(np.float64), t.astype(np.float64), rtol, atol)


def _shape_pattern(ref: Node | None, tgt: Node | None) -> tuple[str, ...]:
    if isinstance(ref, ArrayLeaf) and isinstance(tgt, ArrayLeaf):
        if len(ref.shape) != len(tgt.shape):
            return ("rank-change",)
        return ("size-change",)
    if isinstance(ref, SeqNode) and isinstance(tgt, SeqNode):
        return ("length",)
    if isinstance(ref, MapNode) and isinstance(tgt, MapNode):
        return ("keys",)
    if ref is None or tgt is None:
        return ("incomparable",)
    return ("structure",)


# ---------------------------------------------------------------------------
# signature
# ---------------------------------------------------------------------------


def _raised(obs: Observation) -> bool:
    # A declared limit (UNSUPPORTED with an exception) counts as raising, as
    # the contract counts it on the reference side.
    return obs.outcome is Outcome.RAISED or (obs.outcome is Outcome.UNSUPPORTED
                                             and bool(obs.error_type))


def _error_side(f: Finding) -> tuple[str, str, str]:
    """(side, error_type, normalized message) of whichever side failed."""
    for side, obs in (("target", f.tgt_obs), ("reference", f.ref_obs)):
        if obs.outcome is Outcome.CRASHED:
            return side, "crash", crash_reason(obs.detail)
        if obs.outcome is Outcome.TIMEOUT:
            return side, "timeout", ""
    ref_raised, tgt_raised = _raised(f.ref_obs), _raised(f.tgt_obs)
    if tgt_raised and not ref_raised:
        return "target", f.tgt_obs.error_type or "error", normalize_message(
            f.tgt_obs.error_message)
    if ref_raised and not tgt_raised:
        return "reference", f.ref_obs.error_type or "error", normalize_message(
            f.ref_obs.error_message)
    if f.kind == "crash":
        return "target", "crash", crash_reason(f.detail)
    if f.kind == "timeout":
        return "target", "timeout", ""
    return "", "", ""


def signature(f: Finding) -> Signature:
    """The :class:`Signature` of a finding.  Never raises for a well-formed
    :class:`Finding`, whatever its observations hold."""
    side, error_type, message = _error_side(f)
    location = ""
    dtypes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    ref_node = tgt_node = None
    has_path = f.kind in ("value", "dtype", "shape")
    if has_path:
        location = "mutated" if f.path.startswith("mutated") else "output"
        ref_node, tgt_node = leaf_at(f.ref_obs, f.path), leaf_at(f.tgt_obs, f.path)
    if f.kind == "value":
        if location == "mutated" and (ref_node is None) != (tgt_node is None):
            tags = ("one-sided-mutation",)
        else:
            tags = value_pattern(ref_node, tgt_node)
    elif f.kind == "shape":
        tags = _shape_pattern(ref_node, tgt_node)
    elif f.kind == "dtype":
        if ref_node is not None and tgt_node is not None:
            dtypes = (_type_name(ref_node), _type_name(tgt_node))
        else:
            m = re.search(r"dtype (\S+) vs (\S+)", f.detail)
            dtypes = (m.group(1), m.group(2)) if m else ()
    family = node_family(ref_node if ref_node is not None else f.ref_obs.output)
    return Signature(
        api=f.api,
        boundary=f.boundary,
        kind=f.kind,
        side=side,
        error_type=error_type,
        message=message,
        location=location,
        pattern=tags,
        family=family,
        dtypes=dtypes,
    )
