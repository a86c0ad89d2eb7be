"""`agilenn fit-coder`: fit (or refresh) the context coder's tables of an export folder on its training data."""

from __future__ import annotations

from pathlib import Path

import typer

from agilenn_codegen.errors import UserError


def command(
    folder: Path = typer.Argument(..., help="Folder written by `agilenn export` (agilenn.json, device.onnx)."),
    images: int = typer.Option(
        None, "--images", help="Fit on the first N training images (default: the whole training split)."
    ),
    data_root: Path = typer.Option(None, "--data-root", help="Where the data set named in agilenn.json lives."),
) -> None:
    """Fit the context coder's tables (payload encoding 2) and store them in FOLDER/agilenn.json.

    The symbols are computed as the device computes them (the int8 device model that `agilenn codegen`
    compiles). The model id changes with the tables: regenerate device libraries afterwards."""
    from rich.console import Console
    from rich.progress import Progress

    from agilenn_codegen.offload import model_id
    from agilenn_codegen.pipeline.coder_tables import fit_coder_tables, write_coder_tables
    from agilenn_codegen.pipeline.exported import load_exported
    from agilenn_codegen.server.model import read_meta

    if images is not None and images < 1:
        raise UserError(f"--images must be at least 1, got {images}")
    console = Console()
    exported = load_exported(folder, with_coder=False)  # the tables there, if any, are replaced
    old_id = model_id(read_meta(folder))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training symbols", total=None)
        model = fit_coder_tables(
            exported,
            images=images,
            data_root=data_root,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    meta = write_coder_tables(folder, model)
    fitted = model.fitted
    console.print(
        f"[bold green]fitted[/] context-coder tables on {fitted['images']:,} training images of {exported.dataset}: "
        f"{len(model.live_channels)} live channels of {model.channels} (rare: {list(model.rare_channels) or 'none'}), "
        f"{len(model.rows)} rows, {model.table_bytes():,} bytes of flash; "
        f"about {fitted['body_bytes_per_image_estimate'] + 8:,.0f} bytes per inference on the training data"
    )
    console.print(
        f"wrote {folder / 'agilenn.json'} (model id 0x{old_id:08x} -> 0x{model_id(meta):08x}: "
        "regenerate device libraries with `agilenn codegen`)",
        markup=False,
    )
