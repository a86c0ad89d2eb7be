"""The shipped trained example through the whole pipeline, as the README's main command runs it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from agilenn_codegen.cli import main
from agilenn_codegen.offload import HEADER_SIZE
from agilenn_codegen.pipeline.device_model import dataset_images
from agilenn_codegen.pipeline.device_run import load_library, probe_server, run_device
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
    assert info["streamed"] and info["buffers"]["symbols"] == 0  # features coded row by row, no map kept
    images, labels = dataset_images(lib.exported, "test", 40)
    with ServerThread(EXAMPLE) as server:
        probe_server(lib, server.address, 1000)  # K = 5 distinct values of 8 centroids: the probe says so
        report, _ = run_device(lib, images, labels, server.address, timeout_ms=2000)
    assert report.answered_remote == 40
    assert report.frames_equal_reference == 40 and report.predictions_equal_python == 40
    assert report.logits_equal_python == 40
    assert report.bytes_mean < 400  # the context coder on real features: about 300 B mean with headers (docs/results)
    assert report.accuracy_final >= 0.8  # 40 images of a ~91 % model


@pytest.mark.qemu
def test_shipped_example_on_the_weak_device(tmp_path):
    """The STM32F103 (Cortex-M3, no FPU, 20 KB RAM): the library fits without --allow-overflow, and the firmware,
    linked into the chip's own flash and RAM, runs on qemu mps2-an385 against the real server, exact."""
    from agilenn_codegen.pipeline.emulated_run import FIRMWARE_STACK_AND_HEAP, run_emulated

    out = tmp_path / "m3"
    assert main(["codegen", str(EXAMPLE), "--target", "stm32f103", "--out", str(out)]) == 0
    lib = load_library(out)
    assert lib.manifest["agilenn"]["streamed"]
    images, labels = dataset_images(lib.exported, "test", 6)
    with ServerThread(EXAMPLE) as server:
        run = run_emulated(lib, images, labels, server.address, timeout_ms=3000)
    assert (run.target, run.machine) == ("stm32f103", "mps2-an385")
    report = run.report
    assert report.answered_remote == report.frames_equal_reference == 6
    assert report.predictions_equal_python == report.logits_equal_python == 6
    assert {frames[0][HEADER_SIZE] for frames in run.results.frames} == {2}  # context-coded payloads
    assert run.memory.static_ram + FIRMWARE_STACK_AND_HEAP <= run.ram_bytes == 20 * 1024
    assert run.memory.flash <= run.flash_bytes


PIXEL_HARNESS = r"""
#include <stdio.h>
#include "{name}_agilenn.h"
static uint8_t pixels[{NAME}_IMAGE_SIZE];
static float image[{NAME}_IMAGE_SIZE];
static uint8_t frame[{NAME}_FRAME_MAX_BYTES];
static float logits[{NAME}_NUM_CLASSES];
static int send(FILE *f)
{{
    int32_t i, n = {name}_fragment_count();
    fwrite(&n, 4, 1, f);
    for (i = 0; i < n; i++) {{
        int32_t len = {name}_fragment(i, frame, (int32_t)sizeof frame);
        if (len < 0) return -1;
        fwrite(&len, 4, 1, f);
        fwrite(frame, 1, (size_t)len, f);
    }}
    {name}_local_only(logits);
    fwrite(logits, sizeof logits, 1, f);
    return 0;
}}
int main(void)
{{
    FILE *in = fopen("input.bin", "rb");
    FILE *out = fopen("output.bin", "wb");
    uint32_t count, k;
    if (in == NULL || out == NULL || fread(&count, 4, 1, in) != 1) return 3;
    for (k = 0; k < count; k++) {{
        if (fread(pixels, 1, sizeof pixels, in) != sizeof pixels || fread(image, sizeof image, 1, in) != 1) return 4;
        if ({name}_begin(image) != AGILENN_OK || send(out) != 0) return 5;
        if ({name}_begin_u8(pixels) != AGILENN_OK || send(out) != 0) return 5;
    }}
    fclose(in);
    return fclose(out) == 0 ? 0 : 6;
}}
"""


def _records(raw: bytes, num_classes: int) -> list[tuple[list[bytes], bytes]]:
    """(frames, local logits) per begin call in the harness's output."""
    out, at = [], 0
    while at < len(raw):
        (n,) = struct.unpack_from("<i", raw, at)
        at += 4
        frames = []
        for _ in range(n):
            (length,) = struct.unpack_from("<i", raw, at)
            frames.append(raw[at + 4 : at + 4 + length])
            at += 4 + length
        out.append((frames, raw[at : at + 4 * num_classes]))
        at += 4 * num_classes
    return out


def test_begin_u8_sends_what_begin_sends(tmp_path):
    """The shipped model's device pipeline on uint8 pixels (the trainer's normalisation folded into the tables)
    sends the same payload and decides the same local answer as on the normalised float image."""
    from agilenn_codegen.data.registry import load_dataset
    from agilenn_codegen.pipeline.device_run import library_build_inputs
    from agilenn_codegen.targets import build_program, load_target, run_program

    out = tmp_path / "agilenn"
    assert main(["codegen", str(EXAMPLE), "--target", "host", "--out", str(out)]) == 0
    lib = load_library(out)
    assert "pixel_entry" in lib.manifest
    images, _ = dataset_images(lib.exported, "test", 16)
    pixels = load_dataset("fashion-mnist").test.subset(16).images  # (N, H, W, C) uint8, the same images
    harness = tmp_path / "main.c"
    harness.write_text(PIXEL_HARNESS.format(name=lib.name, NAME=lib.name.upper()))
    sources, includes = library_build_inputs(lib)
    host = load_target("host")
    exe = build_program(host, [*sources, harness], includes, tmp_path / "build", sanitize=True)
    with (tmp_path / "input.bin").open("wb") as f:
        f.write(struct.pack("<I", len(images)))
        for p, x in zip(pixels, images, strict=True):
            f.write(np.ascontiguousarray(p).tobytes() + np.ascontiguousarray(x, np.float32).tobytes())
    result = run_program(host, exe, tmp_path, timeout_s=300)
    assert result.returncode == 0, result.stdout + result.stderr
    records = _records((tmp_path / "output.bin").read_bytes(), lib.num_classes)
    assert len(records) == 2 * len(images)
    for k in range(len(images)):
        (float_frames, float_logits), (u8_frames, u8_logits) = records[2 * k], records[2 * k + 1]
        assert u8_logits == float_logits, f"image {k}: local logits differ"
        assert len(u8_frames) == len(float_frames)
        for a, b in zip(float_frames, u8_frames, strict=True):
            # the same frame but for the sequence number (bytes 20..23) and the CRC that covers it (32..35)
            assert a[:20] + a[24:32] + a[36:] == b[:20] + b[24:32] + b[36:], f"image {k}: frames differ"
