"""The offloading protocol (docs/offload-protocol.md): symbols -> payload (raw, LZW or context-coded) -> frames.

This is the reference implementation; the device side is ``runtime_c/offload/`` and must produce the
same bytes. Every decoder raises :class:`ProtocolError` (with a ``reason`` counter key) and nothing else
on malformed input.
"""

from agilenn_codegen.offload.context_coder import ContextCodec, context_decode, context_encode
from agilenn_codegen.offload.context_model import ContextCounts, ContextModel, fit_context_model
from agilenn_codegen.offload.errors import ProtocolError
from agilenn_codegen.offload.framing import (
    BUSY_LATE,
    BUSY_OVERLOADED,
    DEFAULT_MAX_FRAGMENT,
    FLAG_MAC,
    HEADER_SIZE,
    KIND_BUSY,
    KIND_REPLY,
    KIND_REQUEST,
    MAC_SIZE,
    MAGIC,
    VERSION,
    Frame,
    compute_tag,
    decode_busy,
    decode_frame,
    decode_reply,
    encode_busy,
    encode_frames,
    encode_reply,
    encode_single_frame,
    fragment_count,
    frame_tag_ok,
    model_id,
    read_reply,
)
from agilenn_codegen.offload.lzw import lzw_decode, lzw_dictionary_bytes, lzw_encode
from agilenn_codegen.offload.packing import pack_indices, raw_bits, unpack_indices
from agilenn_codegen.offload.payload import (
    ENCODING_CONTEXT,
    ENCODING_LZW,
    ENCODING_RAW,
    PAYLOAD_HEADER_SIZE,
    decode_payload,
    encode_payload,
)
from agilenn_codegen.offload.reassembly import Reassembled, Reassembler
from agilenn_codegen.offload.replay import ReplayWindows
from agilenn_codegen.offload.siphash import KEY_SIZE, siphash24, siphash24_reference

__all__ = [
    "BUSY_LATE",
    "BUSY_OVERLOADED",
    "DEFAULT_MAX_FRAGMENT",
    "ENCODING_CONTEXT",
    "ENCODING_LZW",
    "ENCODING_RAW",
    "FLAG_MAC",
    "HEADER_SIZE",
    "KEY_SIZE",
    "KIND_BUSY",
    "KIND_REPLY",
    "KIND_REQUEST",
    "MAC_SIZE",
    "MAGIC",
    "PAYLOAD_HEADER_SIZE",
    "VERSION",
    "ContextCodec",
    "ContextCounts",
    "ContextModel",
    "Frame",
    "ProtocolError",
    "Reassembled",
    "Reassembler",
    "ReplayWindows",
    "compute_tag",
    "context_decode",
    "context_encode",
    "decode_busy",
    "decode_frame",
    "decode_payload",
    "decode_reply",
    "encode_busy",
    "encode_frames",
    "encode_payload",
    "encode_reply",
    "encode_single_frame",
    "fit_context_model",
    "fragment_count",
    "frame_tag_ok",
    "lzw_decode",
    "lzw_dictionary_bytes",
    "lzw_encode",
    "model_id",
    "pack_indices",
    "raw_bits",
    "read_reply",
    "siphash24",
    "siphash24_reference",
    "unpack_indices",
]
