"""`agilenn serve` as a coroutine: start, report counters every few seconds, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from agilenn_codegen.server.app import ServerHandle, ServerOptions, start_server, tune_process
from agilenn_codegen.server.model import ModelSpec
from agilenn_codegen.server.report import stats_table, write_json


def encodings(spec: ModelSpec) -> str:
    """What the server decodes, and how (the context decoder: C or the slow Python reference)."""
    if spec.coder is None:
        return "raw, LZW (agilenn.json has no `coder` tables: context-coded payloads are refused)"
    context = spec.context
    assert context is not None
    if context.uses_native:
        return "raw, LZW, context-coded (C decoder)"
    from agilenn_codegen.offload.native import native_status

    return (
        "raw, LZW, context-coded with the pure-Python reference decoder (slow, about 150 per second): "
        + native_status().reason
    )


def describe(spec: ModelSpec, model_dir: Path, address: tuple[str, int], batch_max: int, options: ServerOptions) -> str:
    """The start-up line: model, address, batching, deadlines."""
    batching = f"batches of up to {batch_max}" if batch_max > 1 else "one request at a time"
    return (
        f"serving [bold]{model_dir}[/] (model id 0x{spec.model_id:08x}, {spec.num_classes} classes, "
        f"{spec.channels}x{spec.height}x{spec.width} features, K={spec.alphabet}) "
        f"on udp://{address[0]}:{address[1]}, {batching}; busy replies beyond {options.max_wait_ms:g} ms of "
        f"queue or a request's deadline (default {options.default_deadline_ms} ms); Ctrl-C stops"
    )


def auth_line(keys: Mapping[int, bytes] | None, keys_path: Path | None) -> str:
    """What the server does about authentication."""
    if keys is None:
        return "authentication: off (any sender may use the server; see docs/server.md, Security)"
    return f"authentication: on, {len(keys)} device key(s) from {keys_path}; unauthenticated requests are refused"


def _report(handle: ServerHandle, console: Console, json_path: Path | None, title: str) -> None:
    snapshot = handle.stats.snapshot()
    console.print(stats_table(snapshot, title))
    if json_path is not None:
        write_json(json_path, snapshot | {"model_id": handle.model.spec.model_id, "address": list(handle.address)})


async def serve(
    model_dir: Path,
    host: str,
    port: int,
    options: ServerOptions,
    *,
    stats_every_s: float,
    json_path: Path | None,
    console: Console,
    stop: asyncio.Event | None = None,
    keys: Mapping[int, bytes] | None = None,
    keys_path: Path | None = None,
) -> ServerHandle:
    """Serve until `stop` is set, SIGINT or SIGTERM; print (and write) the counters periodically and at the end."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    tune_process()
    handle = await start_server(model_dir, host, port, options=options, keys=keys)
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    console.print(describe(handle.model.spec, model_dir, handle.address, handle.batch_max, options))
    console.print(f"payload encodings: {encodings(handle.model.spec)}", markup=False)
    console.print(auth_line(keys, keys_path), markup=False)
    try:
        while not stop.is_set():
            timeout = stats_every_s if stats_every_s > 0 else None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout)
            if not stop.is_set():
                _report(handle, console, json_path, "agilenn serve")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await handle.close()
        _report(handle, console, json_path, "agilenn serve: final counters")
    return handle
