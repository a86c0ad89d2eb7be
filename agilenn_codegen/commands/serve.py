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
    workers: int = typer.Option(
        1, "--workers", help="Server processes sharing the port (SO_REUSEPORT, Linux); about one per core."
    ),
    auth_keys: Path | None = typer.Option(
        None,
        "--auth-keys",
        help="Authenticate devices: serve only requests with a valid tag of a device in this key file "
        "(`agilenn keys`).",
    ),
    batch_max: int = typer.Option(8, "--batch-max", help="Largest onnxruntime batch of requests."),
    batch_wait_ms: float = typer.Option(2.0, "--batch-wait-ms", help="How long the first request waits for others."),
    max_datagram: int = typer.Option(1472, "--max-datagram", help="Largest datagram accepted and sent (bytes)."),
    deadline_ms: int = typer.Option(
        1000, "--deadline-ms", help="Deadline of requests that carry none (devices send their reply timeout)."
    ),
    deadline_margin_ms: float = typer.Option(
        20.0, "--deadline-margin-ms", help="Taken off every deadline: the way back, and a late thread or process."
    ),
    max_wait_ms: float = typer.Option(
        100.0, "--max-wait-ms", help="Answer busy at once when a request would take longer than this to answer."
    ),
    max_queue: int = typer.Option(
        1024, "--max-queue", help="Requests queued in all (then the longest queue's oldest is evicted)."
    ),
    max_queue_per_source: int = typer.Option(
        16, "--max-queue-per-source", help="Requests queued per device (then its oldest is evicted)."
    ),
    reassembly_timeout: float = typer.Option(
        2.0, "--reassembly-timeout", help="Seconds a partial request is kept after its first fragment (at most)."
    ),
    max_pending_per_peer: int = typer.Option(
        4, "--max-pending-per-peer", help="Partial (incomplete) requests kept per device (then its oldest goes)."
    ),
    max_pending: int = typer.Option(256, "--max-pending", help="Partial requests kept in all."),
    replay_window: int = typer.Option(64, "--replay-window", help="Sequence numbers remembered per device."),
    threads: int = typer.Option(1, "--threads", help="onnxruntime intra-op threads (per worker)."),
    stats_every: float = typer.Option(
        10.0, "--stats-every", help="Print the counters every S seconds (0: only at the end)."
    ),
    json_stats: Path | None = typer.Option(None, "--json-stats", help="Also write the counters as JSON to FILE."),
) -> None:
    """Serve the Remote NN over UDP (docs/server.md): requests in, remote logits (or busy replies) out."""
    from rich.console import Console

    from agilenn_codegen.server.app import ServerOptions

    if not 0 <= port <= 65535:
        raise UserError(f"--port must be in 0..65535, got {port}")
    if stats_every < 0:
        raise UserError(f"--stats-every must be >= 0, got {stats_every}")
    if not 1 <= workers <= 256:
        raise UserError(f"--workers must be in 1..256, got {workers}")
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
        max_queue=max_queue,
        max_queue_per_source=max_queue_per_source,
        max_wait_ms=max_wait_ms,
        default_deadline_ms=deadline_ms,
        deadline_margin_ms=deadline_margin_ms,
        replay_window=replay_window,
        threads=threads,
    )
    options.validate()
    console = Console()
    keys = None
    if auth_keys is not None:
        from agilenn_codegen.offload.keys import load_keys, permissions_warning

        keys = load_keys(auth_keys)
        warning = permissions_warning(auth_keys)
        if warning:
            console.print(f"[yellow]warning:[/] {warning}")
    if workers > 1:
        from agilenn_codegen.server.workers import serve_workers

        serve_workers(
            model_dir,
            host,
            port,
            options,
            workers,
            stats_every_s=stats_every,
            json_path=json_stats,
            console=console,
            keys=keys,
            keys_path=auth_keys,
        )
        return
    from agilenn_codegen.server.run import serve

    try:
        asyncio.run(
            serve(
                model_dir,
                host,
                port,
                options,
                stats_every_s=stats_every,
                json_path=json_stats,
                console=console,
                keys=keys,
                keys_path=auth_keys,
            )
        )
    except KeyboardInterrupt:  # a second Ctrl-C, or no signal handlers on this platform
        console.print("stopped")
