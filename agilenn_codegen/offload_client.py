"""The device side of offloading, in Python: the reference for tests and for `agilenn device`.

Given the device model's int8 remote features and the 256-entry index table, the client builds
the symbols (docs/offload-protocol.md §1), the payload (§2) and the frames (§3), sends them over a
UDP socket, and waits at most `timeout_s` for the reply. It never retries: when no valid reply
for this sequence number arrives in time, or the server answers busy, it returns None, and
:meth:`OffloadClient.classify` falls back to the local logits alone, as the device does. Replies for
other sequence numbers (late or duplicated answers to earlier requests) and anything that fails the
frame checks (with a device key: the tag too) are ignored. Every request carries the client's timeout
as its deadline.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from agilenn_codegen.offload import (
    DEFAULT_MAX_FRAGMENT,
    KIND_BUSY,
    KIND_REPLY,
    KIND_REQUEST,
    ProtocolError,
    Reassembler,
    decode_busy,
    decode_frame,
    decode_reply,
    encode_frames,
    encode_payload,
    frame_tag_ok,
)
from agilenn_codegen.pipeline.reference import combine
from agilenn_codegen.pipeline.symbols import features_to_symbols

MAX_REPLY = 2 + 4 * 0xFFFF  # u16 count of float32 logits
RECV_SIZE = 65536
BUSY = np.zeros(0, np.float32)  # the marker _accept returns for a valid busy reply


@dataclass(frozen=True)
class OffloadResult:
    """One classification: the logits used, and whether the remote part made it in time."""

    seq: int
    logits: np.ndarray
    remote_logits: np.ndarray | None
    payload_bytes: int
    datagrams: int
    elapsed_s: float

    @property
    def source(self) -> str:
        """ "remote" when the server's logits were combined in, "local" after a fallback."""
        return "local" if self.remote_logits is None else "remote"


@dataclass
class ClientStats:
    """What one client sent and got back."""

    requests: int = 0
    datagrams_sent: int = 0
    replies: int = 0
    busy: int = 0
    timeouts: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> datagrams ignored

    def as_dict(self) -> dict[str, object]:
        """JSON-ready copy."""
        return {
            "requests": self.requests,
            "datagrams_sent": self.datagrams_sent,
            "replies": self.replies,
            "busy": self.busy,
            "timeouts": self.timeouts,
            "ignored": dict(sorted(self.ignored.items())),
        }


