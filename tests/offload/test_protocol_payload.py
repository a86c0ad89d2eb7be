"""Offloading protocol, payload layer: raw packing, LZW and the 7-byte payload header
(docs/offload-protocol.md, sections 1-2), against hand-computed bytes and an independent naive LZW."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agilenn_codegen.offload import (
    ProtocolError,
    decode_payload,
    encode_payload,
    lzw_decode,
    lzw_dictionary_bytes,
    lzw_encode,
    pack_indices,
    raw_bits,
    unpack_indices,
)

# ---------------------------------------------------------------- streams (also used by test_protocol_c.py)


def relu6_features(rng: np.random.Generator, shape: tuple[int, int, int], zero_fraction: float, k: int) -> np.ndarray:
    """Feature-like symbols: spatially smooth ReLU6 maps (a share of exact zeros), quantized to k uniform
    centroids in [0, 6], channel-major."""
    c, h, w = shape
    noise = rng.normal(size=(c, h + 2, w + 2))
    smooth = sum(noise[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 3.0
    threshold = np.quantile(smooth, zero_fraction)
    values = np.clip(smooth - threshold, 0.0, 6.0)
    centroids = np.linspace(0.0, 6.0, k)
    return np.abs(values.reshape(-1)[:, None] - centroids[None, :]).argmin(axis=1).astype(np.uint8)


def stream_cases(rng: np.random.Generator, scale: int = 1) -> list[tuple[str, np.ndarray, int]]:
    """(name, symbols, K): random and adversarial streams for round trips and C/Python equality."""
    cases: list[tuple[str, np.ndarray, int]] = []
    for k in (1, 2, 3, 8, 17, 255, 256):
        for n in (0, 1, 2, 7, 300 * scale):
            cases.append((f"random_k{k}_n{n}", rng.integers(0, k, n).astype(np.uint8), k))
    for k in (1, 2, 8, 256):
        cases.append((f"equal_k{k}", np.full(2000 * scale, k - 1, dtype=np.uint8), k))
        cases.append((f"alternating_k{k}", (np.arange(1500 * scale) % min(k, 2)).astype(np.uint8), k))
        cases.append((f"ramp_k{k}", (np.arange(1000 * scale) % k).astype(np.uint8), k))
    # dictionary fills up (K=256, W=9 after 256 codes) then stays frozen; worst case for the raw fallback
    cases.append(("random_k256_long", rng.integers(0, 256, 6000 * scale).astype(np.uint8), 256))
    cases.append(("random_k8_long", rng.integers(0, 8, 20000 * scale).astype(np.uint8), 8))
    cases.append(("relu6_k8", relu6_features(rng, (8, 16, 16), 0.7, 8), 8))
    cases.append(("relu6_k16_sparse", relu6_features(rng, (16, 16, 16), 0.9, 16), 16))
    runs = np.repeat(rng.integers(0, 4, 400), rng.integers(1, 60, 400)).astype(np.uint8)
    cases.append(("runs_k4", runs, 4))
    return cases


# ---------------------------------------------------------------- an independent naive LZW (bit strings)


def naive_lzw(symbols: list[int], k: int, w: int) -> bytes:
    table = {(s,): s for s in range(k)}
    bits = ""
    emitted = 0

    def emit(code: int) -> None:
        nonlocal bits, emitted
        width = max(1, (min(k + emitted, 2**w) - 1).bit_length())
        assert code < 2**width
        bits += format(code, f"0{width}b")[::-1]
        emitted += 1

    string: tuple[int, ...] = ()
    for s in symbols:
        if (*string, s) in table:
            string = (*string, s)
            continue
        emit(table[string])
        if len(table) < 2**w:
            table[(*string, s)] = len(table)
        string = (s,)
    if string:
        emit(table[string])
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))


# ---------------------------------------------------------------- raw packing


def test_raw_bits():
    assert [raw_bits(k) for k in (1, 2, 3, 4, 5, 8, 9, 16, 17, 128, 129, 256)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 8]
    with pytest.raises(ValueError):
        raw_bits(0)
    with pytest.raises(ValueError):
        raw_bits(257)


def test_pack_known_bytes():
    assert pack_indices(np.array([1, 2, 3]), 3) == bytes([0xD1, 0x00])  # 1 | 2<<3 | 3<<6, bit 8 = 0
    assert pack_indices(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1]), 1) == bytes([0x0D, 0x01])
    assert pack_indices(np.array([0xAB, 0x01]), 8) == bytes([0xAB, 0x01])
    assert pack_indices(np.zeros(0, dtype=np.uint8), 3) == b""


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_round_trip_exact_width(bits):
    rng = np.random.default_rng(bits)
    for n in (0, 1, 2, 7, 8, 9, 1001):
        symbols = rng.integers(0, 1 << bits, n).astype(np.uint8)
        data = pack_indices(symbols, bits)
        assert len(data) == (n * bits + 7) // 8
        if n * bits % 8:
            assert data[-1] >> (n * bits % 8) == 0  # zero pad bits
        np.testing.assert_array_equal(unpack_indices(data, bits, n), symbols)


def test_pack_rejects_out_of_range():
    with pytest.raises(ValueError):
        pack_indices(np.array([8]), 3)
    with pytest.raises(ValueError):
        pack_indices(np.array([-1]), 3)
    with pytest.raises(ProtocolError) as info:
        unpack_indices(b"\x00", 3, 3)
    assert info.value.reason == "truncated"


# ---------------------------------------------------------------- LZW


def test_lzw_known_bytes_and_special_case():
    # K=2: emit 0 (1 bit), add 2=00; emit 2 (2 bits), add 3=000; emit 0 (2 bits) -> 0 | 2<<1 | 0<<3
    assert lzw_encode(np.array([0, 0, 0, 0]), 2, 9) == bytes([0x04])
    # decoding code 2 at position 1 is the code == next-free-code case (previous + its first symbol)
    np.testing.assert_array_equal(lzw_decode(bytes([0x04]), 2, 9, 4), [0, 0, 0, 0])
    assert lzw_encode(np.array([0]), 1, 9) == bytes([0x00])
    assert lzw_encode(np.zeros(0, dtype=np.uint8), 5, 9) == b""


def test_lzw_matches_naive_reference():
    rng = np.random.default_rng(7)
    for name, symbols, k in stream_cases(rng):
        for w in (9, 12, 16):
            if len(symbols) > 3000 and w != 9:
                continue
            body = lzw_encode(symbols, k, w)
            assert body == naive_lzw(symbols.tolist(), k, w), (name, w)


@pytest.mark.parametrize("w", range(9, 17))
def test_lzw_round_trip_all_widths(w):
    rng = np.random.default_rng(w)
    for name, symbols, k in stream_cases(rng):
        body = lzw_encode(symbols, k, w)
        np.testing.assert_array_equal(lzw_decode(body, k, w, len(symbols)), symbols, err_msg=name)


def test_lzw_dictionary_full_stays_frozen():
    rng = np.random.default_rng(3)
    # K=256, W=9: 256 new entries, full after 256 codes; every later code is exactly 9 bits.
    symbols = rng.integers(0, 256, 4000).astype(np.uint8)
    body = lzw_encode(symbols, 256, 9)
    assert body == naive_lzw(symbols.tolist(), 256, 9)
    np.testing.assert_array_equal(lzw_decode(body, 256, 9, len(symbols)), symbols)
    # on random bytes almost nothing repeats: ~1 code per symbol, 9 bits each after the first
    assert len(body) * 8 >= 9 * 3500
    # a long run with W=9 and K=1: entries of length 1..511, then the dictionary is frozen and the
    # encoder keeps emitting the longest string (511 + 1 symbols)
    run = np.zeros(200_000, dtype=np.uint8)
    body = lzw_encode(run, 1, 9)
    np.testing.assert_array_equal(lzw_decode(body, 1, 9, len(run)), run)
    assert lzw_encode(run[:20000], 1, 9) == naive_lzw(run[:20000].tolist(), 1, 9)
    assert len(body) < 200_000 // 512 * 2 + 8  # about 200000 / 512 codes of 9 bits


def test_lzw_dictionary_bytes():
    assert [lzw_dictionary_bytes(w) for w in (9, 12, 16)] == [2560, 20480, 327680]
    with pytest.raises(ValueError):
        lzw_dictionary_bytes(8)


def lzw_body_codes(codes: list[tuple[int, int]]) -> bytes:
    acc = nbits = 0
    for code, width in codes:
        acc |= code << nbits
        nbits += width
    return acc.to_bytes((nbits + 7) // 8, "little")


@pytest.mark.parametrize(
    ("body", "count", "reason"),
    [
        # K=3: codes 0 and 1 are 2 bits wide, then 3 bits (next free code 3, 4, ...)
        (lzw_body_codes([(3, 2)]), 1, "lzw_code"),  # code == next free code with no previous string
        (lzw_body_codes([(0, 2), (1, 2), (5, 3)]), 9, "lzw_code"),  # 5 > next free code 4
        (lzw_body_codes([(0, 2), (3, 2)]), 2, "lzw_overrun"),  # code 3 = "00": 3 symbols > 2
        (lzw_body_codes([(0, 2), (1, 2)]), 4, "lzw_underrun"),  # pad bits read as a 3rd code, then none
        (lzw_body_codes([(0, 2), (1, 2)]) + b"\x00", 2, "trailing"),
        (bytes([lzw_body_codes([(0, 2), (1, 2)])[0] | 0x40]), 2, "bad_padding"),
        (b"", 1, "lzw_underrun"),
        (b"\x00", 0, "trailing"),
    ],
)
def test_lzw_decoder_rejects(body, count, reason):
    np.testing.assert_array_equal(lzw_decode(lzw_body_codes([(0, 2), (1, 2)]), 3, 9, 2), [0, 1])
    with pytest.raises(ProtocolError) as info:
        lzw_decode(body, 3, 9, count)
    assert info.value.reason == reason


def test_lzw_decoder_rejects_parameters():
    for k, w in ((0, 9), (257, 9), (2, 8), (2, 17)):
        with pytest.raises(ProtocolError) as info:
            lzw_decode(b"", k, w, 0)
        assert info.value.reason == "bad_header"


# ---------------------------------------------------------------- payload


def test_payload_header_and_choice():
    rng = np.random.default_rng(11)
    zeros = np.zeros(1000, dtype=np.uint8)
    payload = encode_payload(zeros, 8, 12)
    assert payload[0] == 1 and int.from_bytes(payload[1:5], "little") == 1000 and payload[5] == 8 and payload[6] == 12
    assert payload[7:] == lzw_encode(zeros, 8, 12)
    noise = rng.integers(0, 256, 1000).astype(np.uint8)
    payload = encode_payload(noise, 256, 9)  # LZW expands random bytes: raw fallback
    assert payload[:7] == bytes([0]) + (1000).to_bytes(4, "little") + bytes([0, 8])  # K=256 written as 0
    assert payload[7:] == noise.tobytes()
    assert decode_payload(payload, max_symbols=1000)[1] == 256
    raw_only = encode_payload(zeros, 8, 0)
    assert raw_only[0] == 0 and raw_only[6] == 3 and len(raw_only) == 7 + 375


def test_payload_round_trips_and_never_expands():
    rng = np.random.default_rng(12)
    for name, symbols, k in stream_cases(rng):
        for w in (9, 16):
            payload = encode_payload(symbols, k, w)
            raw_len = (len(symbols) * raw_bits(k) + 7) // 8
            assert len(payload) <= 7 + raw_len, name
            if payload[0] == 1:
                assert len(payload) - 7 < raw_len
            else:
                assert len(lzw_encode(symbols, k, w)) >= raw_len
            decoded, alphabet = decode_payload(payload, max_symbols=len(symbols))
            assert alphabet == k and decoded.dtype == np.uint8
            np.testing.assert_array_equal(decoded, symbols, err_msg=name)


def test_payload_encoder_rejects_bad_input():
    with pytest.raises(ValueError):
        encode_payload(np.array([3]), 3, 9)
    with pytest.raises(ValueError):
        encode_payload(np.array([0]), 3, 8)


def raw_payload(k: int, b: int, n: int, body: bytes, encoding: int = 0) -> bytes:
    return bytes([encoding]) + n.to_bytes(4, "little") + bytes([k & 0xFF, b]) + body


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x00\x01\x00\x00", "truncated"),
        (raw_payload(5, 3, 2, b"\x00\x00", encoding=2), "bad_encoding"),
        (raw_payload(5, 4, 2, b"\x00"), "bad_header"),  # b must be 3 for K=5
        (raw_payload(5, 3, 2, b"\x07"), "bad_symbol"),  # symbol 7 >= K
        (raw_payload(5, 3, 2, b"\x40"), "bad_padding"),
        (raw_payload(5, 3, 2, b"\x00\x00"), "trailing"),
        (raw_payload(5, 3, 3, b"\x00"), "truncated"),
        (raw_payload(5, 3, 1001, b"\x00" * 376), "too_large"),
        (raw_payload(5, 8, 2, b"\x00", encoding=1), "bad_header"),  # W=8
        (raw_payload(5, 17, 2, b"\x00", encoding=1), "bad_header"),
    ],
)
def test_payload_decoder_rejects(payload, reason):
    with pytest.raises(ProtocolError) as info:
        decode_payload(payload, max_symbols=1000)
    assert info.value.reason == reason
    assert str(info.value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(0, 4000))
def test_decoders_never_raise_anything_else(data, limit):
    start = time.perf_counter()
    for payload in (data, b"\x01" + data, b"\x00" + data):
        try:
            symbols, k = decode_payload(payload, max_symbols=limit)
        except ProtocolError:
            continue
        assert len(symbols) <= limit and (len(symbols) == 0 or int(symbols.max()) < k)
    with contextlib.suppress(ProtocolError):
        lzw_decode(data, 1 + limit % 256, 9 + limit % 8, limit)
    assert time.perf_counter() - start < 2.0


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 256),
    st.integers(9, 16),
    st.lists(st.integers(0, 255), max_size=400),
    st.data(),
)
def test_damaged_payloads_are_rejected_or_have_the_right_length(k, w, values, data):
    symbols = np.array([v % k for v in values], dtype=np.uint8)
    payload = bytearray(encode_payload(symbols, k, w))
    if data.draw(st.booleans()):
        damaged = bytes(payload[: data.draw(st.integers(0, len(payload) - 1))])
    else:
        bit = data.draw(st.integers(0, 8 * len(payload) - 1))
        payload[bit // 8] ^= 1 << (bit % 8)
        damaged = bytes(payload)
    try:
        decoded, alphabet = decode_payload(damaged, max_symbols=1 << 16)
    except ProtocolError:
        return
    assert len(decoded) == int.from_bytes(damaged[1:5], "little")
    assert len(decoded) == 0 or int(decoded.max()) < alphabet


def test_compression_ratios(capsys):
    """LZW (W=12) against raw 3-bit packing on feature-like K=8 streams (the numbers go in the report)."""
    rng = np.random.default_rng(2024)
    rows = []
    for zero_fraction in (0.5, 0.7, 0.9, 0.97):
        symbols = relu6_features(rng, (8, 16, 16), zero_fraction, 8)
        raw = len(pack_indices(symbols, 3))
        lzw = {w: len(lzw_encode(symbols, 8, w)) for w in (9, 12)}
        payload = encode_payload(symbols, 8, 12)
        rows.append((zero_fraction, len(symbols), raw, lzw[9], lzw[12], len(payload)))
        np.testing.assert_array_equal(decode_payload(payload, max_symbols=len(symbols))[0], symbols)
    uniform = rng.integers(0, 8, 2048)
    rows.append(
        (
            "uniform",
            2048,
            len(pack_indices(uniform, 3)),
            len(lzw_encode(uniform, 8, 9)),
            len(lzw_encode(uniform, 8, 12)),
            len(encode_payload(uniform, 8, 12)),
        )
    )
    with capsys.disabled():
        print("\nK=8, 8x16x16 ReLU6 maps: zeros | N | raw 3-bit | LZW W=9 | LZW W=12 | payload (W=12) | raw/LZW12")
        for zero_fraction, n, raw, l9, l12, total in rows:
            print(f"  {zero_fraction!s:>7} | {n} | {raw} | {l9} | {l12} | {total} | {raw / l12:.2f}x")
    assert rows[2][4] < rows[2][2]  # 90 % zeros: LZW wins
    assert rows[-1][5] == 7 + rows[-1][2]  # uniform noise: raw fallback
