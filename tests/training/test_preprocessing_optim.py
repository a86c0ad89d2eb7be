"""Algorithm 1 channel ranking and the optimiser schedule."""

from __future__ import annotations

import math

import torch

from agilenn_codegen.training.config import ModelConfig
from agilenn_codegen.training.models import AgileNN, ReferenceNet
from agilenn_codegen.training.optim import CosineSGDW
from agilenn_codegen.training.preprocessing import preprocess_extractor, rank_channels
from agilenn_codegen.training.xai import Importance


def test_rank_channels_topk_then_global():
    likelihood = torch.tensor([0.1, 0.9, 0.5, 0.5])
    share = torch.tensor([0.4, 0.1, 0.2, 0.3])
    assert rank_channels(likelihood, share, "topk").tolist() == [1, 3, 2, 0]
    assert rank_channels(likelihood, share, "global").tolist() == [0, 3, 2, 1]


def test_preprocessing_puts_the_most_likely_channels_first():
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=12, num_classes=3)
    model, ref = AgileNN(cfg), ReferenceNet(cfg).eval()
    importance = Importance(ref.body)
    batches = [(torch.randn(8, 1, 12, 12), torch.randint(0, 3, (8,))) for _ in range(2)]
    stats = preprocess_extractor(model, importance, batches, "topk")
    order = stats["order"]
    assert sorted(order) == list(range(24))
    likelihood = stats["topk_likelihood"]
    assert [likelihood[c] for c in order] == sorted(likelihood, reverse=True)
    assert model.mapping.order.tolist() == order
    assert abs(sum(likelihood) - model.k) < 1e-3  # each sample contributes k channels


def test_cosine_lr_and_decoupled_decay():
    layer = torch.nn.Linear(2, 2, bias=True)
    opt = CosineSGDW(layer, lr=0.1, momentum=0.9, weight_decay=0.01, total_steps=4)
    before_w, before_b = layer.weight.detach().clone(), layer.bias.detach().clone()
    layer.weight.grad = torch.zeros_like(layer.weight)
    layer.bias.grad = torch.zeros_like(layer.bias)
    opt.step()  # zero gradient: only the decay acts, on the matrix but not on the bias
    torch.testing.assert_close(layer.weight.detach(), before_w * (1 - 0.01))
    torch.testing.assert_close(layer.bias.detach(), before_b)
    assert math.isclose(opt.lr, 0.1 * 0.5 * (1 + math.cos(math.pi / 4)))
    for _ in range(3):
        opt.step()
    assert opt.lr == 0.0
