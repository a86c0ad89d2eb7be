"""The shipped trained example through the whole pipeline, as the README's main command runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agilenn_codegen.cli import main
from agilenn_codegen.pipeline.device_model import dataset_images
from agilenn_codegen.pipeline.device_run import load_library, run_device
from agilenn_codegen.server.thread import ServerThread

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agilenn_fmnist"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist; scripts/setup.sh does it)",
)


def test_shipped_example_end_to_end(tmp_path):
    out = tmp_path / "agilenn"
    assert main(["codegen", str(EXAMPLE), "--target", "stm32f746", "--out", str(out)]) == 0
    lib = load_library(out)
    info = lib.manifest["agilenn"]
    assert info["coder"] == "context" and info["ram_bytes_total"] < 320 * 1024  # fits the STM32F746
    assert info["model_id"] == "0x7916f5dd"  # the shipped agilenn.json, coder tables included
    images, labels = dataset_images(lib.exported, "test", 40)
    with ServerThread(EXAMPLE) as server:
        report, _ = run_device(lib, images, labels, server.address, timeout_ms=2000)
    assert report.answered_remote == 40
    assert report.frames_equal_reference == 40 and report.predictions_equal_python == 40
    assert report.logits_equal_python == 40
    assert report.bytes_mean < 400  # the context coder on real features: about 300 B mean with headers (docs/results)
    assert report.accuracy_final >= 0.8  # 40 images of a ~91 % model
