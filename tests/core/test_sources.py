"""Tests of miner/sources.py: finding corpus files, classifying the ones that
cannot be mined, and splitting the rest (and docstrings) into code units
whose lines map back to the file."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.errors import InvalidArgument
from miner.sources import (
    PRELUDES,
    CodeUnit,
    Failed,
    FailReason,
    Skipped,
    SkipReason,
    Units,
    discover,
    docstring_units,
    mentions_framework,
    read_file,
)

BOM = b"\xef\xbb\xbf"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX files")


def write(directory, name: str, content: bytes | str) -> str:
    path = directory / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def units_of(result) -> tuple[CodeUnit, ...]:
    assert isinstance(result, Units), result
    return result.units


def file_line(unit: CodeUnit, needle: str) -> int:
    """The file line of the (single) unit line containing ``needle``."""
    hits = [i for i, line in enumerate(unit.text.split("\n"), 1) if needle in line]
    assert len(hits) == 1, (needle, unit.text)
    return unit.first_line + hits[0] - 1


def notebook(cells: list[dict], **metadata) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})


def code_cell(source: str | list[str]) -> dict:
    return {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}


# -- every file that cannot be mined gets its reason --------------------------

BAD_FILES = [
    ("empty.py", b"", SkipReason.EMPTY),
    ("blank.py", b"  \n\t\r\n\x0c\n", SkipReason.EMPTY),
    ("bom_only.py", BOM + b"\n", SkipReason.EMPTY),
    ("blank.ipynb", b"\n\n", SkipReason.EMPTY),
    ("plain.py", b"import os\nos.getcwd()\n", SkipReason.NO_FRAMEWORK),
    ("plain.ipynb", notebook([code_cell("import os")]).encode(), SkipReason.NO_FRAMEWORK),
    ("binary.py", b"import torch\n\x00\x01\x02", FailReason.BINARY),
    ("binary.md", b"torch\x00", FailReason.BINARY),
    ("binary.rst", b"\x00torch", FailReason.BINARY),
    ("latin1_no_cookie.py", b"import torch\nx = '\xe9'\n", FailReason.UNDECODABLE),
    ("late_bad_byte.py", b"import torch\n\n\nx = '\xff'\n", FailReason.UNDECODABLE),
    ("unknown_cookie.py", b"# coding: klingon\nimport torch\n", FailReason.UNDECODABLE),
    ("bom_and_cookie.py", BOM + b"# coding: latin-1\nimport torch\n", FailReason.UNDECODABLE),
    ("not_text_codec.py", b"# coding: rot13\nimport torch\n", FailReason.UNDECODABLE),
    ("bad.md", b"```python\nimport torch\nx = '\xff'\n```\n", FailReason.UNDECODABLE),
    (
        "broken.ipynb",
        b'{"cells": [{"cell_type": "code", "source": "import torch"',
        FailReason.BAD_NOTEBOOK,
    ),
    ("array.ipynb", b'["torch"]', FailReason.BAD_NOTEBOOK),
    ("no_cells.ipynb", b'{"torch": 1}', FailReason.BAD_NOTEBOOK),
    ("cells_not_list.ipynb", b'{"cells": "torch"}', FailReason.BAD_NOTEBOOK),
    ("cell_not_object.ipynb", b'{"cells": ["import torch"]}', FailReason.BAD_NOTEBOOK),
    (
        "int_source.ipynb",
        b'{"cells": [{"cell_type": "code", "source": 1}], "t": "torch"}',
        FailReason.BAD_NOTEBOOK,
    ),
    ("deep.ipynb", b"[" * 200_000 + b'"torch"', FailReason.BAD_NOTEBOOK),
    ("huge_int.ipynb", b'{"torch": 1' + b"1" * 5000 + b"}", FailReason.BAD_NOTEBOOK),
    (
        "surrogate.ipynb",
        notebook([code_cell("import torch\n\ud800")]).encode(),
        FailReason.UNDECODABLE,
    ),
    (
        "only_markdown.ipynb",
        notebook([{"cell_type": "markdown", "source": "torch"}]).encode(),
        SkipReason.NO_CODE,
    ),
    (
        "only_magics.ipynb",
        notebook([code_cell("!pip install torch\n%matplotlib inline")]).encode(),
        SkipReason.NO_CODE,
    ),
    (
        "r_kernel.ipynb",
        notebook([code_cell("library(torch)")], kernelspec={"language": "R"}).encode(),
        SkipReason.NO_CODE,
    ),
    (
        "julia.ipynb",
        notebook([code_cell("using torch")], language_info={"name": "julia"}).encode(),
        SkipReason.NO_CODE,
    ),
    (
        "prose.md",
        b"# Using torch\n\nNo code here.\n\n```bash\npip install torch\n```\n",
        SkipReason.NO_CODE,
    ),
    ("conflict.rst", b"torch\n<<<<<<< HEAD\n=======\n>>>>>>> 06ab6d6\n", SkipReason.NO_CODE),
    (
        "prose.rst",
        b"Torch\n=====\n\nSee torch.abs for details::\n\n    $ pip install torch\n",
        SkipReason.NO_CODE,
    ),
]


@pytest.mark.parametrize("name, content, reason", BAD_FILES, ids=[name for name, _, _ in BAD_FILES])
def test_bad_file_gets_its_reason(tmp_path, name, content, reason):
    result = read_file(write(tmp_path, name, content))
    assert isinstance(result, Skipped if isinstance(reason, SkipReason) else Failed), result
    assert result.reason is reason


def test_too_large_over_max_bytes(tmp_path):
    small = write(tmp_path, "small.py", "import torch\n" * 10)
    assert read_file(small, max_bytes=20) == Skipped(SkipReason.TOO_LARGE, "130 bytes > 20")
    assert isinstance(read_file(small, max_bytes=130), Units)


@posix_only
def test_too_large_file_is_not_read(tmp_path):
    # A 64 GiB sparse file: reading it would take minutes and all memory.
    huge = tmp_path / "huge.py"
    with huge.open("wb") as f:
        f.truncate(64 * 2**30)
    assert read_file(str(huge)).reason is SkipReason.TOO_LARGE


def test_prefilter_can_be_turned_off(tmp_path):
    path = write(tmp_path, "plain.py", "import os\n")
    assert units_of(read_file(path, prefilter=False))[0].text == "import os\n"


def test_unknown_suffix_reads_as_python_and_suffix_can_be_given(tmp_path):
    script = write(tmp_path, "script", "import torch\n")
    assert units_of(read_file(script))[0].origin == "py"
    blob = write(tmp_path, "blob", notebook([code_cell("import torch")]))
    assert units_of(read_file(blob, suffix=".ipynb"))[0].origin == "ipynb"


# -- unreadable things never raise and never block ----------------------------


def test_directory_named_like_a_source_is_unreadable(tmp_path):
    (tmp_path / "x.py").mkdir()
    result = read_file(str(tmp_path / "x.py"))
    assert isinstance(result, Failed) and result.reason is FailReason.UNREADABLE


def test_missing_file_is_unreadable(tmp_path):
    result = read_file(str(tmp_path / "gone.py"))
    assert isinstance(result, Failed) and result.reason is FailReason.UNREADABLE


@posix_only
def test_fifo_is_unreadable_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    assert read_file(str(fifo)) == Failed(FailReason.UNREADABLE, "not a regular file")


@posix_only
def test_device_is_unreadable(tmp_path):
    assert read_file(os.devnull).reason is FailReason.UNREADABLE


@posix_only
def test_self_referencing_symlink(tmp_path):
    os.symlink("self.py", tmp_path / "self.py")
    assert read_file(str(tmp_path / "self.py")).reason is FailReason.SYMLINK_LOOP


@posix_only
def test_dangling_symlink_is_unreadable(tmp_path):
    os.symlink("nowhere.py", tmp_path / "dangling.py")
    assert read_file(str(tmp_path / "dangling.py")).reason is FailReason.UNREADABLE


# -- .py ------------------------------------------------------------------------


def test_python_file_is_one_unit_with_hash(tmp_path):
    raw = b"import torch\r\ntorch.abs(torch.ones(2))\r\n"
    result = read_file(write(tmp_path, "a.py", raw))
    assert result == Units(
        (CodeUnit("import torch\r\ntorch.abs(torch.ones(2))\r\n", "py", 1),),
        hashlib.sha256(raw).hexdigest(),
    )


def test_latin1_cookie_decodes(tmp_path):
    raw = b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\n"
    (unit,) = units_of(read_file(write(tmp_path, "latin.py", raw)))
    assert "caf\u00e9" in unit.text


def test_bom_is_dropped(tmp_path):
    (unit,) = units_of(read_file(write(tmp_path, "bom.py", BOM + b"import torch\n")))
    assert unit.text == "import torch\n"


# -- notebooks ------------------------------------------------------------------


def test_notebook_cells_with_ipython_syntax(tmp_path):
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title with torch\n"]},
        code_cell(["import torch\n", "%matplotlib inline\n", "!pip install x\n", "torch.nn?\n"]),
        code_cell(
            "for i in range(2):\n"
            "    %time torch.ones(i)\n"
            "files = !ls\n"
            "t = %timeit -o torch.zeros(3)\n"
            "?torch.abs\n"
            "x = (torch.ones(2)\n"
            "     % 2)\n"
            's = """\n'
            "%d items\n"
            '"""\n'
            "torch.abs(x)"
        ),
        code_cell("%%bash\necho torch\n"),
        code_cell("%%time\ny = torch.randn(3)\n"),
        {"cell_type": "raw", "metadata": {}, "source": "torch.raw()"},
    ]
    path = write(tmp_path, "nb.ipynb", notebook(cells, kernelspec={"language": "python"}))
    first, second, timed = units_of(read_file(path))
    assert (first.label, first.origin, first.first_line) == ("cell 2", "ipynb", 1)
    assert first.text == "import torch\npass\npass\npass\n"
    # Later cells carry the imports of earlier ones, above their line 1.
    assert (second.label, second.first_line) == ("cell 3", 0)
    assert second.text.split("\n") == [
        "import torch",
        "for i in range(2):",
        "    pass",
        "pass",
        "pass",
        "pass",
        "x = (torch.ones(2)",
        "     % 2)",
        's = """',
        "%d items",
        '"""',
        "torch.abs(x)",
        "",
    ]
    assert file_line(second, "torch.abs(x)") == 11  # line 11 of cell 3
    assert (timed.label, timed.text) == ("cell 5", "import torch\n\ny = torch.randn(3)\n")
    assert file_line(timed, "torch.randn") == 2


