"""Tiny synthetic image data for the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_images(n: int, size: int = 28, channels: int = 1, classes: int = 3, seed: int = 0):
    """Images whose class is a bright horizontal band (learnable in a few steps), uint8 NHWC, labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = (rng.random((n, size, size, channels)) * 60).astype(np.uint8)
    band = size // classes
    for i, label in enumerate(labels):
        images[i, label * band : (label + 1) * band] += 160
    return images, labels.astype(np.int64)


def write_npz(root: Path) -> Path:
    """Write train.npz (48 images) and test.npz (16 images), 28x28 grey, 3 classes, into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 48, 0), ("test", 16, 1)):
        x, y = synthetic_images(n, seed=seed)
        np.savez(root / f"{split}.npz", x=x[..., 0], y=y, class_names=np.array(["a", "b", "c"]))
    return root
