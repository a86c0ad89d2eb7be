"""Soft-to-hard scalar quantizer with learnable centroids for the remote features.

Centroid values are 6 * sigmoid(parameter), inside ReLU6's range. The forward pass replaces each value by
its nearest centroid (ties go to the lower index); gradients are those of the soft assignment
soft(x) = sum_j p_j c_j with p = softmax(-sharpness * (x - c)^2), i.e. the straight-through form
y = soft + detach(hard - soft) of the authors. The gradient is computed in closed form, one centroid at a
time, which avoids materialising (N, C, H, W, centroids) tensors:

    d soft / d x   = 2 s (E_p[c^2] - soft^2)
    d soft / d c_j = p_j (1 + 2 s (c_j - soft)(x - c_j))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def nearest_centroid(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for every element (ties: the lower index)."""
    best = torch.zeros_like(x, dtype=torch.long)
    best_dist = (x - c[0]) ** 2
    for j in range(1, c.numel()):
        dist = (x - c[j]) ** 2
        closer = dist < best_dist
        best = torch.where(closer, j, best)
        best_dist = torch.where(closer, dist, best_dist)
    return best


def _soft_weights(x: torch.Tensor, c: torch.Tensor, s: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Unnormalised softmax weights e_j (stabilised) and their sum."""
    logits = [-s * (x - c[j]) ** 2 for j in range(c.numel())]
    top = logits[0]
    for z in logits[1:]:
        top = torch.maximum(top, z)
    weights = [torch.exp(z - top) for z in logits]
    total = weights[0]
    for w in weights[1:]:
        total = total + w
    return weights, total


class _SoftHard(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, c: torch.Tensor, sharpness: float) -> tuple[torch.Tensor, torch.Tensor]:
        indices = nearest_centroid(x, c)
        ctx.save_for_backward(x, c)
        ctx.sharpness = sharpness
        ctx.mark_non_differentiable(indices)
        return c[indices], indices

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor, _grad_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        x, c = ctx.saved_tensors
        s = ctx.sharpness
        weights, total = _soft_weights(x, c, s)
        probs = [w / total for w in weights]
        soft = sum(p * c[j] for j, p in enumerate(probs))
        second = sum(p * c[j] ** 2 for j, p in enumerate(probs))
        grad_x = grad * (2.0 * s) * (second - soft * soft)
        grad_c = torch.stack(
            [(grad * p * (1.0 + 2.0 * s * (c[j] - soft) * (x - c[j]))).sum() for j, p in enumerate(probs)]
        )
        return grad_x, grad_c, None


class SoftHardQuantizer(nn.Module):
    """x (any shape, values in [0, 6]) -> (quantized x, centroid indices)."""

    def __init__(self, num_centroids: int, sharpness: float = 1.0) -> None:
        super().__init__()
        if num_centroids < 2:
            raise ValueError("the quantizer needs at least 2 centroids")
        start = torch.linspace(0.1, 5.9, num_centroids) / 6.0
        self.raw = nn.Parameter(torch.log(start / (1.0 - start)))
        self.sharpness = sharpness

    @property
    def bits(self) -> int:
        """Bits per transmitted index: ceil(log2(number of centroids))."""
        return max(1, math.ceil(math.log2(self.raw.numel())))

    def centroids(self) -> torch.Tensor:
        """Current centroid values (in parameter order; not necessarily sorted)."""
        return 6.0 * torch.sigmoid(self.raw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize `x` to the nearest centroid; also return the indices of the chosen centroids."""
        return _SoftHard.apply(x, self.centroids(), self.sharpness)
