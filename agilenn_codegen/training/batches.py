"""Mini-batches from an in-memory split: shuffling (sharded per process), augmentation, normalisation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from agilenn_codegen.data.base import Split


@dataclass(frozen=True)
class Preprocess:
    """How stored uint8 images become network inputs: x = (resize(pixel / 255) - mean) / std."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 or [0,1] float (N, C, H, W) -> normalised float."""
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        if self.resize is not None and x.shape[-1] != self.resize:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def augment(x: torch.Tensor, gen: torch.Generator, flip: bool, pad: int) -> torch.Tensor:
    """Random horizontal flip and pad-and-crop (zero padding) of a [0, 1] float batch (N, C, H, W)."""
    n, _, h, w = x.shape
    if flip:
        flips = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flips.view(-1, 1, 1, 1), x.flip(3), x)
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        x = _crop(padded, oy, ox, h, w)
    return x


def _crop(padded: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Crop an (h, w) window at per-sample offsets (oy, ox) from a padded batch."""
    n = padded.shape[0]
    rows = (oy.view(n, 1) + torch.arange(h)).view(n, 1, h, 1)
    cols = (ox.view(n, 1) + torch.arange(w)).view(n, 1, 1, w)
    batch = torch.arange(n).view(n, 1, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].squeeze(1).permute(0, 3, 1, 2).contiguous()


class Batches:
    """Iterates over a split in mini-batches. With `world > 1`, each rank sees its own shard of each epoch."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        preprocess: Preprocess,
        *,
        train: bool,
        seed: int = 0,
        flip: bool = False,
        pad: int = 0,
        rank: int = 0,
        world: int = 1,
        device: str = "cpu",
    ) -> None:
        self.images = torch.from_numpy(np.array(split.images.transpose(0, 3, 1, 2), order="C"))
        self.labels = torch.from_numpy(split.labels)
        self.batch_size = batch_size
        self.preprocess = preprocess
        self.train = train
        self.seed = seed
        self.flip = flip and train
        self.pad = pad if train else 0
        self.rank = rank
        self.world = world
        self.device = torch.device(device)
        self.epoch = 0

    def _indices(self) -> torch.Tensor:
        n = self.labels.numel()
        if not self.train:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=gen)
        per_rank = n // self.world
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __len__(self) -> int:
        n = self.labels.numel() // (self.world if self.train else 1)
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        indices = self._indices()
        gen = torch.Generator().manual_seed(self.seed * 7919 + self.epoch * 31 + self.rank)
        for b in range(len(self)):
            idx = indices[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images[idx].float() / 255.0
            if self.train:
                x = augment(x, gen, self.flip, self.pad)
            # channels-last: about 20 % faster convolutions (depthwise ones above all) with oneDNN on CPU
            yield (self.preprocess(x).to(self.device, memory_format=torch.channels_last),
                   self.labels[idx].to(self.device))  # fmt: skip
