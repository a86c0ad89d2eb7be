"""The export contract: deployable modules equal the trained model; ONNX equals PyTorch; graph and JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from agilenn_codegen.training.config import ModelConfig, TrainConfig
from agilenn_codegen.training.deploy import DeviceModel, RemoteModel
from agilenn_codegen.training.export import export_model
from agilenn_codegen.training.models import AgileNN

CFG = ModelConfig(image_size=16, num_classes=4, remote_depths=(1, 1, 1, 1, 0, 1, 0), remote_last_channels=64)
DATA = {"dataset": "npz", "class_names": ["a", "b", "c", "d"], "mean": [0.5], "std": [0.25]}


def _trained_like(seed: int = 0) -> AgileNN:
    """A model with non-trivial BN statistics, mapping and combiner (as after training)."""
    torch.manual_seed(seed)
    model = AgileNN(CFG)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        model.combiner.w.fill_(1.5)
    model.mapping.set_order(torch.randperm(CFG.channels))
    return model.eval()


def test_device_and_remote_modules_equal_the_trained_model():
    model = _trained_like()
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        out = model(x)
        local_logits, remote_features = DeviceModel(model)(x)
        quantized, _ = model.quantizer(remote_features)
        remote_logits = RemoteModel(model)(quantized)
    torch.testing.assert_close(local_logits, out.local_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(remote_features, out.features[:, model.k :], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(remote_logits, out.remote_logits, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AgileNN, dict]:
    out = tmp_path_factory.mktemp("export")
    model = _trained_like(1)
    cfg = TrainConfig(model=CFG)
    meta = export_model(model, cfg, DATA, out, channel_order=list(range(24)))
    return out, model, meta


def test_onnx_matches_torch(exported):
    out, model, _ = exported
    x = torch.randn(5, 1, 16, 16)
    device = ort.InferenceSession(str(out / "device.onnx"), providers=["CPUExecutionProvider"])
    remote = ort.InferenceSession(str(out / "remote.onnx"), providers=["CPUExecutionProvider"])
    local, feats = device.run(["local_logits", "remote_features"], {"image": x.numpy()})
    with torch.no_grad():
        ref = model(x)
        quantized, _ = model.quantizer(torch.from_numpy(feats))
    np.testing.assert_allclose(local, ref.local_logits.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(feats, ref.features[:, model.k :].numpy(), rtol=1e-4, atol=1e-5)
    (logits,) = remote.run(["remote_logits"], {"remote_features": quantized.numpy()})
    np.testing.assert_allclose(logits, ref.remote_logits.numpy(), rtol=1e-4, atol=1e-4)


def test_device_graph_follows_the_contract(exported):
    out, _model, _ = exported
    graph = onnx.load(str(out / "device.onnx"))
    onnx.checker.check_model(graph, full_check=True)
    ops = {node.op_type for node in graph.graph.node}
    assert ops <= {"Conv", "Clip", "GlobalAveragePool", "Flatten", "Gemm", "Constant"}, ops
    assert not ops & {"Slice", "ReduceMean", "BatchNormalization", "Split", "Gather"}
    opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
    assert 13 <= opset <= 17
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*graph.graph.input, *graph.graph.output]}  # fmt: skip
    assert dims == {"image": ["N", 1, 16, 16], "local_logits": ["N", 4], "remote_features": ["N", 19, 16, 16]}
    remote = onnx.load(str(out / "remote.onnx"))
    assert [i.name for i in remote.graph.input] == ["remote_features"]
    assert [o.name for o in remote.graph.output] == ["remote_logits"]
    assert "BatchNormalization" not in {node.op_type for node in remote.graph.node}


def test_metadata(exported):
    out, _model, meta = exported
    on_disk = json.loads((out / "agilenn.json").read_text())
    assert on_disk == meta
    assert meta["split"]["k"] == 5 and meta["split"]["channels"] == 24
    assert meta["quantizer"]["bits_per_index"] == 3
    centroids = meta["quantizer"]["centroids"]
    assert centroids == sorted(centroids) and len(centroids) == 8
    assert meta["combiner"]["alpha"] == pytest.approx(float(torch.sigmoid(torch.tensor(1.5 / 6.0))))
    assert meta["feature_map"] == {"channels": 19, "height": 16, "width": 16, "layout": "NCHW",
                                   "values_per_sample": 19 * 256, "range": [0.0, 6.0]}  # fmt: skip
    assert meta["input"]["normalisation"]["mean"] == [0.5] and meta["classes"] == ["a", "b", "c", "d"]
    assert set(meta["versions"]) >= {"agilenn_codegen", "torch", "onnx"}
    assert meta["verification"]["device_max_abs_diff_ort_vs_torch"] < 1e-4


def test_alpha_override(tmp_path: Path):
    meta = export_model(_trained_like(2), TrainConfig(model=CFG), DATA, tmp_path, alpha=0.3)
    assert meta["combiner"]["alpha"] == 0.3 and meta["combiner"]["alpha_overridden"]
