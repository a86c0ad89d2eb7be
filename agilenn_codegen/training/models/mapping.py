"""The temporary mapping layer of the paper's Figure 12: a fixed channel permutation used during training.

It routes the channels chosen by pre-processing (Algorithm 1) to the first k positions. Because it is a
permutation, folding it into the extractor's last pointwise filters is exact; after folding it is the
identity and is not part of the exported graph.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelMapping(nn.Module):
    """features[:, order] with `order` a stored permutation (identity by default)."""

    order: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("order", torch.arange(channels))

    @property
    def is_identity(self) -> bool:
        """True when the mapping does nothing."""
        return bool(torch.equal(self.order, torch.arange(self.order.numel(), device=self.order.device)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Permute the channels."""
        return x if self.is_identity else x.index_select(1, self.order)

    @torch.no_grad()
    def set_order(self, order: torch.Tensor) -> None:
        """Use the permutation `order` (new channel i = input channel order[i])."""
        if sorted(order.tolist()) != list(range(self.order.numel())):
            raise ValueError(f"not a permutation of {self.order.numel()} channels: {order.tolist()}")
        self.order.copy_(order)

    @torch.no_grad()
    def reset(self) -> None:
        """Back to the identity."""
        self.order.copy_(torch.arange(self.order.numel(), device=self.order.device))
