"""Image-classification data sets read from local files (nothing is downloaded at run time).

`load_dataset(name, root)` returns a :class:`~agilenn_codegen.data.base.ImageDataset` with the train and
test splits as uint8 NHWC arrays. Supported names are listed in :data:`DATASETS`.
"""

from __future__ import annotations

from agilenn_codegen.data.base import ImageDataset, Split
from agilenn_codegen.data.registry import DATASETS, default_root, load_dataset

__all__ = ["DATASETS", "ImageDataset", "Split", "default_root", "load_dataset"]
