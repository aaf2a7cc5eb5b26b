"""Corpus files and library docstrings, turned into code units.

The miner reads code; it never imports or runs it.  This module finds the
files of a corpus (:func:`discover`), reads each one (:func:`read_file`) and
either splits it into :class:`CodeUnit` s -- Python source text plus where it
came from -- or says why it cannot be mined: a :class:`Skipped` file is left
out on purpose, a :class:`Failed` one could not be read.  Parsing the units
and extracting calls is the extractor's job; nothing here parses Python.

A ``.py`` file is one unit.  A notebook gives a unit per code cell, a
Markdown file one per Python code fence, a reST file one per code directive
or Python-looking literal block plus one for all of its doctest examples,
and a library docstring (:func:`docstring_units`) one for its doctest
examples plus one per code block.

Note [Line numbers of units]
    A unit's line ``k`` is line ``first_line + k - 1`` of its file.  Units
    keep the line structure of their source: doctest prompts and expected
    output become blank lines rather than being cut out, and a replaced
    IPython line becomes ``pass`` at the same indentation, so a call found on
    unit line ``k`` maps back exactly.  Text put *before* the source (a
    prelude, see [Carried imports]) makes ``first_line`` smaller, possibly
    below 1; the prelude's own lines are imports, never calls.

    A notebook has no file lines.  Every cell is numbered on its own: line 1
    of a cell is pseudo-line 1 (``first_line`` is 1 less the prelude's
    length) and the cell is named in ``label`` ("cell 3", counting every
    cell, 1-based), so ``(label, line)`` is unique and reads like Jupyter.

Note [Carried imports]
    Notebooks, tutorials and docstrings import once and use the names in
    later cells or blocks.  Every unit but the first of a file therefore
    starts with the top-level, single-line import statements of the units
    before it, so that the extractor can still tell ``torch.abs`` from a
    local ``abs``.  A carried line matches a strict pattern of a complete
    ``import`` / ``from ... import`` statement (no ``;``, balanced
    parentheses, no ``__future__``), so it is valid wherever it is put.
    Docstring units also start with :data:`PRELUDES`, the imports the
    library's documentation takes for granted.

Note [The framework prefilter]
    :func:`mentions_framework` is a substring test for ``torch``,
    ``tensorflow`` and ``keras``.  The extractor keeps a call only when its
    qualified name comes from an import of ``torch`` or ``tensorflow``, and
    such an import spells the module name somewhere in the file (carried
    imports come from the same file), so the prefilter never drops a file
    the extractor could mine.

Note [IPython syntax]
    In notebook cells and in Markdown / reST / docstring blocks (never in a
    ``.py`` file), a line that starts a statement -- outside brackets,
    strings and backslash continuations, tracked by a small scanner -- and
    is IPython syntax (``%magic``, ``!shell``, ``?obj``, ``obj?``,
    ``x = !ls``, ``x = %time f()``) becomes ``<indent>pass``.  Such lines are
    never valid Python, so nothing valid is touched.  A block whose first
    line is a cell magic (``%%bash``) is dropped, except for the magics in
    :data:`PYTHON_CELL_MAGICS`, whose magic line is blanked.
"""

from __future__ import annotations

import doctest
import enum
import errno
import hashlib
import io
import json
import keyword
import os
import re
import stat
import textwrap
import tokenize
import traceback
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from infra.errors import InvalidArgument

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PRELUDES",
    "SOURCE_SUFFIXES",
    "CodeUnit",
    "FailReason",
    "Failed",
    "FileResult",
    "SkipReason",
    "Skipped",
    "Units",
    "discover",
    "docstring_units",
    "mentions_framework",
    "read_file",
]

#: Suffixes of the files :func:`discover` yields from a directory walk.
SOURCE_SUFFIXES = (".py", ".ipynb", ".md", ".markdown", ".rst")
#: Files larger than this are skipped unread.
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
#: A NUL byte this early in a text file means it is not text.
BINARY_SNIFF_BYTES = 8 * 1024
#: Directory names a walk never enters (besides hidden ones).  Installed
#: packages (``site-packages``) are walked: mining them is a use case.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
#: Fence info strings and directive arguments that mean Python.
PYTHON_LANGS = frozenset({"python", "py", "python3", "py3", "pycon", "ipython", "ipython3"})
#: Cell magics whose body is Python: only their magic line is dropped.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture"})
#: What each library's documentation assumes is imported.  TensorFlow's
#: ``tf.keras`` docstrings are Keras 3's, written against ``import keras``
#: (which the API index maps to the ``tf.keras`` names).
PRELUDES = {
    "torch": (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport numpy as np\n"
    ),
    "tensorflow": "import tensorflow as tf\nimport numpy as np\nimport keras\n",
}


