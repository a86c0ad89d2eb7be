"""The two deployable halves of a trained AgileNN, BN folded, as plain PyTorch modules.

`DeviceModel`: image -> (local_logits, remote_features). The extractor's last pointwise conv is split into
two convs (first k output channels -> Local NN, the rest -> remote features), so no Slice is needed; the
mapping layer is folded into the filters first. Global pooling is `adaptive_avg_pool2d(1)`.
`RemoteModel`: dequantized remote features -> remote_logits.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from agilenn_codegen.training.folding import fold_conv_bn, fold_linear_bn, fold_sequential_bn, output_slice
from agilenn_codegen.training.models import AgileNN


class DeviceModel(nn.Module):
    """The on-device part: feature extractor + split + Local NN."""

    def __init__(self, model: AgileNN) -> None:
        super().__init__()
        model = copy.deepcopy(model).eval()
        model.fold_mapping()
        ext = model.extractor
        self.dw1 = copy.deepcopy(ext.dw1)
        self.pw1 = fold_conv_bn(ext.pw1, ext.bn1)
        self.dw2 = copy.deepcopy(ext.dw2)
        last = fold_conv_bn(ext.pw2, ext.bn2)
        k, channels = model.k, last.out_channels
        self.pw2_local = output_slice(last, 0, k)
        self.pw2_remote = output_slice(last, k, channels)
        self.fc = fold_linear_bn(model.local.fc, model.local.bn)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (N, C, H, W) normalised -> (local_logits (N, classes), remote_features (N, C-k, H', W'))."""
        h = F.relu6(self.pw1(self.dw1(image)))
        h = self.dw2(h)
        local = F.relu6(self.pw2_local(h))
        local_logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(local, 1), 1))
        return local_logits, F.relu6(self.pw2_remote(h))


class RemoteModel(nn.Module):
    """The server part: dequantized remote features -> remote logits (BN folded)."""

    def __init__(self, model: AgileNN) -> None:
        super().__init__()
        remote = copy.deepcopy(model.remote).eval()
        self.features = fold_sequential_bn(remote).features
        self.fc = fold_linear_bn(remote.fc, remote.bn)

    def forward(self, remote_features: torch.Tensor) -> torch.Tensor:
        """(N, C-k, H, W) -> (N, classes)."""
        x = F.adaptive_avg_pool2d(self.features(remote_features), 1)
        return self.fc(torch.flatten(x, 1))
