"""NumPy archives: `train.npz` and `test.npz` in a folder, each with arrays `x` (images) and `y` (labels).

`x` may be (N, H, W) or (N, H, W, C) uint8, or float in [0, 1]; an optional `class_names` array names the
classes. A single file with `x_train`, `y_train`, `x_test`, `y_test` is accepted too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agilenn_codegen.data.base import ImageDataset, Split
from agilenn_codegen.errors import UserError


def _as_uint8(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise UserError(f"npz images must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.clip(np.rint(np.asarray(x, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x)


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(_as_uint8(x), np.asarray(y, dtype=np.int64).reshape(-1))


def load(root: Path) -> ImageDataset:
    """Load from a folder with train.npz/test.npz, or from one .npz with x_train/y_train/x_test/y_test."""
    if root.is_file():
        with np.load(root) as data:
            keys = set(data.files)
            need = {"x_train", "y_train", "x_test", "y_test"}
            if not need <= keys:
                raise UserError(f"{root} lacks arrays {sorted(need - keys)}")
            train, test = _split(data["x_train"], data["y_train"]), _split(data["x_test"], data["y_test"])
            names_arr = data["class_names"] if "class_names" in keys else None
    else:
        paths = [root / "train.npz", root / "test.npz"]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(
                f"npz data set not found: missing {', '.join(missing)}",
                hint="save arrays with numpy.savez(path, x=images, y=labels)",
            )
        with np.load(paths[0]) as tr, np.load(paths[1]) as te:
            train, test = _split(tr["x"], tr["y"]), _split(te["x"], te["y"])
            names_arr = tr["class_names"] if "class_names" in tr.files else None
    if names_arr is not None:
        names = tuple(str(n) for n in names_arr)
    else:
        count = int(max(train.labels.max(), test.labels.max())) + 1
        names = tuple(str(i) for i in range(count))
    return ImageDataset("npz", train, test, names).with_stats()
