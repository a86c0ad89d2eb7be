"""The on-device feature extractor: two depthwise-separable convolutions, each followed by BN and ReLU6."""

from __future__ import annotations

import torch
from torch import nn

from agilenn_codegen.training.config import ModelConfig


class FeatureExtractor(nn.Module):
    """image (N, in, H, W) -> features (N, channels, H', W') in [0, 6].

    Layer names are part of the export contract: `dw1`, `pw1`, `bn1`, `dw2`, `pw2`, `bn2`.
    The depthwise convolutions have no BN of their own (as a separable convolution).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cin, mid = cfg.in_channels, cfg.mid_channels
        self.dw1 = nn.Conv2d(cin, cin, 3, stride=cfg.first_stride, padding=1, groups=cin, bias=False)
        self.pw1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.dw2 = nn.Conv2d(mid, mid, 3, stride=1, padding=1, groups=mid, bias=False)
        self.pw2 = nn.Conv2d(mid, cfg.channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cfg.channels)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Extract the feature map."""
        x = self.act(self.bn1(self.pw1(self.dw1(x))))
        return self.act(self.bn2(self.pw2(self.dw2(x))))

    @torch.no_grad()
    def permute_channels(self, order: torch.Tensor) -> None:
        """Reorder the output channels (filters of `pw2` and `bn2`): new channel i = old channel order[i]."""
        self.pw2.weight.copy_(self.pw2.weight[order])
        for name in ("weight", "bias", "running_mean", "running_var"):
            tensor = getattr(self.bn2, name)
            tensor.copy_(tensor[order])
