"""Offloading protocol, frame layer: header, CRC, checks, fragmentation and bounded reassembly, model id
and reply (docs/offload-protocol.md, sections 3-4)."""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agilenn_codegen.offload import (
    DEFAULT_MAX_FRAGMENT,
    HEADER_SIZE,
    KIND_REPLY,
    KIND_REQUEST,
    Frame,
    ProtocolError,
    Reassembler,
    decode_frame,
    decode_reply,
    encode_frames,
    encode_reply,
    model_id,
)

HEADER = struct.Struct("<4sBBHHIIHI")


def forge(
    *,
    magic: bytes = b"AGNN",
    version: int = 1,
    kind: int = 1,
    index: int = 0,
    count: int = 1,
    model: int = 7,
    seq: int = 9,
    frag_len: int | None = None,
    total: int | None = None,
    payload: bytes = b"abc",
) -> bytes:
    """A datagram with any header fields and a correct CRC."""
    frag_len = len(payload) if frag_len is None else frag_len
    total = len(payload) if total is None else total
    head = HEADER.pack(magic, version, kind, index, count, model, seq, frag_len, total)
    return head + struct.pack("<I", zlib.crc32(head + payload)) + payload


def test_header_layout():
    payload = bytes(range(100))
    (frame,) = encode_frames(KIND_REQUEST, 0x11223344, 0xAABBCCDD, payload)
    assert len(frame) == HEADER_SIZE + 100
    assert frame[:4] == b"AGNN" and frame[4] == 1 and frame[5] == 1
    assert frame[6:8] == b"\x00\x00" and frame[8:10] == b"\x01\x00"
    assert frame[10:14] == bytes.fromhex("44332211") and frame[14:18] == bytes.fromhex("ddccbbaa")
    assert frame[18:20] == (100).to_bytes(2, "little") and frame[20:24] == (100).to_bytes(4, "little")
    assert frame[24:28] == zlib.crc32(frame[:24] + payload).to_bytes(4, "little")
    assert frame == forge(model=0x11223344, seq=0xAABBCCDD, payload=payload)
    decoded = decode_frame(frame)
    assert decoded == Frame(KIND_REQUEST, 0, 1, 0x11223344, 0xAABBCCDD, 100, payload)


def test_fragmentation_sizes():
    for total, size, count in ((0, 1444, 1), (1, 1444, 1), (1444, 1444, 1), (1445, 1444, 2), (10, 3, 4)):
        frames = encode_frames(KIND_REPLY, 1, 2, bytes(total), size)
        assert len(frames) == count
        lengths = [len(f) - HEADER_SIZE for f in frames]
        assert sum(lengths) == total and all(n == size for n in lengths[:-1]) and lengths[-1] <= size
        for i, f in enumerate(frames):
            frame = decode_frame(f, max_fragment=size)
            assert (frame.frag_index, frame.frag_count, frame.total_len, frame.kind) == (i, count, total, KIND_REPLY)
    assert len(encode_frames(KIND_REQUEST, 1, 2, bytes(5000))[0]) == HEADER_SIZE + DEFAULT_MAX_FRAGMENT == 1472
    with pytest.raises(ValueError):
        encode_frames(KIND_REQUEST, 1, 2, bytes(70000), 1)  # more than 65535 fragments
    with pytest.raises(ValueError):
        encode_frames(3, 1, 2, b"")


def test_crc_catches_every_single_bit_flip():
    rng = np.random.default_rng(5)
    for frame in encode_frames(KIND_REQUEST, 0xDEADBEEF, 77, rng.bytes(90), 40):
        for bit in range(8 * len(frame)):
            damaged = bytearray(frame)
            damaged[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(ProtocolError):
                decode_frame(bytes(damaged), max_fragment=40)
        decode_frame(frame, max_fragment=40)


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"AGNN\x01\x01", "truncated"),
        (forge(magic=b"AGNX"), "bad_magic"),
        (forge(version=2), "bad_version"),
        (forge(kind=0), "bad_kind"),
        (forge(kind=3), "bad_kind"),
        (forge(frag_len=4), "truncated"),
        (forge(frag_len=2), "bad_length"),
        (forge()[:-1] + b"x", "crc"),
        (forge(payload=bytes(1445)), "too_large"),
        (forge(total=(1 << 20) + 1, count=1000, index=5, payload=bytes(1444)), "too_large"),
        (forge(count=0), "bad_header"),
        (forge(index=1, count=1), "bad_header"),
        (forge(total=4), "bad_length"),  # single fragment smaller than the total
        (forge(index=0, count=2, total=7), "bad_length"),  # two fragments of 3 cannot hold 7
        (forge(index=0, count=2, total=3), "bad_length"),  # ... nor leave an empty last one
        (forge(index=1, count=2, total=3), "bad_length"),  # last fragment of 3 needs total >= 4
        (forge(index=0, count=2, total=6, payload=b""), "bad_length"),
    ],
)
def test_decode_frame_rejects(datagram, reason):
    with pytest.raises(ProtocolError) as info:
        decode_frame(datagram)
    assert info.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_decode_frame_arbitrary_bytes(data):
    for datagram in (data, b"AGNN\x01\x01" + data, forge(payload=data)):
        try:
            frame = decode_frame(datagram)
        except ProtocolError:
            continue
        assert frame.payload == data


