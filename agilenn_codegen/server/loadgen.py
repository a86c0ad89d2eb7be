"""A load generator for `agilenn serve`: many simulated devices, optional hostile traffic, loopback only.

Each simulated device is its own UDP socket (its own source address) that sends requests with real
payloads, its own sequence numbers and, when keys are given, its own device id and tags. Requests carry
the device timeout as their deadline. The generator runs in one thread over epoll and measures on the
client side, with the kernel's receive timestamps:

- *answered*: a valid reply arrived within the timeout (its latency);
- *busy*: a busy reply arrived (how soon; `busy_fast` within `busy_fast_s`);
- *late*: a reply arrived after the device had given up (a reply to an expired request);
- *unanswered*: nothing came in time.

Open loop (:meth:`LoadGenerator.run_open`): Poisson arrivals at a fixed total rate, spread evenly over
the devices, whatever the server answers; this is how overload is offered. Closed loop
(:meth:`LoadGenerator.run_closed`): each device sends its next request as soon as the previous one is
answered (or busy, or timed out), which measures the server's capacity. Hostile traffic
(:class:`Attack`) comes from one more socket at a fixed datagram rate. Every run is bounded in time and
stops by itself. Only loopback addresses (127.0.0.0/8, ::1) are accepted as targets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agilenn_codegen.offload import (
    KIND_BUSY,
    KIND_REPLY,
    KIND_REQUEST,
    ProtocolError,
    decode_frame,
    encode_frames,
    encode_single_frame,
)
from agilenn_codegen.server import timestamps

RECV_SIZE = 65536


def check_loopback(host: str) -> None:
    """Refuse any address outside 127.0.0.0/8 and ::1: load and attack traffic stays on this machine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r}: the load generator takes a literal loopback address") from None
    if not address.is_loopback:
        raise ValueError(f"{host}: the load generator only sends to loopback addresses (127.0.0.0/8, ::1)")


def _socket(bind_host: str) -> socket.socket:
    check_loopback(bind_host)
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((bind_host, 0))
    timestamps.enable(sock)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    return sock


@dataclass(frozen=True)
class Attack:
    """Hostile datagrams sent from one socket at `rate` per second: `make(i)` is the i-th datagram."""

    name: str
    rate: float
    make: Callable[[int], bytes]
    bind_host: str = "127.0.0.2"


@dataclass
class LoadResult:
    """What the devices saw; times in seconds, latencies in milliseconds."""

    mode: str
    duration_s: float
    devices: int
    sent: int = 0
    datagrams: int = 0
    answered: int = 0
    busy: int = 0
    busy_fast: int = 0
    late: int = 0
    late_busy: int = 0
    unanswered: int = 0
    invalid: int = 0
    attack_datagrams: int = 0
    attack_replies: int = 0
    send_lag_ms_max: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    busy_ms: list[float] = field(default_factory=list, repr=False)
    per_device_answered: list[int] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, object]:
        """JSON-ready figures."""
        lat = np.asarray(self.latencies_ms, np.float64)
        busy = np.asarray(self.busy_ms, np.float64)
        done = max(1, self.sent)
        return {
            "mode": self.mode,
            "duration_s": round(self.duration_s, 3),
            "devices": self.devices,
            "requests": self.sent,
            "datagrams": self.datagrams,
            "offered_per_s": self.sent / self.duration_s if self.duration_s else 0.0,
            "answered": self.answered,
            "answered_per_s": self.answered / self.duration_s if self.duration_s else 0.0,
            "busy": self.busy,
            "busy_within_limit": self.busy_fast,
            "late_replies": self.late,
            "late_busy": self.late_busy,
            "unanswered": self.unanswered,
            "invalid_replies": self.invalid,
            "answered_or_fast_busy_fraction": (self.answered + self.busy_fast) / done,
            "answered_fraction": self.answered / done,
            "latency_ms": {
                "p50": float(np.percentile(lat, 50)) if lat.size else None,
                "p95": float(np.percentile(lat, 95)) if lat.size else None,
                "p99": float(np.percentile(lat, 99)) if lat.size else None,
                "max": float(lat.max()) if lat.size else None,
            },
            "busy_ms": {
                "p50": float(np.percentile(busy, 50)) if busy.size else None,
                "p95": float(np.percentile(busy, 95)) if busy.size else None,
                "max": float(busy.max()) if busy.size else None,
            },
            "attack_datagrams": self.attack_datagrams,
            "attack_replies": self.attack_replies,
            "send_lag_ms_max": round(self.send_lag_ms_max, 3),
        }


