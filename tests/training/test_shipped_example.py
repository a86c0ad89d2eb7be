"""The shipped example model in examples/agilenn_fmnist honours the export contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agilenn_fmnist"
pytestmark = pytest.mark.skipif(not (EXAMPLE / "agilenn.json").is_file(), reason="example not exported yet")


def test_files_and_metadata():
    meta = json.loads((EXAMPLE / "agilenn.json").read_text())
    assert meta["format"] == "agilenn-export" and meta["num_classes"] == 10
    assert meta["split"]["k"] == 5 and meta["quantizer"]["bits_per_index"] == 3
    assert meta["quantizer"]["centroids"] == sorted(meta["quantizer"]["centroids"])
    for name in ("device.onnx", "remote.onnx"):
        model = onnx.load(str(EXAMPLE / name))
        onnx.checker.check_model(model, full_check=True)
    assert (EXAMPLE / "remote.onnx").stat().st_size < 4_000_000
    assert (EXAMPLE / "device.onnx").stat().st_size < 50_000


def test_device_then_remote_runs():
    meta = json.loads((EXAMPLE / "agilenn.json").read_text())
    device = ort.InferenceSession(str(EXAMPLE / "device.onnx"), providers=["CPUExecutionProvider"])
    remote = ort.InferenceSession(str(EXAMPLE / "remote.onnx"), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    local, feats = device.run(["local_logits", "remote_features"], {"image": image})
    assert local.shape == (2, 10) and feats.shape == (2, 19, 28, 28)
    assert feats.min() >= 0.0 and feats.max() <= 6.0
    centroids = np.asarray(meta["quantizer"]["centroids"], dtype=np.float32)
    index = np.abs(feats[..., None] - centroids).argmin(-1)  # argmin: first (lower) index on ties
    (logits,) = remote.run(["remote_logits"], {"remote_features": centroids[index]})
    alpha = meta["combiner"]["alpha"]
    combined = alpha * local + (1 - alpha) * logits
    assert combined.shape == (2, 10) and np.isfinite(combined).all()
