"""The request queue between the event loop and the inference thread: bounded, fair, deadline-aware.

- **Bounded** in requests (`max_requests`), in bytes (`max_bytes`, the decoded symbols each request holds)
  and per source (`max_per_source`). A new request never gets refused for lack of room: its source's
  oldest queued request is evicted when that source is at its cap, and the oldest request of the source
  with the longest queue when a global cap is reached. Eviction sends nothing: the device has moved on.
- **Fair**: one queue per source, served round-robin (one request per source per turn), so a source that
  floods gets one turn in each round like any other.
- **Deadline-aware**: :meth:`admit` estimates when a new request would finish, from the requests ahead of
  it (the whole queue, or its rounds behind its own source's backlog, whichever is more) and the measured
  inference time per request (an exponential average the inference thread keeps up to date). A request
  that would finish after its deadline, or later than `max_wait_s` from now (a short queue is all the
  inference thread needs to stay busy, and it keeps the answers that are given fast), is not queued:
  the server answers it with a busy reply at once.
  :meth:`take` drops queued requests whose deadline has passed (never answered) and hands back those
  whose deadline is too close for an inference as *late* (answered with a busy reply).

Thread-safe: the event loop calls :meth:`admit` and :meth:`push`, the inference thread :meth:`take` and
:meth:`done`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from agilenn_codegen.server.decoder import Request

COST_SMOOTHING = 0.2  # weight of the newest batch in the average inference time per request


@dataclass
class Batch:
    """What the inference thread takes: requests to run, late ones (busy reply) and expired ones (dropped)."""

    run: list[Request] = field(default_factory=list)
    late: list[Request] = field(default_factory=list)
    expired: list[Request] = field(default_factory=list)


class FairScheduler:
    """Per-source FIFO queues served round-robin, with admission against each request's deadline."""

    def __init__(
        self,
        *,
        max_requests: int = 1024,
        max_bytes: int = 64 << 20,
        max_per_source: int = 16,
        max_wait_s: float = 0.1,
        initial_cost_s: float = 0.002,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests < 1 or max_bytes < 1 or max_per_source < 1 or initial_cost_s <= 0 or max_wait_s <= 0:
            raise ValueError("queue caps, the longest wait and the initial cost must be positive")
        self.max_wait_s = max_wait_s
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_per_source = max_per_source
        self.cost_s = initial_cost_s
        self._clock = clock
        self._cond = threading.Condition()
        self._queues: dict[Hashable, deque[tuple[Request, int]]] = {}
        self._ring: deque[Hashable] = deque()  # sources with queued requests, in serving order
        self._count = 0
        self._bytes = 0
        self._in_flight = 0
        self._closed = False

    # ---- gauges ---------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """Requests waiting now."""
        return self._count

    @property
    def queued_bytes(self) -> int:
        """Bytes the waiting requests hold."""
        return self._bytes

    @property
    def sources(self) -> int:
        """Sources with waiting requests."""
        return len(self._ring)

    def queued_of(self, source: Hashable) -> int:
        """Requests of one source waiting now."""
        queue = self._queues.get(source)
        return len(queue) if queue else 0

    # ---- event-loop side ------------------------------------------------------------------
    def estimate_wait(self, source: Hashable) -> float:
        """Seconds until a new request of `source` would start: the requests ahead of it (the whole queue, or
        the rounds behind its source's own backlog if that is more) and the batch running now."""
        own = self.queued_of(source)
        active = len(self._ring) + (0 if own else 1)
        ahead = max(self._count, own * active) + self._in_flight
        return ahead * self.cost_s

    def admit(self, request: Request, now: float) -> float | None:
        """None when `request` can be answered before its deadline and within `max_wait_s` (queue and inference);
        else the estimated wait in seconds (the busy reply's retry-after)."""
        wait = self.estimate_wait(request.source)
        if wait + self.cost_s > self.max_wait_s or now + wait + self.cost_s > request.deadline:
            return wait
        return None

    def push(self, request: Request, nbytes: int) -> list[Request]:
        """Queue `request` (holding `nbytes`); returns the requests evicted to make room."""
        evicted: list[Request] = []
        with self._cond:
            queue = self._queues.get(request.source)
            if queue is not None and len(queue) >= self.max_per_source:
                evicted.append(self._pop(request.source))
            while self._count and (self._count >= self.max_requests or self._bytes + nbytes > self.max_bytes):
                longest = max(self._ring, key=lambda s: len(self._queues[s]))
                evicted.append(self._pop(longest))
            queue = self._queues.get(request.source)
            if queue is None:
                queue = self._queues[request.source] = deque()
                self._ring.append(request.source)
            queue.append((request, nbytes))
            self._count += 1
            self._bytes += nbytes
            self._cond.notify()
        return evicted

    def _pop(self, source: Hashable) -> Request:
        """Remove the oldest request of `source` (lock held)."""
        queue = self._queues[source]
        request, nbytes = queue.popleft()
        self._count -= 1
        self._bytes -= nbytes
        if not queue:
            del self._queues[source]
            self._ring.remove(source)
        return request

    # ---- inference-thread side -------------------------------------------------------------
    def take(self, max_batch: int, wait_s: float = 0.0, timeout_s: float | None = None) -> Batch:
        """Up to `max_batch` requests, one per source per turn. Blocks until one is queued (at most
        `timeout_s`), then waits up to `wait_s` for the batch to fill. Sets the in-flight count."""
        batch = Batch()
        with self._cond:
            if not self._count and not self._closed:
                self._cond.wait(timeout_s)
            fill_until = self._clock() + wait_s
            while not self._closed:
                self._collect(batch, max_batch)
                left = fill_until - self._clock()
                if len(batch.run) >= max_batch or left <= 0:
                    break
                self._cond.wait(left)
            self._in_flight = len(batch.run)
        return batch

    def _collect(self, batch: Batch, max_batch: int) -> None:
        """Round-robin picks into `batch` until it is full or the queue is empty (lock held)."""
        now = self._clock()
        while self._ring and len(batch.run) < max_batch:
            source = self._ring[0]
            request = self._pop(source)
            if source in self._queues:  # still has requests: to the back of the ring
                self._ring.rotate(-1)
            if now >= request.deadline:
                batch.expired.append(request)
            elif now + self.cost_s > request.deadline:
                batch.late.append(request)
            else:
                batch.run.append(request)

    def done(self, count: int, seconds: float) -> None:
        """The batch taken last ran `count` requests in `seconds` (wall time, replies included)."""
        with self._cond:
            self._in_flight = 0
            if count > 0 and seconds > 0:
                self.cost_s += COST_SMOOTHING * (seconds / count - self.cost_s)

    def close(self) -> None:
        """Wake the inference thread for good (it then takes empty batches)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
