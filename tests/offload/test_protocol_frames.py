"""Offloading protocol, frame layer: header, CRC, tags, checks, fragmentation and bounded reassembly (with
eviction), model id, reply and busy payloads, the version in one place per language (docs/offload-protocol.md,
sections 3-4)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agilenn_codegen.offload import (
    BUSY_LATE,
    BUSY_OVERLOADED,
    DEFAULT_MAX_FRAGMENT,
    FLAG_MAC,
    HEADER_SIZE,
    KIND_BUSY,
    KIND_REPLY,
    KIND_REQUEST,
    MAC_SIZE,
    VERSION,
    Frame,
    ProtocolError,
    Reassembler,
    compute_tag,
    decode_busy,
    decode_frame,
    decode_reply,
    encode_busy,
    encode_frames,
    encode_reply,
    encode_single_frame,
    frame_tag_ok,
    model_id,
    siphash24_reference,
)

REPO = Path(__file__).resolve().parents[2]
HEADER = struct.Struct("<4sBBBBHHIIIHHI")


def forge(
    *,
    magic: bytes = b"AGNN",
    version: int = VERSION,
    kind: int = 1,
    flags: int = 0,
    reserved: int = 0,
    index: int = 0,
    count: int = 1,
    model: int = 7,
    device: int = 0,
    seq: int = 9,
    deadline: int = 0,
    frag_len: int | None = None,
    total: int | None = None,
    payload: bytes = b"abc",
    tag: bytes = b"",
) -> bytes:
    """A datagram with any header fields and a correct CRC (and `tag` appended as it is)."""
    frag_len = len(payload) if frag_len is None else frag_len
    total = len(payload) if total is None else total
    head = HEADER.pack(
        magic, version, kind, flags, reserved, index, count, model, device, seq, deadline, frag_len, total
    )
    return head + struct.pack("<I", zlib.crc32(head + payload)) + payload + tag


def test_header_layout():
    payload = bytes(range(100))
    (frame,) = encode_frames(KIND_REQUEST, 0x11223344, 0xAABBCCDD, payload, device_id=0x0A0B0C0D, deadline_ms=500)
    assert len(frame) == HEADER_SIZE + 100 == 136
    assert frame[:4] == b"AGNN" and frame[4] == VERSION == 2 and frame[5] == 1 and frame[6:8] == b"\x00\x00"
    assert frame[8:10] == b"\x00\x00" and frame[10:12] == b"\x01\x00"
    assert frame[12:16] == bytes.fromhex("44332211") and frame[16:20] == bytes.fromhex("0d0c0b0a")
    assert frame[20:24] == bytes.fromhex("ddccbbaa") and frame[24:26] == (500).to_bytes(2, "little")
    assert frame[26:28] == (100).to_bytes(2, "little") and frame[28:32] == (100).to_bytes(4, "little")
    assert frame[32:36] == zlib.crc32(frame[:32] + payload).to_bytes(4, "little")
    assert frame == forge(model=0x11223344, device=0x0A0B0C0D, seq=0xAABBCCDD, deadline=500, payload=payload)
    decoded = decode_frame(frame)
    assert decoded == Frame(KIND_REQUEST, 0, 1, 0x11223344, 0xAABBCCDD, 100, payload, 0x0A0B0C0D, 500)
    assert decoded.tag is None


def test_tagged_frames():
    key, payload = bytes(range(16)), bytes(range(40))
    (frame,) = encode_frames(KIND_REQUEST, 5, 6, payload, device_id=9, key=key)
    assert frame[6] == FLAG_MAC and len(frame) == HEADER_SIZE + 40 + MAC_SIZE
    tag = siphash24_reference(key, frame[:-MAC_SIZE]).to_bytes(8, "little")
    assert frame[-MAC_SIZE:] == tag and frame == forge(
        flags=FLAG_MAC, model=5, device=9, seq=6, payload=payload, tag=tag
    )
    decoded = decode_frame(frame)
    assert decoded.tag == tag and decoded.signed == frame[:-MAC_SIZE] and frame_tag_ok(decoded, key)
    assert not frame_tag_ok(decoded, bytes(16)) and not frame_tag_ok(decode_frame(frame[:-1] + b"x"), key)
    # a reply's tag also covers the tag of the request's fragment 0
    (reply,) = encode_frames(KIND_REPLY, 5, 6, encode_reply(np.ones(3)), device_id=9, key=key, request_tag=tag)
    expected = siphash24_reference(key, reply[:-MAC_SIZE] + tag).to_bytes(8, "little")
    assert reply[-MAC_SIZE:] == expected == compute_tag(key, reply[:-MAC_SIZE], tag)
    assert frame_tag_ok(decode_frame(reply), key, tag) and not frame_tag_ok(decode_frame(reply), key, bytes(8))
    # every fragment of a long request carries its own tag
    frames = encode_frames(KIND_REQUEST, 5, 6, bytes(100), 30, key=key)
    assert len(frames) == 4 and all(frame_tag_ok(decode_frame(f, max_fragment=30), key) for f in frames)
    with pytest.raises(ValueError, match="request_tag"):
        encode_frames(KIND_REPLY, 5, 6, b"", key=key)  # a keyed reply needs the request's tag
    with pytest.raises(ValueError, match="request_tag"):
        encode_frames(KIND_REQUEST, 5, 6, b"", key=key, request_tag=tag)
    with pytest.raises(ValueError, match="16 bytes"):
        encode_frames(KIND_REQUEST, 5, 6, b"", key=bytes(8))
    with pytest.raises(ValueError, match="deadline"):
        encode_frames(KIND_REQUEST, 5, 6, b"", deadline_ms=70000)


def test_busy_payload():
    assert encode_busy(BUSY_OVERLOADED, 250) == b"\x01\xfa\x00" and decode_busy(b"\x02\x00\x01") == (BUSY_LATE, 256)
    for bad in (b"", b"\x01", b"\x01\x00\x00\x00", b"\x00\x05\x00"):
        with pytest.raises(ProtocolError) as info:
            decode_busy(bad)
        assert info.value.reason == "bad_busy"
    with pytest.raises(ValueError):
        encode_busy(0, 1)
    (frame,) = encode_frames(KIND_BUSY, 1, 2, encode_busy(), device_id=3)
    decoded = decode_frame(frame)
    assert decoded.kind == KIND_BUSY and decode_busy(decoded.payload) == (BUSY_OVERLOADED, 0)


def test_the_version_is_defined_once_per_language():
    """VERSION in framing.py and AGILENN_OFFLOAD_VERSION in agilenn_offload.h, nowhere else, and equal."""
    header = (REPO / "runtime_c" / "offload" / "agilenn_offload.h").read_text()
    (c_version,) = re.findall(r"#define AGILENN_OFFLOAD_VERSION (\d+)", header)
    assert int(c_version) == VERSION == 2
    python = [p for p in (REPO / "agilenn_codegen").rglob("*.py") if re.search(r"^VERSION = ", p.read_text(), re.M)]
    assert [p.name for p in python] == ["framing.py"]
    c_files = [*(REPO / "runtime_c").rglob("*.[ch]"), *(REPO / "templates").rglob("*.j2")]
    assert [p.name for p in c_files if "define AGILENN_OFFLOAD_VERSION" in p.read_text()] == ["agilenn_offload.h"]


def test_fragmentation_sizes():
    for total, size, count in ((0, 1428, 1), (1, 1428, 1), (1428, 1428, 1), (1429, 1428, 2), (10, 3, 4)):
        frames = encode_frames(KIND_REPLY, 1, 2, bytes(total), size)
        assert len(frames) == count
        lengths = [len(f) - HEADER_SIZE for f in frames]
        assert sum(lengths) == total and all(n == size for n in lengths[:-1]) and lengths[-1] <= size
        for i, f in enumerate(frames):
            frame = decode_frame(f, max_fragment=size)
            assert (frame.frag_index, frame.frag_count, frame.total_len, frame.kind) == (i, count, total, KIND_REPLY)
    tagged = encode_frames(KIND_REQUEST, 1, 2, bytes(5000), key=bytes(16))[0]
    assert len(tagged) == HEADER_SIZE + DEFAULT_MAX_FRAGMENT + MAC_SIZE == 1472  # a 1500-byte MTU less IPv4 + UDP
    with pytest.raises(ValueError):
        encode_frames(KIND_REQUEST, 1, 2, bytes(70000), 1)  # more than 65535 fragments
    with pytest.raises(ValueError):
        encode_frames(4, 1, 2, b"")


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
        (b"AGNN", "truncated"),
        (b"AGNN" + bytes([VERSION, 1]), "truncated"),
        (forge()[:35], "truncated"),
        (forge(magic=b"AGNX"), "bad_magic"),
        (forge(version=VERSION + 1), "bad_version"),
        (forge(version=0), "old_version"),
        (b"AGNN\x01\x01" + bytes(30), "old_version"),  # a version-1 frame: its 28-byte header and more
        (b"AGNN\x01", "old_version"),
        (forge(kind=0), "bad_kind"),
        (forge(kind=4), "bad_kind"),
        (forge(flags=2), "bad_flags"),
        (forge(flags=0x81), "bad_flags"),
        (forge(reserved=1), "bad_header"),
        (forge(frag_len=4), "truncated"),
        (forge(frag_len=2), "bad_length"),
        (forge(flags=FLAG_MAC, tag=bytes(7)), "truncated"),
        (forge(flags=FLAG_MAC, tag=bytes(9)), "bad_length"),
        (forge(tag=bytes(8)), "bad_length"),  # a tag without the flag
        (forge()[:-1] + b"x", "crc"),
        (forge(payload=bytes(1429)), "too_large"),
        (forge(total=(1 << 20) + 1, count=1000, index=5, payload=bytes(1428)), "too_large"),
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
    for datagram in (data, b"AGNN" + bytes([VERSION, 1]) + data, forge(payload=data), forge(flags=1, tag=data[:8])):
        try:
            frame = decode_frame(datagram)
        except ProtocolError:
            continue
        assert frame.payload == data or frame.tag == data[:8]


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


def test_caps_evict_the_oldest_and_timeouts():
    reassembler = Reassembler(max_total=100, max_pending_per_peer=2, max_pending=3, timeout_s=1.0)
    first = {seq: frames_of(bytes(20), 10, seq=seq)[0] for seq in range(10)}
    second = {seq: frames_of(bytes(20), 10, seq=seq)[1] for seq in range(10)}
    reassembler.feed("a", first[0], 0.0)
    reassembler.feed("a", first[1], 0.1)
    assert reassembler.feed("a", first[2], 0.5) is None  # a's own oldest (seq 0) makes room: nothing refused
    assert reassembler.pending == 2 and reassembler.evicted == 1
    assert reassembler.feed("a", second[0], 0.5) is None  # seq 0 starts over: it was evicted
    assert reassembler.evicted == 2  # (and evicted seq 1, a's oldest now)
    reassembler.feed("b", first[3], 0.5)
    assert reassembler.pending == 3
    # the global cap: the oldest sequence of the peer holding the most makes room (a's), not b's
    assert reassembler.feed("c", first[4], 0.6) is None
    assert reassembler.pending_of("a") == 1 and reassembler.pending_of("b") == 1 and reassembler.pending_of("c") == 1
    assert reassembler.feed("b", second[3], 0.7) == bytes(20)  # b's request still completes
    # after the timeout the stale ones go, without an explicit expire()
    assert reassembler.feed("d", first[5], 1.6) is None
    assert reassembler.expire(1.65) == 2 and reassembler.expired == 2  # a's (0.5), c's (0.6)
    # a sequence's own deadline can end it before the timeout
    assert reassembler.feed("e", first[6], 2.0, expires=2.1) is None
    assert reassembler.expire(2.1) == 1 and reassembler.pending == 1
    assert reassembler.expire(100.0) == 1 and reassembler.pending == 0
    big = decode_frame(encode_frames(KIND_REQUEST, 3, 1, bytes(101), 50)[0], max_fragment=50)
    with pytest.raises(ProtocolError) as info:
        reassembler.feed("a", big, 0.0)
    assert info.value.reason == "too_large"


def test_one_peer_that_never_completes_cannot_take_others_slots():
    """A peer that opens sequences it never completes (the reported attack: 150 first fragments/s) only ever
    evicts its own; others' multi-fragment requests all complete."""
    reassembler = Reassembler(max_total=1000, max_pending_per_peer=4, max_pending=16, timeout_s=2.0)
    completed = 0
    for step in range(2000):
        now = step * 0.001
        reassembler.feed("hostile", frames_of(bytes(30), 10, seq=step)[0], now)
        if step % 10 == 0:
            honest = frames_of(bytes([step % 256]) * 30, 10, seq=step)
            out = [reassembler.feed(f"honest{step % 7}", frames, now) for frames in honest]
            completed += out[-1] is not None
    assert completed == 200 and reassembler.pending_of("hostile") == 4


