"""Hostile frames for testing devices and servers: well-formed lies, forgeries, damage (docs/offload-protocol.md).

:func:`reframe` rewrites header fields of a frame and repairs its CRC, and its tag when given the key: a
frame that only the field checks (or only the tag) can refuse. :func:`forged_replies` is a corpus of
replies and busy replies for one waiting device, :func:`forged_requests` one of requests for a server that
authenticates devices. Each item is labelled with the rule that must refuse it, or "valid". The tests, the
reply fuzzing of the generated C and the load-and-attack benchmark use them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import numpy as np

from agilenn_codegen.offload.framing import (
    FLAG_MAC,
    HEADER_SIZE,
    KIND_BUSY,
    KIND_REPLY,
    KIND_REQUEST,
    MAC_SIZE,
    compute_tag,
    encode_busy,
    encode_frames,
    encode_reply,
)

_HEADER = struct.Struct("<4sBBBBHHIIIHHI")
FIELDS = (
    "magic",
    "version",
    "kind",
    "flags",
    "reserved",
    "index",
    "count",
    "model",
    "device",
    "seq",
    "deadline",
    "frag_len",
    "total",
)


def header_fields(frame: bytes) -> dict[str, int | bytes]:
    """The header of a (version 2) frame as a dict of FIELDS."""
    return dict(zip(FIELDS, _HEADER.unpack_from(frame), strict=True))


def reframe(
    frame: bytes,
    *,
    key: bytes | None = None,
    request_tag: bytes | None = None,
    body: bytes | None = None,
    **fields: int | bytes,
) -> bytes:
    """`frame` with header fields (and the fragment, `body`) replaced, its CRC made to match, and, when `key` is
    given and the new flags ask for one, a valid tag under `key` (else the old tag bytes, if the flags ask for one)."""
    values = header_fields(frame)
    old_mac = MAC_SIZE if int(values["flags"]) & FLAG_MAC else 0  # type: ignore[arg-type]
    old_end = HEADER_SIZE + int(values["frag_len"])  # type: ignore[arg-type]
    fragment = frame[HEADER_SIZE:old_end] if body is None else body
    old_tag = frame[old_end : old_end + old_mac] if old_mac else bytes(MAC_SIZE)
    values.update(fields)
    header = _HEADER.pack(*(values[name] for name in FIELDS))
    out = header + struct.pack("<I", zlib.crc32(fragment, zlib.crc32(header))) + fragment
    if int(values["flags"]) & FLAG_MAC:  # type: ignore[arg-type]
        out += compute_tag(key, out, request_tag) if key is not None else old_tag
    return out


def _flips(rng: np.random.Generator, frame: bytes, count: int) -> Iterator[bytes]:
    for _ in range(count):
        raw = bytearray(frame)
        for bit in rng.choice(len(raw) * 8, size=int(rng.integers(1, 4)), replace=False):
            raw[bit // 8] ^= 1 << (bit % 8)
        yield bytes(raw)


def forged_replies(
    rng: np.random.Generator,
    model: int,
    seq: int,
    device: int,
    key: bytes | None,
    request_tag: bytes,
    *,
    classes: int = 10,
) -> list[bytes]:
    """Replies to one waiting device (its model, sequence number, device id, key and request tag): a valid reply
    and a valid busy reply first, then lies, forgeries and damage."""
    tag_options = {"key": key, "request_tag": request_tag} if key is not None else {}
    logits = (rng.standard_normal(classes) * 8).astype(np.float32)
    (valid,) = encode_frames(KIND_REPLY, model, seq, encode_reply(logits), 0xFFFF, device_id=device, **tag_options)
    (busy,) = encode_frames(KIND_BUSY, model, seq, encode_busy(1, 40), 0xFFFF, device_id=device, **tag_options)
    out = [valid, busy]
    for frame in (valid, busy):
        signed = {"key": key, "request_tag": request_tag} if key is not None else {}
        for field, value in (
            ("version", 1),
            ("version", 3),
            ("kind", KIND_REQUEST),
            ("kind", 0),
            ("kind", 4),
            ("flags", 0x02),
            ("flags", FLAG_MAC | 0x80),
            ("reserved", 1),
            ("index", 1),
            ("count", 0),
            ("count", 2),
            ("model", model ^ 1),
            ("device", device ^ 1),
            ("device", 0 if device else 1),
            ("seq", (seq - 1) & 0xFFFFFFFF),
            ("seq", (seq + 1) & 0xFFFFFFFF),
            ("deadline", 1),
            ("deadline", 500),
            ("total", len(frame)),
            ("magic", b"AGNM"),
        ):
            out.append(reframe(frame, **signed, **{field: value}))  # type: ignore[arg-type]
        if key is not None:
            out.append(reframe(frame, key=rng.bytes(16), request_tag=request_tag))  # another key's tag
            out.append(reframe(frame, key=key, request_tag=rng.bytes(8)))  # another request's reply
            out.append(reframe(frame, key=key, request_tag=None))  # a tag without the request's
            out.append(reframe(frame, flags=0))  # the tag stripped
            out.append(frame[:-MAC_SIZE] + rng.bytes(MAC_SIZE))  # a random tag
            out.append(reframe(frame, body=b"\x01\x00\x00" if frame is busy else encode_reply(logits * 2)))
        else:
            out.append(reframe(frame, flags=FLAG_MAC)[:-MAC_SIZE] + rng.bytes(MAC_SIZE))  # a tag it has no key for
        out += list(_flips(rng, frame, 12))
        for length in sorted({0, 4, 5, 35, 36, 37, len(frame) - 1, *rng.integers(0, len(frame), 4).tolist()}):
            out.append(frame[:length])
        out += [frame + b"\0", frame + rng.bytes(int(rng.integers(1, 40)))]
    # well-formed (valid tag when keyed) but wrong payloads
    for payload in (
        struct.pack("<H", classes + 1) + bytes(4 * (classes + 1)),
        struct.pack("<H", classes) + bytes(4 * classes - 1),
        struct.pack("<H", classes) + struct.pack("<I", 0x7FC00000) + bytes(4 * (classes - 1)),
        b"",
    ):
        out.append(encode_frames(KIND_REPLY, model, seq, payload, 0xFFFF, device_id=device, **tag_options)[0])
    for payload in (b"", b"\x00\x00\x00", b"\x01\x00", b"\x01\x00\x00\x00"):
        out.append(encode_frames(KIND_BUSY, model, seq, payload, 0xFFFF, device_id=device, **tag_options)[0])
    for _ in range(6):
        out.append(rng.bytes(int(rng.integers(0, 120))))
        out.append(b"AGNN\x02" + rng.bytes(int(rng.integers(0, 100))))
    return out


def forged_requests(
    rng: np.random.Generator,
    model: int,
    payload: bytes,
    keys: dict[int, bytes],
    *,
    seq: int,
    max_fragment: int = 1428,
) -> list[tuple[str, bytes]]:
    """Request frames that a server authenticating `keys` must refuse, each labelled with the reason it should
    count: no tag, an unknown device id, a tag made with another device's key, a random tag, a modified payload
    or header under the old tag. `seq` is used for all of them (a forgery that passed would open it)."""
    listed = sorted(keys)
    device = int(rng.choice(listed))
    other = next((d for d in listed if d != device), None)
    unknown = max(listed) + 1 + int(rng.integers(0, 1000))
    frames: list[tuple[str, bytes]] = []

    def frame(device_id: int, key: bytes | None) -> bytes:
        return encode_frames(
            KIND_REQUEST, model, seq, payload, max_fragment, device_id=device_id, deadline_ms=500, key=key
        )[0]

    genuine = frame(device, keys[device])
    frames.append(("unauthenticated", frame(device, None)))
    frames.append(("unknown_device", frame(unknown, rng.bytes(16))))
    frames.append(("bad_tag", genuine[:-MAC_SIZE] + rng.bytes(MAC_SIZE)))
    frames.append(("bad_tag", frame(device, rng.bytes(16))))
    if other is not None:
        frames.append(("bad_tag", frame(device, keys[other])))  # a device's key used for another's id
        frames.append(("bad_tag", reframe(genuine, device=other)))  # re-addressed, the old tag
    frames.append(("bad_tag", reframe(genuine, seq=(seq + 1) & 0xFFFFFFFF)))
    frames.append(("bad_tag", reframe(genuine, deadline=60000)))
    if len(payload) > 8:
        body = bytearray(genuine[HEADER_SIZE:-MAC_SIZE])
        body[int(rng.integers(7, len(body)))] ^= 1 << int(rng.integers(0, 8))
        frames.append(("bad_tag", reframe(genuine, body=bytes(body))))
    return frames
