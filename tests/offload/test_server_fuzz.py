"""Fuzzing the server's datagram path: nothing a peer sends crashes it or gets a corrupt, replayed or
forged request accepted.

Most examples go through :class:`RequestDecoder` and :func:`decode_request` directly (no sockets, so
hypothesis can try many), with and without device authentication; a smaller set goes over UDP to a running
server, which must still answer a valid request afterwards.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agilenn_codegen.offload import (
    FLAG_MAC,
    KIND_REPLY,
    KIND_REQUEST,
    VERSION,
    ProtocolError,
    decode_frame,
    decode_reply,
    encode_frames,
)
from agilenn_codegen.offload.forgery import forged_requests, reframe
from agilenn_codegen.offload.keys import new_keys
from agilenn_codegen.server import ModelSpec, RequestDecoder, RequestError, ServerStats, ServerThread, decode_request
from agilenn_codegen.server.model import parse_spec
from tests.offload.fixtures import (
    TinyModel,
    build_model_dir,
    random_symbols,
    reference_logits,
    request_frames,
    request_payload,
    settle,
    sparse_symbols,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAME_REASONS = {"truncated", "bad_magic", "bad_version", "old_version", "bad_kind", "bad_flags", "bad_length", "crc"}
FRAME_REASONS |= {"too_large", "bad_header"}
SERVER_REASONS = FRAME_REASONS | {"oversize", "wrong_kind", "wrong_model", "conflict", "replay", "unexpected_tag"}
AUTH_REASONS = {"unauthenticated", "unknown_device", "bad_tag"}
KEYS = new_keys(range(1, 6))
PAYLOAD_REASONS = {
    "truncated",
    "too_large",
    "bad_encoding",
    "bad_header",
    "trailing",
    "bad_padding",
    "bad_symbol",
    "lzw_code",
    "lzw_overrun",
    "lzw_underrun",
    "context_symbol",
    "context_escape",
    "context_noncanonical",
    "wrong_size",
    "wrong_alphabet",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_model_dir(tmp_path_factory.mktemp("fuzz") / "export", height=4, width=4, coder=True)


@pytest.fixture(scope="module")
def spec(tiny: TinyModel) -> ModelSpec:
    return parse_spec(tiny.meta, tiny.folder / "agilenn.json")


def _decoder(spec: ModelSpec, keys: dict[int, bytes] | None = None) -> tuple[RequestDecoder, ServerStats]:
    stats = ServerStats()
    return RequestDecoder(spec, stats, max_datagram=1472, max_fragment=1428, keys=keys), stats


def _valid_frames(tiny: TinyModel, seed: int, max_fragment: int = 1428) -> list[bytes]:
    return request_frames(tiny, seed, random_symbols(tiny, np.random.default_rng(seed)), max_fragment)


def _reframe(frame: bytes, **fields: int) -> bytes:
    """Rewrite header fields of a valid frame and fix its CRC (a well-formed lie)."""
    return reframe(frame, **fields)


def _one_drop(stats: ServerStats) -> str:
    snap = stats.snapshot()
    assert snap["dropped"] == 1 and snap["requests"] == 0, snap
    (reason,) = snap["drops"]
    return reason


# --------------------------------------------------------------------------------------------
# sans-IO: many examples
# --------------------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=1600) | st.binary(max_size=200).map(lambda b: b"AGNN" + bytes([VERSION]) + b))
def test_random_bytes_are_dropped_with_a_reason(spec: ModelSpec, data: bytes):
    decoder, stats = _decoder(spec)
    assert decoder.on_datagram(data, ("10.0.0.1", 1), now=0.0) is None
    assert _one_drop(stats) in SERVER_REASONS


@FAST
@given(seed=st.integers(0, 2**16), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=3, unique=True))
def test_bit_flips_are_never_accepted(tiny: TinyModel, spec: ModelSpec, seed: int, flips: list[int]):
    frame = bytearray(_valid_frames(tiny, seed)[0])
    positions = {f % (8 * len(frame)) for f in flips}
    for bit in positions:
        frame[bit // 8] ^= 1 << (bit % 8)
    decoder, stats = _decoder(spec)
    assert decoder.on_datagram(bytes(frame), "peer", now=0.0) is None  # CRC-32 catches every 1..3-bit error
    assert _one_drop(stats) in FRAME_REASONS


@FAST
@given(seed=st.integers(0, 2**16), cut=st.integers(0, 10**6), extra=st.binary(min_size=1, max_size=40))
def test_truncated_or_extended_frames_are_dropped(tiny: TinyModel, spec: ModelSpec, seed: int, cut: int, extra: bytes):
    frame = _valid_frames(tiny, seed)[0]
    decoder, stats = _decoder(spec)
    assert decoder.on_datagram(frame[: cut % len(frame)], "peer", now=0.0) is None
    assert _one_drop(stats) in {"truncated", "bad_length"}
    decoder, stats = _decoder(spec)
    assert decoder.on_datagram(frame + extra, "peer", now=0.0) is None
    assert _one_drop(stats) == "bad_length"


@FAST
@given(
    seed=st.integers(0, 2**16),
    field=st.sampled_from(["version", "kind", "flags", "reserved", "model", "frag_len", "total", "count", "index"]),
    value=st.integers(0, 2**32 - 1),
)
def test_wellformed_lies_in_the_header_are_dropped(tiny: TinyModel, spec: ModelSpec, seed: int, field: str, value: int):
    frame = _valid_frames(tiny, seed)[0]
    limits = {"version": 0xFF, "kind": 0xFF, "flags": 0xFF, "reserved": 0xFF}
    limits |= {"frag_len": 0xFFFF, "count": 0xFFFF, "index": 0xFFFF}
    value &= limits.get(field, 0xFFFFFFFF)
    original = decode_frame(frame)
    current = {"version": VERSION, "kind": original.kind, "flags": 0, "reserved": 0, "model": original.model_id}
    current |= {"frag_len": len(original.payload), "total": original.total_len, "count": 1, "index": 0}
    if current[field] == value:
        return  # not a lie
    decoder, stats = _decoder(spec)
    assert decoder.on_datagram(_reframe(frame, **{field: value}), "peer", now=0.0) is None
    reason = _one_drop(stats)
    expected = {
        "version": {"bad_version", "old_version"},
        "kind": {"bad_kind", "wrong_kind"},
        "flags": {"bad_flags", "unexpected_tag"},  # flag MAC (the tag appended): this server has no keys
        "reserved": {"bad_header"},
        "model": {"wrong_model"},
        "frag_len": {"truncated", "bad_length"},
        "total": {"too_large", "bad_length"},
        "count": {"bad_header", "bad_length"},
        "index": {"bad_header"},
    }[field]
    assert reason in expected, (field, value, reason)


@FAST
@given(payload=st.binary(max_size=120), seq=st.integers(0, 2**32 - 1))
def test_garbage_payload_with_a_valid_crc_is_refused_or_valid(tiny: TinyModel, spec: ModelSpec, payload: bytes, seq):
    """The CRC only says the bytes arrived as sent; the payload decoder must still refuse nonsense."""
    decoder, stats = _decoder(spec)
    request = None
    for frame in encode_frames(KIND_REQUEST, tiny.model_id, seq, payload, 16):
        request = decoder.on_datagram(frame, "peer", now=0.0) or request
    if len(payload) > spec.max_payload:
        assert request is None and set(stats.snapshot()["drops"]) == {"too_large"}
        return
    assert request is not None and request.payload == payload and request.seq == seq
    try:
        symbols = decode_request(spec, request.payload)
    except (ProtocolError, RequestError) as exc:
        assert exc.reason in PAYLOAD_REASONS
    else:
        assert symbols.shape == (spec.num_symbols,) and int(symbols.max()) < spec.alphabet


def _decode_outcome(spec: ModelSpec, payload: bytes) -> object:
    try:
        return decode_request(spec, payload).tobytes()
    except (ProtocolError, RequestError) as exc:
        assert exc.reason in PAYLOAD_REASONS, exc.reason
        return exc.reason


@FAST
@given(body=st.binary(max_size=40), count=st.sampled_from([64, 63, 0, 2**32 - 1]), k=st.integers(0, 255))
def test_context_payloads_with_any_body_are_refused_or_valid(spec: ModelSpec, body: bytes, count: int, k: int):
    """Header of encoding 2 (N, K, P mostly right), then anything: a reason or valid symbols, never more."""
    for header in (struct.pack("<BIBB", 2, count, 5, 15), struct.pack("<BIBB", 2, 64, k, k % 17)):
        outcome = _decode_outcome(spec, header + body)
        if isinstance(outcome, bytes):
            symbols = np.frombuffer(outcome, np.uint8)
            assert symbols.size == spec.num_symbols and int(symbols.max()) < spec.alphabet


@FAST
@given(seed=st.integers(0, 2**16), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True))
def test_flipped_bits_in_context_payloads_are_caught_or_decoded(tiny: TinyModel, spec: ModelSpec, seed, flips):
    """Bits flipped after the CRC (a forged or miscomputed frame): the context decoder still never crashes,
    and the C decoder the server uses agrees with the Python reference."""
    from agilenn_codegen.offload import ContextCodec, decode_payload

    symbols = sparse_symbols(tiny, np.random.default_rng(seed))
    payload = bytearray(request_payload(tiny, symbols, context=True))
    assert payload[0] == 2 and spec.context is not None and spec.context.uses_native
    for flip in flips:
        bit = 8 * 7 + flip % (8 * (len(payload) - 7))  # in the body
        payload[bit // 8] ^= 1 << (bit % 8)
    outcome = _decode_outcome(spec, bytes(payload))
    reference = ContextCodec(spec.coder, spec.height, spec.width, native=False)
    try:
        expected: object = decode_payload(bytes(payload), max_symbols=spec.num_symbols, context=reference)[0].tobytes()
    except ProtocolError as exc:
        expected = exc.reason
    assert outcome == expected


@FAST
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(1, 5), st.integers(0, 80), st.binary(max_size=30)),
        max_size=30,
    )
)
def test_fragment_soup_never_crashes_and_stays_bounded(tiny: TinyModel, spec: ModelSpec, ops: list):
    """Random fragments (valid CRC) for a few sequences: only ProtocolError reasons, bounded pending state."""
    decoder, stats = _decoder(spec)
    for step, (seq, index, count, total, body) in enumerate(ops):
        fields = (0, 0, index, count, tiny.model_id, 0, seq, 0, len(body), total)
        header = struct.pack("<4sBBBBHHIIIHHI", b"AGNN", VERSION, KIND_REQUEST, *fields)
        frame = header + struct.pack("<I", zlib.crc32(body, zlib.crc32(header))) + body
        request = decoder.on_datagram(frame, ("peer", seq % 2), now=step * 0.01)
        if request is not None:
            assert len(request.payload) == total <= spec.max_payload
        assert decoder.pending() <= 2 * 4
    snap = stats.snapshot()
    assert set(snap["drops"]) <= SERVER_REASONS
    assert snap["datagrams"] == len(ops)


def test_pending_memory_is_capped_per_peer_and_expires(tiny: TinyModel, spec: ModelSpec):
    """A peer's first fragments beyond its cap evict its own oldest partial requests (nothing is refused), and
    the partial requests go at their deadline (at most the reassembly timeout)."""
    decoder, stats = _decoder(spec)
    firsts = [_valid_frames(tiny, seq, max_fragment=8)[0] for seq in range(10)]
    for frame in firsts:
        decoder.on_datagram(frame, "greedy", now=0.0)
    assert decoder.pending() == 4 and stats.snapshot()["drops"] == {"partial_evicted": 6}
    # no deadline in these frames: the server's default (1 s) ends them, before the 2 s reassembly timeout
    assert decoder.expire(now=0.99) == 0 and decoder.expire(now=1.0) == 4 and decoder.pending() == 0
    assert stats.snapshot()["reassembly"] == {"pending": 0, "expired": 4, "evicted": 6}
    deadline = encode_frames(KIND_REQUEST, tiny.model_id, 77, bytes(20), 8, deadline_ms=300)[0]
    decoder.on_datagram(deadline, "dev", now=10.0)
    assert decoder.expire(now=10.29) == 0 and decoder.expire(now=10.3) == 1  # its own deadline, not 2 s


def test_late_duplicate_fragments_and_replays_are_dropped(tiny: TinyModel, spec: ModelSpec):
    """Fragments of a completed request (late duplicates, or a replay of the whole request) are refused by the
    device's replay window before reassembly: they never open partial requests, and never lock a device out."""
    decoder, stats = _decoder(spec)  # per-peer cap 4, timeout 2 s
    for seq in range(8):
        frames = _valid_frames(tiny, seq, max_fragment=4)
        assert len(frames) > 1
        results = [decoder.on_datagram(frame, "dev", now=0.1 * seq) for frame in frames]
        assert results[-1] is not None, stats.snapshot()
        assert decoder.on_datagram(frames[0], "dev", now=0.1 * seq + 0.01) is None
    snap = stats.snapshot()
    assert snap["requests"] == 8 and snap["drops"] == {"replay": 8} and decoder.pending() == 0
    frames = _valid_frames(tiny, 3, max_fragment=4)
    assert all(decoder.on_datagram(frame, "dev", now=1.0) is None for frame in frames)
    assert stats.snapshot()["drops"]["replay"] == 8 + len(frames)
    # the same sequence number from another address (or device id) is another device's: accepted
    assert [decoder.on_datagram(frame, "other", now=1.0) for frame in frames][-1] is not None


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_forged_requests_are_refused_before_any_work(tiny: TinyModel, spec: ModelSpec, seed: int):
    """With authentication, every forged request (no tag, unknown device, another key's tag, a random tag, a
    modified payload or header under the old tag) is dropped with its reason and opens nothing; a genuine
    request of the same device and sequence number is then served."""
    rng = np.random.default_rng(seed)
    decoder, stats = _decoder(spec, KEYS)
    payload = request_payload(tiny, random_symbols(tiny, rng))
    seq = int(rng.integers(0, 2**32))
    forgeries = forged_requests(rng, tiny.model_id, payload, KEYS, seq=seq)
    for _, frame in forgeries:
        assert decoder.on_datagram(frame, ("10.0.0.9", 4000), now=0.0) is None
    drops = stats.snapshot()["drops"]
    assert sum(drops.values()) == len(forgeries) and set(drops) <= AUTH_REASONS
    for reason in {r for r, _ in forgeries}:
        assert drops[reason] == sum(1 for r, _ in forgeries if r == reason)
    assert stats.snapshot()["requests"] == 0 and decoder.pending() == 0
    device = int(rng.choice(sorted(KEYS)))
    (genuine,) = encode_frames(KIND_REQUEST, tiny.model_id, seq, payload, device_id=device, key=KEYS[device])
    request = decoder.on_datagram(genuine, ("10.0.0.9", 4000), now=0.0)
    assert request is not None and request.device_id == device and request.key == KEYS[device]
    assert request.request_tag == genuine[-8:] and request.source == device
    assert decoder.on_datagram(genuine, ("10.0.0.10", 5000), now=0.1) is None  # a replay, even from elsewhere
    assert stats.snapshot()["drops"]["replay"] == 1


