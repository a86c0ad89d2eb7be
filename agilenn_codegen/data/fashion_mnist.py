"""Fashion-MNIST in the IDX format (as shipped by the Debian package `dataset-fashion-mnist`)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from agilenn_codegen.data.base import ImageDataset, Split
from agilenn_codegen.errors import UserError

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Statistics of the 60 000 training images, pixels scaled to [0, 1].
MEAN = (0.2860,)
STD = (0.3530,)


def _find(root: Path, stem: str) -> Path | None:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes into an array of its shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise UserError(f"{path} is truncated: expected {count} values, found {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def load(root: Path) -> ImageDataset:
    """Load both splits from `root` (files `*-ubyte.gz` or uncompressed `*-ubyte`)."""
    splits: dict[str, Split] = {}
    for split, (img_stem, lbl_stem) in FILES.items():
        img, lbl = _find(root, img_stem), _find(root, lbl_stem)
        if img is None or lbl is None:
            raise UserError(
                f"Fashion-MNIST not found: looked for {img_stem}[.gz] and {lbl_stem}[.gz] in {root}",
                hint="install it with `sudo apt-get install dataset-fashion-mnist` (files go to "
                f"{DEBIAN_ROOT}), or place the four IDX files there or in the folder given by --data-root",
            )
        images = read_idx(img)
        labels = read_idx(lbl).astype(np.int64)
        splits[split] = Split(np.ascontiguousarray(images[..., None]), labels)
    return ImageDataset("fashion-mnist", splits["train"], splits["test"], CLASS_NAMES, MEAN, STD)
