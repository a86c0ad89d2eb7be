"""`agilenn codegen`: compile an int8 ONNX model into a C99 library for a target."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.console import Console

from agilenn_codegen.commands.output_paths import check_output_dir
from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError
from agilenn_codegen.targets import Target


def command(
    model: Path = typer.Argument(
        ..., help="int8 ONNX model (from `agilenn quantize`), or a folder from `agilenn export` (AgileNN pipeline)."
    ),
    target: str = typer.Option("host", "--target", "-t", help="Target name (see `agilenn targets`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the C library (created)."),
    name: str = typer.Option(None, "--name", help="C name of the library (default: the model file's stem)."),
    dump_ir: bool = typer.Option(False, "--dump-ir", help="Print the IR after every compiler pass."),
    allow_overflow: bool = typer.Option(
        False, "--allow-overflow", help="Generate even if the model does not fit the target's RAM/flash."
    ),
    calibration: Path = typer.Option(
        None, "--calibration", help="AgileNN folder: .npz of images to calibrate the device model's quantization."
    ),
    data_root: Path = typer.Option(
        None, "--data-root", help="AgileNN folder: where the data set named in agilenn.json lives (calibration)."
    ),
    coder: str = typer.Option(
        "context",
        "--coder",
        help="AgileNN folder: payload coding: context (the context coder, tables from `agilenn fit-coder`), "
        "lzw, or raw. Raw packing is sent whenever coding would not make the payload shorter.",
    ),
    lzw_bits: int = typer.Option(
        None, "--lzw-bits", help="AgileNN folder, --coder lzw: code width 9..16, 0 = raw only (default: by RAM)."
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
    from agilenn_codegen.pipeline.exported import is_export_folder

    if is_export_folder(model):
        _codegen_pipeline(console, model, tgt, out, name, calibration, data_root, coder, lzw_bits, allow_overflow)
        return
    if model.is_dir():
        raise UserError(f"{model}: is a directory without agilenn.json; pass an int8 .onnx file or an export folder")
    check_output_dir(out, "--out")

    def show(stage: str, graph: ir.Graph) -> None:
        if dump_ir:
            console.print(format_graph(graph, stage), markup=False, highlight=False)

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


def _codegen_pipeline(
    console: Console,
    folder: Path,
    tgt: Target,
    out: Path,
    name: str | None,
    calibration: Path | None,
    data_root: Path | None,
    coder: str,
    lzw_bits: int | None,
    allow_overflow: bool,
) -> None:
    from agilenn_codegen.pipeline.codegen import check_coder, generate_pipeline
    from agilenn_codegen.pipeline.exported import load_exported

    exported = load_exported(folder)
    check_coder(exported, coder, lzw_bits)
    command_line = f"agilenn codegen {shlex.quote(str(folder))} --target {tgt.name} --out {shlex.quote(str(out))}"
    if coder != "context":
        command_line += f" --coder {coder}"
    with console.status("quantizing and compiling the device model..."):
        library = generate_pipeline(
            exported,
            tgt,
            out,
            command=command_line,
            name=name,
            calibration=calibration,
            data_root=data_root,
            coder=coder,
            lzw_bits=lzw_bits,
            allow_overflow=allow_overflow,
        )
    info = library.manifest["agilenn"]
    totals = library.manifest["totals"]
    coding = f"LZW {info['lzw_bits']} bits" if info["coder"] == "lzw" and info["lzw_bits"] else f"{info['coder']} coder"
    console.print(
        f"[bold green]generated[/] AgileNN device library {library.name} for {tgt.name} in {out}: "
        f"{totals['macs']:,} MACs, arena {totals['arena_bytes']:,} B, constants {totals['const_bytes']:,} B, "
        f"{info['symbols']:,} remote symbols/inference, {coding}, RAM total {info['ram_bytes_total']:,} B"
    )
    console.print(f"device API in {out}/{library.name}_agilenn.h; server: agilenn serve {folder}", markup=False)