def test_an_authenticating_server_refuses_untagged_and_an_open_one_tagged_requests(tiny: TinyModel, spec: ModelSpec):
    (plain,) = _valid_frames(tiny, 1)
    (tagged,) = encode_frames(KIND_REQUEST, tiny.model_id, 1, decode_frame(plain).payload, device_id=1, key=KEYS[1])
    decoder, stats = _decoder(spec, KEYS)
    assert decoder.on_datagram(plain, "p", now=0.0) is None and _one_drop(stats) == "unauthenticated"
    decoder, stats = _decoder(spec)
    assert decoder.on_datagram(tagged, "p", now=0.0) is None and _one_drop(stats) == "unexpected_tag"
    assert tagged[6] == FLAG_MAC


def test_deadlines_count_from_the_first_fragment_less_the_margin(tiny: TinyModel, spec: ModelSpec):
    decoder, _ = _decoder(spec)
    payload = request_payload(tiny, sparse_symbols(tiny, np.random.default_rng(1)), context=True)
    frames = encode_frames(KIND_REQUEST, tiny.model_id, 5, payload, 8, deadline_ms=250)
    request = None
    for i, frame in enumerate(frames):
        request = decoder.on_datagram(frame, "d", now=1.0 + 0.01 * i, arrived=0.9 + 0.01 * i) or request
    assert request is not None and request.started == 0.9
    assert request.deadline == pytest.approx(0.9 + 0.25 - 0.02)  # 20 ms margin for the way back
    (no_deadline,) = encode_frames(KIND_REQUEST, tiny.model_id, 6, decode_frame(_valid_frames(tiny, 6)[0]).payload)
    request = decoder.on_datagram(no_deadline, "d", now=2.0)
    assert request is not None and request.deadline == pytest.approx(2.0 + 1.0 - 0.02)  # the default deadline


