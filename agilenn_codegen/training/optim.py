"""SGD with momentum, cosine-decayed learning rate and decoupled, equally decayed weight decay."""

from __future__ import annotations

import math

import torch
from torch import nn


class CosineSGDW:
    """SGD (momentum, no coupled decay) + decoupled weight decay, both scaled by a cosine schedule.

    Per step t of `total_steps`: factor = 0.5 * (1 + cos(pi * t / total)); lr = lr0 * factor; every decayed
    weight is multiplied by (1 - weight_decay * factor) before the SGD update (as SGDW with a scheduled decay).
    Biases, BN parameters, quantizer centroids and the combiner weight are not decayed.
    """

    def __init__(self, model: nn.Module, lr: float, momentum: float, weight_decay: float, total_steps: int) -> None:
        decay, plain = [], []
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            skip = param.ndim <= 1 or "quantizer" in name or "combiner" in name
            (plain if skip else decay).append(param)
        self.decay_params = decay
        self.optimizer = torch.optim.SGD(
            [{"params": decay}, {"params": plain}], lr=lr, momentum=momentum, weight_decay=0.0
        )
        self.lr0 = lr
        self.weight_decay = weight_decay
        self.total_steps = max(1, total_steps)
        self.step_count = 0

    def factor(self) -> float:
        """The cosine factor of the current step."""
        progress = min(1.0, self.step_count / self.total_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    @property
    def lr(self) -> float:
        """The learning rate of the current step."""
        return self.lr0 * self.factor()

    def zero_grad(self) -> None:
        """Clear the gradients."""
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Decay, then update, then advance the schedule."""
        factor = self.factor()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr0 * factor
        with torch.no_grad():
            for param in self.decay_params:
                param.mul_(1.0 - self.weight_decay * factor)
        self.optimizer.step()
        self.step_count += 1

    def state_dict(self) -> dict[str, object]:
        """For checkpoints."""
        return {"optimizer": self.optimizer.state_dict(), "step_count": self.step_count}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore from a checkpoint."""
        self.optimizer.load_state_dict(state["optimizer"])  # type: ignore[arg-type]
        self.step_count = int(state["step_count"])  # type: ignore[arg-type]
