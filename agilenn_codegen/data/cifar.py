"""CIFAR-10 and CIFAR-100 in their "python version" pickles (`data_batch_1..5`/`test_batch`, `train`/`test`)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from agilenn_codegen.data.base import ImageDataset, Split
from agilenn_codegen.errors import UserError

_HINT = (
    "download the CIFAR 'python version' archive on a machine with internet access and extract it; "
    "pass the folder holding the batches with --data-root"
)


def _unpickle(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        raw = pickle.load(handle, encoding="bytes")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _to_split(batches: list[dict[str, Any]], label_key: str) -> Split:
    data = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return Split(np.ascontiguousarray(images), labels)


def _resolve(root: Path, marker: str, folder: str) -> Path:
    for candidate in (root, root / folder):
        if (candidate / marker).is_file():
            return candidate
    raise UserError(f"{marker} not found in {root} or {root / folder}", hint=_HINT)


def _names(meta_path: Path, key: str) -> tuple[str, ...]:
    meta = _unpickle(meta_path)
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[key])


def load_cifar10(root: Path) -> ImageDataset:
    """Load CIFAR-10 from `root` or `root/cifar-10-batches-py`."""
    base = _resolve(root, "data_batch_1", "cifar-10-batches-py")
    train_files = sorted(base.glob("data_batch_*"))
    train = _to_split([_unpickle(p) for p in train_files], "labels")
    test = _to_split([_unpickle(base / "test_batch")], "labels")
    meta = base / "batches.meta"
    names = _names(meta, "label_names") if meta.is_file() else tuple(str(i) for i in range(10))
    return ImageDataset("cifar10", train, test, names).with_stats()


def load_cifar100(root: Path) -> ImageDataset:
    """Load CIFAR-100 (fine labels) from `root` or `root/cifar-100-python`."""
    base = _resolve(root, "train", "cifar-100-python")
    train = _to_split([_unpickle(base / "train")], "fine_labels")
    test = _to_split([_unpickle(base / "test")], "fine_labels")
    meta = base / "meta"
    names = _names(meta, "fine_label_names") if meta.is_file() else tuple(str(i) for i in range(100))
    return ImageDataset("cifar100", train, test, names).with_stats()
