"""The WiFi module of the emulated device: a bridge between a serial byte stream and UDP.

qemu connects the emulated board's UART to a TCP socket (``-serial tcp:127.0.0.1:PORT``); the
bridge listens on that port, cuts the stream into frames (docs/offload-protocol.md, section 3: the
magic ``AGNN``, the 36-byte header, the fragment length in bytes 26..27, and the 8-byte tag when the
flags in byte 6 say so) and sends each frame as one
UDP datagram to the server (or to a LossyProxy in front of it). Every datagram that comes back is
written to the stream as it is; the firmware cuts it out the same way.

``with UartBridge(server_address) as bridge:`` listens on ``bridge.address``; start qemu after
entering the block. ``bridge.frames`` holds every frame forwarded upstream, ``bridge.stats`` the
counters. One serial connection at a time; a new one replaces the old one.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from dataclasses import asdict, dataclass
from types import TracebackType

from agilenn_codegen.offload import FLAG_MAC, HEADER_SIZE, MAC_SIZE

MAGIC = b"AGNN"
FLAGS_OFFSET = 6
LENGTH_OFFSET = 26
RECV_SIZE = 65536
POLL_S = 0.05


@dataclass
class BridgeStats:
    frames_up: int = 0  # serial -> UDP
    bytes_up: int = 0
    frames_down: int = 0  # UDP -> serial
    bytes_down: int = 0
    resyncs: int = 0  # stream bytes skipped while looking for the magic
    connections: int = 0
    send_errors: int = 0  # UDP sends that failed (nothing listening, ...)

    def to_json(self) -> dict:
        return asdict(self)


class FrameSplitter:
    """Cuts a byte stream into frames: resyncs on the magic, then header + fragment length."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.resyncs = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        buf = self._buffer
        while True:
            start = buf.find(MAGIC)
            if start < 0:
                # keep a tail that may be the start of a magic split across reads
                keep = next((k for k in (3, 2, 1) if buf.endswith(MAGIC[:k])), 0)
                self.resyncs += len(buf) - keep
                del buf[: len(buf) - keep]
                return frames
            if start > 0:
                self.resyncs += start
                del buf[:start]
            if len(buf) < HEADER_SIZE:
                return frames
            (length,) = struct.unpack_from("<H", buf, LENGTH_OFFSET)
            if buf[FLAGS_OFFSET] & FLAG_MAC:
                length += MAC_SIZE
            if len(buf) < HEADER_SIZE + length:
                return frames
            frames.append(bytes(buf[: HEADER_SIZE + length]))
            del buf[: HEADER_SIZE + length]


class UartBridge:
    """TCP (qemu's serial port) <-> UDP (the server) bridge in a background thread."""

    def __init__(
        self, upstream: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0, line_noise: bytes = b""
    ) -> None:
        """`line_noise` (for tests) is written to the serial stream before every reply: bytes the
        device must skip, as a noisy line or a chatty WiFi module would send."""
        self.line_noise = line_noise
        self.upstream = (socket.gethostbyname(upstream[0]), int(upstream[1]))
        self.stats = BridgeStats()
        self.frames: list[bytes] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(1)
        self._listener.setblocking(False)
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((host, 0))
        self._udp.setblocking(False)
        self._conn: socket.socket | None = None
        self._splitter = FrameSplitter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agilenn-uart-bridge", daemon=True)
        self._error: BaseException | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where qemu's serial port connects: ``-serial tcp:HOST:PORT``."""
        host, port = self._listener.getsockname()[:2]
        return host, port

    def serial_option(self) -> list[str]:
        """The qemu arguments that connect the board's first UART to this bridge."""
        host, port = self.address
        return ["-serial", f"tcp:{host}:{port},nodelay=on"]

    def start(self) -> UartBridge:
        self._thread.start()
        return self

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        for sock in (self._conn, self._listener, self._udp):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        if self._error is not None:
            raise RuntimeError(f"the UART bridge failed: {self._error!r}") from self._error

    def __enter__(self) -> UartBridge:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.stop()
        else:  # do not hide the caller's exception behind the bridge's
            with contextlib.suppress(RuntimeError):
                self.stop()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._listener, selectors.EVENT_READ, "accept")
            sel.register(self._udp, selectors.EVENT_READ, "udp")
            while not self._stop.is_set():
                for key, _ in sel.select(POLL_S):
                    if key.data == "accept":
                        self._accept(sel)
                    elif key.data == "udp":
                        self._downstream()
                    elif key.data == "serial":
                        self._upstream(sel)
        except BaseException as exc:  # reported by stop()
            self._error = exc
        finally:
            sel.close()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._conn is not None:
            sel.unregister(self._conn)
            self._conn.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(True)
        conn.settimeout(5.0)
        self._conn = conn
        self._splitter = FrameSplitter()
        self.stats.connections += 1
        sel.register(conn, selectors.EVENT_READ, "serial")
        self._connected.set()

    def _upstream(self, sel: selectors.BaseSelector) -> None:
        assert self._conn is not None
        try:
            data = self._conn.recv(RECV_SIZE)
        except OSError:
            data = b""
        if not data:  # qemu closed the serial port (it exited)
            sel.unregister(self._conn)
            self._conn.close()
            self._conn = None
            return
        before = self._splitter.resyncs
        for frame in self._splitter.feed(data):
            with self._lock:
                self.frames.append(frame)
                self.stats.frames_up += 1
                self.stats.bytes_up += len(frame)
            try:
                self._udp.sendto(frame, self.upstream)
            except OSError:
                self.stats.send_errors += 1
        self.stats.resyncs += self._splitter.resyncs - before

    def _downstream(self) -> None:
        while True:
            try:
                data, source = self._udp.recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP error for an earlier datagram
                return
            if source[:2] != self.upstream or self._conn is None:
                continue
            try:
                self._conn.sendall(self.line_noise + data)
            except OSError:
                continue
            self.stats.frames_down += 1
            self.stats.bytes_down += len(data)
