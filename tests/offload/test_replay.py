"""The per-device replay windows (agilenn_codegen/offload/replay.py) against a plain model: the highest sequence
number and the set of those accepted, compared modulo 2^32."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agilenn_codegen.offload import ReplayWindows

MASK = 0xFFFFFFFF


class Model:
    """What the window must decide, from the whole history (not a bitmap)."""

    def __init__(self, size: int, strict: bool) -> None:
        self.size, self.strict = size, strict
        self.highest: int | None = None
        self.seen: set[int] = set()

    def new(self, seq: int) -> bool:
        if self.highest is None:
            return True
        behind = (self.highest - seq) & MASK
        if behind >= 1 << 31:
            return True  # ahead
        if behind < self.size:
            return seq not in self.seen
        return not self.strict

    def accept(self, seq: int) -> None:
        if self.highest is None or (self.highest - seq) & MASK >= 1 << 31:
            self.highest = seq
        elif (self.highest - seq) & MASK >= self.size:  # restart
            self.highest, self.seen = seq, set()
        self.seen.add(seq)


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(0, MASK),
    steps=st.lists(st.integers(-80, 80), min_size=1, max_size=200),
    size=st.sampled_from([1, 8, 64]),
    strict=st.booleans(),
)
def test_the_window_decides_as_the_model(base: int, steps: list[int], size: int, strict: bool):
    windows = ReplayWindows(size=size, strict=strict)
    model = Model(size, strict)
    for step in steps:
        seq = (base + step) & MASK  # near a base (maybe across the wrap), so numbers repeat and reorder
        expected = model.new(seq)
        assert (windows.check("dev", seq) is None) == expected, (seq, model.highest)
        if expected:
            windows.accept("dev", seq)
            model.accept(seq)


def test_strict_windows_refuse_old_numbers_and_open_ones_restart():
    strict, open_ = ReplayWindows(strict=True), ReplayWindows(strict=False)
    for windows in (strict, open_):
        for seq in range(1000, 1010):
            windows.accept("dev", seq)
        assert windows.check("dev", 1005) == "replay" and windows.check("dev", 1010) is None
        assert windows.check("dev", 990) is None  # within the window, never seen: reordered, not a replay
    assert strict.check("dev", 1) == "replay"  # a device that restarted its counter, or an old capture
    assert open_.check("dev", 1) is None  # without authentication: taken as a restart
    open_.accept("dev", 1)
    assert open_.restarts == 1 and open_.check("dev", 1) == "replay" and open_.check("dev", 2) is None
    assert strict.check("other", 1005) is None  # windows are per device


def test_numbers_wrap_around_and_the_device_count_is_bounded():
    windows = ReplayWindows(strict=True, max_devices=3)
    windows.accept("dev", MASK)
    assert windows.check("dev", 0) is None and windows.check("dev", MASK) == "replay"
    windows.accept("dev", 0)
    assert windows.check("dev", MASK - 1) is None and windows.check("dev", MASK) == "replay"
    for device in ("a", "b", "c"):
        windows.accept(device, 5)
    assert len(windows) == 3 and windows.forgotten == 1 and windows.check("dev", 0) is None  # the oldest went


@pytest.mark.parametrize("size", [0, 5000])
def test_bad_sizes_are_refused(size: int):
    with pytest.raises(ValueError):
        ReplayWindows(size=size)
