"""Frames (datagrams) with a 36-byte header, CRC-32 and an optional SipHash-2-4 tag; fragmentation and
bounded reassembly; the model id; reply and busy payloads (docs/offload-protocol.md, sections 3 and 4)."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from agilenn_codegen.offload.errors import ProtocolError
from agilenn_codegen.offload.siphash import KEY_SIZE, TAG_SIZE, siphash24, tag_bytes

MAGIC = b"AGNN"
VERSION = 2  # the one place Python defines it (runtime_c/offload/agilenn_offload.h: AGILENN_OFFLOAD_VERSION)
KIND_REQUEST = 1
KIND_REPLY = 2
KIND_BUSY = 3
KINDS = (KIND_REQUEST, KIND_REPLY, KIND_BUSY)
FLAG_MAC = 0x01  # an 8-byte SipHash-2-4 tag follows the fragment
HEADER_SIZE = 36
MAC_SIZE = TAG_SIZE
DEFAULT_MAX_FRAGMENT = 1428  # a tagged frame of 1428 bytes of payload is 1472 bytes: a 1500-byte MTU less IPv4 + UDP
MAX_DEADLINE_MS = 0xFFFF
BUSY_OVERLOADED = 1  # the backlog would miss the request's deadline (sent as soon as the request is complete)
BUSY_LATE = 2  # queued, but its deadline came too close before an inference could start
BUSY_PAYLOAD_SIZE = 3
# magic, version, kind, flags, reserved, fragment index, fragment count, model id, device id, seq, deadline ms,
# fragment length, total length
_HEADER = struct.Struct("<4sBBBBHHIIIHHI")
_CRC = struct.Struct("<I")
_BUSY = struct.Struct("<BH")
assert _HEADER.size + _CRC.size == HEADER_SIZE


class Frame(NamedTuple):
    """One decoded, CRC-checked fragment (its tag, if any, not checked yet: see :func:`frame_tag_ok`)."""

    kind: int
    frag_index: int
    frag_count: int
    model_id: int
    seq: int
    total_len: int
    payload: bytes
    device_id: int = 0
    deadline_ms: int = 0
    tag: bytes | None = None  # the 8 tag bytes when the frame has flag MAC
    signed: bytes = b""  # the bytes the tag covers: header and fragment (with a tag only)


def fragment_count(total_len: int, max_fragment: int) -> int:
    """Fragments of a payload: ``max(1, ceil(total_len / max_fragment))`` (an empty payload is one empty fragment)."""
    return max(1, -(-total_len // max_fragment))


def compute_tag(key: bytes, signed: bytes, request_tag: bytes | None = None) -> bytes:
    """The tag of a frame: SipHash-2-4 under `key` of its header and fragment, followed for a reply (or busy
    reply) by the tag of the request's fragment 0; 8 bytes, little-endian."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"a device key has {KEY_SIZE} bytes, got {len(key)}")
    if request_tag is not None and len(request_tag) != MAC_SIZE:
        raise ValueError(f"a request tag has {MAC_SIZE} bytes, got {len(request_tag)}")
    return tag_bytes(siphash24(key, bytes(signed) + (bytes(request_tag) if request_tag is not None else b"")))


def frame_tag_ok(frame: Frame, key: bytes, request_tag: bytes | None = None) -> bool:
    """True when `frame` carries a tag and it is the one `key` gives (compared in constant time)."""
    if frame.tag is None:
        return False
    return hmac.compare_digest(frame.tag, compute_tag(key, frame.signed, request_tag))


