"""The generated MicroPython modules on real MicroPython builds: the unix port, and the qemu port on
an emulated Cortex-M3 (mps2-an385) and Cortex-M7 (mps2-an500, out-of-tree board with the FPU on).

Outputs are compared byte for byte: the tiny example's with onnxruntime on random and adversarial
inputs; the AgileNN device library's frames with the Python reference pipeline, its local logits
with onnxruntime, and its combined logits with the reference combiner, for several alphas.
"""

from __future__ import annotations

import pytest

from tests.micropython import harness

pytestmark = pytest.mark.micropython

# samples per port: the emulated boards are slower, so fewer (each still covers every input kind)
TINY_COUNT = {"unix": 40, "qemu-m3": 10, "qemu-m7": 10}
AGILENN_COUNT = {"unix": 12, "qemu-m3": 4, "qemu-m7": 4}


@pytest.mark.parametrize("port_name", harness.PORT_NAMES)
def test_tiny_model_is_exact(port_name):
    build = harness.prepared(port_name)
    inputs, expected = harness.tiny_reference(TINY_COUNT[port_name], seed=11)
    results = build.run(harness.tiny_chunks(harness.TINY, inputs))
    assert harness.check_tiny(results, expected) == TINY_COUNT[port_name]


@pytest.mark.parametrize("port_name", harness.PORT_NAMES)
def test_agilenn_device_library_is_exact(port_name):
    build = harness.prepared(port_name)
    lib = build.agilenn
    images = harness.agilenn_images(lib, AGILENN_COUNT[port_name], seed=5)
    cases = harness.agilenn_cases(lib, images, seed=7)
    results = build.run(harness.agilenn_chunks(harness.AGILENN, lib, cases, 1, alpha_attribute=True))
    assert harness.check_agilenn(results, lib, cases, 1) == len(cases)


@pytest.mark.parametrize("port_name", harness.PORT_NAMES)
def test_uint8_pixel_entry_points_are_exact(port_name):
    """run_u8/run_u8_planar (tiny example, pixel / 255) against onnxruntime on the normalised image, and
    begin_u8 (the AgileNN library, the trainer's normalisation) against the reference pipeline."""
    build = harness.prepared(port_name)
    count = 3 if port_name == "unix" else 2
    pixels, expected = harness.tiny_pixel_reference(count + 2, seed=41)
    tiny = harness.tiny_pixel_chunks(harness.TINY, pixels)
    lib = build.agilenn
    camera, images = harness.agilenn_pixels(lib, count)
    agilenn = harness.agilenn_pixel_chunks(harness.AGILENN, camera)
    results = build.run([*tiny, *agilenn])
    assert harness.check_tiny_pixels(results[: len(tiny)], expected) == count + 2
    assert harness.check_agilenn_pixels(results[len(tiny) :], lib, images) == count