def test_nbformat3_notebook(tmp_path):
    nb = {
        "nbformat": 3,
        "metadata": {"language": "python"},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "heading", "level": 1, "source": ["Intro"]},
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": ["import torch\n", "torch.ones(1)"],
                    },
                ]
            },
            {"cells": [{"cell_type": "code", "input": "torch.zeros(2)\n"}]},
        ],
    }
    first, second = units_of(read_file(write(tmp_path, "old.ipynb", json.dumps(nb))))
    assert (first.label, first.text) == ("cell 2", "import torch\ntorch.ones(1)\n")
    assert (second.label, second.text) == ("cell 3", "import torch\ntorch.zeros(2)\n")


def test_python_kernel_names(tmp_path):
    for language in ("python", "Python3", "ipython3"):
        nb = notebook([code_cell("import torch")], language_info={"name": language})
        assert isinstance(read_file(write(tmp_path, "k.ipynb", nb)), Units), language


# -- Markdown -------------------------------------------------------------------

MARKDOWN = """\
# Tutorial

```python
import torch
x = torch.ones(2)
```

Prose about torch.

```pycon
>>> y = torch.abs(x)
>>> y
tensor([1., 1.])
```

```
>>> torch.zeros(1)
tensor([0.])
```

```
$ pip install torch
```

```bash
python -c "import torch; torch.ones(1)"
```

~~~~ py
z = torch.randn(3)
~~~~

````markdown
```python
torch.never_mined()
```
````

1. In a list:

   ```python3
   for i in range(3):
       torch.ones(i)
   ```

```python
w = torch.eye(2)
"""