def test_old_version_frames_are_refused_by_reason_and_logged_once(spec: ModelSpec, caplog):
    decoder, stats = _decoder(spec)
    old = b"AGNN\x01\x01" + bytes(22) + b"abc"  # a version-1 request: 28-byte header
    with caplog.at_level("WARNING", logger="agilenn.server"):
        for _ in range(3):
            assert decoder.on_datagram(old, ("10.1.1.1", 7), now=0.0) is None
    assert stats.snapshot()["drops"] == {"old_version": 3}
    assert len([r for r in caplog.records if "version 1" in r.getMessage()]) == 1


# --------------------------------------------------------------------------------------------
# over UDP: the running server survives and still answers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tiny: TinyModel) -> Iterator[ServerThread]:
    with ServerThread(tiny.folder) as running:
        yield running


def _mutations(tiny: TinyModel, rng: np.random.Generator) -> list[bytes]:
    frames = _valid_frames(tiny, int(rng.integers(0, 2**16)), max_fragment=16)
    out: list[bytes] = [bytes(rng.integers(0, 256, size=int(rng.integers(0, 200)), dtype=np.uint8))]
    flipped = bytearray(frames[0])
    flipped[int(rng.integers(0, len(flipped)))] ^= 1 << int(rng.integers(0, 8))
    out += [bytes(flipped), frames[0][: int(rng.integers(0, len(frames[0])))], frames[-1] + b"\0"]
    out += [_reframe(frames[0], model=tiny.model_id ^ 0x100), _reframe(frames[0], version=3), b"\xff" * 3000]
    out += [_reframe(frames[0], kind=KIND_REPLY), _reframe(frames[0], total=1 << 20)]
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_server_survives_fuzz_and_still_answers(tiny: TinyModel, server: ServerThread, seed: int):
    rng = np.random.default_rng(seed)
    before = server.stats.snapshot()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(server.address)
        datagrams = _mutations(tiny, rng)
        for datagram in datagrams:
            sock.send(datagram)
        symbols = random_symbols(tiny, rng)
        for frame in request_frames(tiny, 7, symbols, max_fragment=16):
            sock.send(frame)
        sock.settimeout(2.0)
        while True:
            frame = decode_frame(sock.recv(65536))
            if frame.seq == 7:
                break
        assert np.array_equal(decode_reply(frame.payload), reference_logits(tiny, symbols))
    after = settle(server.stats, lambda snap: snap["replies"] > before["replies"])
    assert after["replies"] == before["replies"] + 1
    assert after["dropped"] - before["dropped"] == len(datagrams)
    assert "internal" not in after["drops"]
    for reason in ("wrong_model", "bad_version", "oversize", "wrong_kind", "too_large"):
        assert after["drops"].get(reason, 0) > before["drops"].get(reason, 0), reason
