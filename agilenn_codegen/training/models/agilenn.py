"""The whole AgileNN model as trained: extractor -> mapping -> split -> (Local NN, quantizer -> Remote NN)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agilenn_codegen.training.config import ModelConfig
from agilenn_codegen.training.models.combiner import Combiner
from agilenn_codegen.training.models.extractor import FeatureExtractor
from agilenn_codegen.training.models.local_head import LocalHead
from agilenn_codegen.training.models.mapping import ChannelMapping
from agilenn_codegen.training.models.quantizer import SoftHardQuantizer
from agilenn_codegen.training.models.remote import RemoteNet
from agilenn_codegen.training.xai import Importance


class AgileOutput(NamedTuple):
    """What one forward pass produces."""

    extracted: torch.Tensor  # (N, C, H, W) the extractor's output, in the reference stem's channel order
    features: torch.Tensor  # (N, C, H, W) after the mapping layer (first k channels local), before quantization
    local_logits: torch.Tensor
    remote_logits: torch.Tensor
    logits: torch.Tensor  # combined


class AgileNN(nn.Module):
    """The trainable AgileNN. The first `k` feature channels are local, the rest remote."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.k = cfg.k
        self.extractor = FeatureExtractor(cfg)
        self.mapping = ChannelMapping(cfg.channels)
        self.local = LocalHead(self.k, cfg.num_classes)
        self.quantizer = SoftHardQuantizer(cfg.centroids)
        self.remote = RemoteNet(
            cfg.channels - self.k,
            cfg.num_classes,
            cfg.remote_width,
            tuple(cfg.remote_depths),
            cfg.remote_last_channels,
        )
        self.combiner = Combiner(cfg.combiner, cfg.temperature)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The (mapped) feature map."""
        return self.mapping(self.extractor(x))

    def forward(self, x: torch.Tensor, alpha: float | None = None) -> AgileOutput:
        """Run everything; `alpha` overrides the trained combiner weight."""
        extracted = self.extractor(x)
        feats = self.mapping(extracted)
        local = self.local(feats[:, : self.k])
        quantized, _ = self.quantizer(feats[:, self.k :])
        remote = self.remote(quantized)
        return AgileOutput(extracted, feats, local, remote, self.combiner(local, remote, alpha))

    def split_order_importance(
        self,
        importance: Importance,
        out: AgileOutput,
        labels: torch.Tensor,
        create_graph: bool = True,
        correct_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Importance in split order (first k channels local) and the reference's predictions.

        The frozen reference body was trained on its stem's channel order, which is the extractor's own
        order (the extractor starts as a copy of the stem), so it must see `out.extracted`, not the
        mapped features; the importance map is then routed through the same mapping as the features.
        """
        raw, predicted = importance(out.extracted, labels, create_graph, correct_only)
        return self.mapping(raw), predicted

    @torch.no_grad()
    def fold_mapping(self) -> None:
        """Fold the mapping layer into the extractor's last pointwise filters (exact) and drop it."""
        if not self.mapping.is_identity:
            self.extractor.permute_channels(self.mapping.order.clone())
            self.mapping.reset()
