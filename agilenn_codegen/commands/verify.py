"""`agilenn verify`: run the generated code on a target and compare every output byte with onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def command(
    model: Path = typer.Argument(..., help="int8 ONNX model."),
    target: str = typer.Option("host", "--target", "-t", help="host, or an emulated target (see `agilenn targets`)."),
    inputs: Path = typer.Option(
        None, "--inputs", help=".npy (single input) or .npz keyed by input name; samples stacked on axis 0."
    ),
    count: int = typer.Option(20, "--count", "-n", min=1, help="Generated samples when --inputs is not given."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated samples."),
    save_outputs: Path = typer.Option(
        None,
        "--save-outputs",
        help="Write the generated code's outputs as DIR/output_<j>.npy (DIR new, empty, or holding only those).",
    ),
    work_dir: Path = typer.Option(
        None, "--work-dir", help="Keep the generated code and build here (new, empty, or a previous --work-dir)."
    ),
    sanitize: bool = typer.Option(False, "--sanitize", help="Host only: build with ASan and UBSan."),
    report: Path = typer.Option(None, "--report", help="Also write the result as JSON."),
    kernels: str = typer.Option(
        "fast", "--kernels", help="fast (the optimized kernels, default) or reference (the spec), as for codegen."
    ),
) -> None:
    """Check the generated C bit-exact against onnxruntime, natively (host) or on an emulated Cortex-M."""
    import re

    from agilenn_codegen.commands.output_paths import check_output_file, check_reusable_dir
    from agilenn_codegen.compiler.codegen import KERNEL_CHOICES
    from agilenn_codegen.errors import UserError
    from agilenn_codegen.targets import load_target
    from agilenn_codegen.verify import verify_model

    tgt = load_target(target)
    if kernels not in KERNEL_CHOICES:
        raise UserError(f"--kernels {kernels!r}: expected one of {', '.join(KERNEL_CHOICES)}")
    if sanitize and not tgt.is_host:
        raise UserError(f"--sanitize works with --target host only (got --target {tgt.name})")
    if work_dir is not None:
        check_reusable_dir(
            work_dir, "--work-dir", lambda p: (p / "verify_main.c").is_file(), "a previous --work-dir of verify"
        )
    if save_outputs is not None:
        outputs = re.compile(r"output_\d+\.npy")
        check_reusable_dir(
            save_outputs,
            "--save-outputs",
            lambda p: all(outputs.fullmatch(e.name) for e in p.iterdir()),
            "a previous --save-outputs folder (only output_<j>.npy)",
        )
    if report is not None:
        check_output_file(report, "--report")
    console = Console()
    with console.status(f"building and running {model.name} on {tgt.name}..."):
        result = verify_model(
            model,
            tgt,
            inputs=inputs,
            count=count,
            seed=seed,
            save_outputs=save_outputs,
            work_dir=work_dir,
            sanitize=sanitize,
            kernels=kernels,
        )
    table = Table(title=f"{model.name} on {tgt.name}: {result.samples} samples ({result.sample_source})")
    for column in ("output", "shape", "dtype", "bit-exact samples", "differing elements", "max |diff|"):
        table.add_column(column, justify="right" if column not in ("output", "dtype") else "left")
    for check in result.outputs:
        style = "green" if check.exact else "red"
        table.add_row(
            check.name,
            str(list(check.shape)),
            check.dtype,
            f"[{style}]{check.exact_samples}/{check.samples}[/]",
            str(check.mismatched_elements),
            f"{check.max_abs_diff:.6g}",
        )
    console.print(table)
    if report is not None:
        report.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    if save_outputs is not None:
        console.print(f"outputs written to {save_outputs}/output_<j>.npy", markup=False)
    if result.exact:
        console.print(f"[bold green]bit-exact:[/] every output byte of {result.samples} samples equals onnxruntime's")
    else:
        console.print("[bold red]MISMATCH:[/] the generated code differs from onnxruntime")
        raise typer.Exit(1)