def test_single_fragment_and_retransmission():
    """The reassembler itself keeps no history: a second copy is reassembled again (the server's replay window,
    not the reassembler, refuses it)."""
    reassembler = Reassembler(max_total=100)
    (frame,) = frames_of(b"hello", 10)
    assert reassembler.feed("p", frame, 0.0) == b"hello"
    assert reassembler.feed("p", frame, 0.1) == b"hello"
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
    """A late copy of a fragment of a completed sequence opens a partial one that never completes; it is the
    peer's oldest when the peer needs room, so it is evicted first and never locks the peer out."""
    reassembler = Reassembler(max_total=1000, max_pending_per_peer=2, max_pending=3, timeout_s=1.0)
    for seq in range(6):
        frames = frames_of(bytes([seq]) * 25, 10, seq=seq)
        assert [reassembler.feed("dev", f, 0.1 * seq) for f in frames][-1] == bytes([seq]) * 25
        assert reassembler.feed("dev", frames[0], 0.1 * seq + 0.01) is None  # the late duplicate
    assert reassembler.pending == 2 and reassembler.evicted == 4


def test_the_single_frame_fast_path_writes_the_same_bytes():
    rng = np.random.default_rng(12)
    for _ in range(200):
        payload = rng.bytes(int(rng.integers(0, 300)))
        kind = int(rng.choice([KIND_REQUEST, KIND_REPLY, KIND_BUSY]))
        fields = {"device_id": int(rng.integers(0, 2**32)), "deadline_ms": int(rng.integers(0, 2**16))}
        key = rng.bytes(16) if rng.random() < 0.5 else None
        tag = rng.bytes(8) if key is not None and kind != KIND_REQUEST else None
        model, seq = (int(v) for v in rng.integers(0, 2**32, 2, dtype=np.uint64))
        (expected,) = encode_frames(kind, model, seq, payload, **fields, key=key, request_tag=tag)
        assert encode_single_frame(kind, model, seq, payload, **fields, key=key, request_tag=tag) == expected
