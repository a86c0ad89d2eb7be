"""`agilenn serve --workers N`: N server processes sharing one UDP port with SO_REUSEPORT (Linux).

The kernel spreads datagrams over the workers' sockets by a hash of the source and destination addresses
and ports, so one device (one source address) always reaches the same worker, and its replay window and
reassembly state live there. Each worker is a whole server (event loop, queue, inference thread, its own
onnxruntime session) in its own process, so N workers use N cores without sharing Python's lock.

The parent reserves the port (a socket with SO_REUSEPORT, so that port 0 picks a free one the workers can
then share), starts the workers with the multiprocessing "spawn" method, releases its socket once every
worker listens, adds up their counters for the periodic and the final report, and stops them on SIGINT or
SIGTERM. A worker that dies stops the whole server with an error (exit code 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rich.console import Console

from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.server.report import stats_table, write_json
from agilenn_codegen.server.run import auth_line, describe, encodings
from agilenn_codegen.server.stats import merge_snapshots

START_TIMEOUT_S = 120.0
REPLY_TIMEOUT_S = 10.0


def _worker(
    model_dir: Path, host: str, port: int, options: Any, keys: Mapping[int, bytes] | None, conn: Connection
) -> None:
    """One worker process: serve until the parent says stop; answer its requests for counters."""
    from agilenn_codegen.server.app import start_server, tune_process

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    tune_process()

    async def main() -> None:
        try:
            handle = await start_server(model_dir, host, port, options=options, keys=keys)
        except UserError as exc:
            conn.send(("error", str(exc)))
            return
        spec = handle.model.spec
        conn.send(("ready", handle.address, spec.model_id, handle.batch_max))
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await loop.run_in_executor(None, conn.recv)
                if message == "stats":
                    conn.send(("stats", handle.stats.snapshot(samples=True)))
                elif message == "stop":
                    break
        except EOFError:  # the parent is gone
            pass
        finally:
            await handle.close()
        with contextlib.suppress(OSError):
            conn.send(("final", handle.stats.snapshot(samples=True)))

    asyncio.run(main())


def _reserve(host: str, port: int) -> socket.socket:
    """A socket with SO_REUSEPORT bound to host:port (port 0: a free one), held while the workers start."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    return sock