def frames_of(payload: bytes, size: int, seq: int = 1) -> list[Frame]:
    return [decode_frame(f, max_fragment=size) for f in encode_frames(KIND_REQUEST, 3, seq, payload, size)]


def test_reassembly_shuffled_with_duplicates():
    rng = random.Random(1)
    for total in (1, 9, 10, 11, 100, 333):
        payload = rng.randbytes(total)
        frames = frames_of(payload, 10)
        stream = frames + rng.sample(frames, k=min(5, len(frames)))
        rng.shuffle(stream)
        reassembler = Reassembler(max_total=1000)
        results = [reassembler.feed(("10.0.0.1", 5000), f, 0.0) for f in stream]
        complete = [r for r in results if r is not None]
        # duplicates of the last fragments may arrive after completion and start a new (stale) sequence
        assert complete[0] == payload and all(r == payload for r in complete)
        reassembler.expire(10.0)
        assert reassembler.pending == 0


def test_loss_never_returns_incomplete():
    payload = bytes(range(256)) * 2
    frames = frames_of(payload, 50)
    for lost in range(len(frames)):
        reassembler = Reassembler(max_total=1000)
        assert all(reassembler.feed("peer", f, 0.0) is None for i, f in enumerate(frames) if i != lost)
        assert reassembler.expire(1.9) == 0 and reassembler.expire(2.0) == 1 and reassembler.pending == 0


def test_interleaved_peers_and_sequences():
    a, b = bytes(range(100)), bytes(range(100, 0, -1))
    reassembler = Reassembler(max_total=1000)
    out = []
    for fa, fb in zip(frames_of(a, 30, seq=1), frames_of(b, 30, seq=1), strict=True):
        out += [reassembler.feed("A", fa, 0.0), reassembler.feed("B", fb, 0.0)]
    assert out[-2:] == [a, b] and reassembler.pending == 0


def test_conflicts_drop_the_sequence():
    payload = bytes(range(30))
    frames = frames_of(payload, 10)
    other = frames_of(bytes(30 - i for i in range(30)), 10)
    reassembler = Reassembler(max_total=1000)
    assert reassembler.feed("p", frames[0], 0.0) is None
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("p", other[0], 0.0)  # same index, different bytes
    assert info.value.reason == "conflict" and reassembler.pending == 0
    # a different total for the same (peer, seq)
    reassembler.feed("p", frames[0], 0.0)
    longer = frames_of(bytes(35), 10)[1]
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("p", longer, 0.0)
    assert info.value.reason == "conflict" and reassembler.pending == 0
    # fragments of different sizes: F=10 from fragment 0, then a fragment 1 of 8 bytes from F=8 (total 30, 4 frags)
    # -> different count: conflict; and same count with different F
    reassembler.feed("p", frames[0], 0.0)  # count 3, F 10, total 30
    odd = Frame(KIND_REQUEST, 1, 3, 3, 1, 30, bytes(11))
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("p", odd, 0.0)
    assert info.value.reason == "conflict"
    # the last fragment first, then a full one that does not add up
    reassembler.feed("p", frames[2], 0.0)
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("p", Frame(KIND_REQUEST, 0, 3, 3, 1, 30, bytes(12)), 0.0)
    assert info.value.reason == "conflict" and reassembler.pending == 0


def test_caps_and_timeouts():
    reassembler = Reassembler(max_total=100, max_pending_per_peer=2, max_pending=3, timeout_s=1.0)
    first = {seq: frames_of(bytes(20), 10, seq=seq)[0] for seq in range(10)}
    reassembler.feed("a", first[0], 0.0)
    reassembler.feed("a", first[1], 0.0)
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("a", first[2], 0.5)
    assert info.value.reason == "too_many_pending"
    reassembler.feed("b", first[3], 0.5)
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("c", first[4], 0.5)
    assert info.value.reason == "too_many_pending"
    # after the timeout the stale ones make room, without an explicit expire()
    assert reassembler.feed("c", first[4], 1.2) is None
    assert reassembler.pending == 2  # b's (t=0.5) and c's
    # a late fragment of an expired sequence starts over: it never completes with stale data
    assert reassembler.feed("a", frames_of(bytes(20), 10, seq=0)[1], 1.3) is None
    assert reassembler.expire(100.0) == 3 and reassembler.pending == 0
    big = decode_frame(encode_frames(KIND_REQUEST, 3, 1, bytes(101), 50)[0], max_fragment=50)
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("a", big, 0.0)
    assert info.value.reason == "too_large"