def test_markdown_blocks(tmp_path):
    lines = MARKDOWN.split("\n")
    units = units_of(read_file(write(tmp_path, "t.md", MARKDOWN)))
    assert [u.label for u in units] == [f"block {i}" for i in range(1, 7)]
    assert {u.origin for u in units} == {"md"}
    plain, pycon, untagged, tilde, listed, unclosed = units
    assert plain.text == "import torch\nx = torch.ones(2)\n"
    assert plain.first_line == lines.index("import torch") + 1
    # Prompts and output become blank lines: the line structure survives.
    assert pycon.text == "import torch\ny = torch.abs(x)\ny\n"
    assert untagged.text == "import torch\ntorch.zeros(1)\n"
    assert tilde.text == "import torch\nz = torch.randn(3)\n"
    assert listed.text == "import torch\nfor i in range(3):\n    torch.ones(i)\n"
    assert unclosed.text == "import torch\nw = torch.eye(2)\n"
    for unit, needle in [
        (plain, "torch.ones(2)"),
        (pycon, "torch.abs(x)"),
        (untagged, "torch.zeros(1)"),
        (tilde, "torch.randn(3)"),
        (listed, "torch.ones(i)"),
        (unclosed, "torch.eye(2)"),
    ]:
        assert needle in lines[file_line(unit, needle) - 1]
    assert all("never_mined" not in u.text and "pip" not in u.text for u in units)


