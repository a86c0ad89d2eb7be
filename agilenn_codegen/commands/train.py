"""`agilenn train`: AgileNN's joint training with XAI-guided skewness (paper sections 3-5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agilenn_codegen.commands import training_options as opts
from agilenn_codegen.commands.output_paths import check_run_folder
from agilenn_codegen.errors import UserError


def _depths(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise UserError(f"--remote-depths {text!r} is not a comma-separated list of integers") from exc
    if len(values) != 7 or min(values) < 0:
        raise UserError(f"--remote-depths needs 7 non-negative integers (one per stage), got {text!r}")
    return values


def command(
    out: opts.RunFolder,
    reference: Annotated[Path, typer.Option(help="Run folder of `agilenn train-reference`.")],
    dataset: opts.Dataset = "fashion-mnist",
    data_root: opts.DataRoot = None,
    split_ratio: Annotated[float, typer.Option(help="Share of feature channels kept local (k = round(r*C)).")] = 0.2,
    rho: Annotated[float, typer.Option(help="Required skewness (importance share of the local channels).")] = 0.8,
    lam: Annotated[float, typer.Option(help="Weight of the prediction loss; 1-lam weighs skewness+disorder.")] = 0.8,
    centroids: Annotated[int, typer.Option(help="Quantizer centroids (bits per index = ceil(log2)).")] = 8,
    xai: Annotated[str, typer.Option(help="ig2 (authors' two-point IG), ig, saliency or ixg.")] = "ig2",
    ig_steps: Annotated[int, typer.Option(help="Integration points for --xai ig.")] = 8,
    correct_only: Annotated[bool, typer.Option(help="Only reference-correct samples drive the XAI losses.")] = True,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size per process.")] = 64,
    lr: Annotated[float, typer.Option(help="Initial learning rate (cosine decay to 0).")] = 0.1,
    weight_decay: Annotated[float, typer.Option(help="Decoupled weight decay (cosine-decayed).")] = 5e-4,
    remote_preset: Annotated[str, typer.Option(help="cpu (width 0.35, short) or paper (full MobileNetV2).")] = "cpu",
    remote_width: Annotated[float | None, typer.Option(help="Override the preset's width multiplier.")] = None,
    remote_depths: Annotated[
        str | None, typer.Option(help="Override the preset's 7 stage depths, e.g. 1,2,3,4,3,3,1.")
    ] = None,
    combiner: Annotated[str, typer.Option(help="sigmoid (paper) or softmax (authors' code).")] = "sigmoid",
    temperature: Annotated[float, typer.Option(help="T of alpha = sigmoid(w/T).")] = 6.0,
    remap: Annotated[str, typer.Option(help="Channel pre-processing: topk (Algorithm 1), global, none.")] = "topk",
    remap_samples: Annotated[int, typer.Option(help="Training samples used to rank channels.")] = 2048,
    init_from_reference: Annotated[bool, typer.Option(help="Start the extractor from the reference stem.")] = True,
    aux_ce: Annotated[float, typer.Option(help="Extra CE weight on local and remote logits (0 = paper).")] = 0.0,
    first_stride: opts.FirstStride = None,
    resize: Annotated[int | None, typer.Option(help="Resize images to this square size.")] = None,
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
    """Train AgileNN: feature extractor, Local NN, quantizer, Remote NN and combiner, with XAI losses."""
    from agilenn_codegen.training.config import REMOTE_PRESETS, XAI_METHODS, TrainConfig
    from agilenn_codegen.training.pipeline import train_agilenn

    check_run_folder(out)
    if xai not in XAI_METHODS:
        raise UserError(f"unknown --xai {xai!r}", hint=f"choose one of {', '.join(XAI_METHODS)}")
    if remote_preset not in REMOTE_PRESETS:
        raise UserError(f"unknown --remote-preset {remote_preset!r}", hint=f"choose {' or '.join(REMOTE_PRESETS)}")
    if combiner not in ("sigmoid", "softmax"):
        raise UserError(f"unknown --combiner {combiner!r}", hint="choose sigmoid or softmax")
    if remap not in ("topk", "global", "none"):
        raise UserError(f"unknown --remap {remap!r}", hint="choose topk, global or none")
    if not 0.0 < split_ratio < 1.0 or not 0.0 <= rho <= 1.0 or not 0.0 < lam <= 1.0:
        raise UserError("need 0 < --split-ratio < 1, 0 <= --rho <= 1 and 0 < --lam <= 1")
    if centroids < 2 or centroids > 256 or epochs < 1 or batch_size < 2:
        raise UserError("need 2 <= --centroids <= 256, --epochs >= 1 and --batch-size >= 2")
    width, depths = REMOTE_PRESETS[remote_preset]
    cfg = TrainConfig(reference=str(reference), remap=remap, remap_samples=remap_samples,
                      init_from_reference=init_from_reference, device=device, threads=threads)  # fmt: skip
    m = cfg.model
    m.split_ratio, m.centroids, m.combiner, m.temperature = split_ratio, centroids, combiner, temperature
    m.remote_width = remote_width if remote_width is not None else width
    m.remote_depths = _depths(remote_depths) if remote_depths else depths
    m.first_stride = first_stride or 0
    cfg.xai.method, cfg.xai.n_steps, cfg.xai.correct_only = xai, ig_steps, correct_only
    cfg.loss.rho, cfg.loss.lam, cfg.loss.aux_ce = rho, lam, aux_ce
    cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.lr = epochs, batch_size, lr
    cfg.optim.weight_decay, cfg.optim.seed = weight_decay, seed
    cfg.data.dataset, cfg.data.root = dataset, str(data_root) if data_root else None
    cfg.data.resize, cfg.data.flip, cfg.data.pad_crop = resize, flip, pad_crop
    cfg.data.train_limit, cfg.data.test_limit = train_limit, test_limit
    history = train_agilenn(cfg, out, resume=resume, progress=progress)
    if history:
        last = {k: v for k, v in history[-1].items() if isinstance(v, float)}
        nan = float("nan")
        typer.echo(
            f"test accuracy {last.get('test_acc_final', nan):.4f} (local-only {last.get('test_acc_local', nan):.4f}, "
            f"remote-only {last.get('test_acc_remote', nan):.4f}), skewness {last.get('test_skewness', nan):.4f}; "
            f"model in {out}"
        )
