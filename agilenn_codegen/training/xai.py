"""Feature importance from the frozen reference body, differentiable for use inside the training loss.

Methods (all return |attribution| of the reference's log-probability / cross-entropy of the true label with
respect to the feature map, shape (N, C, H, W)):

- ``ig2`` (default, the authors' formulation): two-point Integrated Gradients with baseline 0,
  I = |0.5 * (g(f) + g(0)) * f| with g = d CE / d f. g(f) is taken with ``create_graph=True``, so the loss
  is differentiated through the gradient (second order) and through the factor f. g(0) does not depend on
  f or on trainable weights (frozen body, eval-mode BN), so it is computed once per class and cached.
- ``ig``: captum ``IntegratedGradients`` with ``n_steps`` points, trapezoid rule, baseline 0.
- ``saliency``: captum ``Saliency`` (|g(f)|): only the second-order path carries gradient.
- ``ixg``: captum ``InputXGradient`` (|g(f) * f|).

captum computes its gradients with ``torch.autograd.grad`` without ``create_graph``, i.e. its attributions are
detached and an XAI loss built on them would have no gradient. For the captum methods we therefore replace
the attribution object's ``gradient_func`` by :func:`graph_gradients`, which keeps the graph while training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from agilenn_codegen.training.config import XAI_METHODS


def graph_gradients(create_graph: bool) -> Callable[..., tuple[torch.Tensor, ...]]:
    """A captum-compatible gradient function that can keep the autograd graph (for second-order training)."""

    def gradients(
        forward_fn: Callable[..., torch.Tensor],
        inputs: tuple[torch.Tensor, ...],
        target_ind: Any = None,
        additional_forward_args: Any = None,
    ) -> tuple[torch.Tensor, ...]:
        with torch.enable_grad():
            extra = () if additional_forward_args is None else tuple(additional_forward_args)
            out = forward_fn(*inputs, *extra)
            target = torch.as_tensor(target_ind, device=out.device).reshape(-1, 1).expand(out.shape[0], 1)
            selected = out.gather(1, target).sum()
            return torch.autograd.grad(selected, inputs, create_graph=create_graph)

    return gradients


class Importance:
    """Computes importance maps with a frozen reference body (`body` must be in eval mode)."""

    def __init__(self, body: nn.Module, method: str = "ig2", n_steps: int = 8) -> None:
        if method not in XAI_METHODS:
            raise ValueError(f"unknown XAI method {method!r}; choose one of {XAI_METHODS}")
        self.body = body
        self.method = method
        self.n_steps = n_steps
        self._zero_grads: torch.Tensor | None = None

    def _log_probs(self, f: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.body(f), dim=1)

    def zero_point_gradients(self, shape: tuple[int, ...], num_classes: int) -> torch.Tensor:
        """d CE(body(0), y) / d f for every class y: (classes, C, H, W), cached."""
        cached = self._zero_grads
        if cached is None or tuple(cached.shape[1:]) != tuple(shape):
            param = next(self.body.parameters())
            zero = torch.zeros((num_classes, *shape), device=param.device, dtype=param.dtype,
                               requires_grad=True)  # fmt: skip
            with torch.enable_grad():
                ce = F.cross_entropy(self.body(zero), torch.arange(num_classes, device=param.device),
                                     reduction="sum")  # fmt: skip
                cached = torch.autograd.grad(ce, zero)[0].detach()
            self._zero_grads = cached
        return cached

    def __call__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        create_graph: bool = True,
        correct_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (importance (N, C, H, W), the reference's predicted labels (N,)).

        With `correct_only`, the importance is computed for the samples the reference classifies correctly
        and is zero for the others (the rows the masked losses ignore anyway); the body is evaluated per
        sample (eval-mode BN), so the computed rows equal those of a whole-batch call.
        """
        if correct_only:
            with torch.no_grad():
                predicted = self.body(features.detach()).argmax(1)
            keep = (predicted == labels).nonzero().flatten()
            importance = features.new_zeros(features.shape)
            if keep.numel():
                rows, _ = self(features.index_select(0, keep), labels.index_select(0, keep), create_graph)
                importance = importance.index_copy(0, keep, rows)
            return importance, predicted
        f = features
        if not f.requires_grad:
            f = f.detach().requires_grad_(True)
            create_graph = False
        with torch.enable_grad():
            logits = self.body(f)
            predicted = logits.detach().argmax(1)
            if self.method == "ig2":
                ce = F.cross_entropy(logits, labels, reduction="sum")
                g = torch.autograd.grad(ce, f, create_graph=create_graph)[0]
                g0 = self.zero_point_gradients(tuple(f.shape[1:]), logits.shape[1])[labels]
                attribution = 0.5 * (g + g0) * f
            else:
                attribution = self._captum(f, labels, create_graph)
        importance = attribution.abs()
        if not create_graph:
            importance = importance.detach()
        return importance, predicted

    def _captum(self, f: torch.Tensor, labels: torch.Tensor, create_graph: bool) -> torch.Tensor:
        from captum.attr import InputXGradient, IntegratedGradients, Saliency

        explainer: Any
        if self.method == "ig":
            explainer = IntegratedGradients(self._log_probs)
            explainer.gradient_func = graph_gradients(create_graph)
            return explainer.attribute(f, baselines=0.0, target=labels, n_steps=self.n_steps,
                                       method="riemann_trapezoid")  # fmt: skip
        explainer = Saliency(self._log_probs) if self.method == "saliency" else InputXGradient(self._log_probs)
        explainer.gradient_func = graph_gradients(create_graph)
        return explainer.attribute(f, target=labels)
