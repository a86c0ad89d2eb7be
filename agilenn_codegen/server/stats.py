"""Server counters: requests, replies, drops by reason, reassembly, batches and reply latency.

All updates happen on the server's event loop; :meth:`ServerStats.snapshot` returns a plain,
JSON-ready dict that other threads may read (it copies under a lock).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np

LATENCY_WINDOW = 4096  # p50/p95 are over the most recent replies; max is over all of them


class ServerStats:
    """Mutable counters of one server; see docs/server.md for the meaning of each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.datagrams = 0
        self.requests = 0
        self.replies = 0
        self.batches = 0
        self.batched_requests = 0
        self.reassembly_pending = 0
        self.reassembly_expired = 0
        self.reassembly_evicted = 0
        self.drops: Counter[str] = Counter()
        self._latency: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._latency_max = 0.0

    def count_datagram(self) -> None:
        """One datagram arrived (before any check)."""
        with self._lock:
            self.datagrams += 1

    def drop(self, reason: str, count: int = 1) -> None:
        """A datagram or a request was dropped for `reason` (a short counter key)."""
        with self._lock:
            self.drops[reason] += count

    def count_request(self) -> None:
        """A request's payload is complete (reassembled) and queued for decoding."""
        with self._lock:
            self.requests += 1

    def count_batch(self, size: int) -> None:
        """One onnxruntime batch of `size` requests ran."""
        with self._lock:
            self.batches += 1
            self.batched_requests += size

    def count_reply(self, latency_s: float) -> None:
        """A reply was sent, `latency_s` after its request was complete."""
        with self._lock:
            self.replies += 1
            self._latency.append(latency_s)
            self._latency_max = max(self._latency_max, latency_s)

    def set_reassembly(self, pending: int, expired: int = 0, evicted: int | None = None) -> None:
        """Update the pending gauge, add `expired` timeouts, set the total of evicted echo sequences."""
        with self._lock:
            self.reassembly_pending = pending
            self.reassembly_expired += expired
            if evicted is not None:
                self.reassembly_evicted = evicted

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter, latencies in milliseconds."""
        with self._lock:
            lat = np.asarray(self._latency, dtype=np.float64) * 1e3
            latency: dict[str, float | None] = {
                "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
                "p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
                "max_ms": self._latency_max * 1e3 if lat.size else None,
                "window": int(lat.size),
            }
            return {
                "uptime_s": round(time.monotonic() - self.started, 3),
                "datagrams": self.datagrams,
                "requests": self.requests,
                "replies": self.replies,
                "dropped": int(sum(self.drops.values())),
                "drops": dict(sorted(self.drops.items())),
                "reassembly": {
                    "pending": self.reassembly_pending,
                    "expired": self.reassembly_expired,
                    "evicted": self.reassembly_evicted,
                },
                "batches": {
                    "count": self.batches,
                    "mean_size": (self.batched_requests / self.batches) if self.batches else None,
                },
                "latency": latency,
            }
