"""`agilenn targets`: list the build targets (``targets/*.json``)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from agilenn_codegen.targets import Target, list_targets


def _size(n_bytes: int) -> str:
    """Human-readable byte count in KiB/MiB/GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= scale and n_bytes % scale == 0:
            return f"{n_bytes // scale} {unit}"
    return f"{n_bytes / 1024:.1f} KiB" if n_bytes >= 1024 else f"{n_bytes} B"


def _as_dict(target: Target) -> dict[str, object]:
    emulator = target.emulator
    return {
        "name": target.name,
        "description": target.description,
        "cpu": target.cpu,
        "arch": target.arch,
        "fpu": target.fpu,
        "dsp": target.dsp,
        "clock_hz": target.clock_hz,
        "ram_bytes": target.ram_bytes,
        "flash_bytes": target.flash_bytes,
        "toolchain": target.toolchain,
        "cflags": list(target.cflags),
        "emulator": None if emulator is None else {"machine": emulator.machine, "cpu": emulator.cpu},
    }


def command(
    json_output: bool = typer.Option(False, "--json", help="Print the targets as JSON instead of a table."),
) -> None:
    """List the build targets: CPU, FPU, clock, RAM, flash and the emulated board used to verify."""
    targets = list_targets()
    if json_output:
        typer.echo(json.dumps([_as_dict(t) for t in targets], indent=2))
        return
    table = Table(title="agilenn targets")
    for column in ("name", "cpu", "fpu", "dsp", "clock", "RAM", "flash", "qemu board"):
        table.add_column(column, no_wrap=True)
    for t in targets:
        board = "native" if t.emulator is None else t.emulator.machine
        table.add_row(
            t.name,
            t.cpu,
            "yes" if t.fpu else "no",
            "yes" if t.dsp else "no",
            f"{t.clock_hz / 1e6:g} MHz",
            _size(t.ram_bytes),
            _size(t.flash_bytes),
            board,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # pipes and CI logs: do not squeeze the table into 80 columns
    console.print(table)
