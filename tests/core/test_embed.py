"""The embedded runtime of reproducers (:mod:`triage.embed`): what may be
embedded, and how it is joined into one namespace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.errors import InternalError
from triage import embed


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable package ``emb_pkg`` in tmp_path."""
    pkg = tmp_path / "emb_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("emb_pkg")]:
        monkeypatch.delitem(sys.modules, name)
    return pkg


def test_runtime_of_each_framework_embeds_and_runs(tmp_path: Path) -> None:
    for modes in ("runner.modes.torch_modes", "runner.modes.tf_modes"):
        text = embed.runtime_source([modes])
        assert "from runner." not in text.replace("# from runner.", "")
        assert "# seamfuzz module runner.call, embedded verbatim" in text
        script = tmp_path / "runtime.py"
        # Run without seamfuzz on the path: the runtime must stand alone, and
        # without importing a framework until a mode or a call needs it.
        script.write_text("from __future__ import annotations\n" + text + "\nimport sys\n"
                          "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules\n"
                          "print(ModeSpec('x', 'torch'), draw(((), ()), 0).seed)\n")
        out = subprocess.run([sys.executable, "-I", str(script)], capture_output=True,
                             text=True, cwd=tmp_path, check=True)
        assert out.stdout.split() == ["x", "0"]


def test_aliases_of_embedded_names_are_kept(package: Path) -> None:
    (package / "a.py").write_text("def helper():\n    return 1\n")
    (package / "b.py").write_text("from __future__ import annotations\n"
                                  "from emb_pkg.a import (\n    helper as _h,\n)\n"
                                  "VALUE = _h()\n")
    joined = "\n".join(embed._embed_one(m, {"emb_pkg.a", "emb_pkg.b"})[0]
                       for m in ("emb_pkg.a", "emb_pkg.b"))
    namespace: dict = {}
    exec(compile(joined, "<joined>", "exec"), namespace)
    assert namespace["VALUE"] == 1 and "_h = helper" in joined
    assert "# from __future__ import annotations: hoisted to the top" in joined


def test_forbidden_imports_and_clashes_are_caught(package: Path) -> None:
    (package / "bad.py").write_text("import seamfuzz.cli\n")
    with pytest.raises(InternalError, match="imports seamfuzz.cli"):
        embed._embed_one("emb_pkg.bad", {"emb_pkg.bad"})
    (package / "nested.py").write_text("def f():\n    from emb_pkg.a import g\n")
    (package / "a.py").write_text("def g():\n    pass\n")
    with pytest.raises(InternalError, match="nested import"):
        embed._embed_one("emb_pkg.nested", {"emb_pkg.nested", "emb_pkg.a"})
    (package / "modimport.py").write_text("import emb_pkg.a\n")
    with pytest.raises(InternalError, match="not as modules"):
        embed._embed_one("emb_pkg.modimport", {"emb_pkg.modimport", "emb_pkg.a"})


def test_two_modules_defining_one_name_cannot_share_a_script(package: Path) -> None:
    (package / "twin.py").write_text("def draw():\n    pass\n")  # runner.materialize has one
    with pytest.raises(InternalError, match="both define draw"):
        embed.runtime_source(["emb_pkg.twin"])


def test_defined_names() -> None:
    assert embed.defined_names("__all__ = []\nA = 1\ndef f(): pass\nclass C: pass\n"
                               "x: int = 2\nimport os\n") == {"A", "f", "C", "x"}
