"""The reference NN: a stem shaped like the feature extractor and a body that classifies the feature map.

`train-reference` trains stem and body together on the task; AgileNN training then freezes the body and
uses it as the evaluator that takes AgileNN's own feature map (the role of the paper's stem-less
EfficientNetV2). Because the stem *is* a :class:`FeatureExtractor`, it can also initialise AgileNN's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agilenn_codegen.training.config import ModelConfig
from agilenn_codegen.training.models.blocks import conv_bn_act
from agilenn_codegen.training.models.extractor import FeatureExtractor


class ReferenceBody(nn.Module):
    """feature map (N, channels, H, W) -> logits: four 3x3 conv-BN-ReLU6 layers (two strided), GAP, dense."""

    def __init__(self, channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_act(channels, width, 3, stride=2),
            conv_bn_act(width, 2 * width, 3),
            conv_bn_act(2 * width, 2 * width, 3, stride=2),
            conv_bn_act(2 * width, 4 * width, 3),
        )
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a feature map."""
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


class ReferenceNet(nn.Module):
    """image -> logits = body(stem(image))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.stem = FeatureExtractor(cfg)
        self.body = ReferenceBody(cfg.channels, cfg.num_classes, cfg.reference_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify an image."""
        return self.body(self.stem(x))
