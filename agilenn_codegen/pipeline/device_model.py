"""The int8 device model of an export folder: quantized once, calibrated on training images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agilenn_codegen.errors import UserError
from agilenn_codegen.pipeline.exported import ExportedModel

CALIBRATION_IMAGES = 256


def _is_quantized(path: Path) -> bool:
    import onnx

    ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    return bool(ops & {"QLinearConv", "QGemm", "QLinearMatMul", "QuantizeLinear"})


def dataset_images(
    exported: ExportedModel, split: str, count: int | None, data_root: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised float32 NCHW images and int64 labels of the export's data set (the trainer's preprocessing)."""
    import torch

    from agilenn_codegen.data.registry import load_dataset
    from agilenn_codegen.training.batches import Preprocess

    if not exported.dataset:
        raise UserError(f"{exported.folder}: agilenn.json names no data set; pass --calibration/--inputs instead")
    dataset = load_dataset(exported.dataset, data_root)
    part = (dataset.train if split == "train" else dataset.test).subset(count)
    mean = exported.mean or dataset.with_stats().mean
    std = exported.std or dataset.with_stats().std
    preprocess = Preprocess(tuple(mean), tuple(std), exported.resize)
    images = torch.from_numpy(part.images.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        x = preprocess(images).numpy().astype(np.float32)
    return np.ascontiguousarray(x), part.labels.astype(np.int64)


def int8_device_model(
    exported: ExportedModel, out_dir: Path, *, calibration: Path | None = None, data_root: Path | None = None
) -> Path:
    """The device model as int8 ONNX: the exported one if already quantized, else quantized here."""
    if _is_quantized(exported.device_onnx):
        return exported.device_onnx
    from agilenn_codegen.quantize import quantize_model

    target = out_dir / "device_int8.onnx"
    source: Path | dict[str, np.ndarray]
    if calibration is not None:
        source = calibration
    else:
        images, _ = dataset_images(exported, "train", CALIBRATION_IMAGES, data_root)
        source = {"image": images}
    out_dir.mkdir(parents=True, exist_ok=True)
    quantize_model(exported.device_onnx, source, target, fmt="qoperator", per_channel=True)
    return target
