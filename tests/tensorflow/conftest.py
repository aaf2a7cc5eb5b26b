"""Fixtures of the tensorflow tests that run cases in this process."""

from __future__ import annotations

import tempfile

import pytest

from miner.apiindex import load_or_build
from runner.execute import init_worker


@pytest.fixture(scope="module")
def index():
    return load_or_build()


@pytest.fixture
def tf_worker(monkeypatch, tmp_path):
    """This process as a tensorflow worker; the working directory and the
    environment init_worker changes are put back after.  Modules that run
    cases use it with ``pytest.mark.usefixtures``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    init_worker("tensorflow")
    yield
