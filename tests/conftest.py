"""Fixtures shared across test folders.

``apiindex_probe``: build the API index of the test module's ``FRAMEWORK``
into a module-scoped temporary cache from a fresh interpreter, and report
which frameworks that interpreter imported (none, if the build stayed in
its child process, which is the point of ``load_or_build``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from miner.apiindex import load_or_build
index = load_or_build([sys.argv[2]], cache_dir=sys.argv[1])
heavy = [m for m in ("torch", "tensorflow", "keras") if m in sys.modules]
print(json.dumps({"paths": len(index), "imported": heavy}))
"""


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(f"apiindex-{request.module.FRAMEWORK}")


@pytest.fixture(scope="module")
def probe(request: pytest.FixtureRequest, cache_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(cache_dir), request.module.FRAMEWORK],
        cwd=ROOT, capture_output=True, check=False, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
