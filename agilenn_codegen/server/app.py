"""The asyncio UDP server: datagrams in, micro-batched onnxruntime inference, reply frames out.

The event loop only checks frames and reassembles (cheap, bounded); complete requests go into a
bounded queue. One batching task takes the first queued request, waits up to `batch_wait_ms` for
more (at most `batch_max`), and hands the batch to a single worker thread that decodes the
payloads, runs remote.onnx once for the batch and builds the reply frames. Replies are sent from
the event loop. Nothing a peer sends can stop the server: every failure is counted, and an
unexpected exception is logged once per type and counted as "internal".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agilenn_codegen.errors import UserError
from agilenn_codegen.offload import (
    DEFAULT_MAX_FRAGMENT,
    HEADER_SIZE,
    KIND_REPLY,
    ProtocolError,
    encode_frames,
    encode_reply,
)
from agilenn_codegen.server.decoder import Request, RequestDecoder, RequestError, decode_request
from agilenn_codegen.server.model import ServedModel
from agilenn_codegen.server.stats import ServerStats

log = logging.getLogger("agilenn.server")

MAX_UDP_PAYLOAD = 65507
RECV_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class ServerOptions:
    """Tunables of one server (the `agilenn serve` options)."""

    batch_max: int = 8
    batch_wait_ms: float = 2.0
    max_datagram: int = HEADER_SIZE + DEFAULT_MAX_FRAGMENT
    reassembly_timeout_s: float = 2.0
    max_pending_per_peer: int = 4
    max_pending: int = 256
    max_queue: int = 1024
    threads: int = 1
    check_batching: bool = True

    def validate(self) -> None:
        """Raise UserError for values the server cannot work with."""
        if self.batch_max < 1:
            raise UserError(f"--batch-max must be at least 1, got {self.batch_max}")
        if not 0 <= self.batch_wait_ms <= 1000:
            raise UserError(f"--batch-wait-ms must be in [0, 1000], got {self.batch_wait_ms}")
        if not HEADER_SIZE + 1 <= self.max_datagram <= MAX_UDP_PAYLOAD:
            low = HEADER_SIZE + 1
            raise UserError(f"--max-datagram must be in [{low}, {MAX_UDP_PAYLOAD}], got {self.max_datagram}")
        if self.reassembly_timeout_s <= 0 or self.max_pending_per_peer < 1 or self.max_pending < 1:
            raise UserError("reassembly timeout and pending caps must be positive")
        if self.max_queue < 1 or self.threads < 1:
            raise UserError("queue size and thread count must be positive")

    @property
    def max_fragment(self) -> int:
        """Largest fragment payload accepted and sent (replies use the same limit)."""
        return self.max_datagram - HEADER_SIZE


class _Protocol(asyncio.DatagramProtocol):
    """Glue between asyncio's datagram transport and :class:`OffloadServer`."""

    def __init__(self, server: OffloadServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.server.stats.drop("socket_error")


class OffloadServer:
    """State of one running server; create it with :func:`start_server`."""

    def __init__(self, model: ServedModel, options: ServerOptions) -> None:
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
        )
        self.batch_max = options.batch_max if model.batch_ok else 1
        self.batch_wait_s = options.batch_wait_ms / 1e3 if self.batch_max > 1 else 0.0
        self.queue: asyncio.Queue[Request] = asyncio.Queue(maxsize=options.max_queue)
        self.transport: asyncio.DatagramTransport | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agilenn-infer")
        self._tasks: list[asyncio.Task[None]] = []
        self._logged: set[str] = set()

    # ---- event-loop side ------------------------------------------------------------------
    def on_datagram(self, data: bytes, addr: Hashable) -> None:
        """Check one datagram; queue the request it completes. Never raises."""
        try:
            request = self.decoder.on_datagram(data, addr)
            if request is None:
                return
            try:
                self.queue.put_nowait(request)
            except asyncio.QueueFull:
                self.stats.drop("overloaded")
        except Exception as exc:
            self._internal(exc, "datagram")

    def _internal(self, exc: BaseException, where: str, count: int = 1) -> None:
        self.stats.drop("internal", count)
        key = f"{where}:{type(exc).__name__}"
        if key not in self._logged:
            self._logged.add(key)
            log.error(
                "unexpected %s while handling a %s (further ones are only counted)",
                type(exc).__name__,
                where,
                exc_info=exc,
            )

    async def _next_batch(self) -> list[Request]:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            try:
                replies = await loop.run_in_executor(self._executor, self._process, batch)
            except Exception as exc:
                self._internal(exc, "batch", len(batch))
                continue
            for request, frames in replies:
                self._send(request, frames)

    def _send(self, request: Request, frames: list[bytes]) -> None:
        if self.transport is None or self.transport.is_closing():
            self.stats.drop("closing")
            return
        try:
            for frame in frames:
                self.transport.sendto(frame, request.peer)  # type: ignore[arg-type]  # an (host, port) tuple
        except Exception as exc:
            self._internal(exc, "send")
            return
        self.stats.count_reply(time.monotonic() - request.complete_at)

    async def _expire_loop(self) -> None:
        period = min(0.5, self.options.reassembly_timeout_s / 2)
        while True:
            await asyncio.sleep(period)
            try:
                self.decoder.expire()
            except Exception as exc:
                self._internal(exc, "expiry")

    # ---- worker-thread side ---------------------------------------------------------------
    def _process(self, batch: list[Request]) -> list[tuple[Request, list[bytes]]]:
        spec = self.model.spec
        valid: list[Request] = []
        features: list[np.ndarray] = []
        for request in batch:
            try:
                features.append(spec.features(decode_request(spec, request.payload)))
                valid.append(request)
            except (ProtocolError, RequestError) as exc:
                self.stats.drop(exc.reason)
            except Exception as exc:
                self._internal(exc, "payload")
        if not valid:
            return []
        logits = self._infer(np.stack(features), len(valid))
        if logits is None:
            return []
        self.stats.count_batch(len(valid))
        out = []
        for i, request in enumerate(valid):
            try:
                reply = encode_reply(logits[i])
                frames = encode_frames(KIND_REPLY, spec.model_id, request.seq, reply, self.options.max_fragment)
                out.append((request, list(frames)))
            except Exception as exc:
                self._internal(exc, "reply")
        return out

    def _infer(self, features: np.ndarray, count: int) -> np.ndarray | None:
        try:
            return self.model.run(features)
        except Exception as exc:
            self._internal(exc, "inference", count)
            return None

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        """Bind the socket and start the batching and expiry tasks."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # the OS keeps its default
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)
        self._tasks = [loop.create_task(self._batch_loop()), loop.create_task(self._expire_loop())]

    async def close(self) -> None:
        """Stop receiving, cancel the tasks and wait for the worker thread."""
        if self.transport is not None:
            self.transport.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._executor.shutdown(wait=True)


class ServerHandle:
    """A running server: `.address`, `.stats`, `.model`, `await .close()`."""

    def __init__(self, server: OffloadServer) -> None:
        self._server = server

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on (the real port when 0 was asked for)."""
        assert self._server.transport is not None
        name = self._server.transport.get_extra_info("sockname")
        return str(name[0]), int(name[1])

    @property
    def stats(self) -> ServerStats:
        """Live counters; call `.snapshot()` for a copy."""
        return self._server.stats

    @property
    def model(self) -> ServedModel:
        """The served model (spec, model id, batching state)."""
        return self._server.model

    @property
    def batch_max(self) -> int:
        """Effective batch size (1 when the model or the batching check rules batching out)."""
        return self._server.batch_max

    async def close(self) -> None:
        """Stop the server; counters stay readable."""
        await self._server.close()


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
) -> ServerHandle:
    """Load MODEL_DIR (unless `model` is given), bind host:port and serve until `close()`."""
    options = options or ServerOptions()
    if model is None:
        model = load_model(Path(model_dir), options)
    else:
        options.validate()
    server = OffloadServer(model, options)
    await server.start(host, port)
    return ServerHandle(server)
