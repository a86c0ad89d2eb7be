"""`agilenn profile`: executed instructions per layer (and per AgileNN stage) on an emulated core."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def command(
    model: Path = typer.Argument(..., help="int8 ONNX model, or a folder from `agilenn export` (AgileNN pipeline)."),
    target: str = typer.Option("stm32f746", "--target", "-t", help="An emulated target (see `agilenn targets`)."),
    json_file: Path = typer.Option(None, "--json", help="Also write the profile as JSON to this file."),
    inputs: Path = typer.Option(
        None, "--inputs", help="Plain model: .npy/.npz sample (the first is used); default: a generated random one."
    ),
    seed: int = typer.Option(0, "--seed", help="Plain model: seed of the generated sample."),
    data_root: Path = typer.Option(
        None, "--data-root", help="AgileNN folder: where its data set lives (test image, calibration)."
    ),
    cpi: float = typer.Option(
        None, "--cpi", min=0.1, help="Cycles per instruction assumed for the cycle estimate (default 1.0)."
    ),
    work_dir: Path = typer.Option(None, "--work-dir", help="Keep the generated code, harness and build here."),
    input_mean: str = typer.Option(None, "--input-mean", help="Plain model: as for codegen; profiles <name>_run_u8."),
    input_std: str = typer.Option(None, "--input-std", help="Plain model: as for codegen."),
    input_scale: str = typer.Option(None, "--input-scale", help="Plain model: as for codegen (e.g. 1/255)."),
    kernels: str = typer.Option("fast", "--kernels", help="fast (default) or reference kernels, as for codegen."),
    stream: bool = typer.Option(False, "--stream", help="Plain model: profile the row-streamed network."),
    coder: str = typer.Option(
        "context", "--coder", help="AgileNN folder: the payload coder, as for codegen (context, lzw or raw)."
    ),
    allow_overflow: bool = typer.Option(
        False, "--allow-overflow", help="Profile even if the model does not fit the target's RAM/flash (as codegen)."
    ),
) -> None:
    """Count the instructions one inference executes, layer by layer, on the target's emulated core.

    Counts are exact (a qemu plugin counts every executed instruction) and repeatable. The cycle estimate
    is instructions x CPI, with the CPI an assumption that the output states."""
    from agilenn_codegen.commands.output_paths import check_output_dir, check_output_file
    from agilenn_codegen.compiler.codegen import KERNEL_CHOICES
    from agilenn_codegen.compiler.pixels import parse_normalisation
    from agilenn_codegen.errors import UserError
    from agilenn_codegen.pipeline.exported import is_export_folder
    from agilenn_codegen.profiling import DEFAULT_CPI, profile_model, profile_pipeline
    from agilenn_codegen.targets import load_target

    tgt = load_target(target)
    if json_file is not None:
        check_output_file(json_file, "--json")
    if work_dir is not None:
        check_output_dir(work_dir, "--work-dir")
    assumed = DEFAULT_CPI if cpi is None else cpi
    if kernels not in KERNEL_CHOICES:
        raise UserError(f"--kernels {kernels!r}: expected one of {', '.join(KERNEL_CHOICES)}")
    pixels = parse_normalisation(input_mean, input_std, input_scale)
    console = Console()
    with console.status(f"building and counting {model.name} on {tgt.name}..."):
        if is_export_folder(model):
            if pixels is not None:
                raise UserError("--input-mean/--input-std/--input-scale: an export folder states its normalisation")
            report = profile_pipeline(
                model, tgt, data_root=data_root, work_dir=work_dir, cpi=assumed, kernels=kernels, coder=coder
            )
        else:
            samples = None
            if inputs is not None:
                from agilenn_codegen.compiler import compile_model
                from agilenn_codegen.samples import load_samples

                samples = load_samples(inputs, compile_model(model))
            report = profile_model(
                model,
                tgt,
                samples=samples,
                seed=seed,
                work_dir=work_dir,
                cpi=assumed,
                pixels=pixels,
                kernels=kernels,
                stream=stream,
            )
    show(console, report)
    if json_file is not None:
        json_file.write_text(json.dumps(report.to_json(), indent=2) + "\n")


def show(console: Console, report: object) -> None:
    from agilenn_codegen.profiling import ProfileReport

    assert isinstance(report, ProfileReport)
    table = Table(title=f"{Path(report.subject).name} on {report.target} ({report.cpu}): instructions per layer")
    for column in ("#", "op", "ONNX node", "instructions", "share", "MACs", "per MAC", "outputs", "per output"):
        table.add_column(column, justify="left" if column in ("op", "ONNX node") else "right")
    total = max(report.total, 1)
    for layer in report.layers:
        table.add_row(
            str(layer.index),
            layer.op,
            layer.onnx_node,
            f"{layer.instructions:,}",
            f"{100 * layer.instructions / total:.1f}%",
            f"{layer.macs:,}" if layer.macs else "",
            f"{layer.per_mac:.2f}" if layer.per_mac is not None else "",
            f"{layer.outputs:,}",
            f"{layer.per_output:.2f}" if layer.per_output is not None else "",
        )
    console.print(table)
    stages = Table(title="stages")
    for column in ("stage", "instructions", "share", "what"):
        stages.add_column(column, justify="right" if column in ("instructions", "share") else "left")
    for stage in report.stages:
        stages.add_row(stage.name, f"{stage.instructions:,}", f"{100 * stage.instructions / total:.1f}%", stage.note)
    stages.add_row("total", f"{report.total:,}", "100%", "", style="bold")
    console.print(stages)
    console.print(
        f"stack high-water mark {report.stack_bytes:,} B; whole program {report.program_instructions:,} instructions "
        f"(start-up and file I/O included)",
        markup=False,
    )
    console.print(
        f"cycle estimate: {report.cycles:,.0f} cycles = {report.milliseconds:.3f} ms at "
        f"{report.clock_hz / 1e6:g} MHz, ASSUMING {report.cpi:g} cycles per instruction (--cpi to change)",
        markup=False,
    )