class OffloadClient:
    """A synchronous UDP client of one server (or of a proxy in front of it).

    `device_id` and `key` (16 bytes) make it an authenticated device: every request fragment carries a tag,
    and only replies with a valid tag are taken. `deadline_ms` is the deadline its requests carry (default:
    the timeout)."""

    def __init__(
        self,
        server_addr: tuple[str, int],
        model_id: int,
        timeout_s: float = 0.1,
        *,
        max_fragment: int = DEFAULT_MAX_FRAGMENT,
        num_classes: int | None = None,
        lzw_bits: int = 12,
        bind: tuple[str, int] | None = None,
        device_id: int = 0,
        key: bytes | None = None,
        deadline_ms: int | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.device_id = device_id
        self.key = key
        self.deadline_ms = min(0xFFFF, round(timeout_s * 1000)) if deadline_ms is None else deadline_ms
        self._request_tags: dict[int, bytes] = {}
        self.server_addr = server_addr
        self.model_id = model_id
        self.timeout_s = timeout_s
        self.max_fragment = max_fragment
        self.num_classes = num_classes
        self.lzw_bits = lzw_bits
        self.stats = ClientStats()
        self._next_seq = 0
        family = socket.AF_INET6 if ":" in server_addr[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        if bind is not None:
            self._sock.bind(bind)
        self._sock.connect(server_addr)  # only datagrams from the server's address are received

    # ---- the wire ---------------------------------------------------------------------------
    def send(self, seq: int, payload: bytes) -> int:
        """Send the frames of one request; returns how many datagrams went out."""
        frames = encode_frames(
            KIND_REQUEST,
            self.model_id,
            seq,
            payload,
            self.max_fragment,
            device_id=self.device_id,
            deadline_ms=self.deadline_ms,
            key=self.key,
        )
        if self.key is not None:
            self._request_tags = {seq: frames[0][-8:]}  # the reply's tag covers it
        for frame in frames:
            self._sock.send(frame)
        self.stats.requests += 1
        self.stats.datagrams_sent += len(frames)
        return len(frames)

    def infer(self, seq: int, payload: bytes) -> np.ndarray | None:
        """Send one request and wait for its reply; the remote logits, or None on timeout or a busy reply.
        Never retries."""
        self.send(seq, payload)
        return self.wait_reply(seq, time.monotonic() + self.timeout_s)

    def wait_reply(self, seq: int, deadline: float) -> np.ndarray | None:
        """Receive until the reply for `seq` is complete and valid, or until `deadline` (monotonic)."""
        reassembler = Reassembler(max_total=MAX_REPLY, max_pending_per_peer=1, max_pending=1, timeout_s=3600.0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stats.timeouts += 1
                return None
            self._sock.settimeout(left)
            try:
                datagram = self._sock.recv(RECV_SIZE)
            except TimeoutError:
                continue
            except ConnectionRefusedError:  # ICMP port unreachable: nobody listens; keep waiting out the timeout
                self.stats.ignored["unreachable"] += 1
                continue
            logits = self._accept(datagram, seq, reassembler)
            if logits is BUSY:
                return None
            if logits is not None:
                self.stats.replies += 1
                return logits

    def _accept(self, datagram: bytes, seq: int, reassembler: Reassembler) -> np.ndarray | None:
        try:
            frame = decode_frame(datagram, max_fragment=0xFFFF, max_total=MAX_REPLY)
        except ProtocolError as exc:
            self.stats.ignored[exc.reason] += 1
            return None
        if frame.kind not in (KIND_REPLY, KIND_BUSY):
            self.stats.ignored["wrong_kind"] += 1
        elif frame.model_id != self.model_id:
            self.stats.ignored["wrong_model"] += 1
        elif frame.seq != seq:
            self.stats.ignored["stale"] += 1
        elif frame.device_id != self.device_id:
            self.stats.ignored["wrong_device"] += 1
        elif (frame.tag is not None) != (self.key is not None):
            self.stats.ignored["tag_missing" if frame.tag is None else "unexpected_tag"] += 1
        elif self.key is not None and not frame_tag_ok(frame, self.key, self._request_tags.get(seq)):
            self.stats.ignored["bad_tag"] += 1
        elif frame.kind == KIND_BUSY:
            try:
                if frame.frag_count != 1:
                    raise ProtocolError("fragmented", "a busy reply is one frame")
                decode_busy(frame.payload)
            except ProtocolError as exc:
                self.stats.ignored[exc.reason] += 1
                return None
            self.stats.busy += 1
            return BUSY
        else:
            try:
                payload = reassembler.feed("server", frame, time.monotonic())
                if payload is None:
                    return None
                logits = decode_reply(payload)
            except ProtocolError as exc:
                self.stats.ignored[exc.reason] += 1
                return None
            if self.num_classes is not None and logits.size != self.num_classes:
                self.stats.ignored["wrong_classes"] += 1
                return None
            return logits
        return None

    # ---- one inference, the way the device does it -------------------------------------------
    def next_seq(self) -> int:
        """A fresh sequence number (wraps at 2**32)."""
        seq = self._next_seq
        self._next_seq = (self._next_seq + 1) & 0xFFFFFFFF
        return seq

    def classify(
        self,
        local_logits: np.ndarray,
        remote_features: np.ndarray,
        table: np.ndarray,
        *,
        alphabet: int,
        alpha: float,
        seq: int | None = None,
    ) -> OffloadResult:
        """int8 remote features -> symbols -> payload -> frames -> server; combine, or fall back to local."""
        start = time.monotonic()
        seq = self.next_seq() if seq is None else seq
        symbols = features_to_symbols(remote_features, table)
        payload = encode_payload(symbols, alphabet, self.lzw_bits)
        datagrams = self.send(seq, payload)
        remote = self.wait_reply(seq, start + self.timeout_s)
        local = np.asarray(local_logits, dtype=np.float32).reshape(-1)
        logits = local if remote is None else combine(local, remote, alpha)
        return OffloadResult(seq, logits, remote, len(payload), datagrams, time.monotonic() - start)

    # ---- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> OffloadClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
