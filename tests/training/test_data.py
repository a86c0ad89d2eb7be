"""Data set loaders, each on tiny files in its own format made here."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from agilenn_codegen.data import load_dataset
from agilenn_codegen.errors import UserError
from tests.training.synthetic import synthetic_images


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compressed", [True, False])
def test_fashion_mnist_idx(tmp_path: Path, compressed: bool):
    x, y = synthetic_images(12)
    files = {
        "train-images-idx3-ubyte": x[..., 0], "train-labels-idx1-ubyte": y,
        "t10k-images-idx3-ubyte": x[:4, ..., 0], "t10k-labels-idx1-ubyte": y[:4],
    }  # fmt: skip
    for name, arr in files.items():
        data = _idx(arr)
        if compressed:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (tmp_path / name).write_bytes(data)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.train.images.shape == (12, 28, 28, 1) and ds.test.images.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(ds.train.images[..., 0], x[..., 0])
    np.testing.assert_array_equal(ds.train.labels, y)
    assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"


def test_missing_fashion_mnist_says_where_and_how(tmp_path: Path):
    with pytest.raises(UserError) as info:
        load_dataset("fashion-mnist", tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in info.value.message
    assert "apt-get install dataset-fashion-mnist" in (info.value.hint or "")


def _cifar_batch(n: int, seed: int, label_key: str) -> dict[bytes, object]:
    x, y = synthetic_images(n, size=32, channels=3, seed=seed)
    return {b"data": x.transpose(0, 3, 1, 2).reshape(n, -1), label_key.encode(): list(y)}


def test_cifar10_pickles(tmp_path: Path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for i in range(1, 3):
        (base / f"data_batch_{i}").write_bytes(pickle.dumps(_cifar_batch(5, i, "labels")))
    (base / "test_batch").write_bytes(pickle.dumps(_cifar_batch(3, 9, "labels")))
    (base / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"x", b"y", b"z"]}))
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train.images.shape == (10, 32, 32, 3) and len(ds.test) == 3
    assert ds.class_names == ("x", "y", "z") and len(ds.mean) == 3
    ref = _cifar_batch(5, 1, "labels")
    np.testing.assert_array_equal(ds.train.images[:5].transpose(0, 3, 1, 2).reshape(5, -1), ref[b"data"])


def test_cifar100_pickles(tmp_path: Path):
    (tmp_path / "train").write_bytes(pickle.dumps(_cifar_batch(6, 1, "fine_labels")))
    (tmp_path / "test").write_bytes(pickle.dumps(_cifar_batch(2, 2, "fine_labels")))
    ds = load_dataset("cifar100", tmp_path)
    assert len(ds.train) == 6 and len(ds.test) == 2 and ds.channels == 3


def test_svhn_mat(tmp_path: Path):
    scipy_io = pytest.importorskip("scipy.io")
    for split, n in (("train", 6), ("test", 2)):
        x, y = synthetic_images(n, size=32, channels=3)
        y = y.copy()
        y[0] = 0
        stored = np.where(y == 0, 10, y).reshape(-1, 1)
        scipy_io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x.transpose(1, 2, 3, 0), "y": stored})
    ds = load_dataset("svhn", tmp_path)
    assert ds.train.images.shape == (6, 32, 32, 3) and ds.train.labels[0] == 0


def test_imagefolder(tmp_path: Path):
    from PIL import Image

    x, y = synthetic_images(8, size=16, channels=3)
    for split in ("train", "test"):
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            folder = tmp_path / split / f"class_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i}.png")
    ds = load_dataset("imagefolder", tmp_path)
    assert ds.train.images.shape == (8, 16, 16, 3)
    assert ds.class_names == tuple(sorted({f"class_{v}" for v in y}))


def test_npz_folder_and_single_file(npz_root: Path, tmp_path: Path):
    ds = load_dataset("npz", npz_root)
    assert ds.train.images.shape == (48, 28, 28, 1) and ds.class_names == ("a", "b", "c")
    x, y = synthetic_images(5)
    single = tmp_path / "one.npz"
    np.savez(single, x_train=x.astype(np.float32) / 255, y_train=y, x_test=x[:2] / 255, y_test=y[:2])
    ds2 = load_dataset("npz", single)
    assert ds2.train.images.dtype == np.uint8 and len(ds2.test) == 2


def test_unknown_and_rootless(tmp_path: Path):
    with pytest.raises(UserError):
        load_dataset("mnist-9000")
    with pytest.raises(UserError, match="--data-root"):
        load_dataset("cifar10")
