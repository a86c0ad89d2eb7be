"""Test-set metrics: accuracy (combined / local-only / remote-only), skewness and transmitted bytes."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from agilenn_codegen.training.losses import skewness
from agilenn_codegen.training.models import AgileNN
from agilenn_codegen.training.xai import Importance


def pack_indices(indices: np.ndarray, bits: int) -> bytes:
    """Pack centroid indices, `bits` each, most significant bit first, zero-padded to a whole byte."""
    flat = indices.astype(np.uint8).reshape(-1, 1)
    bit_planes = np.unpackbits(flat, axis=1)[:, 8 - bits :]
    return np.packbits(bit_planes.reshape(-1)).tobytes()


def reference_accuracy(body: nn.Module, stem: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Accuracy of the reference network (stem + body)."""
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((body(stem(x)).argmax(1) == y).sum())
            total += int(y.numel())
    return correct / max(1, total)


def evaluate_agilenn(
    model: AgileNN,
    importance: Importance | None,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    alpha: float | None = None,
    measure_bytes: bool = False,
) -> tuple[dict[str, float], np.ndarray]:
    """Metrics over `batches` and the per-sample skewness of the samples the reference gets right."""
    was_training = model.training
    model.eval()
    counts = {"final": 0, "local": 0, "remote": 0, "reference": 0}
    total = 0
    skews: list[np.ndarray] = []
    skews_all: list[np.ndarray] = []
    histogram = np.zeros(model.cfg.centroids, dtype=np.int64)
    compressed: list[int] = []
    packed_bytes = 0
    bits = model.quantizer.bits
    for x, y in batches:
        with torch.no_grad():
            out = model(x, alpha=alpha)
        counts["final"] += int((out.logits.argmax(1) == y).sum())
        counts["local"] += int((out.local_logits.argmax(1) == y).sum())
        counts["remote"] += int((out.remote_logits.argmax(1) == y).sum())
        total += int(y.numel())
        if importance is not None:
            imp, predicted = model.split_order_importance(importance, out, y, create_graph=False)
            s = skewness(imp, model.k).cpu().numpy()
            correct = (predicted == y).cpu().numpy()
            counts["reference"] += int(correct.sum())
            skews.append(s[correct])
            skews_all.append(s)
        if measure_bytes:
            with torch.no_grad():
                _, idx = model.quantizer(out.features[:, model.k :])
            idx_np = idx.cpu().numpy()
            histogram += np.bincount(idx_np.reshape(-1), minlength=histogram.size)
            for sample in idx_np:
                packed = pack_indices(sample, bits)
                packed_bytes = len(packed)
                compressed.append(len(zlib.compress(packed, 9)))
    model.train(was_training)
    n = max(1, total)
    metrics = {f"acc_{k}": counts[k] / n for k in ("final", "local", "remote")}
    metrics["alpha"] = float(model.combiner.alpha().detach()) if alpha is None else float(alpha)
    per_sample = np.concatenate(skews) if skews else np.zeros(0)
    if importance is not None:
        metrics["acc_reference_on_features"] = counts["reference"] / n
        metrics["skewness"] = float(per_sample.mean()) if per_sample.size else float("nan")
        metrics["skewness_all"] = float(np.concatenate(skews_all).mean())
    if measure_bytes:
        probs = histogram / max(1, histogram.sum())
        entropy = -sum(float(p) * math.log2(float(p)) for p in probs if p > 0)
        count = (model.cfg.channels - model.k) * model.cfg.feature_size**2
        metrics["remote_values_per_sample"] = count
        metrics["bytes_float32"] = count * 4
        metrics["bytes_packed"] = packed_bytes
        metrics["bytes_zlib_mean"] = float(np.mean(compressed)) if compressed else 0.0
        metrics["bytes_order0_entropy"] = count * entropy / 8.0
    return metrics, per_sample
