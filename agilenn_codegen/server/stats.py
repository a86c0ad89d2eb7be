"""Server counters: requests, replies, busy replies, drops by reason, reassembly, queue, batches, latency.

Updates come from the event loop and the inference thread; :meth:`ServerStats.snapshot` returns a plain,
JSON-ready dict that any thread may read (it copies under a lock). :func:`merge_snapshots` adds up the
snapshots of several worker processes (`agilenn serve --workers N`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
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
        self.queue: dict[str, float] = {"requests": 0, "bytes": 0, "sources": 0, "cost_ms": 0.0}
        self.drops: Counter[str] = Counter()
        self.busy: Counter[str] = Counter()
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
        """A request's payload is complete (reassembled), before it is decoded or queued."""
        with self._lock:
            self.requests += 1

    def count_busy(self, reason: str) -> None:
        """A busy reply was sent ("overloaded": on arrival, "late": when taken from the queue)."""
        with self._lock:
            self.busy[reason] += 1

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

    def set_reassembly(self, pending: int, expired: int, evicted: int) -> None:
        """The pending gauge and the totals of partial requests expired and evicted so far."""
        with self._lock:
            self.reassembly_pending = pending
            self.reassembly_expired = expired
            self.reassembly_evicted = evicted

    def set_queue(self, requests: int, nbytes: int, sources: int, cost_s: float) -> None:
        """Gauges of the request queue: requests and bytes held, sources with requests, the estimated
        inference time per request."""
        with self._lock:
            self.queue = {"requests": requests, "bytes": nbytes, "sources": sources, "cost_ms": cost_s * 1e3}

    def snapshot(self, *, samples: bool = False) -> dict[str, Any]:
        """A consistent copy of every counter, latencies in milliseconds. Partial requests dropped by the
        reassembler are listed under drops too (`partial_expired`, `partial_evicted`). With `samples`, also
        the raw latency window (`_latency_samples_ms`, for :func:`merge_snapshots`)."""
        with self._lock:
            lat = np.asarray(self._latency, dtype=np.float64) * 1e3
            latency: dict[str, Any] = {
                "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
                "p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
                "max_ms": self._latency_max * 1e3 if lat.size else None,
                "window": int(lat.size),
            }
            drops = Counter(self.drops)
            if self.reassembly_expired:
                drops["partial_expired"] = self.reassembly_expired
            if self.reassembly_evicted:
                drops["partial_evicted"] = self.reassembly_evicted
            out = {
                "uptime_s": round(time.monotonic() - self.started, 3),
                "datagrams": self.datagrams,
                "requests": self.requests,
                "replies": self.replies,
                "busy": int(sum(self.busy.values())),
                "busy_reasons": dict(sorted(self.busy.items())),
                "dropped": int(sum(drops.values())),
                "drops": dict(sorted(drops.items())),
                "reassembly": {
                    "pending": self.reassembly_pending,
                    "expired": self.reassembly_expired,
                    "evicted": self.reassembly_evicted,
                },
                "queue": dict(self.queue),
                "batches": {
                    "count": self.batches,
                    "mean_size": (self.batched_requests / self.batches) if self.batches else None,
                },
                "latency": latency,
            }
            if samples:
                out["_latency_samples_ms"] = lat.tolist()
            return out


def merge_snapshots(snapshots: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One snapshot of several workers: counters and gauges added up, latency percentiles over all samples."""
    if not snapshots:
        raise ValueError("no snapshots to merge")
    out: dict[str, Any] = {
        "uptime_s": max(s["uptime_s"] for s in snapshots),
        "workers": len(snapshots),
    }
    for key in ("datagrams", "requests", "replies", "busy", "dropped"):
        out[key] = sum(int(s[key]) for s in snapshots)
    for key in ("busy_reasons", "drops"):
        total: Counter[str] = Counter()
        for s in snapshots:
            total.update(s[key])
        out[key] = dict(sorted(total.items()))
    out["reassembly"] = {k: sum(s["reassembly"][k] for s in snapshots) for k in ("pending", "expired", "evicted")}
    out["queue"] = {k: sum(s["queue"][k] for s in snapshots) for k in ("requests", "bytes", "sources")}
    out["queue"]["cost_ms"] = max(s["queue"]["cost_ms"] for s in snapshots)
    count = sum(s["batches"]["count"] for s in snapshots)
    size = sum(s["batches"]["count"] * (s["batches"]["mean_size"] or 0) for s in snapshots)
    out["batches"] = {"count": count, "mean_size": size / count if count else None}
    samples = np.asarray([v for s in snapshots for v in s.get("_latency_samples_ms", [])], np.float64)
    maxima = [s["latency"]["max_ms"] for s in snapshots if s["latency"]["max_ms"] is not None]
    out["latency"] = {
        "p50_ms": float(np.percentile(samples, 50)) if samples.size else None,
        "p95_ms": float(np.percentile(samples, 95)) if samples.size else None,
        "max_ms": max(maxima) if maxima else None,
        "window": int(samples.size),
    }
    out["per_worker"] = [
        {"requests": s["requests"], "replies": s["replies"], "busy": s["busy"], "dropped": s["dropped"]}
        for s in snapshots
    ]
    return out