class _Device:
    def __init__(self, index: int, sock: socket.socket, device_id: int, key: bytes | None, max_fragment: int) -> None:
        self.index = index
        self.sock = sock
        self.device_id = device_id
        self.key = key
        self.max_fragment = max_fragment
        self.seq = 0
        self.outstanding: dict[int, float] = {}  # seq -> send time (wall clock)
        self.gave_up: dict[int, float] = {}  # seq -> send time, for replies that come too late
        self.answered = 0


class LoadGenerator:
    """Simulated devices against one server address (see the module's docstring)."""

    def __init__(
        self,
        server: tuple[str, int],
        model_id: int,
        payloads: Sequence[bytes],
        devices: int,
        *,
        timeout_s: float = 0.5,
        busy_fast_s: float = 0.05,
        max_fragment: int | Sequence[int] = 1428,
        keys: dict[int, bytes] | None = None,
        bind_host: str = "127.0.0.1",
    ) -> None:
        check_loopback(server[0])
        if not payloads or devices < 1 or timeout_s <= 0:
            raise ValueError("payloads, devices and the timeout must be non-empty / positive")
        self.server = server
        self.model_id = model_id
        self.payloads = list(payloads)
        self.timeout_s = timeout_s
        self.deadline_ms = min(0xFFFF, round(timeout_s * 1000))
        self.busy_fast_s = busy_fast_s
        sizes = [max_fragment] * devices if isinstance(max_fragment, int) else list(max_fragment)
        ids = sorted(keys)[:devices] if keys else [0] * devices
        if keys is not None and len(ids) < devices:
            raise ValueError(f"{devices} devices but only {len(ids)} keys")
        self.devices = [
            _Device(i, _socket(bind_host), ids[i], keys[ids[i]] if keys else None, sizes[i % len(sizes)])
            for i in range(devices)
        ]
        self._by_fd = {d.sock.fileno(): d for d in self.devices}
        self._payload_index = 0

    def close(self) -> None:
        """Close every socket."""
        for device in self.devices:
            device.sock.close()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one request ----------------------------------------------------------------------
    def _send(self, device: _Device, result: LoadResult) -> None:
        device.seq = (device.seq + 1) & 0xFFFFFFFF
        payload = self.payloads[self._payload_index % len(self.payloads)]
        self._payload_index += 1
        if len(payload) <= device.max_fragment:
            frames = [
                encode_single_frame(
                    KIND_REQUEST,
                    self.model_id,
                    device.seq,
                    payload,
                    device_id=device.device_id,
                    deadline_ms=self.deadline_ms,
                    key=device.key,
                )
            ]
        else:
            frames = encode_frames(
                KIND_REQUEST,
                self.model_id,
                device.seq,
                payload,
                device.max_fragment,
                device_id=device.device_id,
                deadline_ms=self.deadline_ms,
                key=device.key,
            )
        sent_at = time.time()
        try:
            for frame in frames:
                device.sock.sendto(frame, self.server)
        except OSError:
            pass  # a full socket buffer or an ICMP error: the request counts, unanswered
        device.outstanding[device.seq] = sent_at
        result.sent += 1
        result.datagrams += len(frames)

    def _drain(self, device: _Device, result: LoadResult) -> list[_Device]:
        """Read every datagram waiting on a device's socket; returns [device] if a request of it finished."""
        finished = False
        while True:
            try:
                data, ancillary, _, _ = device.sock.recvmsg(RECV_SIZE, timestamps.ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            at = timestamps.wall_time(ancillary) or time.time()
            try:
                frame = decode_frame(data, max_fragment=0xFFFF, max_total=1 << 20)
            except ProtocolError:
                result.invalid += 1
                continue
            if frame.kind not in (KIND_REPLY, KIND_BUSY) or frame.frag_count != 1:
                result.invalid += 1
                continue
            sent_at = device.outstanding.pop(frame.seq, None)
            if sent_at is None:
                if device.gave_up.pop(frame.seq, None) is not None:
                    if frame.kind == KIND_REPLY:
                        result.late += 1
                    else:
                        result.late_busy += 1
                else:
                    result.invalid += 1
                continue
            elapsed = at - sent_at
            if elapsed > self.timeout_s:  # arrived after the device gave up
                if frame.kind == KIND_REPLY:
                    result.late += 1
                else:
                    result.late_busy += 1
                result.unanswered += 1
            elif frame.kind == KIND_REPLY:
                result.answered += 1
                device.answered += 1
                result.latencies_ms.append(elapsed * 1e3)
            else:
                result.busy += 1
                result.busy_ms.append(elapsed * 1e3)
                if elapsed <= self.busy_fast_s:
                    result.busy_fast += 1
            finished = True
        return [device] if finished else []

    def _sweep(self, now: float, result: LoadResult) -> list[_Device]:
        """Give up on requests older than the timeout; forget given-up ones after a grace period."""
        out = []
        for device in self.devices:
            for seq in [s for s, t in device.outstanding.items() if now - t > self.timeout_s]:
                device.gave_up[seq] = device.outstanding.pop(seq)
                result.unanswered += 1
                out.append(device)
            for seq in [s for s, t in device.gave_up.items() if now - t > self.timeout_s + 5.0]:
                del device.gave_up[seq]
        return out

    # ---- runs -----------------------------------------------------------------------------
    def run_open(
        self, rate: float, duration_s: float, *, seed: int = 0, attacks: Sequence[Attack] = (), drain_s: float = 1.0
    ) -> LoadResult:
        """Poisson arrivals at `rate` requests/s in all for `duration_s`, then `drain_s` to catch late replies."""
        return self._run("open", duration_s, rate=rate, seed=seed, attacks=attacks, drain_s=drain_s)

    def run_closed(self, duration_s: float, *, attacks: Sequence[Attack] = (), drain_s: float = 1.0) -> LoadResult:
        """Each device keeps one request outstanding for `duration_s`: the rate is what the server sustains."""
        return self._run("closed", duration_s, rate=0.0, seed=0, attacks=attacks, drain_s=drain_s)

    def _run(
        self, mode: str, duration_s: float, *, rate: float, seed: int, attacks: Sequence[Attack], drain_s: float
    ) -> LoadResult:
        for attack in attacks:
            if attack.rate <= 0:
                raise ValueError(f"attack {attack.name}: rate must be positive")
        result = LoadResult(mode, duration_s, len(self.devices))
        rng = np.random.default_rng(seed)
        hostile = [(attack, _socket(attack.bind_host)) for attack in attacks]
        poller = select.epoll()
        try:
            for device in self.devices:
                poller.register(device.sock.fileno(), select.EPOLLIN)
            for _, sock in hostile:
                poller.register(sock.fileno(), select.EPOLLIN)
            hostile_fds = {sock.fileno(): sock for _, sock in hostile}
            start = time.monotonic()
            end = start + duration_s
            next_send = start + (rng.exponential(1.0 / rate) if mode == "open" else 0.0)
            attack_next = [start for _ in hostile]
            attack_count = [0 for _ in hostile]
            ready: list[_Device] = list(self.devices) if mode == "closed" else []
            next_sweep = start + 0.05
            while True:
                now = time.monotonic()
                sending = now < end
                if not sending and now >= end + drain_s:
                    break
                wake = [end + drain_s, next_sweep]
                if sending and mode == "open":
                    wake.append(next_send)
                if sending:
                    wake += attack_next
                if sending and ready:
                    wake.append(now)
                for fd, _ in poller.poll(max(0.0, min(wake) - now)):
                    if fd in hostile_fds:
                        with contextlib.suppress(OSError):
                            while True:
                                hostile_fds[fd].recv(RECV_SIZE)
                                result.attack_replies += 1
                        continue
                    device = self._by_fd[fd]
                    finished = self._drain(device, result)
                    if mode == "closed" and sending:
                        ready += finished
                now = time.monotonic()
                if sending and mode == "open":
                    while next_send <= now and next_send < end:
                        self._send(self.devices[int(rng.integers(len(self.devices)))], result)
                        result.send_lag_ms_max = max(result.send_lag_ms_max, (now - next_send) * 1e3)
                        next_send += rng.exponential(1.0 / rate)
                elif sending:
                    for device in ready:
                        if not device.outstanding:
                            self._send(device, result)
                    ready = []
                if sending:
                    for i, (attack, sock) in enumerate(hostile):
                        while attack_next[i] <= now:
                            with contextlib.suppress(OSError):
                                sock.sendto(attack.make(attack_count[i]), self.server)
                            attack_count[i] += 1
                            result.attack_datagrams += 1
                            attack_next[i] += 1.0 / attack.rate
                if now >= next_sweep:
                    gave_up = self._sweep(time.time(), result)
                    if mode == "closed" and sending:
                        ready += gave_up
                    next_sweep = now + 0.05
            self._sweep(time.time() + 3600.0, result)  # whatever is still outstanding was never answered
        finally:
            poller.close()
            for _, sock in hostile:
                sock.close()
        result.per_device_answered = [d.answered for d in self.devices]
        for device in self.devices:
            device.outstanding.clear()
            device.gave_up.clear()
        return result
