"""Fixtures of the torch tests that run cases in this process."""

from __future__ import annotations

import tempfile

import pytest
import torch

from miner.apiindex import load_or_build
from runner.execute import init_worker


@pytest.fixture(scope="module")
def index():
    return load_or_build()


@pytest.fixture
def torch_worker(monkeypatch, tmp_path):
    """This process as a torch worker; what init_worker changes globally
    (working directory, environment, thread count) is put back after.
    Modules that run cases use it with ``pytest.mark.usefixtures``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    threads = torch.get_num_threads()
    init_worker("torch")
    yield
    torch.set_num_threads(threads)
