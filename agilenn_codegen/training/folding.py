"""Exact rewrites for deployment: fold BatchNorm into the preceding Conv/Linear, split a conv's outputs."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def bn_scale_shift(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as y = scale * x + shift (per channel)."""
    assert bn.running_var is not None and bn.running_mean is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to bn(conv(x)) in eval mode."""
    scale, shift = bn_scale_shift(bn)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True)  # fmt: skip
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    fused.bias.copy_(bias * scale + shift)
    return fused


@torch.no_grad()
def fold_linear_bn(linear: nn.Linear, bn: nn.BatchNorm1d) -> nn.Linear:
    """A new Linear equal to bn(linear(x)) in eval mode."""
    scale, shift = bn_scale_shift(bn)
    fused = nn.Linear(linear.in_features, linear.out_features)
    fused.weight.copy_(linear.weight * scale.view(-1, 1))
    fused.bias.copy_(linear.bias * scale + shift)
    return fused


@torch.no_grad()
def output_slice(conv: nn.Conv2d, start: int, stop: int) -> nn.Conv2d:
    """The conv computing only output channels [start, stop) (exact; replaces a Slice after the conv)."""
    if conv.groups != 1:
        raise ValueError("only ungrouped convolutions can be split by output channel")
    part = nn.Conv2d(conv.in_channels, stop - start, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     bias=conv.bias is not None)  # fmt: skip
    part.weight.copy_(conv.weight[start:stop])
    if conv.bias is not None:
        part.bias.copy_(conv.bias[start:stop])
    return part


@torch.no_grad()
def fold_sequential_bn(module: nn.Module) -> nn.Module:
    """Fold every Conv2d directly followed by BatchNorm2d inside nn.Sequential containers (recursively)."""
    if isinstance(module, nn.Sequential):
        return _fold_sequence(module)
    for name, child in list(module.named_children()):
        setattr(module, name, fold_sequential_bn(child))
    return module


def _fold_sequence(seq: nn.Sequential) -> nn.Sequential:
    layers = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
            out.append(fold_conv_bn(layer, following))
            i += 2
        else:
            out.append(fold_sequential_bn(layer))
            i += 1
    return nn.Sequential(*out)
