"""Skewness, disorder and the combined AgileNN loss (paper section 4.2, authors' normalisation)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-9


def channel_importance(importance: torch.Tensor) -> torch.Tensor:
    """Per-channel importance (N, C): the sum over height and width."""
    return importance.sum(dim=(2, 3))


def skewness(importance: torch.Tensor, k: int) -> torch.Tensor:
    """Per-sample share of the total importance held by the first k channels, (N,)."""
    per_channel = channel_importance(importance)
    return per_channel[:, :k].sum(1) / (per_channel.sum(1) + EPS)


def disorder(importance: torch.Tensor, k: int) -> torch.Tensor:
    """Per-sample max(0, max remote element - min local element) / total importance, (N,)."""
    total = importance.sum(dim=(1, 2, 3)) + EPS
    gap = importance[:, k:].amax(dim=(1, 2, 3)) - importance[:, :k].amin(dim=(1, 2, 3))
    return torch.clamp(gap / total, min=0.0)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the samples where `mask` is 1 (0 with a live graph when none is)."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


@dataclass
class LossParts:
    """The total loss and its parts (tensors; the parts for logging)."""

    total: torch.Tensor
    ce: torch.Tensor
    skew_loss: torch.Tensor
    disorder_loss: torch.Tensor
    skew: torch.Tensor  # per-sample skewness (N,), detached


def agilenn_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    importance: torch.Tensor,
    k: int,
    rho: float,
    lam: float,
    mask: torch.Tensor | None = None,
    aux_logits: tuple[torch.Tensor, ...] = (),
    aux_weight: float = 0.0,
) -> LossParts:
    """L = lam * CE + (1 - lam) * (L_skew + L_disorder) [+ aux_weight * sum of CE(aux logits)].

    `mask` (N,) selects the samples that drive the XAI terms (those the reference classifies correctly).
    """
    if mask is None:
        mask = torch.ones_like(labels, dtype=importance.dtype)
    ce = F.cross_entropy(logits, labels)
    s = skewness(importance, k)
    l_skew = masked_mean(torch.clamp(rho - s, min=0.0), mask)
    l_dis = masked_mean(disorder(importance, k), mask)
    total = lam * ce + (1.0 - lam) * (l_skew + l_dis)
    for extra in aux_logits:
        total = total + aux_weight * F.cross_entropy(extra, labels)
    return LossParts(total, ce.detach(), l_skew.detach(), l_dis.detach(), s.detach())
