"""`agilenn quantize`: int8-quantize a float ONNX model with static calibration."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console


class QuantFormat(str, Enum):
    """Output graph format."""

    qoperator = "qoperator"
    qdq = "qdq"


class CalibrateMethod(str, Enum):
    """How activation ranges are derived from the calibration data."""

    minmax = "minmax"
    entropy = "entropy"
    percentile = "percentile"
    distribution = "distribution"


def command(
    float_model: Path = typer.Argument(..., help="Float ONNX model (BatchNorm is folded automatically)."),
    calibration: Path = typer.Option(
        ..., "--calibration", help=".npz of calibration inputs keyed by model input name, samples first."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Where to write the int8 ONNX model (its folder is created; not the input file)."
    ),
    fmt: QuantFormat = typer.Option(
        QuantFormat.qoperator, "--format", help="qoperator (QLinearConv, QGemm, ...) or qdq."
    ),
    per_channel: bool = typer.Option(
        True, "--per-channel/--per-tensor", help="One weight scale per output channel, or one per tensor."
    ),
    calibrate_method: CalibrateMethod = typer.Option(
        CalibrateMethod.minmax, "--method", help="Calibration method for activation ranges."
    ),
) -> None:
    """Quantize a float ONNX model to int8 (int8 activations, symmetric int8 weights, int32 bias)."""
    from agilenn_codegen.commands.output_paths import check_output_file
    from agilenn_codegen.quantize import quantize_model

    check_output_file(out, "--out", inputs=[float_model, calibration], create_folder=True)
    report = quantize_model(
        float_model,
        calibration,
        out,
        fmt=fmt.value,
        per_channel=per_channel,
        calibrate_method=calibrate_method.value,
    )
    console = Console(highlight=False)
    weights = "per-channel" if report.per_channel else "per-tensor"
    console.print(
        f"quantized {float_model} -> {report.output} "
        f"({report.fmt}, {weights} weights, {report.num_samples} calibration samples, {report.calibrate_method})"
    )
    before = ", ".join(f"{op} x{n}" for op, n in report.ops_before.items())
    after = ", ".join(f"{op} x{n}" for op, n in report.ops_after.items())
    console.print(f"  float ops: {before}")
    console.print(f"  int8 ops:  {after}")
