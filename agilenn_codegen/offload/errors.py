"""The single exception the offloading protocol raises on malformed input."""

from __future__ import annotations


class ProtocolError(Exception):
    """Malformed or unacceptable protocol data.

    ``reason`` is a short snake_case key for the server's drop counters (``"crc"``, ``"bad_magic"``,
    ``"lzw_overrun"``, ...); ``str(error)`` is a readable message.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message if message is not None else reason.replace("_", " "))
        self.reason = reason
