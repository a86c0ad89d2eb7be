"""End-to-end training runs behind the `train-reference` and `train` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from agilenn_codegen.data import ImageDataset, load_dataset
from agilenn_codegen.errors import UserError
from agilenn_codegen.training.batches import Batches, Preprocess
from agilenn_codegen.training.config import TrainConfig
from agilenn_codegen.training.distributed import Dist, init_distributed, shutdown
from agilenn_codegen.training.models import ReferenceNet
from agilenn_codegen.training.preprocessing import preprocess_extractor
from agilenn_codegen.training.runs import RunPaths, load_model_file
from agilenn_codegen.training.tasks import AgileTask, ReferenceTask
from agilenn_codegen.training.trainer import fit


def load_data(cfg: TrainConfig) -> ImageDataset:
    """Load the configured data set and fill the data-dependent model fields of `cfg`."""
    root = Path(cfg.data.root) if cfg.data.root else None
    data = load_dataset(cfg.data.dataset, root)
    height, width = data.image_size
    size = cfg.data.resize or height
    if cfg.data.resize is None and height != width:
        raise UserError(f"images are {height}x{width}; square inputs are needed", hint="pass --resize N")
    cfg.model.in_channels = data.channels
    cfg.model.image_size = size
    cfg.model.num_classes = data.num_classes
    if cfg.model.first_stride <= 0:
        cfg.model.first_stride = 3 if size >= 96 else 1
    return data


def _setup(cfg: TrainConfig, out: Path, resume: bool) -> tuple[RunPaths, Dist]:
    ctx = init_distributed(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but CUDA is not available", hint="use --device cpu")
    torch.manual_seed(cfg.optim.seed)
    paths = RunPaths(out)
    if ctx.is_main:
        paths.make()
        if paths.model.is_file() and not resume:
            raise UserError(f"{out} already holds a trained model", hint="choose another --out, or --resume")
        cfg.save(paths.config)
    if cfg.device == "cuda" and ctx.enabled:  # one GPU per process
        cfg.device = f"cuda:{ctx.local_rank}"
    if cfg.device.startswith("cuda") and torch.device(cfg.device).index is not None:
        torch.cuda.set_device(torch.device(cfg.device))
    return paths, ctx


def resolve_resume(cfg: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """With --resume, the run's saved configuration wins (epochs may be raised from the command line)."""
    saved = RunPaths(out).config
    if not resume or not saved.is_file():
        return cfg
    old = TrainConfig.load(saved)
    old.optim.epochs = max(old.optim.epochs, cfg.optim.epochs)
    return old


def train_reference(cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Train the reference NN (stem shaped like the feature extractor + body)."""
    cfg = resolve_resume(cfg, out, resume)
    data = load_data(cfg)
    paths, ctx = _setup(cfg, out, resume)
    try:
        return fit(ReferenceTask(cfg), cfg, paths, data, ctx, resume=resume, progress=progress)
    finally:
        shutdown(ctx)


def load_reference(run: Path, cfg: TrainConfig) -> ReferenceNet:
    """Load a trained reference and check that its stem matches the AgileNN feature extractor."""
    blob = load_model_file(run, "reference")
    ref_cfg = TrainConfig.from_dict(blob["config"]).model
    for field in ("in_channels", "image_size", "num_classes", "first_stride", "mid_channels", "channels"):
        if getattr(ref_cfg, field) != getattr(cfg.model, field):
            raise UserError(
                f"the reference in {run} has {field}={getattr(ref_cfg, field)}, this run needs "
                f"{getattr(cfg.model, field)}",
                hint="train the reference on the same data set with the same extractor shape",
            )
    cfg.model.reference_width = ref_cfg.reference_width
    reference = ReferenceNet(ref_cfg)
    reference.load_state_dict(blob["state_dict"])
    return reference.eval()


def train_agilenn(cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Pre-process the extractor (unless resuming) and train AgileNN jointly."""
    cfg = resolve_resume(cfg, out, resume)
    if cfg.reference is None:
        raise UserError("AgileNN training needs a trained reference", hint="run `agilenn train-reference` first")
    data = load_data(cfg)
    reference = load_reference(Path(cfg.reference), cfg)
    paths, ctx = _setup(cfg, out, resume)
    try:
        task = AgileTask(cfg, reference)
        if not (resume and paths.checkpoint.is_file()):
            if cfg.init_from_reference:
                task.model.extractor.load_state_dict(reference.stem.state_dict())
            if cfg.remap != "none":
                subset = data.train.subset(cfg.remap_samples)
                batches = Batches(subset, 256, Preprocess(data.mean, data.std, cfg.data.resize), train=False)
                task.preprocessing = preprocess_extractor(task.model, task.importance, batches, cfg.remap)
                if ctx.is_main:
                    (paths.root / "preprocessing.json").write_text(json.dumps(task.preprocessing, indent=2) + "\n")
        elif (paths.root / "preprocessing.json").is_file():
            task.preprocessing = json.loads((paths.root / "preprocessing.json").read_text())
        return fit(task, cfg, paths, data, ctx, resume=resume, progress=progress)
    finally:
        shutdown(ctx)
