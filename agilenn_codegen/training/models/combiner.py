"""Weighted sum of the local and remote predictions with a trained weight (paper section 3.3)."""

from __future__ import annotations

import torch
from torch import nn


class Combiner(nn.Module):
    """logits = alpha * local + (1 - alpha) * remote.

    `mode="sigmoid"` (paper): alpha = sigmoid(w / T) with a scalar w.
    `mode="softmax"` (authors' code): (alpha, 1 - alpha) = softmax(w / T) with a 2-vector w, which equals
    sigmoid((w0 - w1) / T). Both start at alpha = 0.5.
    """

    def __init__(self, mode: str = "sigmoid", temperature: float = 6.0) -> None:
        super().__init__()
        if mode not in ("sigmoid", "softmax"):
            raise ValueError(f"unknown combiner mode {mode!r}")
        self.mode = mode
        self.temperature = temperature
        self.w = nn.Parameter(torch.zeros(1 if mode == "sigmoid" else 2))

    def alpha(self) -> torch.Tensor:
        """The current weight of the local prediction (a 0-d tensor)."""
        if self.mode == "sigmoid":
            return torch.sigmoid(self.w[0] / self.temperature)
        return torch.softmax(self.w / self.temperature, dim=0)[0]

    def forward(self, local: torch.Tensor, remote: torch.Tensor, alpha: float | None = None) -> torch.Tensor:
        """Combine; `alpha` overrides the trained weight (evaluation)."""
        a = self.alpha() if alpha is None else torch.tensor(alpha, dtype=local.dtype, device=local.device)
        return a * local + (1.0 - a) * remote