class SkipReason(str, enum.Enum):
    """Why a file is not mined, on purpose."""

    #: Zero bytes, or only whitespace.
    EMPTY = "empty"
    #: Larger than the size limit (known from ``stat``, not by reading).
    TOO_LARGE = "too_large"
    #: Cannot mention torch or tensorflow (see [The framework prefilter]).
    NO_FRAMEWORK = "no_framework"
    #: Content already mined (decided by the caller from the content hash).
    UNCHANGED = "unchanged"
    #: A notebook or document without Python code, or a notebook whose
    #: kernel is not Python.
    NO_CODE = "no_code"


class FailReason(str, enum.Enum):
    """Why a file could not be mined."""

    #: Permission denied, not a regular file, a dangling link, another OSError.
    UNREADABLE = "unreadable"
    #: A symbolic link that resolves to itself (ELOOP), or a directory link
    #: back into a directory being walked.
    SYMLINK_LOOP = "symlink_loop"
    #: NUL bytes in the first 8 KiB of a text file.
    BINARY = "binary"
    #: Bytes not valid in the declared (PEP 263 cookie, BOM) or UTF-8 encoding.
    UNDECODABLE = "undecodable"
    #: A notebook whose JSON is broken or not shaped like nbformat 3 or 4.
    BAD_NOTEBOOK = "bad_notebook"
    #: The extractor could not parse a unit (set by the caller).
    SYNTAX_ERROR = "syntax_error"
    #: A syntax error in a file with Python 2 markers (set by the caller).
    PYTHON2 = "python2"
    #: Nesting too deep to parse (set by the caller).
    TOO_DEEP = "too_deep"
    #: A bug in the miner, caught at the per-file boundary.
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class CodeUnit:
    """A piece of Python source to parse on its own, and where it came from
    (see [Line numbers of units])."""

    #: Python source, ready for ``libcst.parse_module``.
    text: str
    #: ``"py"``, ``"ipynb"``, ``"md"``, ``"rst"`` or ``"docstring"``.
    origin: str
    #: The file line of the unit's line 1; below 1 when a prelude was added.
    first_line: int
    #: ``"cell 3"``, ``"block 2"``, ``"doctest"``, or the documented API.
    label: str = ""
    #: Docstring units: the canonical API whose docstring this is.
    context_api: str = ""


