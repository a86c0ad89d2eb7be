"""The context coder (payload encoding 2, docs/offload-protocol.md §2): the reference encoder and decoder.

A range coder with 32-bit range, carry propagation and the tables of :class:`ContextModel`. Symbols are
coded pixel by pixel, rows top to bottom and columns left to right, and within a pixel: the escape bit
(when the model has rare channels), the rare channels' symbols if it is 1, then the live channels in
ascending order, each with the row of its context (left and upper neighbour in its channel, whether the
previous live channel's symbol of the pixel is non-zero). This module is the specification, written for
clarity; the device encoder is ``runtime_c/offload/agilenn_context_encode*.c`` and the server's fast
decoder is the same C code built for the host (:mod:`agilenn_codegen.offload.native`). All three must
agree byte for byte.
"""

from __future__ import annotations

import numpy as np

from agilenn_codegen.offload.context_model import ContextModel
from agilenn_codegen.offload.errors import ProtocolError

TOP = 1 << 24  # renormalise (shift a byte out) while range < TOP
RARE_BITS = 8  # a rare channel's symbol, after an escape, is coded as 8 equiprobable bits (values < K)
MASK32 = 0xFFFFFFFF


class _RangeEncoder:
    """low (33 bits: a carry into the bytes not yet final), range (32 bits); bytes come out forward."""

    def __init__(self) -> None:
        self.low = 0
        self.range = MASK32
        self.cache = 0  # the oldest byte not yet written (it may still receive a carry) ...
        self.pending = 0  # ... plus pending - 1 bytes 0xFF after it; 0: no byte yet
        self.out = bytearray()

    def _shift_low(self) -> None:
        top = (self.low >> 24) & 0xFF
        carry = self.low >> 32
        if self.pending == 0:
            self.cache, self.pending = top, 1  # the first byte never receives a carry
        elif top != 0xFF or carry:
            self.out.append((self.cache + carry) & 0xFF)
            self.out += bytes([(0xFF + carry) & 0xFF]) * (self.pending - 1)
            self.cache, self.pending = top, 1
        else:
            self.pending += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def _normalize(self) -> None:
        while self.range < TOP:
            self.range <<= 8
            self._shift_low()

    def encode(self, cum: int, freq: int, bits: int) -> None:
        """The interval [cum, cum + freq) of 2**bits."""
        r = self.range >> bits
        self.low += r * cum
        self.range = r * freq
        self._normalize()

    def encode_escape(self, escape: bool) -> None:
        """The escape bit: 0 keeps range - (range >> 16), 1 the top range >> 16."""
        r = self.range >> 16
        if escape:
            self.low += self.range - r
            self.range = r
        else:
            self.range -= r
        self._normalize()

    def finish(self) -> bytes:
        """The shortest tail: the value in [low, low + range) with the most trailing zero bytes, then the
        body without its trailing zero bytes (the decoder reads zeros past the end)."""
        for n in range(5):
            step = 1 << (32 - 8 * n)
            value = -(-self.low // step) * step
            if value < self.low + self.range:
                break
        self.low = value
        for _ in range(n):
            self._shift_low()
        carry = self.low >> 32
        if self.pending:
            self.out.append((self.cache + carry) & 0xFF)
            self.out += bytes([(0xFF + carry) & 0xFF]) * (self.pending - 1)
        return bytes(self.out).rstrip(b"\x00")


def _check_shape(model: ContextModel, symbols: np.ndarray) -> np.ndarray:
    s = np.asarray(symbols)
    if s.ndim != 3 or s.shape[0] != model.channels:
        raise ValueError(f"symbols must have shape ({model.channels}, H, W), got {s.shape}")
    if s.size and (s.dtype.kind not in "iu" or int(s.min()) < 0 or int(s.max()) >= model.alphabet):
        raise ValueError(f"symbols must be integers in [0, {model.alphabet})")
    return s.astype(np.int64)


def context_encode(symbols: np.ndarray, model: ContextModel) -> bytes:
    """The context-coded body (no payload header) of a (C, H, W) symbol map."""
    s = _check_shape(model, symbols)
    _, height, width = s.shape
    k, live, rare = model.alphabet, list(model.live_channels), list(model.rare_channels)
    # every live symbol's row, from its left and upper neighbours and the previous live channel's symbol of the
    # pixel (all known in advance on this side)
    left = np.full_like(s, k)
    left[:, :, 1:] = s[:, :, :-1]
    up = np.full_like(s, k)
    up[:, 1:, :] = s[:, :-1, :]
    nz = np.zeros((len(live), height, width), np.int64)
    nz[1:] = s[live[:-1]] != 0
    context = (left[live] * (k + 1) + up[live]) * 2 + nz
    rows = model.map_array().astype(np.int64)[np.arange(len(live))[:, None, None], context]
    cum = model.cum_array().astype(np.int64)[rows, s[live]].transpose(1, 2, 0).tolist()  # (H, W, live)
    freq = model.freq_array().astype(np.int64)[rows, s[live]].transpose(1, 2, 0).tolist()
    escaped = (s[rare].any(axis=0) if rare else np.zeros((height, width), bool)).tolist()
    rare_symbols = s[rare].transpose(1, 2, 0).tolist() if rare else None
    coder = _RangeEncoder()
    precision = model.precision
    for y in range(height):
        for x in range(width):
            if rare:
                escape = escaped[y][x]
                coder.encode_escape(escape)
                if escape:
                    assert rare_symbols is not None
                    for value in rare_symbols[y][x]:
                        coder.encode(value, 1, RARE_BITS)
            for c, f in zip(cum[y][x], freq[y][x], strict=True):
                coder.encode(c, f, precision)
    return coder.finish()


def _normalize(code: int, rng: int, body: bytes, pos: int) -> tuple[int, int, int]:
    """The decoder's side of renormalisation: shift in the next byte (0 past the end) while range < TOP."""
    while rng < TOP:
        code = ((code << 8) | (body[pos] if pos < len(body) else 0)) & MASK32
        pos += 1
        rng <<= 8
    return code, rng, pos


def context_decode(body: bytes, model: ContextModel, height: int, width: int) -> np.ndarray:
    """(C, H, W) uint8 symbols of a body; ProtocolError unless the body is exactly what
    :func:`context_encode` writes for them. Time O(C*H*W + len(body)), memory O(C*H*W)."""
    body = bytes(body)
    k, precision, live, rare = model.alphabet, model.precision, model.live_channels, model.rare_channels
    cum, freq, cmap = model.cum_array().tolist(), model.freq_array().tolist(), model.map_array().tolist()
    out = np.zeros((model.channels, height, width), dtype=np.uint8)
    code = int.from_bytes(body[:4].ljust(4, b"\x00"), "big")
    pos = 4
    rng = MASK32
    if code >= rng:
        raise ProtocolError("context_symbol", "the body's first 4 bytes are above every interval")
    line = [[k] * width for _ in live]  # the row above, then (left of x) the current row
    for y in range(height):
        for x in range(width):
            if rare:
                r = rng >> 16
                escape = code >= rng - r
                if escape:
                    code -= rng - r
                    rng = r
                else:
                    rng -= r
                code, rng, pos = _normalize(code, rng, body, pos)
                if escape:
                    for c in rare:
                        r = rng >> RARE_BITS
                        value = code // r
                        if value >= k:
                            raise ProtocolError("context_symbol", f"rare symbol {value} >= K={k} at pixel ({y}, {x})")
                        code -= r * value
                        rng = r
                        out[c, y, x] = value
                        code, rng, pos = _normalize(code, rng, body, pos)
                    if not out[rare, y, x].any():
                        raise ProtocolError("context_escape", f"escape at pixel ({y}, {x}) but every rare symbol is 0")
            nz = 0  # the previous live channel's symbol of this pixel is non-zero
            for j, c in enumerate(live):
                row = cmap[j][((line[j][x - 1] if x else k) * (k + 1) + line[j][x]) * 2 + nz]
                r = rng >> precision
                value = code // r
                if value >> precision:
                    raise ProtocolError("context_symbol", f"code value outside every interval at pixel ({y}, {x})")
                row_cum = cum[row]
                symbol = k - 1
                while row_cum[symbol] > value:
                    symbol -= 1
                code -= r * row_cum[symbol]
                rng = r * freq[row][symbol]
                line[j][x] = symbol
                out[c, y, x] = symbol
                nz = int(symbol != 0)
                code, rng, pos = _normalize(code, rng, body, pos)
    if context_encode(out, model) != body:
        raise ProtocolError("context_noncanonical", "the body is not the canonical encoding of the symbols it holds")
    return out


class ContextCodec:
    """A model's context coder for (C, height, width) feature maps, as the payload functions use it.

    ``encode`` and ``decode`` take and return channel-major symbols (N,). With ``native=True`` (the
    default) decoding runs the C decoder built for the host when it is available
    (:func:`agilenn_codegen.offload.native.native_status` says why not), else this module's reference;
    ``native=False`` always uses the reference. Both give the same results (tested).
    """

    def __init__(self, model: ContextModel, height: int, width: int, *, native: bool = True) -> None:
        self.model = model
        self.height = height
        self.width = width
        self.num_symbols = model.channels * height * width
        self._native = None
        if native:
            from agilenn_codegen.offload.native import NativeContextCoder, native_status

            if native_status().available:
                self._native = NativeContextCoder(model, height, width)

    @property
    def uses_native(self) -> bool:
        """True when decoding runs the C decoder."""
        return self._native is not None

    def encode(self, symbols: np.ndarray) -> bytes:
        """The body of N channel-major symbols (the reference encoder)."""
        flat = np.asarray(symbols).reshape(-1)
        if flat.size != self.num_symbols:
            raise ValueError(f"expected {self.num_symbols} symbols, got {flat.size}")
        return context_encode(flat.reshape(self.model.channels, self.height, self.width), self.model)

    def decode(self, body: bytes) -> np.ndarray:
        """N channel-major uint8 symbols of a body; ProtocolError for anything else."""
        if self._native is not None:
            return self._native.decode(body)
        return context_decode(body, self.model, self.height, self.width).reshape(-1)
