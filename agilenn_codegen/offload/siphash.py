"""SipHash-2-4 (Aumasson and Bernstein, 2012), the message authentication code of authenticated frames.

A 128-bit key, any message, a 64-bit tag: two compression rounds per 8-byte word and four finalization
rounds on 64-bit words (add, rotate, xor), which a Cortex-M without a multiplier runs in a few dozen
instructions per word. :func:`siphash24_reference` is the specification, written for clarity and checked
against the algorithm's published test vectors (tests/offload/test_siphash.py); :func:`siphash24` is the
same function from the compiled library (``runtime_c/offload/agilenn_siphash.c``, built into the server's
native library), with the reference as the fallback when that library is not available.
"""

from __future__ import annotations

import struct

KEY_SIZE = 16
TAG_SIZE = 8
_MASK = (1 << 64) - 1
_WORD = struct.Struct("<Q")


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24_reference(key: bytes, message: bytes) -> int:
    """SipHash-2-4 of `message` under the 16-byte `key`, as an unsigned 64-bit integer.

    The key is read as two little-endian words k0, k1; the message as little-endian words, the last one
    padded with zeros and holding the message length mod 256 in its top byte. The tag's bytes on the wire
    are this integer in little-endian order."""
    key = bytes(key)
    if len(key) != KEY_SIZE:
        raise ValueError(f"a SipHash key has {KEY_SIZE} bytes, got {len(key)}")
    message = bytes(message)
    k0, k1 = struct.unpack("<QQ", key)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    full = len(message) - len(message) % 8
    last = message[full:] + bytes(7 - len(message) % 8) + bytes([len(message) & 0xFF])
    for offset in range(0, full + 8, 8):
        (m,) = _WORD.unpack_from(message if offset < full else last, offset if offset < full else 0)
        v3 ^= m
        for _ in range(2):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def siphash24(key: bytes, message: bytes) -> int:
    """SipHash-2-4 (the compiled library's when it is available, else :func:`siphash24_reference`)."""
    from agilenn_codegen.offload.native import native_siphash24

    fast = native_siphash24()
    if fast is not None:
        return fast(key, message)
    return siphash24_reference(key, message)


def tag_bytes(tag: int) -> bytes:
    """The 8 bytes of a tag as frames carry it (little-endian)."""
    return _WORD.pack(tag)
