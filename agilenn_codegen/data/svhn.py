"""SVHN cropped digits in MATLAB format (`train_32x32.mat`, `test_32x32.mat`); needs SciPy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agilenn_codegen.data.base import ImageDataset, Split
from agilenn_codegen.errors import UserError


def _read(path: Path) -> Split:
    try:
        from scipy.io import loadmat
    except ImportError as exc:
        raise UserError(
            "reading SVHN .mat files needs SciPy", hint="pip install 'agilenn-codegen[train]' (or scipy)"
        ) from exc
    mat = loadmat(str(path))
    images = np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2)  # (32, 32, 3, N) -> NHWC
    labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    labels[labels == 10] = 0  # SVHN stores the digit 0 as label 10
    return Split(np.ascontiguousarray(images), labels)


def load(root: Path) -> ImageDataset:
    """Load SVHN from `root` holding `train_32x32.mat` and `test_32x32.mat`."""
    paths = [root / "train_32x32.mat", root / "test_32x32.mat"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserError(
            f"SVHN not found: missing {', '.join(missing)}",
            hint="download train_32x32.mat and test_32x32.mat (SVHN format 2) and pass their folder with --data-root",
        )
    names = tuple(str(i) for i in range(10))
    return ImageDataset("svhn", _read(paths[0]), _read(paths[1]), names).with_stats()
