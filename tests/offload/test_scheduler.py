"""The server's request queue (agilenn_codegen/server/scheduler.py) without threads or sockets: round-robin
fairness between sources, admission against deadlines and the longest wait, bounds in requests, bytes and per
source with eviction of the oldest, late and expired requests, and the inference-time estimate."""

from __future__ import annotations

import threading

import pytest

from agilenn_codegen.server.decoder import Request
from agilenn_codegen.server.scheduler import FairScheduler


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _request(source: str, seq: int, deadline: float = float("inf")) -> Request:
    return Request(("127.0.0.1", 1), seq, b"", 0.0, deadline=deadline, source=source)


def _scheduler(**kwargs: object) -> tuple[FairScheduler, Clock]:
    clock = Clock()
    options = {"initial_cost_s": 0.01, "max_wait_s": 10.0} | kwargs
    return FairScheduler(clock=clock, **options), clock  # type: ignore[arg-type]


def test_sources_are_served_round_robin():
    scheduler, _ = _scheduler()
    for seq in range(10):
        scheduler.push(_request("flood", seq), 100)
    scheduler.push(_request("a", 100), 100)
    scheduler.push(_request("b", 200), 100)
    order = [r.source for r in scheduler.take(4).run]
    assert order == ["flood", "a", "b", "flood"]  # one turn each: the flood does not go first ten times
    assert [r.seq for r in scheduler.take(100).run] == list(range(2, 10))
    assert scheduler.queued == 0 and scheduler.queued_bytes == 0 and scheduler.sources == 0


def test_admission_answers_busy_when_the_deadline_or_the_longest_wait_would_be_missed():
    scheduler, clock = _scheduler(initial_cost_s=0.01, max_wait_s=0.1)
    assert scheduler.admit(_request("a", 1, deadline=1.0), 0.0) is None
    for seq in range(5):
        scheduler.push(_request("a", seq), 10)
    assert scheduler.estimate_wait("b") == pytest.approx(0.05)  # five requests ahead
    assert scheduler.admit(_request("b", 1, deadline=0.07), 0.0) is None  # 0.05 wait + 0.01 run < 0.07
    assert scheduler.admit(_request("b", 1, deadline=0.055), 0.0) == pytest.approx(0.05)  # would finish too late
    for seq in range(5, 10):
        scheduler.push(_request("a", seq), 10)
    assert scheduler.admit(_request("c", 1, deadline=100.0), 0.0) == pytest.approx(0.1)  # 0.1 + 0.01 > max wait 0.1
    # a source with a backlog of its own waits behind it, round after round
    scheduler2, _ = _scheduler(initial_cost_s=0.01)
    for source in "abcd":
        scheduler2.push(_request(source, 0), 1)
    for seq in range(1, 4):
        scheduler2.push(_request("a", seq), 1)
    assert scheduler2.estimate_wait("a") == pytest.approx(4 * 4 * 0.01)  # 4 of its own, 4 sources each round
    assert scheduler2.estimate_wait("e") == pytest.approx(7 * 0.01)  # a new source: only the queue ahead
    assert clock.now == 0.0


def test_a_source_at_its_cap_evicts_its_own_oldest_and_global_caps_the_longest_queue():
    scheduler, _ = _scheduler(max_requests=6, max_per_source=3, max_bytes=1000)
    evicted = [e.seq for seq in range(5) for e in scheduler.push(_request("a", seq), 10)]
    assert evicted == [0, 1] and scheduler.queued_of("a") == 3
    for seq in range(3):
        assert scheduler.push(_request("b", 10 + seq), 10) == []
    # the global cap (6): the longest queue (a, 3 and b, 3: the first found) gives its oldest
    assert [e.seq for e in scheduler.push(_request("c", 20), 10)] == [2]
    assert scheduler.queued == 6 and scheduler.queued_of("c") == 1
    # bytes: a request that needs room evicts until it fits
    assert [e.seq for e in scheduler.push(_request("d", 30), 980)] != []
    assert scheduler.queued_bytes <= 1000 and scheduler.queued_of("d") == 1


def test_take_drops_expired_and_hands_back_late_requests():
    scheduler, clock = _scheduler(initial_cost_s=0.05)
    scheduler.push(_request("a", 1, deadline=1.0), 1)  # expired by then
    scheduler.push(_request("b", 2, deadline=2.03), 1)  # 0.03 left: less than one inference (0.05)
    scheduler.push(_request("c", 3, deadline=5.0), 1)
    clock.now = 2.0
    batch = scheduler.take(8)
    assert [r.seq for r in batch.expired] == [1] and [r.seq for r in batch.late] == [2]
    assert [r.seq for r in batch.run] == [3]


def test_the_cost_estimate_follows_the_measured_batches():
    scheduler, _ = _scheduler(initial_cost_s=0.01)
    for _ in range(40):
        scheduler.done(8, 8 * 0.002)
    assert scheduler.cost_s == pytest.approx(0.002, rel=0.01)
    scheduler.done(0, 0.0)  # an empty batch says nothing
    assert scheduler.cost_s == pytest.approx(0.002, rel=0.01)


def test_take_waits_for_work_fills_a_batch_and_close_wakes_it():
    scheduler = FairScheduler(initial_cost_s=0.001)
    got: list[int] = []

    def worker() -> None:
        batch = scheduler.take(3, wait_s=0.5, timeout_s=5.0)
        got.extend(r.seq for r in batch.run)

    thread = threading.Thread(target=worker)
    thread.start()
    for seq in range(3):
        scheduler.push(_request(f"s{seq}", seq), 1)
    thread.join(5.0)
    assert sorted(got) == [0, 1, 2]
    thread = threading.Thread(target=lambda: got.append(len(scheduler.take(1, timeout_s=30.0).run)))
    thread.start()
    scheduler.close()
    thread.join(5.0)
    assert not thread.is_alive() and got[-1] == 0


def test_bad_caps_are_refused():
    with pytest.raises(ValueError):
        FairScheduler(max_requests=0)
    with pytest.raises(ValueError):
        FairScheduler(max_wait_s=0)