class WorkerPool:
    """The parent's view of N worker processes."""

    def __init__(
        self,
        model_dir: Path,
        host: str,
        port: int,
        options: Any,
        workers: int,
        keys: Mapping[int, bytes] | None = None,
    ) -> None:
        if workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        if workers > 1 and not sys.platform.startswith("linux"):
            raise UserError("--workers above 1 needs Linux (SO_REUSEPORT that spreads datagrams over sockets)")
        from dataclasses import replace

        self.model_dir = model_dir
        self.options = replace(options, reuse_port=True)
        self.count = workers
        self.keys = keys
        self._reserved = _reserve(host, port)
        self.address = self._reserved.getsockname()[:2]
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[Any] = []
        self._conns: list[Connection] = []
        self.model_id = 0
        self.batch_max = 1

    def start(self) -> None:
        """Start every worker and wait until each listens (UserError with the first worker's error)."""
        host, port = self.address
        for _ in range(self.count):
            parent, child = self._context.Pipe()
            process = self._context.Process(
                target=_worker,
                args=(self.model_dir, host, port, self.options, self.keys, child),
                daemon=True,
            )
            process.start()
            child.close()
            self._processes.append(process)
            self._conns.append(parent)
        try:
            for index, conn in enumerate(self._conns):
                if not conn.poll(START_TIMEOUT_S):
                    raise ToolError(f"worker {index} did not start within {START_TIMEOUT_S:.0f} s")
                message = conn.recv()
                if message[0] == "error":
                    raise UserError(message[1])
                _, _, self.model_id, self.batch_max = message
        except BaseException:
            self.stop(collect=False)
            raise
        finally:
            self._reserved.close()

    def _ask(self, message: str, answer: str) -> list[dict[str, Any]]:
        for index, conn in enumerate(self._conns):
            try:
                conn.send(message)
            except OSError:
                raise ToolError(self._died(index)) from None
        out = []
        for index, conn in enumerate(self._conns):
            try:
                if not conn.poll(REPLY_TIMEOUT_S):
                    raise ToolError(f"worker {index} did not answer within {REPLY_TIMEOUT_S:.0f} s")
                kind, snapshot = conn.recv()
            except (EOFError, OSError):
                raise ToolError(self._died(index)) from None
            if kind != answer:
                raise ToolError(f"worker {index} answered {kind!r}, expected {answer!r}")
            out.append(snapshot)
        return out

    def _died(self, index: int) -> str:
        process = self._processes[index]
        process.join(1.0)
        return f"worker process {index} (pid {process.pid}) exited unexpectedly (exit code {process.exitcode})"

    def check_alive(self) -> None:
        """ToolError naming a worker that has exited."""
        for index, process in enumerate(self._processes):
            if not process.is_alive():
                raise ToolError(self._died(index))

    def snapshot(self) -> dict[str, Any]:
        """The workers' counters, added up."""
        return merge_snapshots(self._ask("stats", "stats"))

    def stop(self, *, collect: bool = True) -> dict[str, Any] | None:
        """Stop every worker; with `collect`, their final counters added up."""
        final = None
        try:
            if collect:
                final = merge_snapshots(self._ask("stop", "final"))
            else:
                for conn in self._conns:
                    with contextlib.suppress(OSError):
                        conn.send("stop")
        finally:
            for process in self._processes:
                process.join(REPLY_TIMEOUT_S)
                if process.is_alive():
                    process.terminate()
                    process.join(REPLY_TIMEOUT_S)
            for conn in self._conns:
                conn.close()
        return final


def serve_workers(
    model_dir: Path,
    host: str,
    port: int,
    options: Any,
    workers: int,
    *,
    stats_every_s: float,
    json_path: Path | None,
    console: Console,
    keys: Mapping[int, bytes] | None = None,
    keys_path: Path | None = None,
    stop_after_s: float | None = None,
) -> dict[str, Any]:
    """Run `workers` server processes until SIGINT or SIGTERM (or `stop_after_s`); returns the final counters."""
    from agilenn_codegen.server.model import ModelSpec, parse_spec, read_meta

    spec: ModelSpec = parse_spec(read_meta(model_dir), model_dir / "agilenn.json")
    pool = WorkerPool(model_dir, host, port, options, workers, keys)
    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with console.status(f"starting {workers} worker processes..."):
            pool.start()
        address = (str(pool.address[0]), int(pool.address[1]))
        console.print(describe(spec, model_dir, address, pool.batch_max, options))
        console.print(
            f"{workers} worker processes share the port (SO_REUSEPORT: each device stays on one worker)",
            markup=False,
        )
        console.print(f"payload encodings: {encodings(spec)}", markup=False)
        console.print(auth_line(keys, keys_path), markup=False)
        extra = {"model_id": spec.model_id, "address": list(address)}
        started = time.monotonic()
        next_report = started + stats_every_s if stats_every_s > 0 else float("inf")
        while not stop["now"]:
            time.sleep(0.05)
            pool.check_alive()
            now = time.monotonic()
            if stop_after_s is not None and now - started >= stop_after_s:
                break
            if now >= next_report:
                snapshot = pool.snapshot()
                console.print(stats_table(snapshot, f"agilenn serve ({workers} workers)"))
                if json_path is not None:
                    write_json(json_path, snapshot | extra)
                next_report = now + stats_every_s
        final = pool.stop()
        assert final is not None
        console.print(stats_table(final, f"agilenn serve ({workers} workers): final counters"))
        if json_path is not None:
            write_json(json_path, final | extra)
        return final
    except BaseException:
        pool.stop(collect=False)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