def test_single_fragment_and_retransmission():
    reassembler = Reassembler(max_total=100)
    (frame,) = frames_of(b"hello", 10)
    assert reassembler.feed("p", frame, 0.0) == b"hello"
    assert reassembler.feed("p", frame, 0.1) == b"hello"  # a retransmission is answered again
    frames = frames_of(bytes(range(25)), 10)
    assert [reassembler.feed("p", f, 0.0) for f in frames][-1] == bytes(range(25))
    assert [reassembler.feed("p", f, 0.0) for f in frames][-1] == bytes(range(25))
    assert reassembler.pending == 0


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=200), st.integers(1, 64), st.randoms(use_true_random=False))
def test_reassembly_property(payload, size, rng):
    frames = frames_of(payload, size)
    order = list(range(len(frames))) * 2
    rng.shuffle(order)
    reassembler = Reassembler(max_total=200)
    seen_complete = False
    received: set[int] = set()
    for i in order:
        result = reassembler.feed("p", frames[i], 0.0)
        received.add(i)
        if result is not None:
            assert result == payload and len(received) == len(frames)
            seen_complete = True
            received = set()
    assert seen_complete


def test_model_id():
    meta = {"b": [1, 2.5, "x"], "a": {"z": None, "y": True}}
    expected = int.from_bytes(hashlib.sha256(b'{"a":{"y":true,"z":null},"b":[1,2.5,"x"]}').digest()[:4], "little")
    assert model_id(meta) == expected
    assert model_id(json.loads(json.dumps(meta))) == expected
    assert model_id({**meta, "c": 1}) != expected


def test_reply_round_trip_and_rejects():
    logits = np.array([1.5, -2.25, 3.0e-8, np.finfo(np.float32).max], dtype=np.float32)
    payload = encode_reply(logits)
    assert payload[:2] == b"\x04\x00" and len(payload) == 18
    np.testing.assert_array_equal(decode_reply(payload), logits)
    assert decode_reply(encode_reply(np.zeros(0))).size == 0
    non_finite = [encode_reply(np.array([v, 1.0], np.float32)) for v in (np.nan, np.inf, -np.inf)]
    quiet_nan_payload = payload[:2] + b"\x01\x00\xc0\x7f" + payload[6:]  # a NaN with a payload bit pattern
    for bad, reason in (
        (b"", "truncated"),
        (b"\x01", "truncated"),
        (payload[:-1], "bad_length"),
        (payload + b"\0", "bad_length"),
        *((p, "non_finite") for p in (*non_finite, quiet_nan_payload)),
    ):
        with pytest.raises(ProtocolError) as info:
            decode_reply(bad)
        assert info.value.reason == reason


def test_late_duplicates_of_completed_sequences_do_not_lock_a_peer_out():
    reassembler = Reassembler(max_total=1000, max_pending_per_peer=2, max_pending=3, timeout_s=1.0)
    for seq in range(6):
        frames = frames_of(bytes([seq]) * 25, 10, seq=seq)
        assert [reassembler.feed("dev", f, 0.1 * seq) for f in frames][-1] == bytes([seq]) * 25
        assert reassembler.feed("dev", frames[0], 0.1 * seq + 0.01) is None  # late duplicate: an echo
    assert reassembler.pending == 2 and reassembler.evicted == 4
    # another peer's duplicates fill the global cap; a fresh sequence evicts an echo instead of being refused
    frames = frames_of(bytes(25), 10, seq=99)
    assert [reassembler.feed("other", f, 0.7) for f in frames][-1] == bytes(25)
    reassembler.feed("other", frames[1], 0.71)
    assert reassembler.pending == 3
    fresh = frames_of(bytes(range(25)), 10, seq=100)
    assert [reassembler.feed("third", f, 0.72) for f in fresh][-1] == bytes(range(25))
    # a real retransmission of a completed sequence (all fragments) is still reassembled again
    again = frames_of(bytes([5]) * 25, 10, seq=5)
    assert [reassembler.feed("dev", f, 0.8) for f in again][-1] == bytes([5]) * 25
    # genuine partial sequences (no echo) are still refused over the cap
    strict = Reassembler(max_total=1000, max_pending_per_peer=1, timeout_s=1.0)
    strict.feed("p", frames_of(bytes(25), 10, seq=1)[0], 0.0)
    with pytest.raises(ProtocolError) as info:
        strict.feed("p", frames_of(bytes(25), 10, seq=2)[0], 0.0)
    assert info.value.reason == "too_many_pending"
