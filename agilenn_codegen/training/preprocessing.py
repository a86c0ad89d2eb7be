"""Pre-processing the feature extractor (paper section 5, Algorithm 1): choose the initial k local channels.

Over training samples, the importance of every channel of the (freshly initialised) extractor's feature map
is evaluated with the reference body. ``topk`` ranks channels by their likelihood of being among a sample's
top-k channels (Algorithm 1), ties broken by mean normalised importance; ``global`` ranks by the mean
normalised importance. The ranking becomes the order of the mapping layer, which puts the chosen channels
first during training and is folded into the extractor's filters at export.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from agilenn_codegen.training.losses import channel_importance
from agilenn_codegen.training.models import AgileNN
from agilenn_codegen.training.xai import Importance


@torch.no_grad()
def channel_statistics(
    model: AgileNN, importance: Importance, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-k appearance likelihood p_c, mean normalised importance) per channel of the raw extractor."""
    topk_counts: torch.Tensor | None = None
    share_sum: torch.Tensor | None = None
    count = 0
    for x, y in batches:
        feats = model.extractor(x)
        imp, _ = importance(feats, y, create_graph=False)
        per_channel = channel_importance(imp)
        share = per_channel / (per_channel.sum(1, keepdim=True) + 1e-9)
        top = torch.zeros_like(share).scatter_(1, share.topk(k, dim=1).indices, 1.0)
        topk_counts = top.sum(0) if topk_counts is None else topk_counts + top.sum(0)
        share_sum = share.sum(0) if share_sum is None else share_sum + share.sum(0)
        count += x.shape[0]
    if topk_counts is None or share_sum is None:
        raise ValueError("no samples for channel ranking")
    return topk_counts / count, share_sum / count


def rank_channels(likelihood: torch.Tensor, mean_share: torch.Tensor, metric: str) -> torch.Tensor:
    """Channel order, most likely local first (stable; ties by the other metric, then by index)."""
    if metric == "topk":
        keys = [likelihood, mean_share]
    elif metric == "global":
        keys = [mean_share, likelihood]
    else:
        raise ValueError(f"unknown ranking metric {metric!r}")
    channels = list(range(likelihood.numel()))
    channels.sort(key=lambda c: (-float(keys[0][c]), -float(keys[1][c]), c))
    return torch.tensor(channels, dtype=torch.long)


def preprocess_extractor(
    model: AgileNN,
    importance: Importance,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    metric: str,
) -> dict[str, list[float] | list[int]]:
    """Rank the channels and set the model's mapping layer; returns the statistics for the run log."""
    likelihood, mean_share = channel_statistics(model, importance, batches, model.k)
    order = rank_channels(likelihood, mean_share, metric)
    model.mapping.set_order(order.to(model.mapping.order.device))
    return {
        "order": order.tolist(),
        "topk_likelihood": [round(float(v), 5) for v in likelihood],
        "mean_share": [round(float(v), 5) for v in mean_share],
    }
