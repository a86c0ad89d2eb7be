"""Input samples for verification: the user's own (.npy/.npz), or random and adversarial ones.

Samples are stacked on axis 0; each sample has the model input's shape without its batch axis.
Generated kinds cycle through: random values in the calibrated range, saturating values far outside
it, all-minimum, all-maximum, and exact ties (values that land on k + 0.5 after division by the
input scale, so QuantizeLinear's round-half-to-even is exercised).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError

KINDS = ("random", "saturating", "min", "max", "ties")


def sample_shape(graph: ir.Graph, name: str) -> tuple[int, ...]:
    """A model input's shape without its batch axis."""
    return graph.tensor(name).shape[1:]


def _input_quant(graph: ir.Graph, name: str) -> ir.QParams:
    for node in graph.nodes:
        if node.op == "quantize" and node.inputs[0] == name:
            quant = graph.tensor(node.outputs[0]).quant
            if quant is not None:
                return quant
    tensor = graph.tensor(name)
    return tensor.quant or ir.QParams((1.0,), (0,))


def generate_samples(graph: ir.Graph, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`count` samples per input, cycling through KINDS."""
    rng = np.random.default_rng(seed)
    result = {}
    for name in graph.inputs:
        tensor = graph.tensor(name)
        shape = sample_shape(graph, name)
        q = _input_quant(graph, name)
        s, zp = np.float32(q.scalar_scale), q.scalar_zero_point
        lo, hi = float(s * (-128 - zp)), float(s * (127 - zp))
        out = np.empty((count, *shape), np.float32 if tensor.dtype == ir.DType.FLOAT32 else np.int8)
        for i in range(count):
            kind = KINDS[i % len(KINDS)]
            if tensor.dtype != ir.DType.FLOAT32:
                out[i] = rng.integers(-128, 128, size=shape).astype(np.int8)
                continue
            if kind == "random":
                out[i] = rng.uniform(lo, hi, size=shape)
            elif kind == "saturating":
                span = max(hi - lo, 1e-3)
                out[i] = rng.uniform(lo - 4 * span, hi + 4 * span, size=shape)
            elif kind == "min":
                out[i] = np.float32(lo)
            elif kind == "max":
                out[i] = np.float32(hi)
            else:
                k = rng.integers(-128 - zp, 127 - zp, size=shape).astype(np.float32)
                ties = (k + np.float32(0.5)) * s
                exact = (ties / s) == (k + np.float32(0.5))
                out[i] = np.where(exact, ties, k * s)
        result[name] = out
    return result


def load_samples(path: Path, graph: ir.Graph) -> dict[str, np.ndarray]:
    """Read user samples: .npy for a single-input model, .npz keyed by input name otherwise."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected an .npy or .npz file")
    arrays: Mapping[str, np.ndarray]
    try:
        # np.load tells .npy from .npz by content, whatever the file is called
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
        else:
            arrays = {graph.inputs[0]: loaded}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # numpy falls back to unpickling anything without the .npy/.npz magic, which allow_pickle=False refuses
        reason = "not a NumPy .npy/.npz file" if "pickle" in str(exc) else str(exc)
        raise UserError(
            f"{path}: cannot read samples ({reason})", hint="write them with numpy.save (.npy) or numpy.savez (.npz)"
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile) and len(graph.inputs) != 1:
        raise UserError(
            f"{path}: the model has {len(graph.inputs)} inputs; pass an .npz keyed by "
            f"input name ({', '.join(graph.inputs)})"
        )
    if len(arrays) == 1 and len(graph.inputs) == 1:
        arrays = {graph.inputs[0]: next(iter(arrays.values()))}
    result = {}
    counts = set()
    for name in graph.inputs:
        if name not in arrays:
            raise UserError(f"{path}: no array for model input '{name}' (found {', '.join(arrays) or 'none'})")
        array = np.asarray(arrays[name])
        want = sample_shape(graph, name)
        full = graph.tensor(name).shape
        if array.shape[1:] != want and array.shape[1:] == full:
            array = array.reshape(array.shape[0], *want)
        if array.ndim == 0 or array.shape[1:] != want:
            raise UserError(
                f"{path}: input '{name}' has shape {list(array.shape)}; expected (samples, {', '.join(map(str, want))})"
            )
        if array.shape[0] == 0:
            raise UserError(f"{path}: input '{name}' has no samples (shape {list(array.shape)})")
        dtype = graph.tensor(name).dtype.numpy
        if array.dtype.kind not in "biuf":
            raise UserError(f"{path}: input '{name}' holds {array.dtype} values; expected numbers ({dtype})")
        result[name] = np.ascontiguousarray(array.astype(dtype, casting="same_kind" if dtype.kind == "f" else "unsafe"))
        counts.add(array.shape[0])
    if len(counts) != 1:
        raise UserError(f"{path}: inputs have different sample counts {sorted(counts)}")
    return result
