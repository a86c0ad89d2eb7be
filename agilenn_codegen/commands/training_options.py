"""Command-line options shared by `agilenn train-reference` and `agilenn train` (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunFolder = Annotated[
    Path,
    typer.Option(
        "--out",
        help="Run folder to create (config, metrics, plots, model.pt): missing, empty, or a run folder to "
        "--resume; any other non-empty folder is refused.",
    ),
]
Dataset = Annotated[str, typer.Option(help="fashion-mnist, cifar10, cifar100, svhn, imagefolder or npz.")]
DataRoot = Annotated[Path | None, typer.Option(help="Folder (or .npz file) holding the data set.")]
FirstStride = Annotated[int | None, typer.Option(help="Stride of the first conv (default: 3 for >=96 px, else 1).")]
Flip = Annotated[bool, typer.Option(help="Random horizontal flips.")]
PadCrop = Annotated[int, typer.Option(help="Pad-and-random-crop margin in pixels (0: off).")]
TrainLimit = Annotated[int | None, typer.Option(help="Use only the first N training images.")]
TestLimit = Annotated[int | None, typer.Option(help="Use only the first N test images.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Device = Annotated[str, typer.Option(help="cpu or cuda[:i].")]
Threads = Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's choice).")]
Resume = Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")]
Progress = Annotated[bool, typer.Option(help="Show progress bars.")]
