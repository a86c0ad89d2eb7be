"""A UDP proxy that loses, duplicates and reorders datagrams, for testing offloading on loopback.

Clients send to :attr:`LossyProxy.address`; the proxy forwards to the upstream server from one
socket per client (so the server sees each client as its own peer) and forwards the server's
answers back. In both directions each datagram is dropped with probability `loss`; a survivor is
sent twice with probability `duplicate`, and each copy is held back for a random delay with
probability `reorder`, so that later datagrams overtake it. Decisions come from one seeded RNG,
in arrival order. Runs in a background thread: ``with LossyProxy(server_addr, loss=0.2) as proxy``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import selectors
import socket
import threading
import time
from dataclasses import asdict, dataclass
from types import TracebackType

RECV_SIZE = 65536


@dataclass
class DirectionStats:
    """Counts of one direction ("up": client -> server, "down": server -> client)."""

    received: int = 0
    forwarded: int = 0  # datagrams sent on, duplicates included
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0  # copies that were held back


class LossyProxy:
    """Lossy loopback UDP proxy in front of `upstream` (see the module docstring)."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        max_delay_ms: float = 20.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        max_clients: int = 256,
    ) -> None:
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if max_delay_ms <= 0:
            raise ValueError("max_delay_ms must be positive")
        self.upstream = upstream
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.max_delay_s = max_delay_ms / 1e3
        self.max_clients = max_clients
        self.up = DirectionStats()
        self.down = DirectionStats()
        self.refused_clients = 0
        self._rng = random.Random(seed)
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front.bind((host, port))
        self._front.setblocking(False)
        self._clients: dict[tuple[str, int], socket.socket] = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._front, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._held: list[tuple[float, int, socket.socket, bytes, tuple[str, int] | None]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="agilenn-lossy-proxy", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """Where clients send (host, port)."""
        host, port = self._front.getsockname()[:2]
        return str(host), int(port)

    def stats(self) -> dict[str, object]:
        """Counts per direction, JSON-ready."""
        with self._lock:
            return {
                "up": asdict(self.up),
                "down": asdict(self.down),
                "clients": len(self._clients),
                "refused_clients": self.refused_clients,
            }

    # ---- forwarding -------------------------------------------------------------------------
    def _forward(self, data: bytes, sock: socket.socket, dest: tuple[str, int] | None, stats: DirectionStats) -> None:
        """Apply loss, duplication and reordering to one datagram going out on `sock` (to `dest`)."""
        with self._lock:
            stats.received += 1
            if self._rng.random() < self.loss:
                stats.dropped += 1
                return
            copies = 1
            if self._rng.random() < self.duplicate:
                stats.duplicated += 1
                copies = 2
            now = time.monotonic()
            for _ in range(copies):
                if self._rng.random() < self.reorder:
                    stats.reordered += 1
                    due = now + self._rng.uniform(0.1, 1.0) * self.max_delay_s
                    heapq.heappush(self._held, (due, next(self._order), sock, data, dest))
                else:
                    self._send(sock, data, dest)
                stats.forwarded += 1

    @staticmethod
    def _send(sock: socket.socket, data: bytes, dest: tuple[str, int] | None) -> None:
        try:
            if dest is None:
                sock.send(data)
            else:
                sock.sendto(data, dest)
        except OSError:  # the far end went away; like a lost datagram
            pass

    def _client_socket(self, client: tuple[str, int]) -> socket.socket | None:
        sock = self._clients.get(client)
        if sock is None:
            if len(self._clients) >= self.max_clients:
                self.refused_clients += 1
                return None
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self._front.getsockname()[0], 0))
            sock.connect(self.upstream)
            sock.setblocking(False)
            self._clients[client] = sock
            self._selector.register(sock, selectors.EVENT_READ, client)
        return sock

    def _on_readable(self, key: selectors.SelectorKey) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        while True:
            try:
                if key.data is None:
                    data, client = sock.recvfrom(RECV_SIZE)
                else:
                    data, client = sock.recv(RECV_SIZE), key.data
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable from a vanished server or client
                return
            if key.data is None:
                upstream = self._client_socket(client)
                if upstream is not None:
                    self._forward(data, upstream, None, self.up)
            else:
                self._forward(data, self._front, client, self.down)

    def _release_due(self) -> float | None:
        """Send held datagrams that are due; returns seconds until the next one (None if none)."""
        with self._lock:
            now = time.monotonic()
            while self._held and self._held[0][0] <= now:
                _, _, sock, data, dest = heapq.heappop(self._held)
                self._send(sock, data, dest)
            return None if not self._held else max(0.0, self._held[0][0] - now)

    def _run(self) -> None:
        while not self._stopping:
            wait = self._release_due()
            for key, _ in self._selector.select(timeout=wait if wait is not None else 0.5):
                if key.data == "wake":
                    self._wake_r.recv(64)
                else:
                    self._on_readable(key)

    # ---- lifetime ---------------------------------------------------------------------------
    def start(self) -> LossyProxy:
        """Start forwarding in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every socket (held datagrams are discarded)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5.0)
        for sock in [self._front, self._wake_r, self._wake_w, *self._clients.values()]:
            sock.close()
        self._selector.close()

    def __enter__(self) -> LossyProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