def test_markdown_myst_code_cell_options(tmp_path):
    text = "```{code-cell} ipython3\n:tags: [hide-input]\n\nimport torch\n!nvidia-smi\n```\n"
    (unit,) = units_of(read_file(write(tmp_path, "myst.md", text)))
    assert (unit.text, unit.first_line) == ("\nimport torch\npass\n", 3)


# -- reST -----------------------------------------------------------------------

RST = """\
Using torch
===========

.. code-block:: python
   :linenos:
   :caption: Setup

   import torch
   x = torch.ones(2)

Some doctests:

>>> y = torch.abs(x)
>>> y
tensor([1., 1.])

.. note::

   Nested paragraphs are scanned too:

   >>> torch.zeros(1)
   tensor([0.])

.. code-block:: bash

   python -c "import torch"

.. testcode::

   z = torch.randn(3)

Example::

    model = nn.Sequential(nn.Linear(2, 3))

Install it with::

    $ pip install torch  # see https://pytorch.org

.. code-block:: pycon

   >>> torch.eye(2)
"""


def test_rst_blocks_and_doctests(tmp_path):
    lines = RST.split("\n")
    units = units_of(read_file(write(tmp_path, "doc.rst", RST)))
    assert [u.label for u in units] == ["block 1", "doctest", "block 2", "block 3"]
    setup, doctests, testcode, literal = units
    assert setup.text == "import torch\nx = torch.ones(2)\n"
    assert setup.first_line == lines.index("   import torch") + 1
    # One unit for every doctest example of the file, in order.
    assert [line for line in doctests.text.split("\n") if line] == [
        "import torch",
        "y = torch.abs(x)",
        "y",
        "torch.zeros(1)",
        "torch.eye(2)",
    ]
    assert testcode.text == "import torch\nz = torch.randn(3)\n"
    assert literal.text == "import torch\nmodel = nn.Sequential(nn.Linear(2, 3))\n"
    for unit, needle in [
        (setup, "torch.ones(2)"),
        (doctests, "torch.abs(x)"),
        (doctests, "torch.zeros(1)"),
        (doctests, "torch.eye(2)"),
        (testcode, "torch.randn(3)"),
        (literal, "nn.Sequential"),
    ]:
        assert needle in lines[file_line(unit, needle) - 1]
    assert all("pip" not in u.text and "python -c" not in u.text for u in units)