def encode_frames(
    kind: int,
    model_id: int,
    seq: int,
    payload: bytes,
    max_fragment: int = DEFAULT_MAX_FRAGMENT,
    *,
    device_id: int = 0,
    deadline_ms: int = 0,
    key: bytes | None = None,
    request_tag: bytes | None = None,
) -> list[bytes]:
    """The datagrams of one payload: fragment i carries ``payload[i*max_fragment:(i+1)*max_fragment]``.

    `deadline_ms` is a request's reply timeout (0: the server's default); replies carry 0. With `key` every
    fragment gets flag MAC and a tag; a reply's tag also covers `request_tag`, the tag of the request's
    fragment 0 (required with a key for replies and busy replies, refused for requests)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind}")
    if not 1 <= max_fragment <= 0xFFFF:
        raise ValueError(f"max_fragment must be in 1..65535, got {max_fragment}")
    if not all(0 <= v <= 0xFFFFFFFF for v in (model_id, seq, device_id)):
        raise ValueError("model_id, seq and device_id must be u32")
    if not 0 <= deadline_ms <= MAX_DEADLINE_MS:
        raise ValueError(f"deadline_ms must be in 0..{MAX_DEADLINE_MS}, got {deadline_ms}")
    if (request_tag is not None) != (key is not None and kind != KIND_REQUEST):
        raise ValueError("a request_tag goes with a key, for replies and busy replies only")
    payload = bytes(payload)
    count = fragment_count(len(payload), max_fragment)
    if count > 0xFFFF or len(payload) > 0xFFFFFFFF:
        raise ValueError(f"a payload of {len(payload)} bytes needs {count} fragments, more than 65535")
    if key is not None and len(key) != KEY_SIZE:
        raise ValueError(f"a device key has {KEY_SIZE} bytes, got {len(key)}")
    if request_tag is not None and len(request_tag) != MAC_SIZE:
        raise ValueError(f"a request tag has {MAC_SIZE} bytes, got {len(request_tag)}")
    return [
        _frame(
            kind,
            model_id,
            seq,
            payload[index * max_fragment : (index + 1) * max_fragment],
            index=index,
            count=count,
            total=len(payload),
            device_id=device_id,
            deadline_ms=deadline_ms,
            key=key,
            request_tag=request_tag,
        )
        for index in range(count)
    ]


def encode_single_frame(
    kind: int,
    model_id: int,
    seq: int,
    payload: bytes,
    *,
    device_id: int = 0,
    deadline_ms: int = 0,
    key: bytes | None = None,
    request_tag: bytes | None = None,
) -> bytes:
    """One whole frame (fragment 0 of 1) of a payload, without the argument checks of :func:`encode_frames`
    (the same bytes as ``encode_frames(...)[0]`` for a payload of one fragment): the hot paths' encoder, for
    the server's replies and busy replies and the load generator's requests. The caller keeps the fields in
    range and the payload within one fragment."""
    return _frame(
        kind,
        model_id,
        seq,
        payload,
        index=0,
        count=1,
        total=len(payload),
        device_id=device_id,
        deadline_ms=deadline_ms,
        key=key,
        request_tag=request_tag,
    )


def _frame(
    kind: int,
    model_id: int,
    seq: int,
    chunk: bytes,
    *,
    index: int,
    count: int,
    total: int,
    device_id: int,
    deadline_ms: int,
    key: bytes | None,
    request_tag: bytes | None,
) -> bytes:
    """One datagram: header, CRC-32, the fragment `chunk` and, with `key`, the tag (section 3 and 6)."""
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        kind,
        FLAG_MAC if key is not None else 0,
        0,
        index,
        count,
        model_id,
        device_id,
        seq,
        deadline_ms,
        len(chunk),
        total,
    )
    frame = header + _CRC.pack(zlib.crc32(chunk, zlib.crc32(header))) + chunk
    if key is None:
        return frame
    return frame + tag_bytes(siphash24(key, frame + request_tag if request_tag is not None else frame))


def decode_frame(datagram: bytes, *, max_fragment: int = DEFAULT_MAX_FRAGMENT, max_total: int = 1 << 20) -> Frame:
    """Parse and check one datagram. Checks, in order: size, magic, version ("old_version" below 2,
    "bad_version" above), kind, flags, the reserved byte, the datagram's length against the fragment length
    (and the tag), CRC, then the fields: fragment length <= max_fragment and total <= max_total ("too_large"),
    index < count ("bad_header"), lengths consistent with full non-last fragments ("bad_length").
    The tag is not checked here (it needs the device's key: :func:`frame_tag_ok`)."""
    datagram = bytes(datagram)
    if len(datagram) < 5:
        raise ProtocolError("truncated", f"datagram of {len(datagram)} bytes is shorter than the 36-byte header")
    if datagram[:4] != MAGIC:
        raise ProtocolError("bad_magic", f"bad magic {datagram[:4]!r}")
    if datagram[4] != VERSION:
        reason = "old_version" if datagram[4] < VERSION else "bad_version"
        raise ProtocolError(reason, f"protocol version {datagram[4]}, this side speaks version {VERSION} only")
    if len(datagram) < HEADER_SIZE:
        raise ProtocolError("truncated", f"datagram of {len(datagram)} bytes is shorter than the 36-byte header")
    _, _, kind, flags, reserved, index, count, model, device, seq, deadline, frag_len, total = _HEADER.unpack_from(
        datagram
    )
    if kind not in KINDS:
        raise ProtocolError("bad_kind", f"unknown frame kind {kind}")
    if flags & ~FLAG_MAC:
        raise ProtocolError("bad_flags", f"unknown flags 0x{flags:02x}")
    if reserved:
        raise ProtocolError("bad_header", f"reserved byte is {reserved}, must be 0")
    mac = MAC_SIZE if flags & FLAG_MAC else 0
    if len(datagram) < HEADER_SIZE + frag_len + mac:
        raise ProtocolError("truncated", f"fragment length {frag_len} but {len(datagram) - HEADER_SIZE} bytes follow")
    if len(datagram) > HEADER_SIZE + frag_len + mac:
        raise ProtocolError("bad_length", f"fragment length {frag_len} but {len(datagram) - HEADER_SIZE} bytes follow")
    end = HEADER_SIZE + frag_len
    payload = datagram[HEADER_SIZE:end]
    (crc,) = _CRC.unpack_from(datagram, _HEADER.size)
    if zlib.crc32(payload, zlib.crc32(datagram[: _HEADER.size])) != crc:
        raise ProtocolError("crc", "CRC-32 mismatch")
    if frag_len > max_fragment:
        raise ProtocolError("too_large", f"fragment of {frag_len} bytes, more than {max_fragment}")
    if total > max_total:
        raise ProtocolError("too_large", f"payload of {total} bytes, more than {max_total}")
    if count == 0 or index >= count:
        raise ProtocolError("bad_header", f"fragment index {index} of {count}")
    if index < count - 1:
        # A full fragment defines the fragment size F: (count-1)*F < total <= count*F.
        if frag_len == 0 or not (count - 1) * frag_len < total <= count * frag_len:
            raise ProtocolError("bad_length", f"non-last fragment of {frag_len} bytes, {count} of them, total {total}")
    elif count == 1:
        if frag_len != total:
            raise ProtocolError("bad_length", f"single fragment of {frag_len} bytes, total {total}")
    elif not 1 <= frag_len <= total - (count - 1):
        raise ProtocolError("bad_length", f"last fragment of {frag_len} bytes, {count} of them, total {total}")
    tag = datagram[end:] if mac else None
    return Frame(kind, index, count, model, seq, total, payload, device, deadline, tag, datagram[:end] if mac else b"")


def read_reply(
    datagram: bytes,
    *,
    model_id: int,
    seq: int,
    device_id: int = 0,
    key: bytes | None = None,
    request_tag: bytes | None = None,
) -> Frame:
    """The device's check of a reply or busy reply frame (``agilenn_frame_read_reply`` in C): one whole frame
    (fragment 0 of 1) of kind reply or busy, with a tag exactly when the device has a key, deadline 0, the
    device's model id, device id and current sequence number, a matching CRC and (with a key) a tag that covers
    `request_tag`. ProtocolError with the reason otherwise; the payload is not looked at."""
    frame = decode_frame(datagram, max_fragment=0xFFFF, max_total=0xFFFF)
    if frame.kind not in (KIND_REPLY, KIND_BUSY):
        raise ProtocolError("wrong_kind", "not a reply")
    if (frame.tag is None) != (key is None):
        reason = "tag_missing" if key is not None else "unexpected_tag"
        raise ProtocolError(reason, "the frame's tag flag differs from the device's")
    if frame.deadline_ms != 0:
        raise ProtocolError("bad_header", f"a reply with deadline {frame.deadline_ms}")
    if frame.model_id != model_id:
        raise ProtocolError("wrong_model", f"model id 0x{frame.model_id:08x}, expected 0x{model_id:08x}")
    if frame.device_id != device_id:
        raise ProtocolError("wrong_device", f"device id {frame.device_id}, expected {device_id}")
    if frame.seq != seq:
        raise ProtocolError("stale", f"sequence number {frame.seq}, expected {seq}")
    if frame.frag_count != 1:
        raise ProtocolError("fragmented", f"a reply in {frame.frag_count} fragments; the device takes one frame")
    if key is not None and not frame_tag_ok(frame, key, request_tag):
        raise ProtocolError("bad_tag", "the tag is not the device key's")
    return frame


def model_id(meta: Mapping[str, object]) -> int:
    """First 4 bytes (little-endian u32) of the SHA-256 of ``json.dumps(meta, sort_keys=True, separators=(",", ":"))``
    (ASCII, Python's default ``ensure_ascii=True``)."""
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


def encode_reply(logits: np.ndarray) -> bytes:
    """Reply payload: u16 number of classes, then the logits as float32 little-endian."""
    values = np.asarray(logits, dtype=np.float32).reshape(-1)
    if values.size > 0xFFFF:
        raise ValueError(f"{values.size} logits do not fit a u16 count")
    return struct.pack("<H", values.size) + values.astype("<f4").tobytes()


def decode_reply(payload: bytes) -> np.ndarray:
    """Logits (float32) of a reply payload; ProtocolError when the length does not match the count, or when a
    logit is NaN or infinite ("non_finite": the device refuses such a reply, as the generated C does)."""
    payload = bytes(payload)
    if len(payload) < 2:
        raise ProtocolError("truncated", "reply payload shorter than its u16 count")
    (count,) = struct.unpack_from("<H", payload)
    if len(payload) != 2 + 4 * count:
        raise ProtocolError("bad_length", f"reply of {count} logits needs {2 + 4 * count} bytes, got {len(payload)}")
    logits = np.frombuffer(payload, dtype="<f4", offset=2, count=count).astype(np.float32)
    if not np.all(np.isfinite(logits)):
        raise ProtocolError("non_finite", "reply holds a NaN or infinite logit")
    return logits


def encode_busy(reason: int = BUSY_OVERLOADED, retry_after_ms: int = 0) -> bytes:
    """Busy payload: u8 reason (1 overloaded, 2 late; never 0), u16 the server's estimate in ms of when it could
    take the request (0: none)."""
    if not 1 <= reason <= 0xFF or not 0 <= retry_after_ms <= 0xFFFF:
        raise ValueError(f"busy reason must be 1..255 and retry-after 0..65535, got {reason}, {retry_after_ms}")
    return _BUSY.pack(reason, retry_after_ms)


def decode_busy(payload: bytes) -> tuple[int, int]:
    """(reason, retry-after ms) of a busy payload; ProtocolError ("bad_busy") unless it is 3 bytes, reason != 0."""
    payload = bytes(payload)
    if len(payload) != BUSY_PAYLOAD_SIZE:
        raise ProtocolError("bad_busy", f"a busy payload has {BUSY_PAYLOAD_SIZE} bytes, got {len(payload)}")
    reason, retry_after = _BUSY.unpack(payload)
    if reason == 0:
        raise ProtocolError("bad_busy", "busy reason 0")
    return reason, retry_after
