"""Shapes and exact behaviour of the networks: extractor, mapping, quantizer, combiner, remote, reference."""

from __future__ import annotations

import torch

from agilenn_codegen.training.config import PAPER_DEPTHS, ModelConfig
from agilenn_codegen.training.models import AgileNN, Combiner, ReferenceNet, SoftHardQuantizer
from agilenn_codegen.training.models.quantizer import nearest_centroid


def test_shapes_and_split():
    cfg = ModelConfig(num_classes=7)
    model = AgileNN(cfg).eval()
    out = model(torch.randn(3, 1, 28, 28))
    assert cfg.k == 5
    assert out.features.shape == (3, 24, 28, 28)
    assert out.local_logits.shape == out.remote_logits.shape == out.logits.shape == (3, 7)
    assert float(out.features.detach().min()) >= 0.0 and float(out.features.detach().max()) <= 6.0


def test_paper_configuration_96px():
    cfg = ModelConfig(in_channels=3, image_size=96, first_stride=3, remote_width=1.0, remote_depths=PAPER_DEPTHS)
    model = AgileNN(cfg).eval()
    assert cfg.feature_size == 32
    assert model.features(torch.randn(1, 3, 96, 96)).shape == (1, 24, 32, 32)
    ref = ReferenceNet(cfg).eval()
    assert ref(torch.randn(1, 3, 96, 96)).shape == (1, 10)


def test_quantizer_forward_is_nearest_centroid_with_lower_index_on_ties():
    q = SoftHardQuantizer(4)
    with torch.no_grad():
        q.raw.copy_(torch.logit(torch.tensor([1.0, 2.0, 3.0, 5.0]) / 6.0))
    c = q.centroids()
    x = torch.tensor([0.0, 1.4, 1.5, 2.6, 4.2, 6.0])
    y, idx = q(x)
    assert idx.tolist() == [0, 0, 0, 2, 3, 3]
    assert torch.equal(y, c[idx])
    tie = (c[1] + c[2]) / 2
    assert int(nearest_centroid(tie.view(1), c)) == 1
    assert q.bits == 2


def test_quantizer_gradient_matches_soft_assignment():
    torch.manual_seed(0)
    q = SoftHardQuantizer(8, sharpness=1.3)
    x = (torch.rand(2, 3, 4, 4) * 6).requires_grad_(True)
    weights = torch.randn(2, 3, 4, 4)
    (q(x)[0] * weights).sum().backward()
    grad_x, grad_raw = x.grad.clone(), q.raw.grad.clone()
    # reference: straight-through soft assignment written with autograd
    x2 = x.detach().clone().requires_grad_(True)
    raw = q.raw.detach().clone().requires_grad_(True)
    c = 6 * torch.sigmoid(raw)
    soft = (torch.softmax(-1.3 * (x2.unsqueeze(-1) - c) ** 2, -1) * c).sum(-1)
    (soft * weights).sum().backward()
    torch.testing.assert_close(grad_x, x2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_raw, raw.grad, rtol=1e-4, atol=1e-5)


def test_combiner_modes_and_override():
    sig = Combiner("sigmoid", temperature=4.0)
    soft = Combiner("softmax", temperature=4.0)
    with torch.no_grad():
        sig.w.fill_(2.0)
        soft.w.copy_(torch.tensor([3.0, 1.0]))
    assert torch.isclose(sig.alpha(), torch.sigmoid(torch.tensor(0.5)))
    assert torch.isclose(soft.alpha(), sig.alpha())
    local, remote = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.allclose(sig(local, remote, alpha=0.25), torch.full((2, 3), 0.25))
    out = sig(local, remote)
    out.sum().backward()
    assert sig.w.grad is not None and float(sig.w.grad.abs()) > 0


def test_mapping_fold_is_exact():
    torch.manual_seed(1)
    model = AgileNN(ModelConfig()).eval()
    for module in model.modules():  # non-trivial BN statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.mapping.set_order(torch.randperm(24))
    x = torch.randn(2, 1, 28, 28)
    before = model(x)
    model.fold_mapping()
    after = model(x)
    assert model.mapping.is_identity
    torch.testing.assert_close(before.features, after.features)
    torch.testing.assert_close(before.logits, after.logits)
