"""An `agilenn export` folder (device.onnx, remote.onnx, agilenn.json), read and checked once."""

from __future__ import annotations

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


def load_exported(folder: Path, *, device: Path | None = None, remote: Path | None = None) -> ExportedModel:
    """Read an export folder; a clear UserError names the file and key when something is missing or wrong.

    The keys the server also needs are checked by the server's own parser (one reading of
    agilenn.json for both sides); the files it names must lie inside the folder. Both ONNX files
    are parsed and checked here, and their inputs and outputs compared with agilenn.json, so a
    truncated or mismatched file is refused before any work. `device`/`remote` override the files
    agilenn.json names (a generated library folder keeps its own copies under model/)."""
    from agilenn_codegen.server.model import confined_file, parse_spec, read_meta, require_key

    meta = read_meta(folder)
    meta_path = folder / METADATA
    spec = parse_spec(meta, meta_path)
    if list(spec.centroids) != sorted(spec.centroids):
        raise UserError(f"{meta_path}: quantizer.centroids must be sorted")
    device = device or confined_file(meta, meta_path, "files.device")
    remote = remote or confined_file(meta, meta_path, "files.remote")
    for path in (device, remote):
        if not path.is_file():
            raise UserError(f"{path}: missing (named in {meta_path})")
    input_shape = _image_shape(require_key(meta, meta_path, "input.shape"), meta_path)
    feature_shape = (spec.channels, spec.height, spec.width)
    _check_device_onnx(device, meta_path, input_shape)
    _check_remote_onnx(remote, meta_path, feature_shape, spec.num_classes)
    norm = _mapping(meta, meta_path, "input.normalisation")
    classes = meta.get("classes") or [str(i) for i in range(spec.num_classes)]
    if not isinstance(classes, list) or len(classes) != spec.num_classes:
        raise UserError(f"{meta_path}: key 'classes' must list {spec.num_classes} class names ('num_classes')")
    dataset = meta.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or not dataset.replace("-", "_").isidentifier()):
        raise UserError(f"{meta_path}: key 'dataset' must be a data set name such as fashion-mnist, got {dataset!r}")
    resize = norm.get("resize_to")
    if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 1):
        raise UserError(f"{meta_path}: key 'input.normalisation.resize_to' must be a positive integer or null")
    return ExportedModel(
        folder=folder,
        meta=meta,
        device_onnx=device,
        remote_onnx=remote,
        num_classes=spec.num_classes,
        class_names=tuple(str(c) for c in classes),
        input_shape=input_shape,
        feature_shape=feature_shape,
        centroids=tuple(float(c) for c in spec.centroids),
        alpha=float(spec.alpha),
        dataset=dataset,
        mean=_numbers(norm, meta_path, "mean", input_shape[0]),
        std=_numbers(norm, meta_path, "std", input_shape[0], positive=True),
        resize=resize,
    )


def _mapping(meta: dict[str, Any], meta_path: Path, dotted: str) -> dict[str, Any]:
    node: Any = meta
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise UserError(f"{meta_path}: key {dotted!r} must be an object")
    return node


def _image_shape(shape: Any, meta_path: Path) -> tuple[int, ...]:
    """input.shape is [N, C, H, W] with positive C, H, W; returns (C, H, W)."""
    dims = shape[1:] if isinstance(shape, list) and len(shape) == 4 else None
    if dims is None or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise UserError(f"{meta_path}: key 'input.shape' must be [N, C, H, W] with positive C, H, W, got {shape!r}")
    return tuple(dims)


def _numbers(norm: dict[str, Any], meta_path: Path, key: str, channels: int, *, positive: bool = False) -> tuple:
    values = norm.get(key) or ()
    ok = isinstance(values, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
        for v in values
    )
    if not ok or len(values) not in (0, 1, channels):
        what = "positive numbers" if positive else "numbers"
        raise UserError(f"{meta_path}: key 'input.normalisation.{key}' must be 1 or {channels} finite {what}")
    return tuple(float(v) for v in values)


def _dims_text(dims: tuple[int | str, ...]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _check_device_onnx(path: Path, meta_path: Path, input_shape: tuple[int, ...]) -> None:
    from agilenn_codegen.compiler.frontend import read_signature
    from agilenn_codegen.pipeline.reference import LOCAL_OUTPUT, REMOTE_OUTPUT

    inputs, outputs = read_signature(path)
    if len(inputs) != 1 or tuple(inputs[0].dims[1:]) != input_shape or len(inputs[0].dims) != 4:
        found = ", ".join(f"{i.name} {_dims_text(i.dims)}" for i in inputs) or "none"
        raise UserError(
            f"{path}: expected one image input [N, {', '.join(map(str, input_shape))}] ('input.shape' in "
            f"{meta_path}), found {found}"
        )
    names = {o.name for o in outputs}
    if not {LOCAL_OUTPUT, REMOTE_OUTPUT} <= names:
        raise UserError(
            f"{path}: expected the outputs '{LOCAL_OUTPUT}' and '{REMOTE_OUTPUT}' of `agilenn export`, found "
            f"{', '.join(sorted(names)) or 'none'}"
        )


def _check_remote_onnx(path: Path, meta_path: Path, feature_shape: tuple[int, int, int], num_classes: int) -> None:
    from agilenn_codegen.compiler.frontend import read_signature

    inputs, outputs = read_signature(path)
    if len(inputs) != 1 or len(inputs[0].dims) != 4 or tuple(inputs[0].dims[1:]) != feature_shape:
        found = ", ".join(f"{i.name} {_dims_text(i.dims)}" for i in inputs) or "none"
        raise UserError(
            f"{path}: expected one input [N, {', '.join(map(str, feature_shape))}] ('feature_map' in {meta_path}), "
            f"found {found}"
        )
    if not outputs or not outputs[0].dims or outputs[0].dims[-1] != num_classes:
        found = f"{outputs[0].name} {_dims_text(outputs[0].dims)}" if outputs else "none"
        raise UserError(f"{path}: expected the output [N, {num_classes}] ('num_classes' in {meta_path}), found {found}")
