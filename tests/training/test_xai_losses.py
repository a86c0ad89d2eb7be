"""XAI importance and the losses: values, and above all that the XAI terms carry gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from agilenn_codegen.training.config import XAI_METHODS, ModelConfig
from agilenn_codegen.training.losses import agilenn_loss, disorder, skewness
from agilenn_codegen.training.models import AgileNN, ReferenceNet
from agilenn_codegen.training.xai import Importance

CFG = ModelConfig(image_size=12, num_classes=3)


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = AgileNN(CFG)
    ref = ReferenceNet(CFG).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return model, ref, torch.randn(4, 1, 12, 12), torch.tensor([0, 1, 2, 1])


def test_skewness_and_disorder_by_hand():
    imp = torch.zeros(1, 4, 1, 2)
    imp[0, 0] = torch.tensor([3.0, 1.0])  # local channel (k = 1)
    imp[0, 2] = torch.tensor([2.0, 2.0])
    assert torch.isclose(skewness(imp, 1), torch.tensor([0.5])).all()
    # max remote element 2, min local element 1, total 8
    assert torch.isclose(disorder(imp, 1), torch.tensor([1.0 / 8.0])).all()
    imp[0, 2] = 0.5
    assert float(disorder(imp, 1)) == 0.0


def test_ig2_matches_the_formula():
    _, ref, _, y = _setup()
    f = torch.rand(4, 24, 12, 12, requires_grad=True)
    imp, pred = Importance(ref.body, "ig2")(f, y)
    g = torch.autograd.grad(F.cross_entropy(ref.body(f), y, reduction="sum"), f)[0]
    z = torch.zeros_like(f, requires_grad=True)
    g0 = torch.autograd.grad(F.cross_entropy(ref.body(z), y, reduction="sum"), z)[0]
    torch.testing.assert_close(imp, (0.5 * (g + g0) * f).abs(), rtol=1e-4, atol=1e-7)
    assert torch.equal(pred, ref.body(f).argmax(1))


def test_captum_ig_with_two_trapezoid_points_equals_the_authors_two_point_ig():
    _, ref, _, y = _setup()
    f = torch.rand(4, 24, 12, 12, requires_grad=True)
    two_point, _ = Importance(ref.body, "ig2")(f, y)
    captum_ig, _ = Importance(ref.body, "ig", n_steps=2)(f, y)
    # captum's trapezoid weights are (1/n) * [1/2, 1, ..., 1, 1/2] (they sum to (n-1)/n): half here. A constant
    # factor does not change the normalised importance, skewness or disorder.
    torch.testing.assert_close(2.0 * captum_ig, two_point, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", XAI_METHODS)
def test_xai_term_has_gradient_into_the_extractor(method: str):
    model, ref, x, y = _setup()
    out = model(x)
    imp, _ = Importance(ref.body, method, n_steps=3)(out.features, y)
    # the XAI part alone (lam -> 0 weight on CE): rho = 1 keeps the skewness hinge active
    parts = agilenn_loss(out.logits, y, imp, model.k, rho=1.0, lam=1e-6)
    xai_only = parts.total - 1e-6 * F.cross_entropy(out.logits, y)
    grads = torch.autograd.grad(xai_only, [model.extractor.pw2.weight, model.extractor.dw1.weight])
    assert all(float(g.abs().sum()) > 0 for g in grads), f"{method}: XAI loss has no gradient"


def test_stock_captum_saliency_is_detached():
    """Why the gradient function is replaced: captum's default gives no gradient path."""
    from captum.attr import Saliency

    _, ref, _, y = _setup()
    f = torch.rand(2, 24, 12, 12, requires_grad=True)
    stock = Saliency(lambda t: F.log_softmax(ref.body(t), 1)).attribute(f, target=y[:2])
    assert stock.grad_fn is None
    ours, _ = Importance(ref.body, "saliency")(f * 1.0, y[:2])
    assert ours.grad_fn is not None


def test_second_order_path_of_ig2():
    """With f's first-order factor removed, the gradient still flows through g(f) (create_graph)."""
    _, ref, _, y = _setup()
    f = torch.rand(4, 24, 12, 12, requires_grad=True)
    imp, _ = Importance(ref.body, "saliency")(f, y)
    (grad,) = torch.autograd.grad(imp.sum(), f)
    assert float(grad.abs().sum()) > 0


def test_correct_only_mask_and_training_step():
    model, ref, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    imp_fn = Importance(ref.body)
    losses = []
    for _ in range(3):
        out = model(x)
        imp, _pred = imp_fn(out.features, y)
        mask = torch.zeros(4)  # no sample "correct": XAI terms are 0 but the step still works
        parts = agilenn_loss(out.logits, y, imp, model.k, 0.8, 0.5, mask)
        assert float(parts.skew_loss) == 0.0
        opt.zero_grad()
        parts.total.backward()
        opt.step()
        losses.append(float(parts.total.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))


def test_correct_only_rows_equal_the_whole_batch_rows_with_their_gradients():
    """Computing the XAI only for reference-correct samples changes nothing the masked losses use."""
    _, ref, _, _ = _setup()
    imp_fn = Importance(ref.body)
    f = torch.rand(6, 24, 12, 12, requires_grad=True)
    predicted = ref.body(f).argmax(1)
    y = predicted.clone()
    y[[1, 4]] = (predicted[[1, 4]] + 1) % 3  # two samples the reference gets wrong
    full, pred_full = imp_fn(f, y)
    subset, pred_subset = imp_fn(f, y, correct_only=True)
    assert torch.equal(pred_full, pred_subset)
    keep = pred_full == y
    assert keep.tolist() == [True, False, True, True, False, True]
    torch.testing.assert_close(subset[keep], full[keep], rtol=1e-5, atol=1e-7)
    assert float(subset[~keep].detach().abs().sum()) == 0.0
    weights = torch.rand_like(full)
    (g_full,) = torch.autograd.grad((full[keep] * weights[keep]).sum(), f)
    (g_subset,) = torch.autograd.grad((subset * weights).sum(), f)
    torch.testing.assert_close(g_subset, g_full, rtol=1e-4, atol=1e-6)


def test_reference_sees_the_extractor_channel_order_not_the_mapped_one():
    """Regression: with a non-identity mapping layer the frozen body must still get its stem's channel order.

    An extractor copied from the reference stem must be judged exactly as the reference judges itself, and the
    importance map must follow the features through the mapping (so channels [0, k) are the local ones).
    """
    model, ref, x, y = _setup()
    model.extractor.load_state_dict(ref.stem.state_dict())
    model.eval()
    order = torch.randperm(CFG.channels, generator=torch.Generator().manual_seed(3))
    model.mapping.set_order(order)
    imp_fn = Importance(ref.body)
    out = model(x)
    imp, predicted = model.split_order_importance(imp_fn, out, y)
    assert torch.equal(predicted, ref(x).argmax(1))
    own, _ = imp_fn(ref.stem(x), y)
    torch.testing.assert_close(imp, own[:, order], rtol=1e-5, atol=1e-7)
    # the mapped features are what the split sees; the body fed with them would judge a different map
    assert not torch.allclose(ref.body(out.features), ref.body(out.extracted))
