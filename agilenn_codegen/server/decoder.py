"""Datagram -> complete request, without any I/O (the part of the server that the fuzz tests hammer).

:class:`RequestDecoder` applies the server rules of docs/offload-protocol.md §4 in order, cheapest first,
so that nothing a peer sends costs more than its checks before it is refused: the datagram size cap, the
frame checks of :func:`~agilenn_codegen.offload.decode_frame` (magic, version, kind, flags, lengths, CRC),
the kind and the model id, the device's tag when the server authenticates devices (unknown devices and
forged tags are refused here, before any other work), the device's replay window, then bounded
reassembly by (source, sequence number). Every datagram that does not complete a request is either kept
as a fragment or dropped and counted under a short reason. :func:`decode_request` then turns a complete
payload into symbols and checks them against the served model.

The *source* of a request is what fairness and the replay window are keyed by: the authenticated device
id when the server checks tags, else the sender's address together with the device id it claims.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

from agilenn_codegen.offload import (
    KIND_REQUEST,
    ProtocolError,
    Reassembler,
    ReplayWindows,
    decode_frame,
    decode_payload,
    frame_tag_ok,
)
from agilenn_codegen.offload.replay import DEFAULT_WINDOW
from agilenn_codegen.server.model import ModelSpec
from agilenn_codegen.server.stats import ServerStats

log = logging.getLogger("agilenn.server")
OLD_VERSION_LOG_LIMIT = 16  # peers named in the log for sending old-version frames (then only counted)


@dataclass(eq=False)
class Request:
    """A reassembled request payload, not yet decoded (`symbols` is set once it is)."""

    peer: Hashable  # where replies go
    seq: int
    payload: bytes
    complete_at: float  # time.monotonic() when its last fragment arrived
    started: float = 0.0  # ... and its first
    deadline: float = float("inf")  # time.monotonic() after which the device no longer waits: never answered then
    source: Hashable = None  # fairness and replay key
    device_id: int = 0
    key: bytes | None = field(default=None, repr=False)  # the device's key when authenticated
    request_tag: bytes | None = field(default=None, repr=False)  # the tag of fragment 0 (binds the reply)
    symbols: np.ndarray | None = field(default=None, repr=False)


class RequestError(Exception):
    """A complete request that the server refuses; `reason` is the drop counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RequestDecoder:
    """Checks datagrams, authenticates devices, drops replays and reassembles; counts every drop in `stats`.

    `keys` (device id -> 16-byte key) turns authentication on: every request fragment must then carry a
    valid tag of a listed device. `default_deadline_ms` is the deadline of a request that gives none;
    `deadline_margin_ms` is taken off every deadline for the reply's way back."""

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
        keys: Mapping[int, bytes] | None = None,
        default_deadline_ms: int = 1000,
        deadline_margin_ms: float = 20.0,
        replay_window: int = DEFAULT_WINDOW,
        max_devices: int = 65536,
    ) -> None:
        self.spec = spec
        self.stats = stats
        self.max_datagram = max_datagram
        self.max_fragment = max_fragment
        self.timeout_s = reassembly_timeout_s
        self.keys = dict(keys) if keys is not None else None
        self.default_deadline_s = default_deadline_ms / 1e3
        self.margin_s = deadline_margin_ms / 1e3
        self.reassembler = Reassembler(
            max_total=spec.max_payload,
            max_pending_per_peer=max_pending_per_peer,
            max_pending=max_pending,
            timeout_s=reassembly_timeout_s,
        )
        self.windows = ReplayWindows(size=replay_window, strict=self.keys is not None, max_devices=max_devices)
        self._old_version_peers: set[Hashable] = set()

    @property
    def authenticated(self) -> bool:
        """Whether requests must carry a device's valid tag."""
        return self.keys is not None

    def on_datagram(
        self, data: bytes, peer: Hashable, now: float | None = None, *, arrived: float | None = None
    ) -> Request | None:
        """Feed one datagram; returns the request it completes, or None (fragment kept, or dropped).

        `arrived` is when the datagram reached the host (the socket's timestamp; default `now`): deadlines
        count from it, so time spent waiting in the socket's buffer counts too."""
        now = time.monotonic() if now is None else now
        arrived = now if arrived is None else arrived
        self.stats.count_datagram()
        if len(data) > self.max_datagram:
            self.stats.drop("oversize")
            return None
        try:
            frame = decode_frame(data, max_fragment=self.max_fragment, max_total=self.spec.max_payload)
        except ProtocolError as exc:
            self.stats.drop(exc.reason)
            if exc.reason == "old_version":
                self._report_old_version(peer, data)
            return None
        if frame.kind != KIND_REQUEST:
            self.stats.drop("wrong_kind")
            return None
        if frame.model_id != self.spec.model_id:
            self.stats.drop("wrong_model")
            return None
        key: bytes | None = None
        if self.keys is None:
            if frame.tag is not None:
                self.stats.drop("unexpected_tag")
                return None
            source: Hashable = (peer, frame.device_id)
        else:
            if frame.tag is None:
                self.stats.drop("unauthenticated")
                return None
            key = self.keys.get(frame.device_id)
            if key is None:
                self.stats.drop("unknown_device")
                return None
            if not frame_tag_ok(frame, key):
                self.stats.drop("bad_tag")
                return None
            source = frame.device_id
        if self.windows.check(source, frame.seq) is not None:
            self.stats.drop("replay")
            return None
        budget_s = frame.deadline_ms / 1e3 if frame.deadline_ms else self.default_deadline_s
        try:
            done = self.reassembler.feed_request(source, frame, arrived, expires=arrived + budget_s)
        except ProtocolError as exc:
            self.stats.drop(exc.reason)
            done = None
        self._sync_reassembly()
        if done is None:
            return None
        self.windows.accept(source, frame.seq)
        self.stats.count_request()
        first = done.first
        first_budget_s = first.deadline_ms / 1e3 if first.deadline_ms else self.default_deadline_s
        return Request(
            peer,
            frame.seq,
            bytes(done.payload),
            arrived,
            started=done.started,
            deadline=done.started + first_budget_s - self.margin_s,
            source=source,
            device_id=frame.device_id,
            key=key,
            request_tag=first.tag if key is not None else None,
        )

    def _report_old_version(self, peer: Hashable, data: bytes) -> None:
        if peer in self._old_version_peers or len(self._old_version_peers) >= OLD_VERSION_LOG_LIMIT:
            return
        self._old_version_peers.add(peer)
        log.warning(
            "%s sends protocol version %d frames; this server speaks version 2 only: rebuild that device's "
            "library with this agilenn-codegen (refused and counted as old_version)",
            peer,
            data[4],
        )

    def expire(self, now: float | None = None) -> int:
        """Drop partial requests whose lifetime has ended; returns how many expired."""
        now = time.monotonic() if now is None else now
        expired = int(self.reassembler.expire(now))
        self._sync_reassembly()
        return expired

    def pending(self) -> int:
        """Partial requests held by the reassembler."""
        return int(self.reassembler.pending)

    def _sync_reassembly(self) -> None:
        r = self.reassembler
        self.stats.set_reassembly(r.pending, r.expired, r.evicted)


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
