"""`agilenn codegen`: compile an int8 ONNX model into a C99 library for a target."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError
from agilenn_codegen.targets import Target

if TYPE_CHECKING:
    from agilenn_codegen.micropython import MicroPythonModule, ModuleSpec


def command(
    model: Path = typer.Argument(
        ..., help="int8 ONNX model (from `agilenn quantize`), or a folder from `agilenn export` (AgileNN pipeline)."
    ),
    target: str = typer.Option("host", "--target", "-t", help="Target name (see `agilenn targets`)."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output folder for the C library: created if missing; a previous `agilenn codegen` output (its "
        "manifest.json) is regenerated in place; any other non-empty folder is refused unless --force. "
        "Written only when complete: on an error it is left as it was.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty --out that is not a previous codegen output (same-named "
        "files are replaced, other files kept).",
    ),
    name: str = typer.Option(
        None,
        "--name",
        help="C name of the library (default: the model file's stem, or agilenn_<data set> for an export "
        "folder); names that clash with the runtime's (agilenn_types, ...) or a C header are refused.",
    ),
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
    input_mean: str = typer.Option(
        None,
        "--input-mean",
        help="Plain model: per-channel mean of the input normalisation (comma-separated); with --input-std and "
        "--input-scale it adds <name>_run_u8 for uint8 camera pixels. (An export folder's agilenn.json states it.)",
    ),
    input_std: str = typer.Option(None, "--input-std", help="Plain model: per-channel std of the normalisation."),
    input_scale: str = typer.Option(
        None,
        "--input-scale",
        help="Plain model: pixel scale of the normalisation, x = (pixel * scale - mean) / std; write 1/255 for a "
        "division by 255 (as PyTorch's ToTensor), which is not the same in float32 as multiplying by 0.00392...",
    ),
    stream: bool = typer.Option(
        False,
        "--stream",
        help="Plain model: compute the network a few rows at a time through small row windows instead of whole "
        "feature maps (a float image, then convolutions, read row by row by global average pools or model outputs; "
        "`agilenn inspect` shows whether a model streams and the RAM it saves). AgileNN folders always stream.",
    ),
    kernels: str = typer.Option(
        "fast",
        "--kernels",
        help="fast: optimized kernels instantiated per layer (DSP instructions where the target has them); "
        "reference: the portable reference kernels (the spec), e.g. to compare.",
    ),
    micropython: bool = typer.Option(
        False, "--micropython", help="Also write <out>/micropython/, a MicroPython user C module (and native .mpy)."
    ),
    auth: bool = typer.Option(
        False,
        "--auth",
        help="AgileNN folder: authenticated device: SipHash-2-4 tags on every request and reply, under a key "
        "provisioned at run time (<name>_provision; `agilenn keys`, `agilenn serve --auth-keys`).",
    ),
) -> None:
    """Compile an int8 ONNX model into a dependency-free C99 library with a CMakeLists.txt."""
    from agilenn_codegen.commands.output_paths import CODEGEN, OutputFolder
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.codegen import KERNEL_CHOICES, generate
    from agilenn_codegen.compiler.library_name import choose_library_name
    from agilenn_codegen.compiler.manifest import check_fit
    from agilenn_codegen.compiler.pixels import parse_normalisation
    from agilenn_codegen.compiler.printer import format_graph
    from agilenn_codegen.pipeline.exported import is_export_folder
    from agilenn_codegen.targets import load_target

    console = Console()
    tgt = load_target(target)
    if kernels not in KERNEL_CHOICES:
        raise UserError(f"--kernels {kernels!r}: expected one of {', '.join(KERNEL_CHOICES)}")
    pixels = parse_normalisation(input_mean, input_std, input_scale)
    if is_export_folder(model):
        if pixels is not None:
            raise UserError(
                "--input-mean/--input-std/--input-scale: an export folder's normalisation is in agilenn.json"
            )
        _codegen_pipeline(
            console,
            model,
            tgt,
            out,
            force,
            name,
            calibration,
            data_root,
            coder,
            lzw_bits,
            allow_overflow,
            kernels,
            micropython,
            auth,
        )
        return
    if model.is_dir():
        raise UserError(f"{model}: is a directory without agilenn.json; pass an int8 .onnx file or an export folder")
    for option, value in (("--calibration", calibration), ("--data-root", data_root), ("--lzw-bits", lzw_bits)):
        if value is not None:
            raise UserError(f"{option} applies to an `agilenn export` folder only; {model} is a model file")
    if auth:
        raise UserError(
            f"--auth applies to an `agilenn export` folder only (the offloading protocol); {model} is a model file"
        )
    lib_name = choose_library_name(name, model.stem, f"from the model file {model.name}")
    folder = OutputFolder(out, CODEGEN, force=force, inputs=[model])

    def show(stage: str, graph: ir.Graph) -> None:
        if dump_ir:
            console.print(format_graph(graph, stage), markup=False, highlight=False)

    graph = compile_model(model, on_stage=show)
    command_line = f"agilenn codegen {shlex.quote(str(model))} --target {tgt.name} --out {shlex.quote(str(out))}"
    if name:
        command_line += f" --name {shlex.quote(name)}"
    for option, value in (("--input-mean", input_mean), ("--input-std", input_std), ("--input-scale", input_scale)):
        if value is not None:
            command_line += f" {option} {shlex.quote(value)}"
    if kernels != "fast":
        command_line += f" --kernels {kernels}"
    if stream:
        command_line += " --stream"
    try:
        with folder as stage:
            library = generate(
                graph,
                tgt,
                stage,
                command=command_line,
                name=lib_name,
                check=lambda manifest: check_fit(manifest, allow_overflow=allow_overflow),
                kernels=kernels,
                pixels=pixels,
                stream="run" if stream else "off",
            )
            if micropython:
                from agilenn_codegen.micropython import model_spec

                module = _write_micropython(model_spec(library), stage, command_line)
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
        _show_micropython(console, module, out)


def _write_micropython(spec: ModuleSpec, stage: Path, command_line: str) -> MicroPythonModule:
    """The MicroPython module of the library just generated in `stage` (moved into --out with it)."""
    from agilenn_codegen.micropython import write_module

    return write_module(spec, stage, command=f"{command_line} --micropython")


def _show_micropython(console: Console, module: MicroPythonModule, out: Path) -> None:
    modules = out / module.modules_dir.name
    console.print(
        f"MicroPython module {module.spec.name}: make -C micropython/ports/<port> USER_C_MODULES={modules} "
        f"(CMake ports: USER_C_MODULES={modules / module.cmake_entry.name}); native .mpy: "
        f"make -C {out / module.native_dir.name} MPY_DIR=<micropython> ARCH=x64|armv7m|armv7emsp",
        markup=False,
    )


def _codegen_pipeline(
    console: Console,
    folder: Path,
    tgt: Target,
    out: Path,
    force: bool,
    name: str | None,
    calibration: Path | None,
    data_root: Path | None,
    coder: str,
    lzw_bits: int | None,
    allow_overflow: bool,
    kernels: str,
    micropython: bool,
    auth: bool = False,
) -> None:
    from agilenn_codegen.commands.output_paths import CODEGEN, OutputFolder
    from agilenn_codegen.pipeline.codegen import check_coder, generate_pipeline, pipeline_library_name
    from agilenn_codegen.pipeline.exported import load_exported

    exported = load_exported(folder)
    lib_name = pipeline_library_name(exported, name)
    check_coder(exported, coder, lzw_bits)
    if calibration is not None and not calibration.is_file():
        raise UserError(f"--calibration {calibration}: no such file")
    if data_root is not None and not data_root.exists():
        raise UserError(f"--data-root {data_root}: no such file or folder")
    inputs = [folder, exported.device_onnx, exported.remote_onnx, *([calibration] if calibration else [])]
    output = OutputFolder(out, CODEGEN, force=force, inputs=inputs)
    command_line = f"agilenn codegen {shlex.quote(str(folder))} --target {tgt.name} --out {shlex.quote(str(out))}"
    if coder != "context":
        command_line += f" --coder {coder}"
    if kernels != "fast":
        command_line += f" --kernels {kernels}"
    if auth:
        command_line += " --auth"
    with console.status("quantizing and compiling the device model..."), output as stage:
        library = generate_pipeline(
            exported,
            tgt,
            stage,
            command=command_line,
            name=lib_name,
            calibration=calibration,
            data_root=data_root,
            coder=coder,
            lzw_bits=lzw_bits,
            allow_overflow=allow_overflow,
            kernels=kernels,
            auth=auth,
        )
        if micropython:
            from agilenn_codegen.micropython import pipeline_spec

            module = _write_micropython(pipeline_spec(library), stage, command_line)
    info = library.manifest["agilenn"]
    totals = library.manifest["totals"]
    coding = f"LZW {info['lzw_bits']} bits" if info["coder"] == "lzw" and info["lzw_bits"] else f"{info['coder']} coder"
    console.print(
        f"[bold green]generated[/] AgileNN device library {library.name} for {tgt.name} in {out}: "
        f"{totals['macs']:,} MACs, arena {totals['arena_bytes']:,} B, constants {totals['const_bytes']:,} B, "
        f"{info['symbols']:,} remote symbols/inference, {coding}, RAM total {info['ram_bytes_total']:,} B"
    )
    server = f"agilenn serve {folder}" + (" --auth-keys KEYS.json" if auth else "")
    console.print(f"device API in {out}/{library.name}_agilenn.h; server: {server}", markup=False)
    if auth:
        console.print(
            f"authenticated: provision each device with {library.name}_provision(id, key) from its entry of a key "
            "file (`agilenn keys KEYS.json --devices N`); no key is compiled into the library",
            markup=False,
        )
    if micropython:
        _show_micropython(console, module, out)
