"""Write test images for agilenn_udp.py: float32 (C, H, W), normalised as the exported model expects.

    .venv/bin/python examples/micropython/make_images.py examples/agilenn_fmnist images.bin [COUNT]

Also writes IMAGES.labels (one label per line) beside them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from agilenn_codegen.pipeline.device_model import dataset_images
from agilenn_codegen.pipeline.exported import load_exported


def write_images(export_folder: Path, out: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = dataset_images(load_exported(export_folder), "test", count)
    out.write_bytes(np.ascontiguousarray(images, np.float32).tobytes())
    out.with_suffix(".labels").write_text("".join(f"{int(label)}\n" for label in labels))
    return images, labels


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    done, _ = write_images(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 100)
    print(f"wrote {done.shape[0]} images to {sys.argv[2]}")
