"""Frames (datagrams) with a 28-byte header and CRC-32, fragmentation and bounded reassembly, the model id
and the reply payload (docs/offload-protocol.md, sections 3 and 4)."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

from agilenn_codegen.offload.errors import ProtocolError

MAGIC = b"AGNN"
VERSION = 1
KIND_REQUEST = 1
KIND_REPLY = 2
HEADER_SIZE = 28
DEFAULT_MAX_FRAGMENT = 1444
# magic, version, kind, fragment index, fragment count, model id, seq, fragment length, total length
_HEADER = struct.Struct("<4sBBHHIIHI")
_CRC = struct.Struct("<I")
assert _HEADER.size + _CRC.size == HEADER_SIZE


@dataclass(frozen=True)
class Frame:
    """One decoded, CRC-checked fragment."""

    kind: int
    frag_index: int
    frag_count: int
    model_id: int
    seq: int
    total_len: int
    payload: bytes


def fragment_count(total_len: int, max_fragment: int) -> int:
    """Fragments of a payload: ``max(1, ceil(total_len / max_fragment))`` (an empty payload is one empty fragment)."""
    return max(1, -(-total_len // max_fragment))


def encode_frames(
    kind: int, model_id: int, seq: int, payload: bytes, max_fragment: int = DEFAULT_MAX_FRAGMENT
) -> list[bytes]:
    """The datagrams of one payload: fragment i carries ``payload[i*max_fragment:(i+1)*max_fragment]``."""
    if kind not in (KIND_REQUEST, KIND_REPLY):
        raise ValueError(f"kind must be {KIND_REQUEST} or {KIND_REPLY}, got {kind}")
    if not 1 <= max_fragment <= 0xFFFF:
        raise ValueError(f"max_fragment must be in 1..65535, got {max_fragment}")
    if not 0 <= model_id <= 0xFFFFFFFF or not 0 <= seq <= 0xFFFFFFFF:
        raise ValueError("model_id and seq must be u32")
    payload = bytes(payload)
    count = fragment_count(len(payload), max_fragment)
    if count > 0xFFFF or len(payload) > 0xFFFFFFFF:
        raise ValueError(f"a payload of {len(payload)} bytes needs {count} fragments, more than 65535")
    frames = []
    for index in range(count):
        chunk = payload[index * max_fragment : (index + 1) * max_fragment]
        header = _HEADER.pack(MAGIC, VERSION, kind, index, count, model_id, seq, len(chunk), len(payload))
        frames.append(header + _CRC.pack(zlib.crc32(chunk, zlib.crc32(header))) + chunk)
    return frames


def decode_frame(datagram: bytes, *, max_fragment: int = DEFAULT_MAX_FRAGMENT, max_total: int = 1 << 20) -> Frame:
    """Parse and check one datagram. Checks, in order: size, magic, version, kind, fragment length against
    the datagram, CRC, then the fields: fragment length <= max_fragment and total <= max_total
    ("too_large"), index < count ("bad_header"), lengths consistent with full non-last fragments ("bad_length")."""
    datagram = bytes(datagram)
    if len(datagram) < HEADER_SIZE:
        raise ProtocolError("truncated", f"datagram of {len(datagram)} bytes is shorter than the 28-byte header")
    magic, version, kind, index, count, model, seq, frag_len, total = _HEADER.unpack_from(datagram)
    if magic != MAGIC:
        raise ProtocolError("bad_magic", f"bad magic {magic!r}")
    if version != VERSION:
        raise ProtocolError("bad_version", f"protocol version {version}, expected {VERSION}")
    if kind not in (KIND_REQUEST, KIND_REPLY):
        raise ProtocolError("bad_kind", f"unknown frame kind {kind}")
    if len(datagram) < HEADER_SIZE + frag_len:
        raise ProtocolError("truncated", f"fragment length {frag_len} but {len(datagram) - HEADER_SIZE} bytes follow")
    if len(datagram) > HEADER_SIZE + frag_len:
        raise ProtocolError("bad_length", f"fragment length {frag_len} but {len(datagram) - HEADER_SIZE} bytes follow")
    payload = datagram[HEADER_SIZE:]
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
    return Frame(kind, index, count, model, seq, total, payload)


@dataclass
class _Pending:
    created: float
    peer: Hashable
    kind: int
    model_id: int
    frag_count: int
    total_len: int
    fragments: dict[int, bytes] = field(default_factory=dict)
    fragment_size: int = 0  # F, known once a non-last fragment arrived
    received: int = 0
    echo: bool = False  # started by a fragment of a sequence completed moments ago: probably a duplicate


class Reassembler:
    """Reassembles fragments by (peer, seq) with bounded state.

    At most ``max_pending_per_peer`` incomplete sequences per peer and ``max_pending`` in all, each of at
    most ``max_total`` bytes, each dropped ``timeout_s`` after its first fragment arrived. Memory is
    therefore bounded by ``max_pending * max_total`` bytes. Duplicate fragments are ignored; a fragment
    that contradicts the others drops the whole sequence (ProtocolError "conflict"). A new sequence that
    would exceed a cap is refused (ProtocolError "too_many_pending").

    A completed sequence leaves no pending state, so a retransmission of the same seq is reassembled (and
    answered) again. A late duplicate of a fragment of a completed sequence therefore starts an *echo*: a
    partial sequence that would otherwise hold a slot until its timeout and lock a device out of the
    per-peer cap. The keys completed in the last ``timeout_s`` are remembered (at most ``max_pending`` of
    them), and when a cap is reached the oldest echo (of that peer for the per-peer cap) is evicted, and
    counted in ``evicted``, before a new sequence is refused.
    """

    def __init__(
        self, *, max_total: int, max_pending_per_peer: int = 4, max_pending: int = 256, timeout_s: float = 2.0
    ) -> None:
        if max_total < 0 or max_pending_per_peer < 1 or max_pending < 1 or timeout_s <= 0:
            raise ValueError("Reassembler caps must be positive")
        self.max_total = max_total
        self.max_pending_per_peer = max_pending_per_peer
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self._pending: dict[tuple[Hashable, int], _Pending] = {}
        self._per_peer: dict[Hashable, int] = {}
        self._completed: dict[tuple[Hashable, int], float] = {}  # key -> completion time, oldest first
        self.evicted = 0

    @property
    def pending(self) -> int:
        """Incomplete sequences held now."""
        return len(self._pending)

    def _drop(self, key: tuple[Hashable, int]) -> None:
        state = self._pending.pop(key)
        left = self._per_peer[state.peer] - 1
        if left:
            self._per_peer[state.peer] = left
        else:
            del self._per_peer[state.peer]

    def expire(self, now: float) -> int:
        """Drop the sequences whose first fragment is ``timeout_s`` or more old; return how many."""
        stale = [key for key, state in self._pending.items() if now - state.created >= self.timeout_s]
        for key in stale:
            self._drop(key)
        old = [key for key, done in self._completed.items() if now - done >= self.timeout_s]
        for key in old:
            del self._completed[key]
        return len(stale)

    def _evict_echo(self, peer: Hashable | None) -> bool:
        """Drop the oldest echo sequence (of ``peer``, or of anyone for None); False if there is none."""
        echoes = [(s.created, k) for k, s in self._pending.items() if s.echo and (peer is None or s.peer == peer)]
        if not echoes:
            return False
        self._drop(min(echoes, key=lambda item: item[0])[1])
        self.evicted += 1
        return True

    def _remember(self, key: tuple[Hashable, int], now: float) -> None:
        self._completed.pop(key, None)
        self._completed[key] = now
        while len(self._completed) > self.max_pending:
            del self._completed[next(iter(self._completed))]

    def _conflict(self, key: tuple[Hashable, int], why: str) -> ProtocolError:
        self._drop(key)
        return ProtocolError("conflict", f"fragment contradicts sequence {key[1]}: {why}; sequence dropped")

    def feed(self, peer: object, frame: Frame, now: float) -> bytes | None:
        """Add one decoded fragment from ``peer``; return the whole payload when it completes the sequence."""
        if frame.total_len > self.max_total:
            raise ProtocolError("too_large", f"payload of {frame.total_len} bytes, more than {self.max_total}")
        if frame.frag_count == 1:
            if frame.frag_index != 0 or len(frame.payload) != frame.total_len:
                raise ProtocolError("bad_length", "single fragment does not hold the whole payload")
            return frame.payload
        if not isinstance(peer, Hashable):
            raise TypeError("peer must be hashable")
        key = (peer, frame.seq)
        state = self._pending.get(key)
        if state is not None and now - state.created >= self.timeout_s:
            self._drop(key)
            state = None
        if state is None:
            if self._per_peer.get(peer, 0) >= self.max_pending_per_peer or len(self._pending) >= self.max_pending:
                self.expire(now)
            if self._per_peer.get(peer, 0) >= self.max_pending_per_peer and not self._evict_echo(peer):
                raise ProtocolError("too_many_pending", f"peer has {self.max_pending_per_peer} pending sequences")
            if len(self._pending) >= self.max_pending and not self._evict_echo(None):
                raise ProtocolError("too_many_pending", f"{self.max_pending} sequences already pending")
            done = self._completed.get(key)
            state = _Pending(now, peer, frame.kind, frame.model_id, frame.frag_count, frame.total_len)
            state.echo = done is not None and now - done < self.timeout_s
            self._pending[key] = state
            self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        elif (frame.kind, frame.model_id, frame.frag_count, frame.total_len) != (
            state.kind,
            state.model_id,
            state.frag_count,
            state.total_len,
        ):
            raise self._conflict(key, "kind, model id, fragment count or total length differs")
        if not 0 <= frame.frag_index < state.frag_count:
            raise self._conflict(key, f"fragment index {frame.frag_index} of {state.frag_count}")
        old = state.fragments.get(frame.frag_index)
        if old is not None:
            if old != frame.payload:
                raise self._conflict(key, f"fragment {frame.frag_index} arrived twice with different bytes")
            return None
        last = frame.frag_index == state.frag_count - 1
        size = len(frame.payload)
        if not last:
            if state.fragment_size == 0:
                state.fragment_size = size
            elif size != state.fragment_size:
                raise self._conflict(key, "non-last fragments of different sizes")
        if state.fragment_size:
            full = state.fragment_size * (state.frag_count - 1)
            last_part = state.fragments.get(state.frag_count - 1, frame.payload if last else None)
            if not full < state.total_len <= full + state.fragment_size or (
                last_part is not None and full + len(last_part) != state.total_len
            ):
                raise self._conflict(key, "fragment sizes do not add up to the total length")
        state.fragments[frame.frag_index] = frame.payload
        state.received += 1
        if state.received < state.frag_count:
            return None
        self._drop(key)
        self._remember(key, now)
        payload = b"".join(state.fragments[i] for i in range(state.frag_count))
        if len(payload) != state.total_len:  # unreachable after the checks above; kept as a guard
            raise ProtocolError("conflict", "reassembled length differs from the total length")
        return payload


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
