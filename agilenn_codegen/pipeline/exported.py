"""An `agilenn export` folder (device.onnx, remote.onnx, agilenn.json), read and checked once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agilenn_codegen.errors import UserError
from agilenn_codegen.offload.context_model import ContextModel

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

    coder: ContextModel | None = None  # agilenn.json `coder`: the context coder's tables

    @property
    def num_centroids(self) -> int:
        return len(self.centroids)

    @property
    def symbol_values(self) -> tuple[float, ...]:
        """The alphabet: the distinct centroid values, ascending (float32 values as Python floats)."""
        from agilenn_codegen.pipeline.symbols import symbol_values

        return tuple(float(v) for v in symbol_values(self.centroids))

    @property
    def alphabet(self) -> int:
        """K: the number of distinct centroid values."""
        return len(self.symbol_values)

    @property
    def bits_per_index(self) -> int:
        """Raw packing bits per symbol: max(1, ceil(log2 K))."""
        return max(1, math.ceil(math.log2(self.alphabet)))

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


def load_exported(
    folder: Path, *, device: Path | None = None, remote: Path | None = None, with_coder: bool = True
) -> ExportedModel:
    """Read an export folder; a clear UserError names the file and key when something is missing.

    The keys the server also needs are checked by the server's own parser (one reading of
    agilenn.json for both sides). `device`/`remote` override the ONNX files agilenn.json names (a
    generated library folder keeps its own copies under model/). ``with_coder=False`` leaves out the
    `coder` tables (for `agilenn fit-coder`, which replaces them, valid or not)."""
    from agilenn_codegen.server.model import parse_spec, read_meta, require_key

    meta = read_meta(folder)
    if not with_coder:
        meta.pop("coder", None)
    meta_path = folder / METADATA
    spec = parse_spec(meta, meta_path)
    if list(spec.centroids) != sorted(spec.centroids):
        raise UserError(f"{meta_path}: quantizer.centroids must be sorted")
    device = device or folder / str(require_key(meta, meta_path, "files.device"))
    remote = remote or folder / str(require_key(meta, meta_path, "files.remote"))
    for path in (device, remote):
        if not path.is_file():
            raise UserError(f"{path}: missing (named in {meta_path})")
    shape = require_key(meta, meta_path, "input.shape")
    norm = meta.get("input", {}).get("normalisation", {}) or {}
    classes = meta.get("classes") or [str(i) for i in range(spec.num_classes)]
    return ExportedModel(
        folder=folder,
        meta=meta,
        device_onnx=device,
        remote_onnx=remote,
        num_classes=spec.num_classes,
        class_names=tuple(str(c) for c in classes),
        input_shape=tuple(int(d) for d in shape[1:]),
        feature_shape=(spec.channels, spec.height, spec.width),
        centroids=tuple(float(c) for c in spec.centroids),
        alpha=float(spec.alpha),
        dataset=meta.get("dataset"),
        mean=tuple(float(v) for v in (norm.get("mean") or ())),
        std=tuple(float(v) for v in (norm.get("std") or ())),
        resize=norm.get("resize_to"),
        coder=spec.coder,
    )
