"""`agilenn keys`: create a key file for authenticated devices, or show one device's key for provisioning."""

from __future__ import annotations

from pathlib import Path

import typer

from agilenn_codegen.errors import UserError


def command(
    file: Path = typer.Argument(..., help="The key file (JSON) to create, or to read with --show."),
    devices: int = typer.Option(None, "--devices", help="Create FILE with a fresh random key for this many devices."),
    first_id: int = typer.Option(1, "--first-id", help="Device id of the first device created (ids are consecutive)."),
    show: int = typer.Option(None, "--show", help="Print this device's id and key (hex, and as a C initializer)."),
) -> None:
    """Device keys for `agilenn codegen --auth` and `agilenn serve --auth-keys` (docs/offload-protocol.md §6)."""
    from rich.console import Console

    from agilenn_codegen.offload.keys import MAX_DEVICE_ID, device_key, new_keys, write_keys

    console = Console()
    if (devices is None) == (show is None):
        raise UserError("give either --devices N (create a key file) or --show ID (print one device's key)")
    if show is not None:
        key = device_key(file, show)
        initializer = ", ".join(f"0x{b:02x}" for b in key)
        print(f"device {show}: key {key.hex()}")
        print(f"static const uint8_t device_key[16] = {{{initializer}}};  /* keep it out of version control */")
        return
    if not 1 <= devices <= 1_000_000:
        raise UserError(f"--devices must be in 1..1000000, got {devices}")
    if not 1 <= first_id <= MAX_DEVICE_ID - devices + 1:
        raise UserError(f"--first-id must be in 1..{MAX_DEVICE_ID - devices + 1} for {devices} devices, got {first_id}")
    if file.is_dir() or not file.parent.is_dir():
        raise UserError(f"{file}: expected a file name in an existing folder")
    keys = new_keys(range(first_id, first_id + devices))
    write_keys(file, keys)
    console.print(
        f"wrote {devices} device key(s) (ids {first_id}..{first_id + devices - 1}) to {file}, readable by you only; "
        f"serve with `agilenn serve MODEL_DIR --auth-keys {file}` and give each device its own entry "
        f"(`agilenn keys {file} --show ID`)",
        markup=False,
    )
