"""The Python reference of the device pipeline: what the generated C must send and decide, byte for byte.

onnxruntime runs the int8 device network (with the remote output kept in int8); the same symbol
table, payload encoder (raw/LZW) and framing as the C code follow; the combiner is
`alpha * local + (1 - alpha) * remote` in float32, two products and one sum, each rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agilenn_codegen.offload import (
    KIND_REPLY,
    KIND_REQUEST,
    ProtocolError,
    decode_frame,
    decode_reply,
    encode_frames,
    encode_payload,
)
from agilenn_codegen.pipeline.exported import ExportedModel
from agilenn_codegen.pipeline.symbols import features_to_symbols

REMOTE_OUTPUT = "remote_features"
LOCAL_OUTPUT = "local_logits"


def int8_output_model(int8_model: Path, output: str = REMOTE_OUTPUT) -> bytes:
    """The int8 model with `output`'s final DequantizeLinear removed (the output becomes int8)."""
    import onnx

    model = onnx.load(str(int8_model))
    graph = model.graph
    producer = next((n for n in graph.node if output in n.output), None)
    if producer is None or producer.op_type != "DequantizeLinear":
        raise ValueError(f"output '{output}' is not produced by DequantizeLinear")
    source = producer.input[0]
    graph.node.remove(producer)
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == output:
                node.input[i] = source
    for out in graph.output:
        if out.name == output:
            out.name = source
            out.type.tensor_type.elem_type = onnx.TensorProto.INT8
    return model.SerializeToString()


@dataclass(frozen=True)
class DeviceStep:
    local_logits: np.ndarray  # float32 (classes,)
    symbols: np.ndarray  # uint8 (N,), channel-major
    payload: bytes


def combine(local: np.ndarray, remote: np.ndarray, alpha: float) -> np.ndarray:
    a = np.float32(alpha)
    return (a * local.astype(np.float32) + (np.float32(1.0) - a) * remote.astype(np.float32)).astype(np.float32)


def check_reply(reply: bytes, model_id: int, seq: int, num_classes: int) -> np.ndarray:
    """The remote logits of `reply` if the device's `<name>_finish` accepts it, else ProtocolError (with the reason).

    The device takes a reply only as one whole frame (fragment 0 of 1) of kind reply, for its model and its
    current sequence number, with a matching CRC, `num_classes` logits and every logit finite."""
    frame = decode_frame(reply, max_fragment=0xFFFF, max_total=0xFFFF)
    if frame.kind != KIND_REPLY:
        raise ProtocolError("wrong_kind", "not a reply")
    if frame.model_id != model_id:
        raise ProtocolError("wrong_model", f"model id 0x{frame.model_id:08x}, expected 0x{model_id:08x}")
    if frame.seq != seq:
        raise ProtocolError("stale", f"sequence number {frame.seq}, expected {seq}")
    if frame.frag_count != 1:
        raise ProtocolError("fragmented", f"a reply in {frame.frag_count} fragments; the device takes one frame")
    logits = decode_reply(frame.payload)
    if logits.size != num_classes:
        raise ProtocolError("wrong_classes", f"{logits.size} logits, expected {num_classes}")
    return logits


def argmax_first(logits: np.ndarray) -> int:
    """Index of the largest logit, the first on ties (as the C loop)."""
    return int(np.argmax(logits))


class ReferencePipeline:
    def __init__(
        self, exported: ExportedModel, int8_model: Path, table: np.ndarray, max_bits: int, max_fragment: int
    ) -> None:
        from agilenn_codegen.reference import ort_session

        self.exported = exported
        self.table = table
        self.max_bits = max_bits
        self.max_fragment = max_fragment
        source = int8_output_model(int8_model)
        self.session = ort_session(source)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def device(self, image: np.ndarray) -> DeviceStep:
        feeds = {self.session.get_inputs()[0].name: image.reshape(1, *self.exported.input_shape).astype(np.float32)}
        outputs = dict(zip(self.output_names, self.session.run(None, feeds), strict=True))
        local = np.asarray(outputs[LOCAL_OUTPUT], np.float32).reshape(-1)
        remote_q = next(v for k, v in outputs.items() if k != LOCAL_OUTPUT)
        symbols = features_to_symbols(remote_q, self.table)
        payload = encode_payload(symbols, self.exported.num_centroids, self.max_bits)
        return DeviceStep(local, symbols, payload)

    def frames(self, seq: int, payload: bytes) -> list[bytes]:
        return encode_frames(KIND_REQUEST, self.exported.model_id, seq, payload, self.max_fragment)

    def remote_input(self, symbols: np.ndarray) -> np.ndarray:
        centroids = np.asarray(self.exported.centroids, np.float32)
        return centroids[symbols].reshape(1, *self.exported.feature_shape)
