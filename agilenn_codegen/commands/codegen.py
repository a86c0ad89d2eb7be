"""`agilenn codegen`: compile an int8 ONNX model into a C99 library for a target."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.console import Console

from agilenn_codegen.commands.output_paths import check_output_dir
from agilenn_codegen.errors import UserError


def command(
    model: Path = typer.Argument(..., help="int8 ONNX model (from `agilenn quantize` or quantize_static)."),
    target: str = typer.Option("host", "--target", "-t", help="Target name (see `agilenn targets`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the C library (created)."),
    name: str = typer.Option(None, "--name", help="C name of the library (default: the model file's stem)."),
    dump_ir: bool = typer.Option(False, "--dump-ir", help="Print the IR after every compiler pass."),
    allow_overflow: bool = typer.Option(
        False, "--allow-overflow", help="Generate even if the model does not fit the target's RAM/flash."
    ),
) -> None:
    """Compile an int8 ONNX model into a dependency-free C99 library with a CMakeLists.txt."""
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.codegen import generate
    from agilenn_codegen.compiler.manifest import check_fit
    from agilenn_codegen.compiler.printer import format_graph
    from agilenn_codegen.targets import load_target

    console = Console()
    tgt = load_target(target)
    if model.is_dir():
        raise UserError(f"{model}: is a directory; pass the int8 .onnx file")
    check_output_dir(out, "--out")

    def show(stage: str, graph: object) -> None:
        if dump_ir:
            console.print(format_graph(graph, stage), markup=False, highlight=False)  # type: ignore[arg-type]

    graph = compile_model(model, on_stage=show)
    command_line = f"agilenn codegen {shlex.quote(str(model))} --target {tgt.name} --out {shlex.quote(str(out))}"
    if name:
        command_line += f" --name {shlex.quote(name)}"
    try:
        library = generate(
            graph,
            tgt,
            out,
            command=command_line,
            name=name,
            check=lambda manifest: check_fit(manifest, allow_overflow=allow_overflow),
        )
    except OSError as exc:
        raise UserError(f"{out}: cannot write the library ({exc.strerror or exc})") from None
    problems = check_fit(library.manifest, allow_overflow=True)
    totals = library.manifest["totals"]
    console.print(
        f"[bold green]generated[/] {library.name} for {tgt.name} in {out}: "
        f"{len(graph.nodes)} layers, {totals['macs']:,} MACs, arena {totals['arena_bytes']:,} B, "
        f"constants {totals['const_bytes']:,} B"
    )
    for problem in problems:
        console.print(f"[yellow]warning:[/] does not fit: {problem}", markup=True)
    console.print(
        f"link it with: add_subdirectory({out}) and target_link_libraries(app PRIVATE {library.name})", markup=False
    )
