"""Datagram -> complete request, without any I/O (the part of the server that the fuzz tests hammer).

:class:`RequestDecoder` applies the server rules of docs/offload-protocol.md §4 in order: the
datagram size cap, the frame checks of :func:`~agilenn_codegen.offload.decode_frame` (magic,
version, kind, lengths, CRC), the kind and the model id, then bounded reassembly by
(peer, sequence number). Every datagram that does not complete a request is either accepted as a
fragment or dropped and counted under a short reason. :func:`decode_request` then turns a
complete payload into symbols and checks them against the served model.

Late duplicates of a just-completed request's fragments open "echo" sequences, which the
reassembler evicts before it refuses a new sequence over a cap (docs/offload-protocol.md §4); a
retransmitted request is answered again.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from agilenn_codegen.offload import KIND_REQUEST, ProtocolError, Reassembler, decode_frame, decode_payload
from agilenn_codegen.server.model import ModelSpec
from agilenn_codegen.server.stats import ServerStats


@dataclass(frozen=True)
class Request:
    """A reassembled request payload, not yet decoded."""

    peer: Hashable
    seq: int
    payload: bytes
    complete_at: float  # time.monotonic() when its last fragment arrived


class RequestError(Exception):
    """A complete request that the server refuses; `reason` is the drop counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RequestDecoder:
    """Checks datagrams and reassembles requests; counts every drop in `stats`."""

    def __init__(
        self,
        spec: ModelSpec,
        stats: ServerStats,
        *,
        max_datagram: int,
        max_fragment: int,
        reassembly_timeout_s: float = 2.0,
        max_pending_per_peer: int = 4,
        max_pending: int = 256,
    ) -> None:
        self.spec = spec
        self.stats = stats
        self.max_datagram = max_datagram
        self.max_fragment = max_fragment
        self.timeout_s = reassembly_timeout_s
        self.reassembler = Reassembler(
            max_total=spec.max_payload,
            max_pending_per_peer=max_pending_per_peer,
            max_pending=max_pending,
            timeout_s=reassembly_timeout_s,
        )

    def on_datagram(self, data: bytes, peer: Hashable, now: float | None = None) -> Request | None:
        """Feed one datagram; returns the request it completes, or None (fragment kept, or dropped)."""
        now = time.monotonic() if now is None else now
        self.stats.count_datagram()
        if len(data) > self.max_datagram:
            self.stats.drop("oversize")
            return None
        try:
            frame = decode_frame(data, max_fragment=self.max_fragment, max_total=self.spec.max_payload)
        except ProtocolError as exc:
            self.stats.drop(exc.reason)
            return None
        if frame.kind != KIND_REQUEST:
            self.stats.drop("wrong_kind")
            return None
        if frame.model_id != self.spec.model_id:
            self.stats.drop("wrong_model")
            return None
        try:
            payload = self.reassembler.feed(peer, frame, now)
        except ProtocolError as exc:
            self.stats.drop(exc.reason)
            payload = None
        self._sync_reassembly()
        if payload is None:
            return None
        self.stats.count_request()
        return Request(peer, frame.seq, bytes(payload), now)

    def expire(self, now: float | None = None) -> int:
        """Drop partial requests older than the timeout; returns how many expired."""
        now = time.monotonic() if now is None else now
        expired = int(self.reassembler.expire(now))
        self._sync_reassembly(expired)
        return expired

    def pending(self) -> int:
        """Partial requests held by the reassembler."""
        return int(self.reassembler.pending)

    def _sync_reassembly(self, expired: int = 0) -> None:
        evicted = int(getattr(self.reassembler, "evicted", 0))
        self.stats.set_reassembly(self.pending(), expired, evicted)


def decode_request(spec: ModelSpec, payload: bytes) -> np.ndarray:
    """Payload -> symbols (N,) checked against the model; raises ProtocolError or RequestError."""
    symbols, alphabet = decode_payload(payload, max_symbols=spec.num_symbols, context=spec.context)
    symbols = np.asarray(symbols)
    if symbols.shape != (spec.num_symbols,):
        raise RequestError("wrong_size", f"{symbols.size} symbols, the model takes {spec.num_symbols}")
    if int(alphabet) != spec.alphabet:
        raise RequestError("wrong_alphabet", f"alphabet {alphabet}, the model has {spec.alphabet} distinct centroids")
    if symbols.size and int(symbols.max()) >= spec.alphabet:
        raise RequestError("bad_symbol", f"symbol {int(symbols.max())} >= {spec.alphabet}")
    return symbols
