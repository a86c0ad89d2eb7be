"""The UDP server: datagrams in, fair deadline-aware queue, micro-batched onnxruntime inference, replies out.

The event loop reads the socket (with the kernel's arrival timestamp of each datagram) and does
everything cheap: the frame checks, the device's tag, the replay window, reassembly, the admission
decision against the request's deadline (a busy reply at once when the backlog would miss it) and the
payload's decoding (the compiled C decoder), so that only valid requests that can be answered in time
are queued. One inference thread takes batches from the :class:`~agilenn_codegen.server.scheduler.FairScheduler`
(round-robin between sources), runs remote.onnx once per batch and sends the replies itself, never after
a request's deadline. Nothing a peer sends can stop the server: every failure is counted, and an
unexpected exception is logged once per type and counted as "internal".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agilenn_codegen.errors import UserError
from agilenn_codegen.offload import (
    BUSY_LATE,
    BUSY_OVERLOADED,
    DEFAULT_MAX_FRAGMENT,
    HEADER_SIZE,
    KIND_BUSY,
    KIND_REPLY,
    MAC_SIZE,
    ProtocolError,
    encode_busy,
    encode_frames,
    encode_reply,
    encode_single_frame,
)
from agilenn_codegen.offload.replay import DEFAULT_WINDOW
from agilenn_codegen.server import timestamps
from agilenn_codegen.server.decoder import Request, RequestDecoder, RequestError, decode_request
from agilenn_codegen.server.model import ServedModel
from agilenn_codegen.server.scheduler import Batch, FairScheduler
from agilenn_codegen.server.stats import ServerStats

log = logging.getLogger("agilenn.server")

MAX_UDP_PAYLOAD = 65507
# Python's thread switch interval in an `agilenn serve` process: when the inference thread comes back from
# onnxruntime (which runs without the interpreter lock) while the event loop is busy, it waits at most this
# long for the lock (the default, 5 ms, is several batches of a small remote network).
SWITCH_INTERVAL_S = 0.0005
Outgoing = list[tuple[Request, list[bytes]]]  # requests and the frames that answer them
RECV_BUFFER_BYTES = 1 << 20
READS_PER_WAKEUP = 256  # datagrams read in one event-loop callback before other callbacks get a turn


@dataclass(frozen=True)
class ServerOptions:
    """Tunables of one server (the `agilenn serve` options)."""

    batch_max: int = 8
    batch_wait_ms: float = 2.0
    max_datagram: int = HEADER_SIZE + DEFAULT_MAX_FRAGMENT + MAC_SIZE
    reassembly_timeout_s: float = 2.0
    max_pending_per_peer: int = 4
    max_pending: int = 256
    max_queue: int = 1024
    max_queue_bytes: int = 64 << 20
    max_queue_per_source: int = 16
    max_wait_ms: float = 100.0
    default_deadline_ms: int = 1000
    deadline_margin_ms: float = 20.0
    replay_window: int = DEFAULT_WINDOW
    max_devices: int = 65536
    threads: int = 1
    check_batching: bool = True
    reuse_port: bool = False  # SO_REUSEPORT: several worker processes share the port

    def validate(self) -> None:
        """Raise UserError for values the server cannot work with."""
        if self.batch_max < 1:
            raise UserError(f"--batch-max must be at least 1, got {self.batch_max}")
        if not 0 <= self.batch_wait_ms <= 1000:
            raise UserError(f"--batch-wait-ms must be in [0, 1000], got {self.batch_wait_ms}")
        low = HEADER_SIZE + MAC_SIZE + 1
        if not low <= self.max_datagram <= MAX_UDP_PAYLOAD:
            raise UserError(f"--max-datagram must be in [{low}, {MAX_UDP_PAYLOAD}], got {self.max_datagram}")
        if self.reassembly_timeout_s <= 0 or self.max_pending_per_peer < 1 or self.max_pending < 1:
            raise UserError("reassembly timeout and pending caps must be positive")
        if self.max_queue < 1 or self.max_queue_bytes < 1 or self.max_queue_per_source < 1 or self.threads < 1:
            raise UserError("queue caps and thread count must be positive")
        if not 0 < self.max_wait_ms <= 60_000:
            raise UserError(f"--max-wait-ms must be in (0, 60000], got {self.max_wait_ms}")
        if not 1 <= self.default_deadline_ms <= 0xFFFF:
            raise UserError(f"--deadline-ms must be in 1..65535, got {self.default_deadline_ms}")
        if not 0 <= self.deadline_margin_ms < 1000:
            raise UserError(f"--deadline-margin-ms must be in [0, 1000), got {self.deadline_margin_ms}")
        if not 1 <= self.replay_window <= 4096 or self.max_devices < 1:
            raise UserError("--replay-window must be in 1..4096 and --max-devices positive")

    @property
    def max_fragment(self) -> int:
        """Largest fragment payload accepted and sent (replies use the same limit; room is kept for a tag)."""
        return self.max_datagram - HEADER_SIZE - MAC_SIZE


def _arrival(ancillary: list[tuple[int, int, bytes]], mono_minus_real: float, mono_now: float) -> float:
    """The datagram's arrival on the monotonic clock, from the kernel's timestamp (on the wall clock)."""
    wall = timestamps.wall_time(ancillary)
    return mono_now if wall is None else min(mono_now, wall + mono_minus_real)


class OffloadServer:
    """State of one running server; create it with :func:`start_server`."""

    def __init__(self, model: ServedModel, options: ServerOptions, keys: Mapping[int, bytes] | None = None) -> None:
        self.model = model
        self.options = options
        self.stats = ServerStats()
        self.decoder = RequestDecoder(
            model.spec,
            self.stats,
            max_datagram=options.max_datagram,
            max_fragment=options.max_fragment,
            reassembly_timeout_s=options.reassembly_timeout_s,
            max_pending_per_peer=options.max_pending_per_peer,
            max_pending=options.max_pending,
            keys=keys,
            default_deadline_ms=options.default_deadline_ms,
            deadline_margin_ms=options.deadline_margin_ms,
            replay_window=options.replay_window,
            max_devices=options.max_devices,
        )
        self.batch_max = options.batch_max if model.batch_ok else 1
        self.batch_wait_s = options.batch_wait_ms / 1e3 if self.batch_max > 1 else 0.0
        self.scheduler = FairScheduler(
            max_requests=options.max_queue,
            max_bytes=options.max_queue_bytes,
            max_per_source=options.max_queue_per_source,
            max_wait_s=options.max_wait_ms / 1e3,
        )
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._logged: set[str] = set()
        self._log_lock = threading.Lock()

    @property
    def authenticated(self) -> bool:
        """Whether the server checks device tags."""
        return self.decoder.authenticated

    # ---- event-loop side ------------------------------------------------------------------
    def _on_readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        mono = time.monotonic()
        offset = mono - time.time()
        size = self.options.max_datagram + 1
        for _ in range(READS_PER_WAKEUP):
            try:
                data, ancillary, _, addr = sock.recvmsg(size, timestamps.ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket by an earlier send
                self.stats.drop("socket_error")
                continue
            self.on_datagram(data, addr, arrived=_arrival(ancillary, offset, mono))

    def on_datagram(self, data: bytes, addr: Hashable, *, arrived: float | None = None) -> None:
        """Check one datagram; answer busy, or decode and queue the request it completes. Never raises."""
        try:
            now = time.monotonic()
            request = self.decoder.on_datagram(data, addr, now, arrived=arrived)
            if request is None:
                return
            self._admit(request, now)
        except Exception as exc:
            self._internal(exc, "datagram")

    def _admit(self, request: Request, now: float) -> None:
        wait = self.scheduler.admit(request, now)
        if wait is not None:
            self._send_busy(request, BUSY_OVERLOADED, wait)
            return
        try:
            request.symbols = decode_request(self.model.spec, request.payload)
        except (ProtocolError, RequestError) as exc:
            self.stats.drop(exc.reason)
            return
        for _ in self.scheduler.push(request, request.symbols.nbytes):
            self.stats.drop("evicted")
        self._sync_queue()

    def _sync_queue(self) -> None:
        s = self.scheduler
        self.stats.set_queue(s.queued, s.queued_bytes, s.sources, s.cost_s)

    def _internal(self, exc: BaseException, where: str, count: int = 1) -> None:
        self.stats.drop("internal", count)
        key = f"{where}:{type(exc).__name__}"
        with self._log_lock:
            if key in self._logged:
                return
            self._logged.add(key)
        log.error(
            "unexpected %s while handling a %s (further ones are only counted)", type(exc).__name__, where, exc_info=exc
        )

    async def _expire_loop(self) -> None:
        period = min(0.1, self.options.reassembly_timeout_s / 2)
        while True:
            await asyncio.sleep(period)
            try:
                self.decoder.expire()
                self._sync_queue()
            except Exception as exc:
                self._internal(exc, "expiry")

    # ---- sending (both threads) -----------------------------------------------------------
    def _send(self, frames: list[bytes], peer: Hashable) -> bool:
        sock = self.sock
        if sock is None or not self._running:
            self.stats.drop("closing")
            return False
        try:
            for frame in frames:
                sock.sendto(frame, peer)  # type: ignore[arg-type]  # an address tuple
        except BlockingIOError:
            self.stats.drop("send_blocked")
            return False
        except OSError:
            self.stats.drop("socket_error")
            return False
        return True

    def _frames(self, kind: int, request: Request, payload: bytes) -> list[bytes]:
        if len(payload) <= self.options.max_fragment:  # every reply and busy reply, in practice
            frame = encode_single_frame(
                kind,
                self.model.spec.model_id,
                request.seq,
                payload,
                device_id=request.device_id,
                key=request.key,
                request_tag=request.request_tag,
            )
            return [frame]
        return encode_frames(
            kind,
            self.model.spec.model_id,
            request.seq,
            payload,
            self.options.max_fragment,
            device_id=request.device_id,
            key=request.key,
            request_tag=request.request_tag,
        )

    def _busy_frames(self, request: Request, reason: int, wait_s: float) -> list[bytes]:
        retry_ms = min(0xFFFF, max(1, round(wait_s * 1e3)))
        return self._frames(KIND_BUSY, request, encode_busy(reason, retry_ms))

    def _send_busy(self, request: Request, reason: int, wait_s: float) -> None:
        self._deliver_busy(request, self._busy_frames(request, reason, wait_s), reason)

    def _deliver_busy(self, request: Request, frames: list[bytes], reason: int) -> None:
        """Send a busy reply unless the request's deadline has passed (then it is dropped: never answered)."""
        if time.monotonic() >= request.deadline:
            self.stats.drop("expired")
        elif self._send(frames, request.peer):
            self.stats.count_busy("overloaded" if reason == BUSY_OVERLOADED else "late")

    # ---- inference thread -----------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            try:
                batch = self.scheduler.take(self.batch_max, self.batch_wait_s, timeout_s=0.5)
                self._serve(batch)
            except Exception as exc:
                self._internal(exc, "batch")
                self.scheduler.done(0, 0.0)

    def _serve(self, batch: Batch) -> None:
        for _ in batch.expired:
            self.stats.drop("expired")
        late = [
            (request, self._busy_frames(request, BUSY_LATE, self.scheduler.estimate_wait(request.source)))
            for request in batch.late
        ]
        if not batch.run:
            self.scheduler.done(0, 0.0)
            self._deliver(late, [])
            return
        start = time.monotonic()
        spec = self.model.spec
        features = np.stack([spec.features(r.symbols) for r in batch.run])  # type: ignore[arg-type]
        try:
            logits = self.model.run(features)
        except Exception as exc:
            self._internal(exc, "inference", len(batch.run))
            self.scheduler.done(0, 0.0)
            self._deliver(late, [])
            return
        self.stats.count_batch(len(batch.run))
        replies = []
        for i, request in enumerate(batch.run):
            try:
                replies.append((request, self._frames(KIND_REPLY, request, encode_reply(logits[i]))))
            except Exception as exc:
                self._internal(exc, "reply")
        self.scheduler.done(len(batch.run), time.monotonic() - start)
        self._deliver(late, replies)

    def _deliver(self, busy: Outgoing, replies: Outgoing) -> None:
        """Send a batch's replies and busy replies from the event loop, in one hand-over: the inference thread
        then takes the interpreter lock once per batch instead of once per datagram sent (each send releases
        it, and getting it back from a busy event loop can take a whole switch interval)."""
        if not busy and not replies:
            return
        loop = self._loop
        if loop is None or not self._running:
            self._send_replies(busy, replies)
            return
        try:
            loop.call_soon_threadsafe(self._send_replies, busy, replies)
        except RuntimeError:  # the loop has closed: the server is stopping
            self.stats.drop("closing", len(busy) + len(replies))

    def _send_replies(self, busy: Outgoing, replies: Outgoing) -> None:
        for request, frames in busy:
            self._deliver_busy(request, frames, BUSY_LATE)
        for request, frames in replies:
            now = time.monotonic()
            if now >= request.deadline:
                self.stats.drop("late_reply")  # computed too late: the device has given up
            elif self._send(frames, request.peer):
                self.stats.count_reply(now - request.complete_at)
        self._sync_queue()

    # ---- lifecycle ------------------------------------------------------------------------
    def _bind(self, host: str, port: int) -> socket.socket:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if self.options.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
        with contextlib.suppress(OSError):  # the OS keeps its default
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)
        timestamps.enable(sock)  # without it, deadlines count from when a datagram is read
        sock.setblocking(False)
        return sock

    async def start(self, host: str, port: int) -> None:
        """Bind the socket, start reading, the inference thread and the expiry task."""
        loop = asyncio.get_running_loop()
        self.sock = self._bind(host, port)
        self._loop = loop
        self._running = True
        loop.add_reader(self.sock.fileno(), self._on_readable)
        self._worker = threading.Thread(target=self._work, name="agilenn-infer", daemon=True)
        self._worker.start()
        self._tasks = [loop.create_task(self._expire_loop())]

    async def close(self) -> None:
        """Stop receiving, stop the inference thread and close the socket."""
        self._running = False
        if self._loop is not None and self.sock is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.sock.fileno())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.scheduler.close()
        if self._worker is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._worker.join, 10.0)
            self._worker = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class ServerHandle:
    """A running server: `.address`, `.stats`, `.model`, `await .close()`."""

    def __init__(self, server: OffloadServer) -> None:
        self._server = server
        assert server.sock is not None
        name = server.sock.getsockname()
        self._address = (str(name[0]), int(name[1]))

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on (the real port when 0 was asked for)."""
        return self._address

    @property
    def stats(self) -> ServerStats:
        """Live counters; call `.snapshot()` for a copy."""
        return self._server.stats

    @property
    def model(self) -> ServedModel:
        """The served model (spec, model id, batching state)."""
        return self._server.model

    @property
    def server(self) -> OffloadServer:
        """The server itself (scheduler, decoder)."""
        return self._server

    @property
    def batch_max(self) -> int:
        """Effective batch size (1 when the model or the batching check rules batching out)."""
        return self._server.batch_max

    async def close(self) -> None:
        """Stop the server; counters stay readable."""
        await self._server.close()


def tune_process() -> None:
    """Settings for a process that runs a server and nothing else (`agilenn serve`, its workers)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def load_model(model_dir: Path, options: ServerOptions) -> ServedModel:
    """Load and check the model folder, and decide whether batching is safe (bit-identical)."""
    options.validate()
    model = ServedModel(Path(model_dir), threads=options.threads)
    if model.spec.context is not None and not model.spec.context.uses_native:
        from agilenn_codegen.offload.native import native_status

        log.warning("context-coded payloads use the slow pure-Python decoder: %s", native_status().reason)
    if options.batch_max > 1 and model.dynamic_batch and options.check_batching:
        if not model.check_batching(options.batch_max):
            log.warning(
                "batched results differ from unbatched ones for %s; running requests one by one", model.remote_path
            )
    else:
        model.batch_ok = model.dynamic_batch and options.batch_max > 1
    return model


async def start_server(
    model_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    options: ServerOptions | None = None,
    model: ServedModel | None = None,
    keys: Mapping[int, bytes] | None = None,
) -> ServerHandle:
    """Load MODEL_DIR (unless `model` is given), bind host:port and serve until `close()`. With `keys` (device
    id -> 16-byte key) only authenticated requests of those devices are served."""
    options = options or ServerOptions()
    if model is None:
        model = load_model(Path(model_dir), options)
    else:
        options.validate()
    server = OffloadServer(model, options, keys)
    await server.start(host, port)
    return ServerHandle(server)
