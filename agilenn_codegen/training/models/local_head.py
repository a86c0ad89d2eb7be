"""The Local NN: global average pooling, a dense layer and batch normalisation of the logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocalHead(nn.Module):
    """local features (N, k, H, W) -> local logits (N, classes)."""

    def __init__(self, k: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(k, num_classes)
        self.bn = nn.BatchNorm1d(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool, classify, normalise."""
        return self.bn(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
