"""A folder tree `root/{train,test}/<class name>/<image>` of image files (read with Pillow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agilenn_codegen.data.base import ImageDataset, Split
from agilenn_codegen.errors import UserError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".webp")


def _read_split(folder: Path, classes: list[str], size: tuple[int, int] | None, mode: str) -> Split:
    from PIL import Image

    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() not in EXTENSIONS:
                continue
            with Image.open(path) as img:
                img = img.convert(mode)
                if size is not None and img.size != (size[1], size[0]):
                    img = img.resize((size[1], size[0]), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
            images.append(arr[..., None] if arr.ndim == 2 else arr)
            labels.append(label)
    if not images:
        raise UserError(f"no images found under {folder}", hint=f"expected {folder}/<class>/<image>{EXTENSIONS}")
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise UserError(
            f"images under {folder} have different sizes {sorted(shapes)[:3]}...", hint="resize them to one size first"
        )
    return Split(np.stack(images), np.asarray(labels, dtype=np.int64))


def load(root: Path, size: tuple[int, int] | None = None, grayscale: bool = False) -> ImageDataset:
    """Load `root/train` and `root/test`; class names are the sorted sub-folder names of `root/train`."""
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir() or not test_dir.is_dir():
        raise UserError(
            f"image folder data set not found: expected {train_dir} and {test_dir}",
            hint="arrange images as <root>/train/<class>/<file>.png and <root>/test/<class>/<file>.png",
        )
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    mode = "L" if grayscale else "RGB"
    train = _read_split(train_dir, classes, size, mode)
    test = _read_split(test_dir, classes, size or train.images.shape[1:3], mode)
    return ImageDataset("imagefolder", train, test, tuple(classes)).with_stats()
