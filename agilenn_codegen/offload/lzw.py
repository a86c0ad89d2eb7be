"""LZW over centroid indices (docs/offload-protocol.md, section 2): initial dictionary of the K single
symbols, codes of growing width ``w_i = max(1, bit_length(min(K + i, 2**W) - 1))`` packed LSB-first,
a dictionary frozen once it holds ``2**W`` entries, no clear or end codes."""

from __future__ import annotations

import numpy as np

from agilenn_codegen.offload.errors import ProtocolError

MIN_BITS = 9
MAX_BITS = 16


def _check_parameters(alphabet: int, max_bits: int) -> None:
    if not 1 <= alphabet <= 256:
        raise ProtocolError("bad_header", f"alphabet size K={alphabet} is outside 1..256")
    if not MIN_BITS <= max_bits <= MAX_BITS:
        raise ProtocolError("bad_header", f"LZW code width W={max_bits} is outside {MIN_BITS}..{MAX_BITS}")


def code_width(index: int, alphabet: int, max_bits: int) -> int:
    """Width in bits of the ``index``-th emitted code (0-based)."""
    return max(1, (min(alphabet + index, 1 << max_bits) - 1).bit_length())


def lzw_dictionary_bytes(max_bits: int) -> int:
    """Device RAM of the C encoder's state for code width W: a trie of ``2**W`` entries (first child u16,
    next sibling u16, symbol u8), i.e. ``5 * 2**W`` bytes (AGILENN_LZW_STATE_BYTES)."""
    if not MIN_BITS <= max_bits <= MAX_BITS:
        raise ValueError(f"max_bits must be in {MIN_BITS}..{MAX_BITS}, got {max_bits}")
    return 5 << max_bits


def lzw_encode(symbols: np.ndarray, alphabet: int, max_bits: int) -> bytes:
    """The LZW body (no header) of ``symbols`` (integers in [0, alphabet))."""
    if not 1 <= alphabet <= 256 or not MIN_BITS <= max_bits <= MAX_BITS:
        raise ValueError(f"need 1 <= alphabet <= 256 and {MIN_BITS} <= max_bits <= {MAX_BITS}")
    flat = np.asarray(symbols).reshape(-1)
    if flat.size == 0:
        return b""
    if flat.dtype.kind not in "iu" or int(flat.min()) < 0 or int(flat.max()) >= alphabet:
        raise ValueError(f"symbols must be integers in [0, {alphabet})")
    values = flat.astype(np.int64).tolist()
    limit = 1 << max_bits
    table: dict[int, int] = {}  # (prefix code << 8 | symbol) -> code
    next_code = alphabet
    out = bytearray()
    acc = 0
    nbits = 0
    emitted = 0

    current = values[0]
    for symbol in values[1:]:
        key = (current << 8) | symbol
        code = table.get(key)
        if code is not None:
            current = code
            continue
        acc |= current << nbits
        nbits += max(1, (min(alphabet + emitted, limit) - 1).bit_length())
        emitted += 1
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
        if next_code < limit:
            table[key] = next_code
            next_code += 1
        current = symbol
    acc |= current << nbits
    nbits += code_width(emitted, alphabet, max_bits)
    while nbits > 0:
        out.append(acc & 0xFF)
        acc >>= 8
        nbits -= 8
    return bytes(out)


def lzw_decode(data: bytes, alphabet: int, max_bits: int, count: int) -> np.ndarray:
    """Decode exactly ``count`` symbols from an LZW body; the body must end in the byte holding the last
    code, with zero pad bits. Raises ProtocolError for anything else; time and memory are O(count + len(data))."""
    _check_parameters(alphabet, max_bits)
    if count < 0:
        raise ValueError("count must be >= 0")
    data = bytes(data)
    limit = 1 << max_bits
    # strings[c]: the symbols of code c. Every new entry is an earlier output plus one symbol, and the
    # output is capped at `count`, so all strings together hold at most 2*count bytes.
    strings: list[bytes] = [bytes((s,)) for s in range(alphabet)]
    out = bytearray()
    pos = 0
    acc = 0
    nbits = 0
    index = 0
    previous = b""
    size = len(data)
    while len(out) < count:
        width = max(1, (min(alphabet + index, limit) - 1).bit_length())
        while nbits < width:
            if pos >= size:
                raise ProtocolError("lzw_underrun", f"LZW body ends after {len(out)} of {count} symbols (code {index})")
            acc |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = acc & ((1 << width) - 1)
        acc >>= width
        nbits -= width
        next_code = len(strings)
        if code < next_code:
            entry = strings[code]
        elif code == next_code and previous and next_code < limit:
            entry = previous + previous[:1]
        else:
            raise ProtocolError("lzw_code", f"LZW code {code} at position {index}, next free code {next_code}")
        if len(out) + len(entry) > count:
            raise ProtocolError("lzw_overrun", f"LZW code {index} produces more than {count} symbols")
        if previous and next_code < limit:
            strings.append(previous + entry[:1])
        out += entry
        previous = entry
        index += 1
    if pos != size:
        raise ProtocolError("trailing", f"{size - pos} byte(s) after the last LZW code")
    if acc != 0:
        raise ProtocolError("bad_padding", "non-zero pad bits after the last LZW code")
    return np.frombuffer(bytes(out), dtype=np.uint8).copy()
