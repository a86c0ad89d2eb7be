"""The Python reference of the device pipeline: what the generated C must send and decide, byte for byte.

onnxruntime runs the int8 device network (with the remote output kept in int8); the same symbol
table, payload encoder (context coder, LZW or raw) and framing as the C code follow; the combiner is
`alpha * local + (1 - alpha) * remote` in float32, two products and one sum, each rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agilenn_codegen.offload import (
    KIND_BUSY,
    KIND_REQUEST,
    ContextCodec,
    ProtocolError,
    decode_busy,
    decode_reply,
    encode_frames,
    encode_payload,
    read_reply,
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


def remote_quantization(int8_model: Path, output: str = REMOTE_OUTPUT) -> tuple[float, int]:
    """(scale, zero point) of the DequantizeLinear that produces `output` (what the symbol table maps)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(int8_model))
    producer = next((n for n in model.graph.node if output in n.output), None)
    if producer is None or producer.op_type != "DequantizeLinear":
        raise ValueError(f"output '{output}' is not produced by DequantizeLinear")
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scale, zero_point = (inits.get(name) for name in producer.input[1:3])
    if scale is None or zero_point is None or scale.size != 1 or zero_point.size != 1:
        raise ValueError(f"the DequantizeLinear of '{output}' needs constant per-tensor scale and zero point")
    return float(scale.reshape(())), int(zero_point.reshape(()))


@dataclass(frozen=True)
class DeviceStep:
    local_logits: np.ndarray  # float32 (classes,)
    symbols: np.ndarray  # uint8 (N,), channel-major
    payload: bytes


def combine(local: np.ndarray, remote: np.ndarray, alpha: float) -> np.ndarray:
    a = np.float32(alpha)
    return (a * local.astype(np.float32) + (np.float32(1.0) - a) * remote.astype(np.float32)).astype(np.float32)


@dataclass(frozen=True)
class Answer:
    """A reply the device takes: remote logits, or a busy reply (then it answers locally at once)."""

    logits: np.ndarray | None  # None for a busy reply
    busy_reason: int = 0

    @property
    def busy(self) -> bool:
        return self.logits is None


def check_reply(
    reply: bytes,
    model_id: int,
    seq: int,
    num_classes: int,
    *,
    device_id: int = 0,
    key: bytes | None = None,
    request_tag: bytes | None = None,
) -> Answer:
    """What the device's `<name>_finish` does with `reply`: an :class:`Answer` if it takes it, else ProtocolError
    (with the reason).

    The device takes a reply only as one whole frame (fragment 0 of 1) of kind reply or busy, for its model, its
    device id and its current sequence number, with deadline 0, a matching CRC, a tag exactly when it has a key
    (valid under that key, covering `request_tag`, the tag of the request's fragment 0), and a well-formed
    payload: `num_classes` logits, every one finite, or a busy payload (3 bytes, reason not 0)."""
    frame = read_reply(reply, model_id=model_id, seq=seq, device_id=device_id, key=key, request_tag=request_tag)
    if frame.kind == KIND_BUSY:
        reason, _ = decode_busy(frame.payload)
        return Answer(None, reason)
    logits = decode_reply(frame.payload)
    if logits.size != num_classes:
        raise ProtocolError("wrong_classes", f"{logits.size} logits, expected {num_classes}")
    return Answer(logits)


def argmax_first(logits: np.ndarray) -> int:
    """Index of the largest logit, the first on ties (as the C loop)."""
    return int(np.argmax(logits))


class ReferencePipeline:
    def __init__(
        self,
        exported: ExportedModel,
        int8_model: Path,
        table: np.ndarray,
        max_bits: int,
        max_fragment: int,
        *,
        coder: str = "lzw",
    ) -> None:
        """`coder` is the library's payload coding (manifest.json `agilenn.coder`): "context" (the tables in
        agilenn.json), "lzw" (with `max_bits`) or "raw"."""
        from agilenn_codegen.reference import ort_session

        self.exported = exported
        self.table = table
        self.max_bits = max_bits if coder == "lzw" else 0
        self.max_fragment = max_fragment
        self.context: ContextCodec | None = None
        if coder == "context":
            if exported.coder is None:
                raise ValueError(f"{exported.folder}: coder 'context' but agilenn.json has no coder tables")
            self.context = ContextCodec(exported.coder, *exported.feature_shape[1:])
        source = int8_output_model(int8_model)
        self.session = ort_session(source)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def device(self, image: np.ndarray) -> DeviceStep:
        feeds = {self.session.get_inputs()[0].name: image.reshape(1, *self.exported.input_shape).astype(np.float32)}
        outputs = dict(zip(self.output_names, self.session.run(None, feeds), strict=True))
        local = np.asarray(outputs[LOCAL_OUTPUT], np.float32).reshape(-1)
        remote_q = next(v for k, v in outputs.items() if k != LOCAL_OUTPUT)
        symbols = features_to_symbols(remote_q, self.table)
        payload = encode_payload(symbols, self.exported.alphabet, self.max_bits, context=self.context)
        return DeviceStep(local, symbols, payload)

    def frames(
        self, seq: int, payload: bytes, *, deadline_ms: int = 0, device_id: int = 0, key: bytes | None = None
    ) -> list[bytes]:
        """The request's frames as the device sends them (with its timeout as deadline, its id and key)."""
        return encode_frames(
            KIND_REQUEST,
            self.exported.model_id,
            seq,
            payload,
            self.max_fragment,
            device_id=device_id,
            deadline_ms=deadline_ms,
            key=key,
        )

    def remote_input(self, symbols: np.ndarray) -> np.ndarray:
        values = np.asarray(self.exported.symbol_values, np.float32)
        return values[symbols].reshape(1, *self.exported.feature_shape)
