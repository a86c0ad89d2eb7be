"""Human (rich) and machine (JSON) views of the server counters."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.table import Table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def stats_table(snapshot: dict[str, Any], title: str = "agilenn serve") -> Table:
    """One compact table of a :meth:`ServerStats.snapshot` (or of merged worker snapshots)."""
    table = Table(title=title, show_header=True, title_justify="left")
    table.add_column("counter")
    table.add_column("value", justify="right")
    table.add_row("uptime (s)", f"{snapshot['uptime_s']:.1f}")
    if "workers" in snapshot:
        per = ", ".join(f"{w['replies']:,}" for w in snapshot.get("per_worker", []))
        table.add_row("worker processes (replies each)", f"{snapshot['workers']} ({per})")
    table.add_row("datagrams", f"{snapshot['datagrams']:,}")
    table.add_row("requests", f"{snapshot['requests']:,}")
    table.add_row("replies", f"{snapshot['replies']:,}")
    table.add_row("busy replies", f"{snapshot['busy']:,}")
    for reason, count in snapshot["busy_reasons"].items():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("dropped", f"{snapshot['dropped']:,}")
    for reason, count in snapshot["drops"].items():
        table.add_row(f"  {reason}", f"{count:,}")
    reassembly = snapshot["reassembly"]
    table.add_row(
        "reassembly pending / expired / evicted",
        f"{reassembly['pending']} / {reassembly['expired']} / {reassembly['evicted']}",
    )
    queue = snapshot["queue"]
    table.add_row(
        "queue requests / sources / est. ms per request",
        f"{queue['requests']} / {queue['sources']} / {queue['cost_ms']:.3f}",
    )
    batches = snapshot["batches"]
    mean = "-" if batches["mean_size"] is None else f"{batches['mean_size']:.2f}"
    table.add_row("batches (mean size)", f"{batches['count']:,} ({mean})")
    lat = snapshot["latency"]
    table.add_row("latency p50 / p95 / max (ms)", f"{_ms(lat['p50_ms'])} / {_ms(lat['p95_ms'])} / {_ms(lat['max_ms'])}")
    return table


def write_json(path: Path, snapshot: dict[str, Any]) -> None:
    """Write the snapshot to `path` atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(snapshot, indent=2) + "\n")
    os.replace(tmp, path)
