"""A tiny real `agilenn export` folder (trained for a few steps on synthetic data) for pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from agilenn_codegen.cli import main
from tests.training.synthetic import write_npz

TINY = ["--dataset", "npz", "--batch-size", "16", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="session")
def exported_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(export folder, data root) of a 28x28x1, 3-class AgileNN with 8 centroids."""
    base = tmp_path_factory.mktemp("agilenn_export")
    root = write_npz(base / "npz")
    ref, run, out = base / "ref", base / "run", base / "export"
    reference = ["train-reference", *TINY, "--data-root", str(root), "--out", str(ref), "--epochs", "1", "--width", "8"]
    assert main(reference) == 0
    train = [
        "train",
        *TINY,
        "--data-root",
        str(root),
        "--reference",
        str(ref),
        "--out",
        str(run),
        "--epochs",
        "1",
        "--remote-width",
        "0.25",
        "--remote-depths",
        "1,1,1,0,0,0,0",
        "--remap-samples",
        "16",
    ]
    assert main(train) == 0
    assert main(["export", str(run), "--out", str(out)]) == 0
    return out, root


def generated_library(
    exported: tuple[Path, Path], target: str, out: Path, count: int, extra: list[str] | None = None
) -> tuple:
    """Generate the device library for `target` from the export fixture (with `extra` codegen options);
    returns (library, images, labels)."""
    from agilenn_codegen.pipeline.device_model import dataset_images
    from agilenn_codegen.pipeline.device_run import load_library

    folder, root = exported
    command = ["codegen", str(folder), "--target", target, "--out", str(out), "--data-root", str(root)]
    assert main(command + (extra or [])) == 0
    lib = load_library(out)
    images, labels = dataset_images(lib.exported, "test", count, root)
    return lib, images, labels


COUNT = 12  # test images of the shared host library


@pytest.fixture(scope="session")
def host_library(exported_folder, tmp_path_factory):
    """(library, images, labels): the export fixture generated for the host, with COUNT test images."""
    return generated_library(exported_folder, "host", tmp_path_factory.mktemp("lib") / "agilenn", COUNT)


@pytest.fixture(scope="session")
def auth_library(exported_folder, tmp_path_factory):
    """(library, images, labels): the export fixture generated for the host with --auth (tagged frames)."""
    out = tmp_path_factory.mktemp("lib_auth") / "agilenn_auth"
    return generated_library(exported_folder, "host", out, COUNT, extra=["--auth"])


@pytest.fixture(scope="session")
def device_keys():
    """Keys of devices 1..4 (what `agilenn keys FILE --devices 4` writes), fixed for the session."""
    from agilenn_codegen.offload.keys import new_keys

    return new_keys(range(1, 5))
