"""Raw packing of centroid indices: b bits per symbol, LSB-first (docs/offload-protocol.md, section 2)."""

from __future__ import annotations

import numpy as np

from agilenn_codegen.offload.errors import ProtocolError


def raw_bits(alphabet: int) -> int:
    """Bits per symbol of the raw packing, ``max(1, ceil(log2 K))``, for an alphabet of K symbols (1..256)."""
    if not 1 <= alphabet <= 256:
        raise ValueError(f"alphabet size must be in 1..256, got {alphabet}")
    return max(1, (alphabet - 1).bit_length())


def packed_size(count: int, bits: int) -> int:
    """Bytes of ``count`` symbols packed at ``bits`` bits each."""
    return (count * bits + 7) // 8


def pack_indices(symbols: np.ndarray, bits: int) -> bytes:
    """Pack symbols (each < 2**bits) LSB-first at ``bits`` (1..8) bits each; unused high bits of the last byte are 0."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    flat = np.asarray(symbols).reshape(-1)
    if flat.size == 0:
        return b""
    if flat.dtype.kind not in "iu" or int(flat.min()) < 0 or int(flat.max()) >= (1 << bits):
        raise ValueError(f"symbols must be integers in [0, {1 << bits})")
    values = flat.astype(np.uint8)
    # (N, bits) matrix of each symbol's bits, least significant first, then flattened in order.
    bit_matrix = (values[:, None] >> np.arange(bits, dtype=np.uint8)[None, :]) & 1
    return np.packbits(bit_matrix.reshape(-1), bitorder="little").tobytes()


def unpack_indices(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_indices`: ``count`` uint8 symbols from the first ``ceil(count*bits/8)`` bytes."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    if count < 0:
        raise ValueError("count must be >= 0")
    need = packed_size(count, bits)
    if len(data) < need:
        raise ProtocolError("truncated", f"raw body has {len(data)} bytes, {need} needed for {count} symbols")
    if count == 0:
        return np.zeros(0, dtype=np.uint8)
    bit_array = np.unpackbits(np.frombuffer(bytes(data[:need]), dtype=np.uint8), bitorder="little")
    bit_matrix = bit_array[: count * bits].reshape(count, bits).astype(np.uint8)
    weights = (1 << np.arange(bits, dtype=np.uint16)).astype(np.uint16)
    return (bit_matrix.astype(np.uint16) @ weights).astype(np.uint8)
