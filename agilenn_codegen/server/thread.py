"""Run a server on its own event loop in a background thread, for synchronous callers and tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from agilenn_codegen.server.app import ServerHandle, ServerOptions, start_server
from agilenn_codegen.server.model import ServedModel
from agilenn_codegen.server.stats import ServerStats


class ServerThread:
    """``with ServerThread(model_dir) as server:`` serves on ``server.address`` until the block ends.

    Start-up errors (a bad model folder, a port in use) are raised in the caller's thread by
    :meth:`start` / ``__enter__``.
    """

    def __init__(
        self,
        model_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        options: ServerOptions | None = None,
        model: ServedModel | None = None,
        keys: Mapping[int, bytes] | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        self._args: dict[str, Any] = {
            "model_dir": model_dir,
            "host": host,
            "port": port,
            "options": options,
            "model": model,
            "keys": keys,
        }
        self._start_timeout_s = start_timeout_s
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._handle: ServerHandle | None = None
        self._thread = threading.Thread(target=self._run, name="agilenn-serve", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._handle = await start_server(**self._args)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._handle.close()

    def start(self) -> ServerThread:
        """Start the thread and wait until the server listens (or raise its start-up error)."""
        self._thread.start()
        if not self._ready.wait(self._start_timeout_s):
            raise TimeoutError("the server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and join the thread (idempotent)."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def handle(self) -> ServerHandle:
        """The running server's handle."""
        if self._handle is None:
            raise RuntimeError("the server is not running")
        return self._handle

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        return self.handle.address

    @property
    def stats(self) -> ServerStats:
        """Live counters (thread-safe `.snapshot()`)."""
        return self.handle.stats

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
