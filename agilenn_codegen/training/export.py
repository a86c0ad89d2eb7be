"""`agilenn export`: write device.onnx, remote.onnx and agilenn.json (the contract with compiler and server).

device.onnx  input `image` (N, C, H, W) float32, normalised as agilenn.json says (normalisation is NOT in
             the graph) -> `local_logits` (N, classes), `remote_features` (N, C-k, H', W') after Clip(0, 6).
remote.onnx  input `remote_features` (N, C-k, H', W') float32, the dequantized centroid values
             -> `remote_logits` (N, classes).
The batch axis is dynamic and named "N"; every other dimension is static.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agilenn_codegen import __version__
from agilenn_codegen.training.config import TrainConfig
from agilenn_codegen.training.deploy import DeviceModel, RemoteModel
from agilenn_codegen.training.models import AgileNN

OPSET = 17
FORMAT_VERSION = 1


def _export(module: torch.nn.Module, example: torch.Tensor, path: Path, inputs: list[str], outputs: list[str]) -> None:
    axes = {name: {0: "N"} for name in inputs + outputs}
    with warnings.catch_warnings():  # the TorchScript-based exporter announces its deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=inputs,
            output_names=outputs,
            opset_version=OPSET,
            dynamic_axes=axes,
            dynamo=False,
            do_constant_folding=True,
        )


def sorted_centroids(model: AgileNN) -> list[float]:
    """Centroid values in increasing order (the transmitted index refers to this order)."""
    return sorted(float(v) for v in model.quantizer.centroids().detach())


def max_abs_diff(session_path: Path, module: torch.nn.Module, example: torch.Tensor) -> float:
    """Largest |onnxruntime - torch| over all outputs for `example`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(session_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    with torch.no_grad():
        want = module(example)
    want_list = list(want) if isinstance(want, tuple) else [want]
    return max(float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want_list, strict=True))


def export_model(
    model: AgileNN,
    cfg: TrainConfig,
    data_info: dict[str, Any],
    out: Path,
    *,
    alpha: float | None = None,
    metrics: dict[str, Any] | None = None,
    channel_order: list[int] | None = None,
) -> dict[str, Any]:
    """Write the three files into `out`; returns the metadata written to agilenn.json."""
    import onnx

    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    device, remote = DeviceModel(model).eval(), RemoteModel(model).eval()
    m = cfg.model
    size, fsize, k = m.image_size, m.feature_size, model.k
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(2, m.in_channels, size, size, generator=gen)
    feats = torch.rand(2, m.channels - k, fsize, fsize, generator=gen) * 6.0
    _export(device, image, out / "device.onnx", ["image"], ["local_logits", "remote_features"])
    _export(remote, feats, out / "remote.onnx", ["remote_features"], ["remote_logits"])
    for name in ("device.onnx", "remote.onnx"):
        onnx.checker.check_model(onnx.load(str(out / name)), full_check=True)
    centroids = sorted_centroids(model)
    trained_alpha = float(model.combiner.alpha().detach())
    meta: dict[str, Any] = {
        "format": "agilenn-export",
        "format_version": FORMAT_VERSION,
        "dataset": data_info.get("dataset"),
        "files": {"device": "device.onnx", "remote": "remote.onnx"},
        "input": {
            "name": "image",
            "shape": ["N", m.in_channels, size, size],
            "layout": "NCHW",
            "dtype": "float32",
            "normalisation": {
                "in_model": False,
                "formula": "image[c] = (resize(pixel[c] / 255) - mean[c]) / std[c], pixel in 0..255",
                "mean": data_info.get("mean"),
                "std": data_info.get("std"),
                "resize_to": cfg.data.resize,
            },
        },
        "classes": data_info.get("class_names"),
        "num_classes": m.num_classes,
        "split": {
            "channels": m.channels,
            "k": k,
            "split_ratio": m.split_ratio,
            "local_channels": [0, k],
            "remote_channels": [k, m.channels],
            "channel_order": channel_order or list(range(m.channels)),
            "channel_order_note": "extractor output channel i was channel channel_order[i] of the freshly "
            "initialised extractor (pre-processing, Algorithm 1); the mapping layer is folded into the filters",
        },
        "outputs": {
            "device": {"local_logits": ["N", m.num_classes], "remote_features": ["N", m.channels - k, fsize, fsize]},
            "remote": {"remote_logits": ["N", m.num_classes]},
        },
        "feature_map": {
            "channels": m.channels - k,
            "height": fsize,
            "width": fsize,
            "layout": "NCHW",
            "values_per_sample": (m.channels - k) * fsize * fsize,
            "range": [0.0, 6.0],
        },
        "quantizer": {
            "num_centroids": len(centroids),
            "centroids": centroids,
            "bits_per_index": max(1, math.ceil(math.log2(len(centroids)))),
            "rule": "index = argmin_j |x - centroids[j]| over the sorted centroids; on a tie the lower index "
            "(the smaller centroid) wins",
            "dequantize": "x = centroids[index]",
            "index_order": "row-major over (channel, row, column) of remote_features",
        },
        "combiner": {
            "formula": "logits = alpha * local_logits + (1 - alpha) * remote_logits",
            "alpha": float(alpha) if alpha is not None else trained_alpha,
            "alpha_trained": trained_alpha,
            "alpha_overridden": alpha is not None,
            "mode": m.combiner,
            "T": m.temperature,
            "w": [float(v) for v in model.combiner.w.detach()],
        },
        "training": {
            "rho": cfg.loss.rho,
            "lambda": cfg.loss.lam,
            "xai": cfg.xai.method,
            "epochs": cfg.optim.epochs,
            "remote_width": m.remote_width,
            "remote_depths": list(m.remote_depths),
        },
        "opset": OPSET,
        "verification": {
            "device_max_abs_diff_ort_vs_torch": max_abs_diff(out / "device.onnx", device, image),
            "remote_max_abs_diff_ort_vs_torch": max_abs_diff(out / "remote.onnx", remote, feats),
        },
        "versions": _versions(),
    }
    if metrics:
        meta["metrics"] = metrics
    (out / "agilenn.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _versions() -> dict[str, str]:
    import onnx

    versions = {"agilenn_codegen": __version__, "torch": torch.__version__, "onnx": onnx.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover - onnxruntime is a dependency
        pass
    return versions
