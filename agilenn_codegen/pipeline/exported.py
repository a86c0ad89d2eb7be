"""An `agilenn export` folder (device.onnx, remote.onnx, agilenn.json), read and checked once."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agilenn_codegen.errors import UserError

METADATA = "agilenn.json"


@dataclass(frozen=True)
class ExportedModel:
    folder: Path
    meta: dict[str, Any]
    device_onnx: Path
    remote_onnx: Path
    num_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]  # (C, H, W) of one image
    feature_shape: tuple[int, int, int]  # (C_r, H, W) of the remote features
    centroids: tuple[float, ...]
    alpha: float
    dataset: str | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None

    @property
    def num_centroids(self) -> int:
        return len(self.centroids)

    @property
    def bits_per_index(self) -> int:
        return max(1, math.ceil(math.log2(len(self.centroids))))

    @property
    def feature_size(self) -> int:
        c, h, w = self.feature_shape
        return c * h * w

    @property
    def model_id(self) -> int:
        from agilenn_codegen.offload import model_id

        return model_id(self.meta)


def is_export_folder(path: Path) -> bool:
    return path.is_dir() and (path / METADATA).is_file()


def _get(meta: dict[str, Any], path: str, where: Path) -> Any:
    value: Any = meta
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise UserError(f"{where}: key '{path}' is missing", hint="re-export the model with `agilenn export`")
        value = value[key]
    return value


def load_exported(folder: Path, *, device: Path | None = None, remote: Path | None = None) -> ExportedModel:
    """Read an export folder; a clear UserError names the file and key when something is missing.

    `device`/`remote` override the ONNX files agilenn.json names (a generated library folder keeps
    its own copies under model/)."""
    meta_path = folder / METADATA
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (expected the output of `agilenn export`)")
    if not meta_path.is_file():
        raise UserError(f"{folder}: no {METADATA} in it; is this an `agilenn export` folder?")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{meta_path}: not readable JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise UserError(f"{meta_path}: expected a JSON object")
    device = device or folder / str(_get(meta, "files.device", meta_path))
    remote = remote or folder / str(_get(meta, "files.remote", meta_path))
    for path in (device, remote):
        if not path.is_file():
            raise UserError(f"{path}: missing (named in {meta_path})")
    shape = _get(meta, "input.shape", meta_path)
    fmap = _get(meta, "feature_map", meta_path)
    centroids = tuple(float(c) for c in _get(meta, "quantizer.centroids", meta_path))
    if not centroids or list(centroids) != sorted(centroids):
        raise UserError(f"{meta_path}: quantizer.centroids must be a non-empty sorted list")
    if len(centroids) > 256:
        raise UserError(f"{meta_path}: {len(centroids)} centroids; at most 256 are supported")
    norm = meta.get("input", {}).get("normalisation", {}) or {}
    classes = meta.get("classes") or [str(i) for i in range(int(_get(meta, "num_classes", meta_path)))]
    return ExportedModel(
        folder=folder,
        meta=meta,
        device_onnx=device,
        remote_onnx=remote,
        num_classes=int(_get(meta, "num_classes", meta_path)),
        class_names=tuple(str(c) for c in classes),
        input_shape=tuple(int(d) for d in shape[1:]),
        feature_shape=(int(fmap["channels"]), int(fmap["height"]), int(fmap["width"])),
        centroids=centroids,
        alpha=float(_get(meta, "combiner.alpha", meta_path)),
        dataset=meta.get("dataset"),
        mean=tuple(float(v) for v in (norm.get("mean") or ())),
        std=tuple(float(v) for v in (norm.get("std") or ())),
        resize=norm.get("resize_to"),
    )
