"""The model a server serves: agilenn.json, its model id, and remote.onnx in onnxruntime.

:func:`load_served_model` checks the exported folder up front and raises one
:class:`~agilenn_codegen.errors.UserError` naming the file and key at fault, so `agilenn serve`
never starts on a folder it cannot answer for. :class:`ServedModel` turns centroid indices into
the float32 feature map that remote.onnx takes and runs it, one sample or a batch at a time.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from agilenn_codegen.errors import UserError
from agilenn_codegen.offload.context_coder import ContextCodec
from agilenn_codegen.offload.context_model import ContextModel

META_FILE = "agilenn.json"


@dataclass(frozen=True)
class ModelSpec:
    """What the wire format needs to know about the served model (all from agilenn.json)."""

    # derived values are cached (the server reads them for every request): the fields must not change
    model_id: int
    num_classes: int
    channels: int
    height: int
    width: int
    centroids: np.ndarray = field(repr=False)  # float32, as agilenn.json lists them (sorted, maybe repeated)
    alpha: float
    coder: ContextModel | None = field(default=None, repr=False)  # agilenn.json `coder`: payload encoding 2

    @functools.cached_property
    def values(self) -> np.ndarray:
        """The alphabet: distinct centroid values, float32 ascending (symbol s means values[s])."""
        from agilenn_codegen.pipeline.symbols import symbol_values

        return symbol_values(self.centroids)

    @functools.cached_property
    def num_symbols(self) -> int:
        """N = C_r * H * W, the number of symbols in one request."""
        return self.channels * self.height * self.width

    @functools.cached_property
    def alphabet(self) -> int:
        """K, the alphabet size: the number of distinct centroid values."""
        return int(self.values.shape[0])

    @functools.cached_property
    def raw_bits(self) -> int:
        """Bits per symbol of the raw packing: max(1, ceil(log2 K))."""
        from agilenn_codegen.offload import raw_bits

        return raw_bits(self.alphabet)

    @functools.cached_property
    def max_payload(self) -> int:
        """Largest valid request payload: raw packing plus the 7-byte payload header."""
        return 7 + (self.num_symbols * self.raw_bits + 7) // 8

    @functools.cached_property
    def context(self) -> ContextCodec | None:
        """The context coder of payload encoding 2 (C decoder when built), or None without tables."""
        if self.coder is None:
            return None
        return ContextCodec(self.coder, self.height, self.width)

    def features(self, symbols: np.ndarray) -> np.ndarray:
        """Symbols (N,) -> dequantized float32 feature map (C_r, H, W): values[s]."""
        return self.values[symbols.astype(np.intp)].reshape(self.channels, self.height, self.width)


def require_key(meta: Mapping[str, Any], path: Path, dotted: str) -> Any:
    node: Any = meta
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise UserError(f"{path}: missing key {dotted!r}", hint="re-export the model with `agilenn export`")
        node = node[part]
    return node


def _positive_int(meta: Mapping[str, Any], path: Path, dotted: str) -> int:
    value = require_key(meta, path, dotted)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{path}: key {dotted!r} must be a positive integer, got {value!r}")
    return value


def confined_file(meta: Mapping[str, Any], path: Path, dotted: str) -> Path:
    """The file agilenn.json names under `dotted`, which must lie inside its folder.

    A plain relative name is required: no absolute path, no '..', and no link that leads out of
    the folder, so a metadata file cannot make a tool read (or a server serve) files elsewhere."""
    name = require_key(meta, path, dotted)
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{path}: key {dotted!r} must be a file name, got {name!r}")
    folder = path.parent
    relative = PurePosixPath(name.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or PureWindowsPath(name).drive:
        raise UserError(
            f"{path}: key {dotted!r} is {name!r}; files must be named relative to the folder and lie inside it",
            hint="re-export the model with `agilenn export`",
        )
    file = folder / relative
    if not file.is_file():
        raise UserError(f"{file} not found (named by {dotted!r} in {path})")
    if not file.resolve().is_relative_to(folder.resolve()):
        raise UserError(
            f"{path}: key {dotted!r} names {name!r}, a link that leads outside the folder (to {file.resolve()}); "
            "files must lie inside it",
            hint="copy the file into the folder instead of linking it",
        )
    return file


def read_meta(model_dir: Path) -> dict[str, Any]:
    """Read and parse MODEL_DIR/agilenn.json (UserError when the folder or file is missing or not JSON)."""
    if not model_dir.is_dir():
        raise UserError(
            f"model folder {model_dir} does not exist or is not a folder",
            hint="pass the folder written by `agilenn export`",
        )
    path = model_dir / META_FILE
    if not path.is_file():
        raise UserError(f"{path} not found", hint="pass the folder written by `agilenn export`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise UserError(f"{path}: expected a JSON object at the top level")
    return meta


def parse_spec(meta: Mapping[str, Any], path: Path) -> ModelSpec:
    """Validate the keys the server needs and compute the model id."""
    from agilenn_codegen.offload import model_id

    num_classes = _positive_int(meta, path, "num_classes")
    channels = _positive_int(meta, path, "feature_map.channels")
    height = _positive_int(meta, path, "feature_map.height")
    width = _positive_int(meta, path, "feature_map.width")
    raw = require_key(meta, path, "quantizer.centroids")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not 1 <= len(raw) <= 256:
        raise UserError(f"{path}: key 'quantizer.centroids' must be a list of 1 to 256 numbers")
    try:
        centroids = np.asarray([float(v) for v in raw], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: key 'quantizer.centroids' must hold numbers ({exc})") from exc
    if not np.all(np.isfinite(centroids)):
        raise UserError(f"{path}: key 'quantizer.centroids' holds a non-finite value")
    k = _positive_int(meta, path, "quantizer.num_centroids")
    if k != len(centroids):
        raise UserError(f"{path}: 'quantizer.num_centroids' is {k} but 'quantizer.centroids' has {len(centroids)}")
    alpha = require_key(meta, path, "combiner.alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise UserError(f"{path}: key 'combiner.alpha' must be a number in [0, 1], got {alpha!r}")
    spec = ModelSpec(model_id(meta), num_classes, channels, height, width, centroids, float(alpha))
    if "coder" not in meta:
        return spec
    try:
        coder = ContextModel.from_json(meta["coder"])
    except ValueError as exc:
        raise UserError(
            f"{path}: key 'coder' is not valid context-coder tables ({exc})",
            hint=f"refit them with `agilenn fit-coder {path.parent}`",
        ) from None
    if coder.alphabet != spec.alphabet or coder.channels != channels or max(height, width) > 0xFFFF:
        raise UserError(
            f"{path}: key 'coder' has tables for K={coder.alphabet}, {coder.channels} channels; the model has "
            f"K={spec.alphabet} distinct centroid values and {channels} channels",
            hint=f"refit them with `agilenn fit-coder {path.parent}`",
        )
    return dataclasses.replace(spec, coder=coder)


class ServedModel:
    """remote.onnx in an onnxruntime CPU session, plus the spec it was exported with."""

    def __init__(self, model_dir: Path, *, threads: int = 1) -> None:
        self.model_dir = model_dir
        self.meta = read_meta(model_dir)
        meta_path = model_dir / META_FILE
        self.spec = parse_spec(self.meta, meta_path)
        self.remote_path = confined_file(self.meta, meta_path, "files.remote")
        self._session = self._open_session(threads)
        self.input_name, self.dynamic_batch = self._check_io()
        self.batch_ok = self.dynamic_batch

    def _open_session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.remote_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise UserError(f"{self.remote_path}: onnxruntime cannot load it ({exc})") from exc

    def _check_io(self) -> tuple[str, bool]:
        spec = self.spec
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise UserError(f"{self.remote_path}: expected one input, found {len(inputs)}")
        shape = list(inputs[0].shape)
        want = [spec.channels, spec.height, spec.width]
        if len(shape) != 4 or shape[1:] != want:
            raise UserError(
                f"{self.remote_path}: input {inputs[0].name!r} has shape {shape}, expected [N, {want[0]}, {want[1]}, "
                f"{want[2]}] from 'feature_map' in {self.model_dir / META_FILE}"
            )
        dynamic = not isinstance(shape[0], int)
        if not dynamic and shape[0] != 1:
            raise UserError(f"{self.remote_path}: static batch size {shape[0]}; expected 1 or a dynamic batch axis")
        probe = np.repeat(spec.centroids[:1], spec.num_symbols).reshape(1, *want)
        try:
            out = self._session.run(None, {inputs[0].name: probe})[0]
        except Exception as exc:  # onnxruntime's own exception types
            raise UserError(f"{self.remote_path}: onnxruntime failed on a probe input ({exc})") from exc
        if tuple(np.shape(out)) != (1, spec.num_classes):
            raise UserError(
                f"{self.remote_path}: first output has shape {list(np.shape(out))}, expected [1, {spec.num_classes}] "
                f"('num_classes' in {self.model_dir / META_FILE})"
            )
        return inputs[0].name, dynamic

    def run(self, features: np.ndarray) -> np.ndarray:
        """(B, C_r, H, W) float32 -> (B, num_classes) float32; one onnxruntime call per row without batching."""
        if features.shape[0] == 1 or self.batch_ok:
            out = self._session.run(None, {self.input_name: np.ascontiguousarray(features, dtype=np.float32)})[0]
            return np.asarray(out, dtype=np.float32)
        return np.concatenate([self.run(features[i : i + 1]) for i in range(features.shape[0])])

    def check_batching(self, batch_max: int, seed: int = 0) -> bool:
        """Run random centroid maps batched and one by one; keep batching only if every bit matches."""
        if not self.dynamic_batch or batch_max < 2:
            self.batch_ok = False
            return False
        rng = np.random.default_rng(seed)
        spec = self.spec
        symbols = rng.integers(0, spec.alphabet, size=(batch_max, spec.num_symbols))
        features = np.stack([spec.features(row) for row in symbols])
        singles = [self._session.run(None, {self.input_name: features[i : i + 1]})[0] for i in range(batch_max)]
        self.batch_ok = True
        for size in range(2, batch_max + 1):
            batched = self._session.run(None, {self.input_name: features[:size]})[0]
            if not np.array_equal(batched, np.concatenate(singles[:size])):
                self.batch_ok = False
        return self.batch_ok
