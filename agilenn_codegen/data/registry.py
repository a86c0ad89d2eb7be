"""Data set names, their default locations and loaders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agilenn_codegen.data import cifar, fashion_mnist, imagefolder, npz, svhn
from agilenn_codegen.data.base import ImageDataset
from agilenn_codegen.errors import UserError

DATASETS: dict[str, Callable[[Path], ImageDataset]] = {
    "fashion-mnist": fashion_mnist.load,
    "cifar10": cifar.load_cifar10,
    "cifar100": cifar.load_cifar100,
    "svhn": svhn.load,
    "imagefolder": imagefolder.load,
    "npz": npz.load,
}


def default_root(name: str) -> Path | None:
    """Where a data set is looked for when --data-root is not given (None: it must be given)."""
    return fashion_mnist.DEBIAN_ROOT if name == "fashion-mnist" else None


def load_dataset(name: str, root: Path | None = None) -> ImageDataset:
    """Load the data set `name` from `root` (or its default location)."""
    if name not in DATASETS:
        raise UserError(f"unknown data set {name!r}", hint=f"choose one of: {', '.join(DATASETS)}")
    where = root if root is not None else default_root(name)
    if where is None:
        raise UserError(f"data set {name!r} needs --data-root (the folder that holds its files)")
    if name != "fashion-mnist" and not where.exists():
        raise UserError(f"data set path {where} does not exist", hint="pass the right folder with --data-root")
    return DATASETS[name](where)