@dataclass(frozen=True, slots=True)
class Units:
    """A file read and split."""

    units: tuple[CodeUnit, ...]
    #: SHA-256 (hex) of the file's raw bytes.
    content_hash: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file left out on purpose."""

    reason: SkipReason
    #: A short human-readable explanation.
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    """A file that could not be mined."""

    reason: FailReason
    #: A short message: the OSError text, the JSON error position, ...
    detail: str = ""


FileResult = Units | Skipped | Failed


def mentions_framework(text: str) -> bool:
    """True when ``text`` can possibly use torch or tensorflow: it contains
    ``torch``, ``tensorflow`` or ``keras`` (see [The framework prefilter])."""
    return "torch" in text or "tensorflow" in text or "keras" in text


# ---------------------------------------------------------------------------
# Finding files
# ---------------------------------------------------------------------------


def discover(paths: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[str, str | Failed]]:
    """Yield ``(display path, real path or Failed)`` for every file to mine.

    A path given explicitly is yielded whatever its suffix.  A directory is
    walked depth first in sorted name order, following symbolic links, and
    yields files with a :data:`SOURCE_SUFFIXES` suffix.  Hidden entries
    (names starting with ``.``) and :data:`SKIPPED_DIRS` are not entered.  A
    directory met twice is walked once; a link back into a directory being
    walked yields one ``Failed(SYMLINK_LOOP)`` and is not followed.  A
    non-regular file (FIFO, socket, device) met in a walk is reported as
    ``Failed(UNREADABLE)`` without being opened.

    Raises FileNotFoundError for a top-level path that does not exist.
    """
    visited: set[tuple[int, int]] = set()
    for given in paths:
        top = os.fspath(given)
        try:
            st = os.stat(top)
        except FileNotFoundError:
            raise
        except OSError as exc:
            yield top, _os_failure(exc)
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(top, st, visited)
        else:
            yield top, os.path.realpath(top)


def _walk(
    top: str, top_stat: os.stat_result, visited: set[tuple[int, int]]
) -> Iterator[tuple[str, str | Failed]]:
    key = (top_stat.st_dev, top_stat.st_ino)
    if key in visited:
        return
    visited.add(key)
    # One frame per directory on the current path: its key and its entries.
    stack: list[tuple[tuple[int, int], Iterator[os.DirEntry[str]]]] = []
    on_path: dict[tuple[int, int], str] = {}

    def enter(path: str, key: tuple[int, int]) -> Failed | None:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            return _os_failure(exc)
        stack.append((key, iter(entries)))
        on_path[key] = path
        return None

    failure = enter(top, key)
    if failure is not None:
        yield top, failure
        return
    while stack:
        key, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            del on_path[key]
            continue
        name, path = entry.name, entry.path
        if name.startswith("."):
            continue
        is_source = os.path.splitext(name)[1].lower() in SOURCE_SUFFIXES
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP or is_source:
                yield path, _os_failure(exc, dangling=os.path.islink(path))
            continue
        if stat.S_ISDIR(st.st_mode):
            sub = (st.st_dev, st.st_ino)
            if name in SKIPPED_DIRS:
                continue
            if sub in on_path:
                yield (
                    path,
                    Failed(FailReason.SYMLINK_LOOP, f"directory loop back to {on_path[sub]}"),
                )
                continue
            if sub in visited:
                continue
            visited.add(sub)
            failure = enter(path, sub)
            if failure is not None:
                yield path, failure
        elif is_source:
            if stat.S_ISREG(st.st_mode):
                yield path, os.path.realpath(path)
            else:
                yield path, Failed(FailReason.UNREADABLE, "not a regular file")


def _os_failure(exc: OSError, dangling: bool = False) -> Failed:
    if exc.errno == errno.ELOOP:
        return Failed(FailReason.SYMLINK_LOOP, "too many levels of symbolic links")
    if dangling and exc.errno == errno.ENOENT:
        return Failed(FailReason.UNREADABLE, "dangling symbolic link")
    return Failed(FailReason.UNREADABLE, exc.strerror or str(exc))


# ---------------------------------------------------------------------------
# Reading one file
# ---------------------------------------------------------------------------

_FORMATS = {".py": "py", ".ipynb": "ipynb", ".md": "md", ".markdown": "md", ".rst": "rst"}


def read_file(
    path: str | os.PathLike[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    prefilter: bool = True,
    *,
    suffix: str | None = None,
) -> FileResult:
    """Read one file and split it into code units, or say why not.

    The format comes from ``suffix`` (default: the path's own suffix; pass
    the displayed path's suffix when ``path`` is a link target without one);
    an unknown suffix is read as Python.  With ``prefilter``, a file that
    cannot mention a framework is skipped (see [The framework prefilter]).

    Never raises: a bug shows up as ``Failed(INTERNAL_ERROR)``.
    """
    try:
        return _read_file(os.fspath(path), max_bytes, prefilter, suffix)
    except Exception as exc:  # noqa: BLE001 - the per-file boundary: errors become values
        return Failed(FailReason.INTERNAL_ERROR, _describe(exc))


def _read_file(path: str, max_bytes: int, prefilter: bool, suffix: str | None) -> FileResult:
    if suffix is None:
        suffix = os.path.splitext(path)[1]
    fmt = _FORMATS.get(suffix.lower(), "py")
    raw = _read_bytes(path, max_bytes)
    if not isinstance(raw, bytes):
        return raw
    if not raw.strip():
        return Skipped(SkipReason.EMPTY)
    if fmt != "ipynb" and b"\0" in raw[:BINARY_SNIFF_BYTES]:
        return Failed(FailReason.BINARY, "NUL byte in the first 8 KiB")
    text = _decode_python(raw) if fmt == "py" else _decode_utf8(raw)
    if isinstance(text, Failed):
        return text
    if not text.strip():
        return Skipped(SkipReason.EMPTY)
    if prefilter and not mentions_framework(text):
        return Skipped(SkipReason.NO_FRAMEWORK)
    if fmt == "py":
        units: list[CodeUnit] | Skipped | Failed = [CodeUnit(text, "py", 1)]
    elif fmt == "ipynb":
        units = _notebook_units(text)
    elif fmt == "md":
        units = _markdown_units(text)
    else:
        units = _rst_units(text)
    if isinstance(units, (Skipped, Failed)):
        return units
    if not units:
        return Skipped(SkipReason.NO_CODE)
    return Units(tuple(units), hashlib.sha256(raw).hexdigest())


def _read_bytes(path: str, max_bytes: int) -> bytes | Skipped | Failed:
    # O_NONBLOCK: opening a FIFO must not wait for a writer.  fstat on the
    # open descriptor, not stat on the path, so nothing can swap the file
    # between the check and the read.
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_NOCTTY", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return _os_failure(exc)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            return Failed(FailReason.UNREADABLE, kind)
        if st.st_size > max_bytes:
            return Skipped(SkipReason.TOO_LARGE, f"{st.st_size} bytes > {max_bytes}")
        f = os.fdopen(fd, "rb")
        fd = -1  # the file object owns it now
        with f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        return _os_failure(exc)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # grew since fstat
        return Skipped(SkipReason.TOO_LARGE, f"more than {max_bytes} bytes")
    return data


def _decode_python(raw: bytes) -> str | Failed:
    """Decode as Python does: BOM, then PEP 263 cookie, then UTF-8."""
    encoding = "utf-8"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding)
    except SyntaxError as exc:  # bad cookie, or BOM and cookie disagree
        return Failed(FailReason.UNDECODABLE, str(exc.msg))
    except (UnicodeError, LookupError) as exc:  # LookupError: 'rot13' and kin
        return Failed(FailReason.UNDECODABLE, f"{encoding}: {exc}")


def _decode_utf8(raw: bytes) -> str | Failed:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Failed(FailReason.UNDECODABLE, str(exc))


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}"[:300] + where


# ---------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------

_PYTHON_KERNEL = re.compile(r"i?python\d*", re.IGNORECASE)


def _notebook_units(text: str) -> list[CodeUnit] | Skipped | Failed:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        return Failed(FailReason.BAD_NOTEBOOK, f"line {exc.lineno} column {exc.colno}: {exc.msg}")
    except ValueError as exc:  # e.g. an integer over the int-digits limit
        return Failed(FailReason.BAD_NOTEBOOK, str(exc)[:200])
    except RecursionError:
        return Failed(FailReason.BAD_NOTEBOOK, "JSON nested too deeply")
    if not isinstance(nb, dict):
        return Failed(FailReason.BAD_NOTEBOOK, "top level is not a JSON object")
    cells = _notebook_cells(nb)
    if isinstance(cells, Failed):
        return cells
    language = _notebook_language(nb)
    if language and not _PYTHON_KERNEL.fullmatch(language.strip()):
        return Skipped(SkipReason.NO_CODE, f"kernel language {language!r}")
    pieces: list[_Piece] = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            return Failed(FailReason.BAD_NOTEBOOK, f"cell {number} is not an object")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input"))  # nbformat 4, 3
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            return Failed(FailReason.BAD_NOTEBOOK, f"cell {number} has no text source")
        try:
            source.encode("utf-8")
        except UnicodeEncodeError:
            return Failed(FailReason.UNDECODABLE, f"cell {number}: lone surrogate")
        body = _python_lines(_lines(source))
        if body is not None:
            pieces.append(_Piece(1, body, f"cell {number}"))
    return _assemble(pieces, "ipynb")


def _notebook_cells(nb: dict[str, object]) -> list[object] | Failed:
    if "cells" in nb:  # nbformat 4
        cells = nb["cells"]
        if isinstance(cells, list):
            return cells
        return Failed(FailReason.BAD_NOTEBOOK, "'cells' is not a list")
    sheets = nb.get("worksheets")  # nbformat 3
    if isinstance(sheets, list) and all(
        isinstance(s, dict) and isinstance(s.get("cells", []), list) for s in sheets
    ):
        return [c for s in sheets for c in s.get("cells", [])]
    return Failed(FailReason.BAD_NOTEBOOK, "no 'cells' list: not an nbformat notebook")


def _notebook_language(nb: dict[str, object]) -> str | None:
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return None
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        sub = meta.get(key)
        if isinstance(sub, dict) and isinstance(sub.get(field), str):
            return sub[field]
    language = meta.get("language")  # nbformat 3
    return language if isinstance(language, str) else None


# ---------------------------------------------------------------------------
# Markdown, reST and docstrings
# ---------------------------------------------------------------------------

# Lenient prompts, for text the doctest parser rejects, and IPython's.
# '>>>>' is not a prompt: merge-conflict markers, ASCII art.
_PROMPT = re.compile(r"^\s*>>>(?!>)")
_PS1 = re.compile(r"^\s*>>>(?!>) ?")
_PS2 = re.compile(r"^\s*\.\.\. ?")
_IN = re.compile(r"^\s*In ?\[\d*\]: ?")
_IN_CONT = re.compile(r"^\s*\.\.\.+: ?")

_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# MyST directives written as fences: ```{code-cell} ipython3
_MYST_CODE = frozenset({"code-cell", "code-block", "code", "sourcecode"})
_DIRECTIVE = re.compile(r"^[ \t]*\.\.[ \t]+(?P<name>[\w:-]+?)[ \t]*::[ \t]*(?P<arg>.*)$")
_CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode", "code-cell"})
_PYTHON_DIRECTIVES = frozenset({"testcode", "testsetup", "doctest", "jupyter-execute"})
_OPTION = re.compile(r"^\s*:[\w-]+:(\s|$)")

# [Carried imports]: a whole import statement on one line.
_NAME = r"[A-Za-z_]\w*"
_DOTTED = rf"{_NAME}(?:\s*\.\s*{_NAME})*"
_ALIAS = rf"{_NAME}(?:\s+as\s+{_NAME})?"
_DOTTED_ALIAS = rf"{_DOTTED}(?:\s+as\s+{_NAME})?"
_IMPORT_LINE = re.compile(
    rf"^(?:import\s+{_DOTTED_ALIAS}(?:\s*,\s*{_DOTTED_ALIAS})*"
    rf"|from\s+(?:\.*{_DOTTED}|\.+)\s+import\s+"
    rf"(?:\*|\(\s*{_ALIAS}(?:\s*,\s*{_ALIAS})*\s*,?\s*\)|{_ALIAS}(?:\s*,\s*{_ALIAS})*))"
    rf"\s*(?:#.*)?$"
)

# The literal-block heuristic (a '::' block is Python if it imports or uses
# a framework module; lines with a URL do not count).
_IMPORT_START = re.compile(r"^\s*(?:import\s+[A-Za-z_]|from\s+[\w.]+\s+import\b)")
_FRAMEWORK_USE = re.compile(r"\b(?:torch|tensorflow|tf|keras|nn|F)\.[A-Za-z_]")

_DOCTEST = doctest.DocTestParser()


@dataclass(frozen=True, slots=True)
class _Piece:
    """Unit text before a prelude: its first line in the file, its lines."""

    first_line: int
    lines: list[str]
    label: str


def _markdown_units(text: str) -> list[CodeUnit]:
    lines = _lines(text)
    pieces: list[_Piece] = []
    for start, content, lang in _fences(lines):
        if lang in PYTHON_LANGS or (lang == "" and _has_prompts(content)):
            code = _code_of(content, lang)
            if code is not None:
                offset, body = code
                pieces.append(_Piece(start + offset + 1, body, f"block {len(pieces) + 1}"))
    return _assemble(pieces, "md")


def _rst_units(text: str) -> list[CodeUnit]:
    lines = _lines(text)
    pieces = _doctest_piece(lines, "doctest")
    blocks = 0
    for start, content, lang in _rst_blocks(lines, frozenset()):
        found = _block_piece(start, content, lang, f"block {blocks + 1}")
        blocks += len(found)
        pieces.extend(found)
    pieces.sort(key=lambda p: p.first_line)
    return _assemble(pieces, "rst")


def docstring_units(text: str, api: str, framework: str) -> tuple[CodeUnit, ...]:
    """Code units of one library docstring.

    All doctest examples form one unit, in order, so later examples see what
    earlier ones bound; Markdown fences (tagged Python or untagged) and reST
    code directives or Python-looking literal blocks without prompts are
    units of their own.  Each unit starts with the ``framework``'s prelude
    (:data:`PRELUDES`); ``first_line`` counts from the docstring's first line.
    """
    key = getattr(framework, "value", framework)
    if key not in PRELUDES:
        raise InvalidArgument(f"framework must be one of {sorted(PRELUDES)}, got {framework!r}")
    lines = _lines(text)
    pieces = _doctest_piece(lines, api)
    in_fence: set[int] = set()
    for start, content, lang in _fences(lines, spans=in_fence):
        if lang in PYTHON_LANGS or lang == "":
            pieces.extend(_block_piece(start, content, lang, api))
    for start, content, lang in _rst_blocks(lines, in_fence):
        pieces.extend(_block_piece(start, content, lang, api))
    pieces.sort(key=lambda p: p.first_line)
    return tuple(_assemble(pieces, "docstring", PRELUDES[key], api))


def _block_piece(start: int, content: list[str], lang: str, label: str) -> list[_Piece]:
    if _has_prompts(content):  # already in the doctest unit
        return []
    code = _code_of(content, lang)
    if code is None:
        return []
    offset, body = code
    return [_Piece(start + offset + 1, body, label)]


def _doctest_piece(lines: list[str], label: str) -> list[_Piece]:
    """Every doctest example of the text, as one piece (or none)."""
    padded = _pad(_doctest_map(lines))
    if padded is None:
        return []
    offset, body = padded
    body = _python_lines(body)
    return [] if body is None else [_Piece(offset + 1, body, label)]


def _fences(
    lines: list[str], spans: set[int] | None = None
) -> Iterator[tuple[int, list[str], str]]:
    """``(index of the first content line, content lines, language)`` of each
    fenced block; an unclosed fence runs to the end.  Fence lines and content
    of every block, Python or not, are added to ``spans``."""
    i, n = 0, len(lines)
    while i < n:
        m = _FENCE.match(lines[i])
        if m is None or (m["fence"][0] == "`" and "`" in m["info"]):
            i += 1
            continue
        char, size = m["fence"][0], len(m["fence"])
        j = i + 1
        while j < n:
            close = lines[j].strip()
            if len(close) >= size and not close.strip(char):
                break
            j += 1
        if spans is not None:
            spans.update(range(i, min(j + 1, n)))
        content = lines[i + 1 : j]
        lang, myst = _fence_lang(m["info"])
        if myst:  # MyST directive options come first
            skip = 0
            while skip < len(content) and _OPTION.match(content[skip]):
                skip += 1
            yield i + 1 + skip, content[skip:], lang
        else:
            yield i + 1, content, lang
        i = j + 1


def _fence_lang(info: str) -> tuple[str, bool]:
    """The language of a fence info string, and whether it is a MyST
    directive (``{code-cell} ipython3``, ``{.python}``, ``python title=...``)."""
    words = info.replace("{", " ").replace("}", " ").split()
    if not words:
        return "", False
    first = words[0].lstrip(".").lower()
    if first in _MYST_CODE:
        default = "python" if first == "code-cell" else ""
        return (words[1].lower() if len(words) > 1 else default), True
    return first, False


def _rst_blocks(lines: list[str], skip: AbstractSet[int]) -> Iterator[tuple[int, list[str], str]]:
    """``(index of the first content line, content lines, language)`` of each
    reST code directive body and each Python-looking ``::`` literal block."""
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if i in skip:
            i += 1
            continue
        m = _DIRECTIVE.match(line)
        if m is not None:
            name, arg = m["name"].lower(), m["arg"].strip()
            lang = arg.split()[0].lower() if arg else ""
            if name in _PYTHON_DIRECTIVES:
                lang = "pycon" if name == "doctest" else "python"
            elif name not in _CODE_DIRECTIVES:
                i += 1  # other directives hold reST: scan their bodies too
                continue
            end = _block_end(lines, i + 1, _indent(line))
            k = i + 1
            while k < end and (not lines[k].strip() or _OPTION.match(lines[k])):
                k += 1
            content = lines[k:end]
            if content and (lang in PYTHON_LANGS or (lang == "" and _looks_like_python(content))):
                yield k, content, lang
            i = max(end, i + 1)
            continue
        stripped = line.strip()
        if stripped.endswith("::") and not stripped.startswith(".."):
            k = i + 1
            while k < n and not lines[k].strip():
                k += 1
            if k > i + 1 and k < n and _indent(lines[k]) > _indent(line):
                end = _block_end(lines, k, _indent(line))
                if _looks_like_python(lines[k:end]):
                    yield k, lines[k:end], ""
                i = end
                continue
        i += 1


def _block_end(lines: list[str], start: int, base: int) -> int:
    """End (exclusive) of the block indented deeper than ``base`` from
    ``start``, trailing blank lines left out."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
        j += 1
    while j > start and not lines[j - 1].strip():
        j -= 1
    return j


def _looks_like_python(lines: list[str]) -> bool:
    return _has_prompts(lines) or any(
        _IMPORT_START.match(line) or ("://" not in line and _FRAMEWORK_USE.search(line))
        for line in lines
    )


def _code_of(content: list[str], lang: str) -> tuple[int, list[str]] | None:
    """The Python lines of a block, and the index of the block line the first
    one comes from; None when the block holds no Python."""
    if lang in ("ipython", "ipython3") and any(_IN.match(line) for line in content):
        padded = _pad(_prompt_map(content, 0, _IN, _IN_CONT))
    elif _has_prompts(content):
        padded = _pad(_doctest_map(content))
    else:
        padded = 0, textwrap.dedent("\n".join(content)).split("\n")
    if padded is None:
        return None
    offset, body = padded
    python = _python_lines(body)
    return None if python is None else (offset, python)


def _has_prompts(lines: list[str]) -> bool:
    return any(_PROMPT.match(line) for line in lines)


def _doctest_map(lines: list[str]) -> dict[int, str]:
    """Line index -> example source line, for every doctest example.  When
    the doctest parser rejects the text (inconsistent indentation, a prompt
    without a blank), each paragraph is parsed on its own, and a paragraph
    it still rejects is read leniently."""
    try:
        return _doctest_examples(lines, 0)
    except ValueError:
        pass
    out: dict[int, str] = {}
    for start, para in _paragraphs(lines):
        if not _has_prompts(para):
            continue
        try:
            out.update(_doctest_examples(para, start))
        except ValueError:
            out.update(_prompt_map(para, start, _PS1, _PS2))
    return out


def _doctest_examples(lines: list[str], start: int) -> dict[int, str]:
    out: dict[int, str] = {}
    for example in _DOCTEST.get_examples("\n".join(lines)):
        source = example.source.split("\n")
        if source[-1] == "":
            source.pop()
        # A forgotten '...' prompt makes the rest of a call look like output
        # ('>>> f(\n        x)'): while brackets are open, output lines are
        # source (indentation does not matter inside brackets).
        quote: str | None = None
        depth = 0
        for line in source:
            quote, depth, _ = _scan(line, quote, depth)
        for line in example.want.split("\n"):
            if not (depth or quote) or not line.strip():
                break
            source.append(line)
            quote, depth, _ = _scan(line, quote, depth)
        for j, line in enumerate(source):
            out[start + example.lineno + j] = line
    return out


def _prompt_map(
    lines: list[str], start: int, ps1: re.Pattern[str], ps2: re.Pattern[str]
) -> dict[int, str]:
    out: dict[int, str] = {}
    in_example = False
    for i, line in enumerate(lines):
        m = ps1.match(line)
        if m is None and in_example:
            m = ps2.match(line)
        in_example = m is not None
        if m is not None:
            out[start + i] = line[m.end() :]
    return out


def _paragraphs(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        j = i
        while j < n and lines[j].strip():
            j += 1
        yield i, lines[i:j]
        i = j


def _pad(mapping: dict[int, str]) -> tuple[int, list[str]] | None:
    """The mapped lines at their own indices, blanks between."""
    if not mapping:
        return None
    lo, hi = min(mapping), max(mapping)
    return lo, [mapping.get(i, "") for i in range(lo, hi + 1)]


# ---------------------------------------------------------------------------
# IPython syntax and assembly
# ---------------------------------------------------------------------------

_MAGIC_ASSIGN = re.compile(r"^[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!]")
_HELP = re.compile(r"^[\w.*\[\]]+\?{1,2}$")
_CELL_MAGIC = re.compile(r"%%(\w*)")


def _python_lines(lines: list[str]) -> list[str] | None:
    """Lines with IPython syntax neutralised (see [IPython syntax]); None for
    a cell magic that is not Python, or when nothing but ``pass``, comments
    and blank lines is left."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    magic = _CELL_MAGIC.match(lines[first].strip())
    if magic is not None:
        if magic[1] not in PYTHON_CELL_MAGICS:
            return None
        lines = lines[:first] + [""] + lines[first + 1 :]
    body = _strip_ipython(lines)
    if all(s in ("", "pass") or s.startswith("#") for s in (line.strip() for line in body)):
        return None
    return body


def _strip_ipython(lines: list[str]) -> list[str]:
    out: list[str] = []
    quote: str | None = None
    depth = 0
    continued = False
    magic_continues = False
    for line in lines:
        if magic_continues:  # a magic line ending in a backslash goes on
            out.append("")
            magic_continues = line.endswith("\\")
            continue
        if quote is None and depth == 0 and not continued and _is_ipython_line(line):
            out.append(line[: len(line) - len(line.lstrip())] + "pass")
            magic_continues = line.endswith("\\")
            continue
        out.append(line)
        quote, depth, continued = _scan(line, quote, depth)
    return out


def _is_ipython_line(line: str) -> bool:
    s = line.strip()
    if not s or s[0] == "#":
        return False
    if s[0] in "%!?" or _MAGIC_ASSIGN.match(s):
        return True
    return s.endswith("?") and _HELP.match(s) is not None


def _scan(line: str, quote: str | None, depth: int) -> tuple[str | None, int, bool]:
    """Carry (open string quote, bracket depth) over one line; also whether
    the line continues with a backslash.  Approximate by design: enough to
    tell whether the next line starts a statement."""
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote is not None:
            if c == "\\":
                i += 2
            elif line.startswith(quote, i):
                i += len(quote)
                quote = None
            else:
                i += 1
            continue
        if c == "#":
            return None, depth, False
        if c in "\"'":
            quote = line[i : i + 3] if line[i : i + 3] in ('"""', "'''") else c
            i += len(quote)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}" and depth:
            depth -= 1
        i += 1
    if quote in ('"', "'"):  # a one-line string goes on only after a backslash
        return (quote, depth, True) if line.endswith("\\") else (None, depth, False)
    return quote, depth, quote is None and line.endswith("\\")


def _assemble(
    pieces: list[_Piece], origin: str, prelude: str = "", context_api: str = ""
) -> list[CodeUnit]:
    """Units from pieces in file order, each after ``prelude`` and the
    imports carried from the pieces before it (see [Carried imports])."""
    fixed = prelude.splitlines()
    carried: list[str] = []
    units = []
    for piece in pieces:
        head = fixed + carried
        body = list(piece.lines)
        while body and not body[-1].strip():
            body.pop()
        text = "\n".join(head + body) + "\n"
        units.append(CodeUnit(text, origin, piece.first_line - len(head), piece.label, context_api))
        for line in piece.lines:
            line = line.rstrip()
            if line not in fixed and line not in carried and _is_import_line(line):
                carried.append(line)
    return units


def _is_import_line(line: str) -> bool:
    """A complete one-line import statement, safe to repeat anywhere."""
    if _IMPORT_LINE.match(line) is None:
        return False
    words = set(re.findall(_NAME, line.partition("#")[0])) - {"import", "from", "as"}
    return "__future__" not in words and not any(keyword.iskeyword(w) for w in words)


def _lines(text: str) -> list[str]:
    """Lines split at ``\\n``, ``\\r\\n`` or ``\\r`` only (not at the other
    characters ``str.splitlines`` knows, which Python does not)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _indent(line: str) -> int:
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip())
