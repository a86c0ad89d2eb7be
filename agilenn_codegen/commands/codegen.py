"""`agilenn codegen`: compile an int8 ONNX model into a C99 library for a target."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from agilenn_codegen.commands.output_paths import check_output_dir
from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError
from agilenn_codegen.targets import Target

if TYPE_CHECKING:
    from agilenn_codegen.micropython import ModuleSpec
    from agilenn_codegen.pipeline.codegen import PipelineLibrary


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
    lzw_bits: int = typer.Option(
        None, "--lzw-bits", help="AgileNN folder: LZW dictionary code width 9..16, 0 = raw only (default: by RAM)."
    ),
    micropython: bool = typer.Option(
        False, "--micropython", help="Also write <out>/micropython/, a MicroPython user C module (and native .mpy)."
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
        library = _codegen_pipeline(console, model, tgt, out, name, calibration, data_root, lzw_bits, allow_overflow)
        if micropython:
            from agilenn_codegen.micropython import pipeline_spec

            _write_micropython(console, pipeline_spec(library), out, library.manifest["command"])
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
    if micropython:
        from agilenn_codegen.micropython import model_spec

        _write_micropython(console, model_spec(library), out, command_line)


def _write_micropython(console: Console, spec: ModuleSpec, out: Path, command_line: str) -> None:
    from agilenn_codegen.micropython import write_module

    try:
        module = write_module(spec, out, command=f"{command_line} --micropython")
    except OSError as exc:
        raise UserError(f"{out}: cannot write the MicroPython module ({exc.strerror or exc})") from None
    console.print(
        f"MicroPython module {spec.name}: make -C micropython/ports/<port> USER_C_MODULES={module.modules_dir} "
        f"(CMake ports: USER_C_MODULES={module.cmake_entry}); native .mpy: make -C {module.native_dir} "
        "MPY_DIR=<micropython> ARCH=x64|armv7m|armv7emsp",
        markup=False,
    )


def _codegen_pipeline(
    console: Console,
    folder: Path,
    tgt: Target,
    out: Path,
    name: str | None,
    calibration: Path | None,
    data_root: Path | None,
    lzw_bits: int | None,
    allow_overflow: bool,
) -> PipelineLibrary:
    from agilenn_codegen.pipeline.codegen import generate_pipeline
    from agilenn_codegen.pipeline.exported import load_exported

    exported = load_exported(folder)
    command_line = f"agilenn codegen {shlex.quote(str(folder))} --target {tgt.name} --out {shlex.quote(str(out))}"
    with console.status("quantizing and compiling the device model..."):
        library = generate_pipeline(
            exported,
            tgt,
            out,
            command=command_line,
            name=name,
            calibration=calibration,
            data_root=data_root,
            lzw_bits=lzw_bits,
            allow_overflow=allow_overflow,
        )
    info = library.manifest["agilenn"]
    totals = library.manifest["totals"]
    console.print(
        f"[bold green]generated[/] AgileNN device library {library.name} for {tgt.name} in {out}: "
        f"{totals['macs']:,} MACs, arena {totals['arena_bytes']:,} B, constants {totals['const_bytes']:,} B, "
        f"{info['symbols']:,} remote symbols/inference, LZW {info['lzw_bits'] or 'off'} bits, "
        f"RAM total {info['ram_bytes_total']:,} B"
    )
    console.print(f"device API in {out}/{library.name}_agilenn.h; server: agilenn serve {folder}", markup=False)
    return library
