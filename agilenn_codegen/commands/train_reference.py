"""`agilenn train-reference`: train the reference NN whose body is AgileNN's frozen XAI evaluator."""

from __future__ import annotations

from typing import Annotated

import typer

from agilenn_codegen.commands import training_options as opts
from agilenn_codegen.commands.output_paths import check_run_folder
from agilenn_codegen.errors import UserError


def command(
    out: opts.RunFolder,
    dataset: opts.Dataset = "fashion-mnist",
    data_root: opts.DataRoot = None,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size per process.")] = 128,
    lr: Annotated[float, typer.Option(help="Initial learning rate (cosine decay to 0).")] = 0.1,
    weight_decay: Annotated[float, typer.Option(help="Decoupled weight decay.")] = 5e-4,
    width: Annotated[int, typer.Option(help="Base width of the reference body.")] = 32,
    channels: Annotated[int, typer.Option(help="Channels of the stem's feature map (= extractor's).")] = 24,
    first_stride: opts.FirstStride = None,
    resize: Annotated[
        int | None, typer.Option(help="Resize images to this square size (96 as the paper for CIFAR).")
    ] = None,
    flip: opts.Flip = True,
    pad_crop: opts.PadCrop = 2,
    train_limit: opts.TrainLimit = None,
    test_limit: opts.TestLimit = None,
    seed: opts.Seed = 0,
    device: opts.Device = "cpu",
    threads: opts.Threads = None,
    resume: opts.Resume = False,
    progress: opts.Progress = True,
) -> None:
    """Train the reference NN (stem shaped like the feature extractor + a classifier body)."""
    from agilenn_codegen.training.config import TrainConfig
    from agilenn_codegen.training.pipeline import train_reference

    check_run_folder(out)
    if epochs < 1 or batch_size < 1:
        raise UserError("--epochs and --batch-size must be at least 1")
    cfg = TrainConfig()
    cfg.model.channels = channels
    cfg.model.reference_width = width
    cfg.model.first_stride = first_stride or 0  # 0: chosen from the image size when the data is loaded
    cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.lr = epochs, batch_size, lr
    cfg.optim.weight_decay, cfg.optim.seed = weight_decay, seed
    cfg.data.dataset, cfg.data.root = dataset, str(data_root) if data_root else None
    cfg.data.resize, cfg.data.flip, cfg.data.pad_crop = resize, flip, pad_crop
    cfg.data.train_limit, cfg.data.test_limit = train_limit, test_limit
    cfg.device, cfg.threads = device, threads
    history = train_reference(cfg, out, resume=resume, progress=progress)
    if history:
        typer.echo(f"reference test accuracy {history[-1].get('test_acc', float('nan')):.4f}; model in {out}")
