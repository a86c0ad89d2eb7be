"""`agilenn serve`: answer devices' offloading requests with the Remote NN of an exported model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from agilenn_codegen.errors import UserError


def command(
    model_dir: Path = typer.Argument(..., help="Folder written by `agilenn export` (agilenn.json, remote.onnx)."),
    port: int = typer.Option(9000, "--port", "-p", help="UDP port to listen on (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you say otherwise."),
    batch_max: int = typer.Option(8, "--batch-max", help="Largest onnxruntime batch of requests."),
    batch_wait_ms: float = typer.Option(2.0, "--batch-wait-ms", help="How long the first request waits for others."),
    max_datagram: int = typer.Option(1472, "--max-datagram", help="Largest datagram accepted and sent (bytes)."),
    reassembly_timeout: float = typer.Option(
        2.0, "--reassembly-timeout", help="Seconds a partial request is kept after its first fragment."
    ),
    max_pending_per_peer: int = typer.Option(
        4, "--max-pending-per-peer", help="Partial (incomplete) requests kept per peer address."
    ),
    max_pending: int = typer.Option(256, "--max-pending", help="Partial requests kept in all."),
    threads: int = typer.Option(1, "--threads", help="onnxruntime intra-op threads."),
    stats_every: float = typer.Option(
        10.0, "--stats-every", help="Print the counters every S seconds (0: only at the end)."
    ),
    json_stats: Path | None = typer.Option(None, "--json-stats", help="Also write the counters as JSON to FILE."),
) -> None:
    """Serve the Remote NN over UDP (docs/server.md): requests in, remote logits out."""
    from rich.console import Console

    from agilenn_codegen.server.app import ServerOptions
    from agilenn_codegen.server.run import serve

    if not 0 <= port <= 65535:
        raise UserError(f"--port must be in 0..65535, got {port}")
    if stats_every < 0:
        raise UserError(f"--stats-every must be >= 0, got {stats_every}")
    if json_stats is not None:
        from agilenn_codegen.commands.output_paths import check_output_file

        check_output_file(json_stats, "--json-stats")
    options = ServerOptions(
        batch_max=batch_max,
        batch_wait_ms=batch_wait_ms,
        max_datagram=max_datagram,
        reassembly_timeout_s=reassembly_timeout,
        max_pending_per_peer=max_pending_per_peer,
        max_pending=max_pending,
        threads=threads,
    )
    options.validate()
    console = Console()
    try:
        asyncio.run(
            serve(model_dir, host, port, options, stats_every_s=stats_every, json_path=json_stats, console=console)
        )
    except KeyboardInterrupt:  # a second Ctrl-C, or no signal handlers on this platform
        console.print("stopped")
