"""One request body: a 7-byte header (encoding, N, K, then b, W or P) and a raw, LZW or context-coded body
(docs/offload-protocol.md, section 2)."""

from __future__ import annotations

import struct

import numpy as np

from agilenn_codegen.offload.context_coder import ContextCodec
from agilenn_codegen.offload.errors import ProtocolError
from agilenn_codegen.offload.lzw import MAX_BITS, MIN_BITS, lzw_decode, lzw_encode
from agilenn_codegen.offload.packing import pack_indices, packed_size, raw_bits, unpack_indices

ENCODING_RAW = 0
ENCODING_LZW = 1
ENCODING_CONTEXT = 2
PAYLOAD_HEADER_SIZE = 7
_HEADER = struct.Struct("<BIBB")  # encoding, N, K (0 encodes 256), b, W or P


def encode_payload(
    symbols: np.ndarray, alphabet: int, max_bits: int = 0, *, context: ContextCodec | None = None
) -> bytes:
    """Header + body, the shorter of a coded body and raw packing (raw when equal).

    With ``context`` (the model's context coder) the coded body is context-coded (encoding 2);
    otherwise it is LZW with code width ``max_bits`` (9..16), and ``max_bits=0`` means raw only (a
    device without the RAM for the LZW dictionary)."""
    flat = np.asarray(symbols).reshape(-1)
    bits = raw_bits(alphabet)
    if max_bits != 0 and not MIN_BITS <= max_bits <= MAX_BITS:
        raise ValueError(f"max_bits must be 0 or in {MIN_BITS}..{MAX_BITS}, got {max_bits}")
    if flat.size >= 1 << 32:
        raise ValueError("too many symbols for a u32 count")
    if flat.size and (flat.dtype.kind not in "iu" or int(flat.min()) < 0 or int(flat.max()) >= alphabet):
        raise ValueError(f"symbols must be integers in [0, {alphabet})")
    raw = pack_indices(flat, bits)
    if context is not None:
        if context.model.alphabet != alphabet:
            raise ValueError(f"the context coder's tables are for K={context.model.alphabet}, not K={alphabet}")
        body = context.encode(flat)
        if len(body) < len(raw):
            return _HEADER.pack(ENCODING_CONTEXT, flat.size, alphabet & 0xFF, context.model.precision) + body
    elif max_bits != 0:
        body = lzw_encode(flat, alphabet, max_bits)
        if len(body) < len(raw):
            return _HEADER.pack(ENCODING_LZW, flat.size, alphabet & 0xFF, max_bits) + body
    return _HEADER.pack(ENCODING_RAW, flat.size, alphabet & 0xFF, bits) + raw


def decode_payload(data: bytes, *, max_symbols: int, context: ContextCodec | None = None) -> tuple[np.ndarray, int]:
    """(symbols as uint8, alphabet K) of a payload; ProtocolError for anything malformed or over ``max_symbols``.

    A context-coded payload needs ``context``, the coder of the model it was sent to."""
    data = bytes(data)
    if len(data) < PAYLOAD_HEADER_SIZE:
        raise ProtocolError("truncated", f"payload of {len(data)} bytes is shorter than its 7-byte header")
    encoding, count, alphabet_byte, width = _HEADER.unpack_from(data)
    alphabet = alphabet_byte if alphabet_byte != 0 else 256
    body = data[PAYLOAD_HEADER_SIZE:]
    if count > max_symbols:
        raise ProtocolError("too_large", f"payload has {count} symbols, more than the {max_symbols} allowed")
    if encoding == ENCODING_LZW:
        if not MIN_BITS <= width <= MAX_BITS:
            raise ProtocolError("bad_header", f"LZW code width W={width} is outside {MIN_BITS}..{MAX_BITS}")
        return lzw_decode(body, alphabet, width, count), alphabet
    if encoding == ENCODING_CONTEXT:
        return _decode_context(body, count, alphabet, width, context), alphabet
    if encoding != ENCODING_RAW:
        raise ProtocolError("bad_encoding", f"unknown payload encoding {encoding}")
    bits = raw_bits(alphabet)
    if width != bits:
        raise ProtocolError("bad_header", f"raw packing of K={alphabet} uses {bits} bits, header says {width}")
    need = packed_size(count, bits)
    if len(body) > need:
        raise ProtocolError("trailing", f"{len(body) - need} byte(s) after the raw body")
    symbols = unpack_indices(body, bits, count)
    if need and body[-1] >> ((count * bits - 1) % 8 + 1):
        raise ProtocolError("bad_padding", "non-zero pad bits after the last raw symbol")
    if count and int(symbols.max()) >= alphabet:
        raise ProtocolError("bad_symbol", f"raw symbol {int(symbols.max())} is not below K={alphabet}")
    return symbols, alphabet


def _decode_context(body: bytes, count: int, alphabet: int, precision: int, context: ContextCodec | None) -> np.ndarray:
    if context is None:
        raise ProtocolError("bad_encoding", "a context-coded payload, but this model has no coder tables")
    model = context.model
    if alphabet != model.alphabet or precision != model.precision:
        raise ProtocolError(
            "bad_header",
            f"context coding with K={alphabet}, P={precision}; the model's tables have K={model.alphabet}, "
            f"P={model.precision}",
        )
    if count != context.num_symbols:
        raise ProtocolError("bad_header", f"{count} symbols, the model's feature map has {context.num_symbols}")
    if len(body) >= packed_size(count, raw_bits(alphabet)):
        raise ProtocolError("context_noncanonical", f"context body of {len(body)} bytes is not shorter than raw")
    return context.decode(body)
