"""The kernel's receive timestamp of each datagram (Linux SO_TIMESTAMPNS), so that deadlines count from when a
datagram reached the host, not from when a busy process got round to reading it.

Python's socket module names SO_TIMESTAMPNS only from 3.13 on; its value on Linux is 35 (the same on x86-64
and arm64; a struct timespec of two native longs follows as ancillary data). Elsewhere timestamps are off
and the read time is used instead.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys

SO_TIMESTAMPNS: int | None = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_TIMESPEC = struct.Struct("@ll")
ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if SO_TIMESTAMPNS is not None else 0


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to timestamp every datagram `sock` receives; False where it cannot."""
    if SO_TIMESTAMPNS is None:
        return False
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        return True
    return False


def wall_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The receive time (seconds since the epoch, the wall clock) in a recvmsg's ancillary data, or None."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec + nsec * 1e-9
    return None
