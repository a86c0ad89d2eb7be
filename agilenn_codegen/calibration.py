"""Calibration data for static int8 quantization: loading, validation against the model, batching.

Calibration data is a mapping from a model input name to a float array whose first axis is the
sample axis. On disk it is an ``.npz`` archive keyed by input name; a model with a single input may
use any single key, or a plain ``.npy`` array.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from agilenn_codegen.errors import UserError

# Samples fed to onnxruntime per calibration run when the model's batch axis is symbolic.
_DYNAMIC_CHUNK = 32


@dataclass(frozen=True)
class InputSpec:
    """One graph input of a float model: its name, dims (None = symbolic) and numpy dtype."""

    name: str
    dims: tuple[int | None, ...]
    dtype: np.dtype

    def describe(self) -> str:
        """Return e.g. ``input[N,3,32,32] float32``."""
        dims = ",".join("N" if d is None else str(d) for d in self.dims)
        return f"{self.name}[{dims}] {self.dtype}"


def model_inputs(model: onnx.ModelProto) -> list[InputSpec]:
    """Return the real inputs of ``model`` (graph inputs that are not initializers), in order."""
    initializers = {init.name for init in model.graph.initializer}
    specs: list[InputSpec] = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim
        )
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        except (KeyError, ValueError, TypeError):
            dtype = np.dtype("O")
        specs.append(InputSpec(value.name, dims, dtype))
    return specs


def load_calibration(path: Path) -> dict[str, np.ndarray]:
    """Read an ``.npz`` (or single-array ``.npy``) calibration file into a dict of arrays."""
    if not path.exists():
        raise UserError(f"calibration file not found: {path}")
    if not path.is_file():
        raise UserError(f"calibration path is not a file: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(
            f"cannot read calibration data {path}: expected a .npz archive keyed by input name ({exc})"
        ) from None
    if isinstance(loaded, np.ndarray):
        return {path.stem: loaded}
    with loaded as archive:
        try:
            return {key: np.asarray(archive[key]) for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise UserError(f"cannot read calibration data {path}: {exc}") from None


def validate_calibration(data: Mapping[str, np.ndarray], inputs: Sequence[InputSpec]) -> dict[str, np.ndarray]:
    """Match calibration arrays to the model inputs; return float arrays keyed by input name.

    Raises :class:`UserError` naming expected versus got when keys, ranks, shapes, dtypes or
    sample counts do not match, or when the data holds NaN or infinity.
    """
    expected = [spec.name for spec in inputs]
    keys = list(data.keys())
    if not keys:
        raise UserError(f"calibration data is empty; expected arrays for inputs {expected}")
    if len(inputs) == 1 and len(keys) == 1:
        named = {inputs[0].name: data[keys[0]]}
    elif sorted(keys) != sorted(expected):
        raise UserError(f"calibration keys do not match the model inputs: expected {expected}, got {keys}")
    else:
        named = {name: data[name] for name in expected}

    result: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for spec in inputs:
        array = np.asarray(named[spec.name])
        if array.dtype.kind not in "fiu":
            raise UserError(f"calibration array for input '{spec.name}' has dtype {array.dtype}; expected numbers")
        if spec.dtype.kind != "f":
            raise UserError(f"model input '{spec.name}' has type {spec.dtype}; quantize expects a float model")
        want = spec.dims[1:]
        got = array.shape[1:]
        if array.ndim != len(spec.dims) or any(w is not None and w != g for w, g in zip(want, got, strict=True)):
            raise UserError(
                f"calibration array for input '{spec.name}' has shape {array.shape}; expected "
                f"(samples, {', '.join('?' if w is None else str(w) for w in want)}) for {spec.describe()}"
            )
        if array.shape[0] == 0:
            raise UserError(f"calibration array for input '{spec.name}' holds no samples")
        batch = spec.dims[0] if spec.dims else None
        if batch is not None and array.shape[0] % batch != 0:
            raise UserError(
                f"calibration array for input '{spec.name}' has {array.shape[0]} samples; the model's "
                f"batch size is fixed at {batch}, so the count must be a multiple of {batch}"
            )
        converted = array.astype(spec.dtype, copy=False)
        if not np.all(np.isfinite(converted)):
            raise UserError(f"calibration array for input '{spec.name}' contains NaN or infinity")
        result[spec.name] = np.ascontiguousarray(converted)
        counts[spec.name] = array.shape[0]
    if len(set(counts.values())) > 1:
        raise UserError(f"calibration arrays have different sample counts: {counts}")
    return result


class ArrayDataReader:
    """A deterministic onnxruntime CalibrationDataReader over validated calibration arrays."""

    def __init__(self, data: Mapping[str, np.ndarray], inputs: Sequence[InputSpec]) -> None:
        """Split ``data`` into feeds of the model's fixed batch size (or chunks of 32 samples)."""
        first = next(iter(data.values()))
        total = first.shape[0]
        fixed = {spec.dims[0] for spec in inputs if spec.dims and spec.dims[0] is not None}
        step = min(fixed) if fixed else _DYNAMIC_CHUNK
        self._feeds = [
            {name: array[start : start + step] for name, array in data.items()} for start in range(0, total, step)
        ]
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self._feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """Return the next feed, or None when exhausted."""
        return next(self._iter, None)

    def rewind(self) -> None:
        """Start again from the first feed."""
        self._iter = iter(self._feeds)

    def __len__(self) -> int:
        """Number of feeds."""
        return len(self._feeds)