# -- IPython syntax is neutralised only where a statement starts -----------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("%timeit f()", "pass"),
        ("    !ls -l", "    pass"),
        ("np.*load*?", "pass"),
        ("torch.nn??", "pass"),
        ("a, b = !ls", "pass"),
        ("x = y  # why?", "x = y  # why?"),
        ("x != y", "x != y"),
        ("x %= 3", "x %= 3"),
        ("# %comment", "# %comment"),
        ("f(1,\n  !x)", "f(1,\n  !x)"),
        ("s = '''\n%d\n'''", "s = '''\n%d\n'''"),
        ("s = 'a\\\n%b'", "s = 'a\\\n%b'"),
        ("x = 1 + \\\n    %2", "x = 1 + \\\n    %2"),
        ("%load_ext \\\n  foo\nimport torch", "pass\n\nimport torch"),
        ("!echo 'unbalanced (\ny = 1", "pass\ny = 1"),
    ],
)
def test_ipython_lines(tmp_path, source, expected):
    text = notebook([code_cell("import torch\n" + source)])
    (unit,) = units_of(read_file(write(tmp_path, "nb.ipynb", text)))
    assert unit.text == "import torch\n" + expected + "\n"


# -- finding files --------------------------------------------------------------


@posix_only
def test_discover_walks_sorted_and_survives_loops(tmp_path):
    root = tmp_path / "corpus"
    for rel in [
        "b.py",
        "a.md",
        "notes.txt",
        "pkg/c.ipynb",
        "pkg/d.rst",
        "pkg/e.markdown",
        ".hidden/h.py",
        "__pycache__/p.py",
        "node_modules/n.py",
        "lib/site-packages/s.py",
        ".dotfile.py",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("import torch\n")
    (root / "dir.py").mkdir()
    (root / "dir.py" / "inner.py").write_text("import torch\n")
    os.symlink("..", root / "pkg" / "up")  # back to the corpus root: a loop
    os.symlink("pkg", root / "zalias")  # pkg again: walked once, as pkg
    os.symlink("loop.py", root / "loop.py")
    os.symlink("missing.py", root / "dangling.py")
    os.mkfifo(root / "pipe.py")
    found = list(discover([str(root), str(root / "notes.txt")]))
    r = str(root)
    assert found == [
        (f"{r}/a.md", os.path.realpath(root / "a.md")),
        (f"{r}/b.py", os.path.realpath(root / "b.py")),
        (f"{r}/dangling.py", Failed(FailReason.UNREADABLE, "dangling symbolic link")),
        (f"{r}/dir.py/inner.py", os.path.realpath(root / "dir.py" / "inner.py")),
        (f"{r}/lib/site-packages/s.py", os.path.realpath(root / "lib/site-packages/s.py")),
        (f"{r}/loop.py", Failed(FailReason.SYMLINK_LOOP, "too many levels of symbolic links")),
        (f"{r}/pipe.py", Failed(FailReason.UNREADABLE, "not a regular file")),
        (f"{r}/pkg/c.ipynb", os.path.realpath(root / "pkg/c.ipynb")),
        (f"{r}/pkg/d.rst", os.path.realpath(root / "pkg/d.rst")),
        (f"{r}/pkg/e.markdown", os.path.realpath(root / "pkg/e.markdown")),
        (f"{r}/pkg/up", Failed(FailReason.SYMLINK_LOOP, f"directory loop back to {r}")),
        (f"{r}/notes.txt", os.path.realpath(root / "notes.txt")),
    ]


@posix_only
def test_discover_top_level_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(discover([str(tmp_path / "nope")]))
    os.symlink("self", tmp_path / "self")
    assert list(discover([tmp_path / "self"])) == [
        (
            str(tmp_path / "self"),
            Failed(FailReason.SYMLINK_LOOP, "too many levels of symbolic links"),
        )
    ]


# -- docstrings -----------------------------------------------------------------

TORCH_DOC = """Computes the absolute value of each element in :attr:`input`.

Args:
    input (Tensor): the input tensor.

Example::

    >>> a = torch.randn(4)
    >>> torch.abs(a)
    tensor([1.2, 0.3, 2.1, 0.4])
"""

TF_DOC = """Computes the absolute value of a tensor.

  Given a tensor of integer or floating-point values:

  >>> x = tf.constant([-2.25, 3.25])
  >>> tf.abs(x)
  <tf.Tensor: shape=(2,), dtype=float32, numpy=array([2.25, 3.25], dtype=float32)>

  Usage:

  ```python
  y = tf.math.abs(x)
  z = np.abs(y)
  ```

  Args:
    x: A `Tensor`.
"""


def test_torch_docstring_prelude_and_line_mapping():
    (unit,) = docstring_units(TORCH_DOC, "torch.abs", "torch")
    assert unit.text == PRELUDES["torch"] + "a = torch.randn(4)\ntorch.abs(a)\n"
    assert (unit.origin, unit.label, unit.context_api) == ("docstring", "torch.abs", "torch.abs")
    doc_lines = TORCH_DOC.split("\n")
    assert doc_lines[file_line(unit, "torch.abs(a)") - 1] == "    >>> torch.abs(a)"
    assert unit.first_line == doc_lines.index("    >>> a = torch.randn(4)") + 1 - 4


def test_tf_docstring_doctests_and_fence():
    doctests, fence = docstring_units(TF_DOC, "tf.math.abs", "tensorflow")
    prelude = PRELUDES["tensorflow"]
    assert doctests.text == prelude + "x = tf.constant([-2.25, 3.25])\ntf.abs(x)\n"
    assert fence.text == prelude + "y = tf.math.abs(x)\nz = np.abs(y)\n"
    doc_lines = TF_DOC.split("\n")
    assert doc_lines[file_line(doctests, "tf.abs(x)") - 1] == "  >>> tf.abs(x)"
    assert doc_lines[file_line(fence, "tf.math.abs") - 1] == "  y = tf.math.abs(x)"
    assert {u.context_api for u in (doctests, fence)} == {"tf.math.abs"}


def test_docstring_blocks_of_every_kind():
    doc = """Blocks.

    .. code-block:: python

        m = nn.Linear(2, 3)

    .. testcode::

        torch.ones(1)

    Example::

        model = nn.Sequential(nn.ReLU())

    Not code::

        see the tutorial

    ```
    F.relu(torch.ones(1))
    ```

    ```bash
    pip install torch
    ```
    """
    units = docstring_units(doc, "torch.nn.Linear", "torch")
    bodies = [u.text[len(PRELUDES["torch"]) :] for u in units]
    assert bodies == [
        "m = nn.Linear(2, 3)\n",
        "torch.ones(1)\n",
        "model = nn.Sequential(nn.ReLU())\n",
        "F.relu(torch.ones(1))\n",
    ]
    lines = doc.split("\n")
    for unit, needle in zip(units, ["nn.Linear", "torch.ones", "nn.Sequential", "F.relu"]):
        assert needle in lines[file_line(unit, needle) - 1]


def test_docstring_with_inconsistent_doctest_indentation_falls_back():
    doc = "Ex:\n\n    >>> a = torch.ones(2)\n      ... bad\n\n    >>>torch.abs(a)\n"
    (unit,) = docstring_units(doc, "torch.abs", "torch")
    body = unit.text[len(PRELUDES["torch"]) :]
    assert body.split("\n") == ["a = torch.ones(2)", "bad", "", "torch.abs(a)", ""]
    assert file_line(unit, "torch.abs(a)") == 6


def test_docstring_without_examples_and_bad_framework():
    assert docstring_units("Returns the sum.", "torch.sum", "torch") == ()
    with pytest.raises(InvalidArgument, match="framework"):
        docstring_units(">>> x", "jax.abs", "jax")


# -- the prefilter ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("import torch", True),
        ("from tensorflow.python import ops", True),
        ("from keras import layers", True),
        ("import torchvision", True),
        ("import pytorch_lightning", True),
        ("import numpy as np", False),
        ("import jax.numpy as jnp", False),
        ("", False),
    ],
)
def test_mentions_framework(text, expected):
    assert mentions_framework(text) is expected


