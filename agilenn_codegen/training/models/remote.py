"""The Remote NN: MobileNetV2 without its stem, taking the (dequantized) remote features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agilenn_codegen.training.config import MOBILENETV2_STAGES
from agilenn_codegen.training.models.blocks import InvertedResidual, conv_bn_act, make_divisible


class RemoteNet(nn.Module):
    """remote features (N, cin, H, W) -> remote logits (N, classes).

    A separable 3x3 convolution, the seven inverted-residual stages with per-stage `depths` (0 skips a
    stage) and channels scaled by `width`, a 1x1 convolution to `last_channels`, global average pooling,
    a dense layer and BN of the logits.
    """

    def __init__(
        self, cin: int, num_classes: int, width: float, depths: tuple[int, ...], last_channels: int = 1280
    ) -> None:
        super().__init__()
        if len(depths) != len(MOBILENETV2_STAGES):
            raise ValueError(f"remote depths need {len(MOBILENETV2_STAGES)} entries, got {len(depths)}")
        stem = make_divisible(16 * width)
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            *conv_bn_act(cin, stem, 1),
        ]
        channels = stem
        for (expand, c, stride), depth in zip(MOBILENETV2_STAGES, depths, strict=True):
            out = make_divisible(c * width)
            for i in range(depth):
                layers.append(InvertedResidual(channels, out, stride if i == 0 else 1, expand))
                channels = out
        last = make_divisible(last_channels * max(1.0, width))
        layers.append(conv_bn_act(channels, last, 1))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(last, num_classes)
        self.bn = nn.BatchNorm1d(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify the remote features."""
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.bn(self.fc(torch.flatten(x, 1)))
