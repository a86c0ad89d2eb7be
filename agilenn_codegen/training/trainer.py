"""The training loop shared by `train-reference` and `train`: progress bars, per-epoch metrics (CSV and
JSON), plots, checkpoints with resume, seeds and DistributedDataParallel."""

from __future__ import annotations

import csv
import json
import math
import time
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from agilenn_codegen.data.base import ImageDataset
from agilenn_codegen.training.batches import Batches, Preprocess
from agilenn_codegen.training.config import TrainConfig
from agilenn_codegen.training.distributed import Dist, average, barrier
from agilenn_codegen.training.optim import CosineSGDW
from agilenn_codegen.training.runs import RunPaths, save_model
from agilenn_codegen.training.tasks import Task


def make_batches(cfg: TrainConfig, data: ImageDataset, ctx: Dist) -> tuple[Batches, Batches]:
    """Training (sharded, augmented) and test batches."""
    pre = Preprocess(data.mean, data.std, cfg.data.resize)
    train = Batches(data.train.subset(cfg.data.train_limit), cfg.optim.batch_size, pre, train=True,
                    seed=cfg.optim.seed, flip=cfg.data.flip, pad=cfg.data.pad_crop, rank=ctx.rank,
                    world=ctx.world, device=cfg.device)  # fmt: skip
    test = Batches(
        data.test.subset(cfg.data.test_limit), max(cfg.optim.batch_size, 256), pre, train=False, device=cfg.device
    )
    return train, test


def _write_metrics(paths: RunPaths, history: list[dict[str, Any]]) -> None:
    paths.metrics_json.write_text(json.dumps(history, indent=2) + "\n")
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with open(paths.metrics_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def _fmt(stats: dict[str, float]) -> dict[str, str]:
    return {k: f"{v:.3f}" for k, v in stats.items() if k in ("loss", "acc", "skew") and not math.isnan(v)}


def fit(
    task: Task,
    cfg: TrainConfig,
    paths: RunPaths,
    data: ImageDataset,
    ctx: Dist,
    *,
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train `task.model` for cfg.optim.epochs epochs; returns the per-epoch history."""
    device = torch.device(cfg.device)
    task.to(device)
    model = task.model
    train_batches, test_batches = make_batches(cfg, data, ctx)
    optimizer = CosineSGDW(model, cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay,
                           cfg.optim.epochs * len(train_batches))  # fmt: skip
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume and paths.checkpoint.is_file():
        state = torch.load(paths.checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        start_epoch = int(state["epoch"]) + 1
        torch.set_rng_state(state["rng"])
    module: torch.nn.Module = model
    if ctx.enabled:
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        module = DistributedDataParallel(model, device_ids=ids)
    for epoch in range(start_epoch, cfg.optim.epochs):
        train_batches.epoch = epoch
        model.train()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        started = time.time()
        bar = tqdm(train_batches, desc=f"epoch {epoch + 1}/{cfg.optim.epochs}", disable=not (progress and ctx.is_main),
                   dynamic_ncols=True, leave=True)  # fmt: skip
        for x, y in bar:
            loss, stats = task.train_step(module, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for key, value in stats.items():
                if not math.isnan(value):
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
            bar.set_postfix(_fmt({k: sums[k] / counts[k] for k in sums}))
        elapsed = time.time() - started
        row: dict[str, Any] = {"epoch": epoch + 1, "lr_end": optimizer.lr}
        row.update({f"train_{k}": average(sums[k] / counts[k], ctx) for k in sums})
        row["images_per_s"] = len(train_batches) * cfg.optim.batch_size * ctx.world / max(elapsed, 1e-9)
        row["epoch_seconds"] = elapsed
        per_sample: np.ndarray | None = None
        if ctx.is_main:
            metrics, per_sample = task.evaluate(test_batches)
            row.update({f"test_{k}": v for k, v in metrics.items()})
            history.append(row)
            _write_metrics(paths, history)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                     "history": history, "rng": torch.get_rng_state(), "config": cfg.to_dict()}  # fmt: skip
            tmp = paths.checkpoint.with_suffix(".tmp")
            torch.save(state, tmp)
            tmp.replace(paths.checkpoint)
            _plots(paths, history, per_sample, cfg)
            if progress:
                shown = ", ".join(f"{k}={v:.4f}" for k, v in row.items() if isinstance(v, float))
                tqdm.write(f"epoch {epoch + 1}: {shown}")
        barrier(ctx)
    if ctx.is_main:
        extra = task.extra_state()
        extra["data"] = {"dataset": data.name, "class_names": list(data.class_names), "mean": list(data.mean),
                         "std": list(data.std)}  # fmt: skip
        save_model(paths.model, task.kind, cfg, model.state_dict(), extra)
    barrier(ctx)
    return history


def _plots(paths: RunPaths, history: list[dict[str, Any]], per_sample: np.ndarray | None, cfg: TrainConfig) -> None:
    from agilenn_codegen.training import plots

    plots.training_curves(history, paths.plots / "training_curves.png")
    if per_sample is not None and per_sample.size:
        np.save(paths.root / "test_skewness.npy", per_sample)
        plots.skewness_distribution(per_sample, cfg.loss.rho, paths.plots / "skewness_distribution.png")