# -- read_file never raises ---------------------------------------------------------

FRAGMENTS = [
    "import torch\n",
    "```python\n",
    "```\n",
    "~~~\n",
    ">>> ",
    "... ",
    "\n",
    "    ",
    ".. code-block:: python\n",
    ".. testcode::\n",
    "::\n",
    ":linenos:\n",
    "%%time\n",
    "%%bash\n",
    "!ls\n",
    "x?\n",
    '"""',
    "'",
    "(",
    ")",
    "\\\n",
    "\t",
    "\r",
    "\x00",
    "\ufeff",
    '{"cells": [',
    '{"cell_type": "code", "source": ',
    "]}",
    '"',
    ",",
]
texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=30).map("".join)
contents = st.binary(max_size=300) | texts.map(lambda t: t.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(suffix=st.sampled_from([".py", ".ipynb", ".md", ".rst"]), content=contents)
def test_read_file_never_raises(tmp_path_factory, suffix, content):
    path = tmp_path_factory.getbasetemp() / f"fuzz{suffix}"
    path.write_bytes(content)
    result = read_file(str(path), prefilter=False)
    assert isinstance(result, (Units, Skipped, Failed))
    assert not (isinstance(result, Failed) and result.reason is FailReason.INTERNAL_ERROR), result
    if isinstance(result, Units):
        assert all(isinstance(u.text, str) and u.text.strip() for u in result.units)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "cells",
                    "cell_type",
                    "source",
                    "input",
                    "worksheets",
                    "metadata",
                    "kernelspec",
                    "language",
                    "language_info",
                    "name",
                    "code",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(nb=json_values)
def test_odd_notebooks_never_raise(tmp_path_factory, nb):
    path = tmp_path_factory.getbasetemp() / "fuzz.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    result = read_file(str(path), prefilter=False)
    assert not (isinstance(result, Failed) and result.reason is FailReason.INTERNAL_ERROR), result


@settings(max_examples=200, deadline=None)
@given(text=texts, framework=st.sampled_from(sorted(PRELUDES)))
def test_docstring_units_never_raise(text, framework):
    for unit in docstring_units(text, "api", framework):
        assert unit.text.startswith(PRELUDES[framework])


def test_units_of_the_fixtures_parse(tmp_path):
    """Units are ready for ``libcst.parse_module``, preludes included."""
    libcst = pytest.importorskip("libcst")
    units = [
        *units_of(read_file(write(tmp_path, "t.md", MARKDOWN))),
        *units_of(read_file(write(tmp_path, "doc.rst", RST))),
        *docstring_units(TORCH_DOC, "torch.abs", "torch"),
        *docstring_units(TF_DOC, "tf.math.abs", "tensorflow"),
    ]
    for unit in units:
        libcst.parse_module(unit.text)
