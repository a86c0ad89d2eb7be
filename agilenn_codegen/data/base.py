"""The in-memory form every loader returns: uint8 images (N, H, W, C) and int64 labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Split:
    """One split of a data set: `images` uint8 (N, H, W, C), `labels` int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels shape {self.labels.shape} does not match {self.images.shape[0]} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, limit: int | None) -> Split:
        """The first `limit` samples (all when `limit` is None)."""
        if limit is None or limit >= len(self):
            return self
        return Split(self.images[:limit], self.labels[:limit])


@dataclass(frozen=True)
class ImageDataset:
    """A train/test pair with class names and the per-channel normalisation statistics (of [0, 1] pixels)."""

    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    @property
    def channels(self) -> int:
        """Number of image channels."""
        return int(self.train.images.shape[3])

    @property
    def image_size(self) -> tuple[int, int]:
        """Stored (height, width)."""
        return int(self.train.images.shape[1]), int(self.train.images.shape[2])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def with_stats(self) -> ImageDataset:
        """Return a copy whose mean/std are computed from the training images when not already set."""
        if self.mean and self.std:
            return self
        x = self.train.images.reshape(-1, self.channels).astype(np.float64) / 255.0
        mean = tuple(float(v) for v in x.mean(axis=0))
        std = tuple(max(float(v), 1e-3) for v in x.std(axis=0))
        return ImageDataset(self.name, self.train, self.test, self.class_names, mean, std)
