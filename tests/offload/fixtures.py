"""A tiny exported-model folder for the server tests: remote.onnx (Conv + ReLU + GAP + Gemm) and agilenn.json.

The folder has the shape of what `agilenn export` writes (see agilenn_codegen/training/export.py), with
only the keys the server reads plus a few that make it look real. Nothing here needs torch.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from agilenn_codegen.offload import (
    KIND_REQUEST,
    ContextCodec,
    ContextModel,
    encode_frames,
    encode_payload,
    fit_context_model,
    model_id,
)
from agilenn_codegen.offload.context_model import count_contexts

CENTROIDS = (0.0, 0.75, 1.5, 3.0, 6.0)  # K = 5: raw packing uses 3 bits, so indices 5..7 are invalid


@dataclass(frozen=True)
class TinyModel:
    """Paths and numbers of a fixture folder."""

    folder: Path
    meta: dict[str, Any]
    model_id: int
    channels: int
    height: int
    width: int
    num_classes: int
    centroids: np.ndarray
    coder: ContextModel | None = None

    @property
    def num_symbols(self) -> int:
        return self.channels * self.height * self.width

    @property
    def context(self) -> ContextCodec:
        """The context coder of the served tables (the C decoder when built)."""
        assert self.coder is not None, "build_model_dir(..., coder=True)"
        return ContextCodec(self.coder, self.height, self.width)


def _remote_onnx(channels: int, height: int, width: int, num_classes: int, dynamic: bool, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    conv_w = numpy_helper.from_array((rng.standard_normal((channels, channels, 3, 3)) * 0.3).astype(np.float32), "cw")
    conv_b = numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32) * 0.1, "cb")
    fc_w = numpy_helper.from_array(rng.standard_normal((num_classes, channels)).astype(np.float32), "fw")
    fc_b = numpy_helper.from_array(rng.standard_normal(num_classes).astype(np.float32), "fb")
    nodes = [
        helper.make_node("Conv", ["remote_features", "cw", "cb"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fw", "fb"], ["remote_logits"], transB=1),
    ]
    batch: str | int = "N" if dynamic else 1
    graph = helper.make_graph(
        nodes,
        "remote",
        [helper.make_tensor_value_info("remote_features", TensorProto.FLOAT, [batch, channels, height, width])],
        [helper.make_tensor_value_info("remote_logits", TensorProto.FLOAT, [batch, num_classes])],
        [conv_w, conv_b, fc_w, fc_b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def build_model_dir(
    folder: Path,
    *,
    channels: int = 4,
    height: int = 6,
    width: int = 6,
    num_classes: int = 5,
    centroids: tuple[float, ...] = CENTROIDS,
    dynamic_batch: bool = True,
    seed: int = 0,
    alpha: float = 0.5,
    coder: bool = False,
) -> TinyModel:
    """Write remote.onnx and agilenn.json into `folder` (created) and describe them; with `coder`, agilenn.json
    gets context-coder tables fitted on :func:`sparse_symbols` maps (the last channel is rare)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "remote.onnx").write_bytes(_remote_onnx(channels, height, width, num_classes, dynamic_batch, seed))
    meta: dict[str, Any] = {
        "format": "agilenn-export",
        "format_version": 1,
        "files": {"device": "device.onnx", "remote": "remote.onnx"},
        "num_classes": num_classes,
        "feature_map": {
            "channels": channels,
            "height": height,
            "width": width,
            "layout": "NCHW",
            "values_per_sample": channels * height * width,
            "range": [0.0, 6.0],
        },
        "quantizer": {
            "num_centroids": len(centroids),
            "centroids": list(centroids),
            "bits_per_index": max(1, (len(centroids) - 1).bit_length()),
        },
        "combiner": {"alpha": alpha},
    }
    tables = None
    if coder:
        k = len(set(np.float32(centroids).tolist()))
        rng = np.random.default_rng(seed + 1)
        tables = fit_context_model(
            count_contexts(np.stack([_sparse_map(rng, channels, height, width, k) for _ in range(64)]), k)
        )
        meta["coder"] = tables.to_json()
    (folder / "agilenn.json").write_text(json.dumps(meta, indent=2) + "\n")
    return TinyModel(
        folder,
        meta,
        model_id(meta),
        channels,
        height,
        width,
        num_classes,
        np.asarray(centroids, dtype=np.float32),
        tables,
    )


def _sparse_map(rng: np.random.Generator, channels: int, height: int, width: int, k: int) -> np.ndarray:
    out = np.zeros((channels, height, width), np.uint8)
    live = max(1, channels - 1)  # the last channel stays 0 (rare) when there are two or more
    blobs = rng.random((live, height, width)) < 0.2
    out[:live] = np.where(blobs, rng.integers(1, k, (live, height, width)), 0)
    return out


def sparse_symbols(model: TinyModel, rng: np.random.Generator) -> np.ndarray:
    """Symbols (N,) like those the tables of build_model_dir(..., coder=True) were fitted on."""
    return _sparse_map(rng, model.channels, model.height, model.width, len(model.centroids)).reshape(-1)


def random_symbols(model: TinyModel, rng: np.random.Generator, *, runs: bool = True) -> np.ndarray:
    """Centroid indices for one request; with `runs`, long repeats so that LZW is chosen."""
    k = len(model.centroids)
    if not runs:
        return rng.integers(0, k, size=model.num_symbols).astype(np.uint8)
    values = np.repeat(rng.integers(0, k, size=model.num_symbols // 8 + 1), 8)[: model.num_symbols]
    return values.astype(np.uint8)


def request_payload(model: TinyModel, symbols: np.ndarray, max_bits: int = 9, *, context: bool = False) -> bytes:
    """The payload a device would send for these symbols (LZW/raw, or with `context` the context coder)."""
    if context:
        return encode_payload(symbols, len(model.centroids), context=model.context)
    return encode_payload(symbols, len(model.centroids), max_bits)


def request_frames(model: TinyModel, seq: int, symbols: np.ndarray, max_fragment: int = 1444) -> list[bytes]:
    """The datagrams of one request."""
    return encode_frames(KIND_REQUEST, model.model_id, seq, request_payload(model, symbols), max_fragment)


@functools.lru_cache(maxsize=8)
def _session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def reference_logits(model: TinyModel, symbols: np.ndarray) -> np.ndarray:
    """remote.onnx run by itself on one sample (batch of 1): what the server must answer, bit for bit."""
    session = _session(str(model.folder / "remote.onnx"))
    features = model.centroids[symbols.astype(np.intp)].reshape(1, model.channels, model.height, model.width)
    return np.asarray(session.run(None, {"remote_features": features})[0][0], dtype=np.float32)


def settle(stats: Any, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 2.0) -> dict[str, Any]:
    """Snapshots of `stats` until `predicate` holds (the server counts a reply just after sending it)."""
    deadline = time.monotonic() + timeout_s
    snap = stats.snapshot()
    while not predicate(snap) and time.monotonic() < deadline:
        time.sleep(0.002)
        snap = stats.snapshot()
    return snap
