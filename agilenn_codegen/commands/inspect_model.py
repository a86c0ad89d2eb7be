"""`agilenn inspect`: layers, shapes, MACs, the arena plan and whether the model fits a target."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def command(
    model: Path = typer.Argument(..., help="int8 ONNX model."),
    target: str = typer.Option("stm32f746", "--target", "-t", help="Target whose memory budget to check."),
    json_output: bool = typer.Option(False, "--json", help="Print the manifest as JSON instead of tables."),
    dump_ir: bool = typer.Option(False, "--dump-ir", help="Also print the final IR."),
) -> None:
    """Show what `agilenn codegen` would generate, without writing anything."""
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.codegen import render_manifest
    from agilenn_codegen.compiler.library_name import internal_library_name
    from agilenn_codegen.compiler.manifest import check_fit
    from agilenn_codegen.compiler.printer import format_graph
    from agilenn_codegen.targets import load_target

    tgt = load_target(target)
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
    console.print(summary)
    if dump_ir:
        console.print(format_graph(graph, "final"), markup=False, highlight=False)
    if problems:
        for problem in problems:
            console.print(f"[red]does not fit:[/] {problem}")
    else:
        console.print(f"[green]fits[/] {tgt.name}")
    if name_problem:
        console.print(f"[yellow]note:[/] {name_problem}; `agilenn codegen` will need --name", highlight=False)
