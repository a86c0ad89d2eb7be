"""Per-device sequence windows: drop replayed requests (docs/offload-protocol.md section 4).

Each device (a key: its authenticated device id, or its address and device id) has a window of the
last `size` sequence numbers below the highest one it completed, as in IPsec's anti-replay window
(RFC 4303 section 3.4.3): a sequence number ahead of the highest one is new; one within the window is new
unless it was seen; one further behind is "too old". Sequence numbers are compared modulo 2^32 (one
less than 2^31 ahead counts as ahead), so a device's counter may wrap around.

What happens to a too-old number depends on what the key proves. For an authenticated device it is a
replay (`strict`). Without authentication anyone can send any number anyway, so a number far behind is
taken as the device having restarted its counter (a reboot without persistent state): the window starts
again from it, so that a device is never locked out by its own past.

At most `max_devices` windows are kept; the least recently used is forgotten beyond that.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

DEFAULT_WINDOW = 64
_HALF = 1 << 31
_MASK = 0xFFFFFFFF


class ReplayWindows:
    """The windows of many devices. :meth:`check` says whether a sequence number would be new,
    :meth:`accept` records it (call it once the request is complete and authentic)."""

    def __init__(self, *, size: int = DEFAULT_WINDOW, strict: bool = False, max_devices: int = 65536) -> None:
        if not 1 <= size <= 4096 or max_devices < 1:
            raise ValueError("window size must be in 1..4096 and max_devices positive")
        self.size = size
        self.strict = strict
        self.max_devices = max_devices
        self._windows: OrderedDict[Hashable, tuple[int, int]] = OrderedDict()  # key -> (highest, seen bitmap)
        self.restarts = 0
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, key: Hashable, seq: int) -> str | None:
        """None if `seq` is new for `key`; else the reason it is not: "replay" (seen, or too old)."""
        window = self._windows.get(key)
        if window is None:
            return None
        highest, seen = window
        behind = (highest - seq) & _MASK
        if behind == 0:
            return "replay"
        if behind >= _HALF:  # ahead
            return None
        if behind < self.size:
            return "replay" if (seen >> behind) & 1 else None
        return "replay" if self.strict else None

    def accept(self, key: Hashable, seq: int) -> None:
        """Record `seq` as seen (it must have passed :meth:`check`)."""
        window = self._windows.get(key)
        if window is None:
            self._store(key, seq, 1)
            return
        self._windows.move_to_end(key)
        highest, seen = window
        behind = (highest - seq) & _MASK
        if behind >= _HALF:  # ahead: slide the window
            ahead = (seq - highest) & _MASK
            seen = ((seen << ahead) | 1) & ((1 << self.size) - 1) if ahead < self.size else 1
            self._windows[key] = (seq, seen)
        elif behind < self.size:
            self._windows[key] = (highest, seen | (1 << behind))
        else:  # far behind, not strict: the device restarted its counter
            self.restarts += 1
            self._windows[key] = (seq, 1)

    def _store(self, key: Hashable, seq: int, seen: int) -> None:
        self._windows[key] = (seq, seen)
        while len(self._windows) > self.max_devices:
            self._windows.popitem(last=False)
            self.forgotten += 1
