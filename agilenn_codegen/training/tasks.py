"""What one training step and one evaluation mean for the reference NN and for AgileNN."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agilenn_codegen.training.config import TrainConfig
from agilenn_codegen.training.evaluation import evaluate_agilenn
from agilenn_codegen.training.losses import agilenn_loss
from agilenn_codegen.training.models import AgileNN, ReferenceNet
from agilenn_codegen.training.xai import Importance

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class Task(Protocol):
    """A trainable model with its loss and its evaluation."""

    kind: str
    model: nn.Module

    def train_step(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch (through `module`, possibly DDP-wrapped) and statistics to show."""
        ...

    def evaluate(self, batches: Batches) -> tuple[dict[str, float], np.ndarray | None]:
        """Test metrics and optional per-sample skewness."""
        ...

    def extra_state(self) -> dict[str, Any]:
        """What model.pt stores besides the model's state_dict."""
        ...

    def to(self, device: torch.device) -> None:
        """Move every network the task uses to `device`."""
        ...


class ReferenceTask:
    """Plain cross-entropy training of the reference NN (stem + body)."""

    kind = "reference"

    def __init__(self, cfg: TrainConfig) -> None:
        self.model = ReferenceNet(cfg.model)

    def train_step(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy."""
        logits = module(x)
        loss = F.cross_entropy(logits, y)
        return loss, {"loss": float(loss.detach()), "acc": float((logits.argmax(1) == y).float().mean())}

    def evaluate(self, batches: Batches) -> tuple[dict[str, float], np.ndarray | None]:
        """Test accuracy."""
        self.model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in batches:
                correct += int((self.model(x).argmax(1) == y).sum())
                total += int(y.numel())
        self.model.train()
        return {"acc": correct / max(1, total)}, None

    def extra_state(self) -> dict[str, Any]:
        """Nothing extra."""
        return {}

    def to(self, device: torch.device) -> None:
        """Move the model (channels-last, like the batches)."""
        self.model.to(device=device, memory_format=torch.channels_last)


class AgileTask:
    """AgileNN training: combined CE plus the XAI skewness and disorder losses from the frozen reference."""

    kind = "agilenn"

    def __init__(self, cfg: TrainConfig, reference: ReferenceNet) -> None:
        self.cfg = cfg
        self.model = AgileNN(cfg.model)
        self.reference = reference.eval()
        for param in self.reference.parameters():
            param.requires_grad_(False)
        self.importance = Importance(self.reference.body, cfg.xai.method, cfg.xai.n_steps)
        self.preprocessing: dict[str, Any] = {}

    def train_step(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L = lam * CE + (1 - lam) * (L_skew + L_disorder) on the reference-correct samples."""
        out = module(x)
        correct_only = self.cfg.xai.correct_only
        importance, predicted = self.model.split_order_importance(self.importance, out, y, correct_only=correct_only)
        mask = (predicted == y).to(importance.dtype) if correct_only else None
        aux = (out.local_logits, out.remote_logits) if self.cfg.loss.aux_ce > 0 else ()
        parts = agilenn_loss(out.logits, y, importance, self.model.k, self.cfg.loss.rho, self.cfg.loss.lam,
                             mask, aux, self.cfg.loss.aux_ce)  # fmt: skip
        keep = mask.bool() if mask is not None else torch.ones_like(y, dtype=torch.bool)
        skew = float(parts.skew[keep].mean()) if bool(keep.any()) else float("nan")
        return parts.total, {
            "loss": float(parts.total.detach()),
            "ce": float(parts.ce),
            "l_skew": float(parts.skew_loss),
            "l_dis": float(parts.disorder_loss),
            "acc": float((out.logits.argmax(1) == y).float().mean()),
            "skew": skew,
        }

    def evaluate(self, batches: Batches) -> tuple[dict[str, float], np.ndarray | None]:
        """Accuracies, alpha and test skewness."""
        return evaluate_agilenn(self.model, self.importance, batches)

    def extra_state(self) -> dict[str, Any]:
        """The frozen reference (needed to measure skewness later) and the pre-processing statistics."""
        state = {k: v.cpu() for k, v in self.reference.state_dict().items()}
        return {"reference": state, "preprocessing": self.preprocessing}

    def to(self, device: torch.device) -> None:
        """Move AgileNN and the frozen reference (channels-last, like the batches)."""
        self.model.to(device=device, memory_format=torch.channels_last)
        self.reference.to(device=device, memory_format=torch.channels_last)
