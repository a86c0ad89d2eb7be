"""`agilenn inspect`: layers, shapes, MACs, the arena plan and whether the model fits a target."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def command(
    model: Path = typer.Argument(..., help="int8 ONNX model, or an `agilenn export` folder (the device pipeline)."),
    target: str = typer.Option("stm32f746", "--target", "-t", help="Target whose memory budget to check."),
    json_output: bool = typer.Option(False, "--json", help="Print the manifest as JSON instead of tables."),
    dump_ir: bool = typer.Option(False, "--dump-ir", help="Also print the final IR."),
    data_root: Path = typer.Option(
        None, "--data-root", help="Export folder: where its data set lives (calibration of the int8 device model)."
    ),
) -> None:
    """Show what `agilenn codegen` would generate, without writing anything."""
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.codegen import render_manifest
    from agilenn_codegen.compiler.library_name import internal_library_name
    from agilenn_codegen.compiler.manifest import check_fit
    from agilenn_codegen.compiler.printer import format_graph
    from agilenn_codegen.pipeline.exported import is_export_folder
    from agilenn_codegen.targets import load_target

    tgt = load_target(target)
    if is_export_folder(model):
        inspect_pipeline(model, tgt, data_root, json_output)
        return
    graph = compile_model(model)
    name, name_problem = internal_library_name(graph.name)
    manifest = render_manifest(graph, tgt, command=f"agilenn inspect {model.name} --target {tgt.name}", name=name)
    problems = check_fit(manifest, allow_overflow=True)
    console = Console()
    if json_output:
        console.print_json(
            json.dumps(manifest | {"fits": not problems, "problems": problems, "name_problem": name_problem})
        )
        return
    table = Table(title=f"{model.name} ({manifest['model']['format']}, opset {manifest['model']['opset']})")
    for column in ("#", "op", "ONNX node", "output shape", "MACs", "arena offset", "bytes"):
        table.add_column(column, justify="right" if column in ("#", "MACs", "arena offset", "bytes") else "left")
    for layer in manifest["layers"]:
        table.add_row(
            str(layer["index"]),
            layer["op"],
            f"{layer['onnx_node']} ({layer['onnx_op']})",
            f"{layer['output_dtype']}{layer['output_shape']}",
            f"{layer['macs']:,}",
            "caller" if layer["arena_offset"] is None else str(layer["arena_offset"]),
            "" if layer["arena_bytes"] is None else f"{layer['arena_bytes']:,}",
        )
    console.print(table)
    totals, budget = manifest["totals"], manifest["budget"]
    summary = Table(title=f"memory on {tgt.name}", show_header=True)
    for column in ("", "needed", "available"):
        summary.add_column(column, justify="right" if column else "left")
    summary.add_row(
        "RAM (arena + scratch + I/O buffers)", f"{totals['ram_bytes_needed']:,}", f"{budget['ram_bytes']:,}"
    )
    summary.add_row(
        "flash (constants + code estimate)", f"{totals['flash_bytes_estimate']:,}", f"{budget['flash_bytes']:,}"
    )
    summary.add_row("MACs per inference", f"{totals['macs']:,}", "")
    streaming = manifest["streaming"]
    if streaming["streamable"]:
        streamed_ram = streaming["ram_bytes"] + totals["scratch_bytes"] + totals["io_buffer_bytes"]
        summary.add_row("RAM streamed row by row (codegen --stream): windows + arena", f"{streamed_ram:,}", "")
    console.print(summary)
    if streaming["streamable"]:
        console.print(
            f"streaming: arena {streaming['unstreamed_arena_bytes']:,} B -> {streaming['window_bytes']:,} B of row "
            f"windows + {streaming['arena_bytes']:,} B after the stream",
            highlight=False,
        )
    else:
        console.print(f"streaming: not possible ({streaming['reason']})", highlight=False)
    if dump_ir:
        console.print(format_graph(graph, "final"), markup=False, highlight=False)
    if problems:
        for problem in problems:
            console.print(f"[red]does not fit:[/] {problem}")
    else:
        console.print(f"[green]fits[/] {tgt.name}")
    if name_problem:
        console.print(f"[yellow]note:[/] {name_problem}; `agilenn codegen` will need --name", highlight=False)


def inspect_pipeline(folder: Path, tgt: object, data_root: Path | None, json_output: bool) -> None:
    """The device library `agilenn codegen FOLDER` would write (generated in a temporary folder): its RAM,
    buffer by buffer, streamed and, for comparison, with whole feature maps; and whether it fits."""
    import tempfile

    from agilenn_codegen.compiler.manifest import check_fit
    from agilenn_codegen.pipeline.codegen import ENCODER_STATE_BYTES, generate_pipeline
    from agilenn_codegen.pipeline.exported import load_exported

    exported = load_exported(folder)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="agilenn-inspect-") as tmp, console.status("generating the library..."):
        lib = generate_pipeline(
            exported,
            tgt,  # type: ignore[arg-type]
            Path(tmp) / "lib",
            command=f"agilenn inspect {folder}",
            data_root=data_root,
            allow_overflow=True,
        )
    info, network = lib.manifest["agilenn"], lib.network.manifest
    stream = network.get("stream")
    ram = int(info["ram_bytes_total"])
    whole_maps = None
    if stream is not None:  # the same library with whole feature maps: the arena, the symbols in a buffer
        kept = exported.feature_size if info["streamed"] else 0
        encoder = ENCODER_STATE_BYTES if info["streamed"] and info["coder"] == "context" else 0
        whole_maps = ram - int(info["network_ram_bytes"]) + int(stream["unstreamed_arena_bytes"]) + kept - encoder
    budget = {"ram_bytes": tgt.ram_bytes, "flash_bytes": tgt.flash_bytes}  # type: ignore[attr-defined]
    fit = dict(network, totals=dict(network["totals"], ram_bytes_needed=ram + int(info["caller_image_bytes"])))
    problems = check_fit(fit | {"budget": budget}, allow_overflow=True)
    if json_output:
        console.print_json(
            json.dumps(info | {"whole_maps_ram_bytes": whole_maps, "fits": not problems, "problems": problems})
        )
        return
    table = Table(title=f"{lib.name} on {tgt.name}: static RAM of the device library")  # type: ignore[attr-defined]
    table.add_column("buffer")
    table.add_column("bytes", justify="right")
    if stream is not None:
        for window in stream["windows"]:
            table.add_row(f"row window of '{window['tensor']}' ({window['rows']} rows)", f"{window['bytes']:,}")
        table.add_row("network arena after the stream", f"{stream['arena_bytes']:,}")
    else:
        table.add_row("network arena", f"{info['network_ram_bytes']:,}")
    for name, size in info["buffers"].items():
        if size:
            table.add_row(name, f"{size:,}")
    table.add_row("[bold]total[/]", f"[bold]{ram:,}[/]")
    table.add_row("the caller's float image (not the library's)", f"{info['caller_image_bytes']:,}")
    console.print(table)
    if info["streamed"]:
        console.print(
            f"streamed: the remote features go row by row into the {info['coder']} coder; with whole feature maps "
            f"the library would need {whole_maps:,} B",
            highlight=False,
        )
    else:
        console.print(f"not streamed: {info['not_streamed_because']}", highlight=False)
    for problem in problems:
        console.print(f"[red]does not fit:[/] {problem}")
    if not problems:
        console.print(f"[green]fits[/] {tgt.name} (plus the stack: see `agilenn profile`)")  # type: ignore[attr-defined]
