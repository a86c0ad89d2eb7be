"""`agilenn device`: run test images through the generated device C and the real server over UDP."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from agilenn_codegen.errors import UserError


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--server {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
    return host, int(port)


def command(
    library: Path = typer.Argument(..., help="Folder written by `agilenn codegen <export folder> --out ...`."),
    server: str = typer.Option(
        "127.0.0.1:9000",
        "--server",
        help="The `agilenn serve` address, HOST:PORT; it must answer a probe request before the run (exit 2 if not).",
    ),
    dataset: str = typer.Option(None, "--dataset", help="Data set of the test images (default: agilenn.json's)."),
    data_root: Path = typer.Option(None, "--data-root", help="Where the data set lives (if not its default place)."),
    count: int = typer.Option(1000, "--count", "-n", min=1, help="Test images to run."),
    timeout_ms: int = typer.Option(500, "--timeout-ms", min=1, help="How long to wait for the server's reply."),
    loss: float = typer.Option(0.0, "--loss", min=0.0, max=1.0, help="Drop this share of datagrams (lossy proxy)."),
    report: Path = typer.Option(None, "--report", help="Also write the results as JSON."),
    emulated: bool = typer.Option(
        False,
        "--emulated",
        help="Run the library as firmware on its target's emulated board (stm32f746: Cortex-M7 on qemu mps2-an500, "
        "stm32f103: Cortex-M3 on mps2-an385), linked into the chip's own flash and RAM: UART -> bridge -> UDP to the "
        "server.",
    ),
    keys: Path = typer.Option(
        None, "--keys", help="Key file (`agilenn keys`) of an authenticated library (codegen --auth); with --device-id."
    ),
    device_id: int = typer.Option(None, "--device-id", help="The device id whose key is provisioned (with --keys)."),
    first_seq: int = typer.Option(
        None,
        "--first-seq",
        help="Sequence number of the first request (default 1; authenticated: the time in ms, so that runs never "
        "repeat numbers).",
    ),
) -> None:
    """Run the AgileNN pipeline end to end: generated C (host build) -> UDP -> `agilenn serve` -> reply."""
    from dataclasses import replace

    from agilenn_codegen.commands.output_paths import check_output_file
    from agilenn_codegen.lossy_proxy import LossyProxy
    from agilenn_codegen.pipeline.device_model import dataset_images
    from agilenn_codegen.pipeline.device_run import (
        DeviceReport,
        check_identity,
        load_library,
        probe_server,
        run_device,
    )

    address = _address(server)
    if report is not None:
        check_output_file(report, "--report")
    if (keys is None) != (device_id is None):
        raise UserError("--keys and --device-id go together: the key file and the device whose key to provision")
    if first_seq is not None and not 1 <= first_seq <= 0xFFFFFFFF:
        raise UserError(f"--first-seq must be in 1..{0xFFFFFFFF}, got {first_seq}")
    lib = load_library(library)
    identity = None
    if keys is not None and device_id is not None:
        from agilenn_codegen.offload.keys import device_key
        from agilenn_codegen.pipeline.device_run import DeviceIdentity

        identity = DeviceIdentity(device_id, device_key(keys, device_id))
    check_identity(lib, identity)
    probe_server(lib, address, timeout_ms, identity)
    exported = replace(lib.exported, dataset=dataset or lib.exported.dataset)
    console = Console()
    with console.status(f"loading {count} test images of {exported.dataset}..."):
        images, labels = dataset_images(exported, "test", count, data_root)

    firmware: list = []  # the emulated run, for its board and memory figures

    def run(to: tuple[str, int]) -> DeviceReport:
        if emulated:
            from agilenn_codegen.pipeline.emulated_run import run_emulated

            firmware.append(
                run_emulated(lib, images, labels, to, timeout_ms=timeout_ms, identity=identity, first_seq=first_seq)
            )
            return firmware[-1].report
        return run_device(lib, images, labels, to, timeout_ms=timeout_ms, identity=identity, first_seq=first_seq)[0]

    with console.status(f"running {images.shape[0]} images through {lib.name} and {server}..."):
        if loss > 0:
            with LossyProxy(address, loss=loss, duplicate=loss / 4, reorder=loss / 2, seed=0) as proxy:
                result = run(proxy.address)
        else:
            result = run(address)
    n = result.count
    table = Table(
        title=f"{lib.name}: {n} test images of {exported.dataset} via {server}"
        + (f" ({loss:.0%} loss)" if loss else "")
        + (f", firmware for {firmware[0].target} on qemu {firmware[0].machine} via UART bridge" if firmware else "")
        + (f", authenticated as device {device_id}" if identity is not None else "")
    )
    table.add_column("measure")
    clock = "qemu wall clock" if emulated else "host CPU"
    table.add_column("value", justify="right")
    rows = [
        ("accuracy, final (generated C + server)", f"{result.accuracy_final:.2%}"),
        ("accuracy, Python int8 pipeline", f"{result.accuracy_python_int8:.2%}"),
        ("accuracy, local head only", f"{result.accuracy_local:.2%}"),
        ("accuracy, remote network only", f"{result.accuracy_remote:.2%}"),
        ("answered by the server in time", f"{result.answered_remote}/{n}"),
        ("busy replies (answered locally at once)", f"{result.busy_replies:,}"),
        (
            "replies refused by the device (malformed, stale, non-finite"
            + (", forged tag)" if result.authenticated else ")"),
            f"{result.rejected_replies:,}",
        ),
        ("frames byte-equal to the Python reference", f"{result.frames_equal_reference}/{n}"),
        ("predictions equal to the Python pipeline", f"{result.predictions_equal_python}/{n}"),
        (
            f"bytes sent per inference ({result.coder} coder), mean / p95",
            f"{result.bytes_mean:,.0f} / {result.bytes_p95:,.0f}",
        ),
        ("  raw index packing would send", f"{result.raw_bytes:,}"),
        ("  unquantized float32 features would send", f"{result.float_bytes:,}"),
        (f"device time per image ({clock}), mean", f"{result.device_ms_mean:.3f} ms"),
        ("reply wait (UDP + server), mean / p95", f"{result.wait_ms_mean:.2f} / {result.wait_ms_p95:.2f} ms"),
    ]
    if firmware:
        fw = firmware[0]
        rows += [
            (
                f"firmware flash (linked into {fw.target}'s own memories)",
                f"{fw.memory.flash:,} of {fw.flash_bytes:,} B",
            ),
            (
                "firmware static RAM (data + bss, image buffer and test stdio included)",
                f"{fw.memory.static_ram:,} of {fw.ram_bytes:,} B",
            ),
            ("device library static RAM (manifest.json)", f"{lib.manifest['agilenn']['ram_bytes_total']:,} B"),
        ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if report is not None:
        report.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    if result.answered_remote < n:
        console.print(
            f"[yellow]warning:[/] {n - result.answered_remote} of {n} inferences got no valid reply within "
            f"{timeout_ms} ms and were answered by the local head alone"
        )
    if result.frames_equal_reference != n or result.predictions_equal_python != n:
        console.print("[bold red]MISMATCH:[/] the generated code differs from the Python reference pipeline")
        raise typer.Exit(1)
