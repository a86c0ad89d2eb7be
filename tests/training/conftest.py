"""Shared fixtures for the training tests: tiny synthetic data sets written in the supported formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.synthetic import write_npz

torch.set_num_threads(1)


@pytest.fixture
def npz_root(tmp_path: Path) -> Path:
    """A folder with train.npz (48 images) and test.npz (16 images), 28x28 grey, 3 classes."""
    return write_npz(tmp_path / "npz")
