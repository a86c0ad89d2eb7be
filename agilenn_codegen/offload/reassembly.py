"""Bounded reassembly of fragmented payloads (docs/offload-protocol.md section 4).

Fragments are grouped by (source, sequence number). State is bounded: at most `max_pending_per_peer`
incomplete sequences per source and `max_pending` in all, each of at most `max_total` bytes, each dropped
when its lifetime ends (`timeout_s` after its first fragment, or earlier at the deadline the caller gives).
A new sequence never gets refused for lack of room: the oldest incomplete sequence of the same source is
evicted when that source is at its cap, and the oldest of the source holding the most sequences when the
global cap is reached (so a source that opens sequences it never completes only ever evicts its own, and
can hold at most its share). Duplicate fragments are ignored; a fragment that contradicts the others drops
the whole sequence (ProtocolError "conflict").
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from agilenn_codegen.offload.errors import ProtocolError
from agilenn_codegen.offload.framing import Frame


@dataclass(frozen=True)
class Reassembled:
    """A complete payload and what its first fragment said."""

    payload: bytes
    started: float  # when the sequence's first fragment arrived (the `now` of that feed)
    first: Frame  # fragment 0 (its tag binds the reply, its deadline is the request's)


@dataclass
class _Pending:
    created: float
    expires: float
    peer: Hashable
    kind: int
    model_id: int
    device_id: int
    frag_count: int
    total_len: int
    fragments: dict[int, bytes] = field(default_factory=dict)
    first: Frame | None = None
    fragment_size: int = 0  # F, known once a non-last fragment arrived
    received: int = 0


class Reassembler:
    """Reassembles fragments by (peer, seq) with bounded state; see the module's docstring.

    `evicted` counts the sequences dropped to make room, `expired` those dropped at the end of their
    lifetime (both totals since creation)."""

    def __init__(
        self, *, max_total: int, max_pending_per_peer: int = 4, max_pending: int = 256, timeout_s: float = 2.0
    ) -> None:
        if max_total < 0 or max_pending_per_peer < 1 or max_pending < 1 or timeout_s <= 0:
            raise ValueError("Reassembler caps must be positive")
        self.max_total = max_total
        self.max_pending_per_peer = max_pending_per_peer
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self._pending: dict[tuple[Hashable, int], _Pending] = {}  # insertion order = age
        self._per_peer: dict[Hashable, list[tuple[Hashable, int]]] = {}  # peer -> its keys, oldest first
        self.evicted = 0
        self.expired = 0

    @property
    def pending(self) -> int:
        """Incomplete sequences held now."""
        return len(self._pending)

    def pending_of(self, peer: Hashable) -> int:
        """Incomplete sequences of one peer."""
        return len(self._per_peer.get(peer, ()))

    def _drop(self, key: tuple[Hashable, int]) -> None:
        state = self._pending.pop(key)
        keys = self._per_peer[state.peer]
        keys.remove(key)
        if not keys:
            del self._per_peer[state.peer]

    def expire(self, now: float) -> int:
        """Drop the sequences whose lifetime has ended; return how many."""
        stale = [key for key, state in self._pending.items() if now >= state.expires]
        for key in stale:
            self._drop(key)
        self.expired += len(stale)
        return len(stale)

    def _make_room(self, peer: Hashable, now: float) -> None:
        """Evict until `peer` may open one more sequence: its own oldest at its cap, else at the global cap the
        oldest of the peer holding the most."""
        if self.pending_of(peer) >= self.max_pending_per_peer or len(self._pending) >= self.max_pending:
            self.expire(now)
        while self.pending_of(peer) >= self.max_pending_per_peer:
            self._drop(self._per_peer[peer][0])
            self.evicted += 1
        if len(self._pending) >= self.max_pending:
            greedy = max(self._per_peer, key=lambda p: len(self._per_peer[p]))
            self._drop(self._per_peer[greedy][0])
            self.evicted += 1

    def _conflict(self, key: tuple[Hashable, int], why: str) -> ProtocolError:
        self._drop(key)
        return ProtocolError("conflict", f"fragment contradicts sequence {key[1]}: {why}; sequence dropped")

    def feed(self, peer: object, frame: Frame, now: float, *, expires: float | None = None) -> bytes | None:
        """Add one decoded fragment from ``peer``; return the whole payload when it completes the sequence."""
        done = self.feed_request(peer, frame, now, expires=expires)
        return None if done is None else done.payload

    def feed_request(
        self, peer: object, frame: Frame, now: float, *, expires: float | None = None
    ) -> Reassembled | None:
        """:meth:`feed`, with what fragment 0 said. `expires`: a sequence this fragment opens is dropped then
        at the latest (the request's deadline), besides `timeout_s` after its first fragment."""
        if frame.total_len > self.max_total:
            raise ProtocolError("too_large", f"payload of {frame.total_len} bytes, more than {self.max_total}")
        if frame.frag_count == 1:
            if frame.frag_index != 0 or len(frame.payload) != frame.total_len:
                raise ProtocolError("bad_length", "single fragment does not hold the whole payload")
            return Reassembled(frame.payload, now, frame)
        if not isinstance(peer, Hashable):
            raise TypeError("peer must be hashable")
        key = (peer, frame.seq)
        state = self._pending.get(key)
        if state is not None and now >= state.expires:
            self._drop(key)
            self.expired += 1
            state = None
        if state is None:
            self._make_room(peer, now)
            end = now + self.timeout_s if expires is None else min(now + self.timeout_s, expires)
            state = _Pending(
                now, end, peer, frame.kind, frame.model_id, frame.device_id, frame.frag_count, frame.total_len
            )
            self._pending[key] = state
            self._per_peer.setdefault(peer, []).append(key)
        elif (frame.kind, frame.model_id, frame.device_id, frame.frag_count, frame.total_len) != (
            state.kind,
            state.model_id,
            state.device_id,
            state.frag_count,
            state.total_len,
        ):
            raise self._conflict(key, "kind, model id, device id, fragment count or total length differs")
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
        if frame.frag_index == 0:
            state.first = frame
        state.received += 1
        if state.received < state.frag_count:
            return None
        self._drop(key)
        payload = b"".join(state.fragments[i] for i in range(state.frag_count))
        if len(payload) != state.total_len or state.first is None:  # unreachable after the checks above
            raise ProtocolError("conflict", "reassembled length differs from the total length")
        return Reassembled(payload, state.created, state.first)
