"""`agilenn export`: device.onnx + remote.onnx + agilenn.json for the compiler and the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agilenn_codegen.errors import UserError


def command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `agilenn train`.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder to write device.onnx, remote.onnx, agilenn.json: created if missing; a previous export "
            "(its agilenn.json) is replaced in place; any other non-empty folder is refused unless --force. "
            "Written only when complete.",
        ),
    ],
    alpha: Annotated[float | None, typer.Option(help="Store this alpha instead of the trained one.")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty --out that is not a previous export (same-named files are replaced, "
            "other files kept).",
        ),
    ] = False,
) -> None:
    """Export a trained AgileNN (BN folded, split conv instead of Slice, mapping layer folded)."""
    from agilenn_codegen.commands.output_paths import EXPORT, OutputFolder
    from agilenn_codegen.training.export import export_model
    from agilenn_codegen.training.loading import load_trained

    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise UserError("--alpha must be between 0 and 1")
    folder = OutputFolder(out, EXPORT, force=force, inputs=[run])
    trained = load_trained(run)
    metrics = None
    if (run / "eval.json").is_file():
        metrics = json.loads((run / "eval.json").read_text())
    order = trained.preprocessing.get("order")
    with folder as stage:
        meta = export_model(trained.model, trained.cfg, trained.data_info, stage, alpha=alpha, metrics=metrics,
                            channel_order=order)  # fmt: skip
    check = meta["verification"]
    typer.echo(
        f"wrote {out}/device.onnx, remote.onnx, agilenn.json (k={meta['split']['k']}, "
        f"{meta['quantizer']['num_centroids']} centroids, alpha={meta['combiner']['alpha']:.4f}; "
        f"onnxruntime vs torch max |diff| {check['device_max_abs_diff_ort_vs_torch']:.2e} / "
        f"{check['remote_max_abs_diff_ort_vs_torch']:.2e})"
    )
