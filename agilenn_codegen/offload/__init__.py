"""The offloading protocol (docs/offload-protocol.md): symbols -> payload (raw, LZW or context-coded) -> frames.

This is the reference implementation; the device side is ``runtime_c/offload/`` and must produce the
same bytes. Every decoder raises :class:`ProtocolError` (with a ``reason`` counter key) and nothing else
on malformed input.
"""

from agilenn_codegen.offload.context_coder import ContextCodec, context_decode, context_encode
from agilenn_codegen.offload.context_model import ContextCounts, ContextModel, fit_context_model
from agilenn_codegen.offload.errors import ProtocolError
from agilenn_codegen.offload.framing import (
    DEFAULT_MAX_FRAGMENT,
    HEADER_SIZE,
    KIND_REPLY,
    KIND_REQUEST,
    MAGIC,
    VERSION,
    Frame,
    Reassembler,
    decode_frame,
    decode_reply,
    encode_frames,
    encode_reply,
    fragment_count,
    model_id,
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

__all__ = [
    "DEFAULT_MAX_FRAGMENT",
    "ENCODING_CONTEXT",
    "ENCODING_LZW",
    "ENCODING_RAW",
    "HEADER_SIZE",
    "KIND_REPLY",
    "KIND_REQUEST",
    "MAGIC",
    "PAYLOAD_HEADER_SIZE",
    "VERSION",
    "ContextCodec",
    "ContextCounts",
    "ContextModel",
    "Frame",
    "ProtocolError",
    "Reassembler",
    "context_decode",
    "context_encode",
    "decode_frame",
    "decode_payload",
    "decode_reply",
    "encode_frames",
    "encode_payload",
    "encode_reply",
    "fit_context_model",
    "fragment_count",
    "lzw_decode",
    "lzw_dictionary_bytes",
    "lzw_encode",
    "model_id",
    "pack_indices",
    "raw_bits",
    "unpack_indices",
]
