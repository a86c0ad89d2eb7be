"""The native .mpy form of the generated modules (py/dynruntime.mk): x64 on the unix port, armv7m on
the emulated Cortex-M3 and armv7emsp on the emulated Cortex-M7, loaded from a RAM file system and
held to the same exactness as the user C modules."""

from __future__ import annotations

import pytest

from tests.micropython import harness

pytestmark = pytest.mark.micropython


@pytest.mark.parametrize("port_name", harness.PORT_NAMES)
def test_native_modules_are_exact(port_name):
    build = harness.prepared(port_name)
    lib = build.agilenn
    inputs, expected = harness.tiny_reference(6, seed=23)
    cases = harness.agilenn_cases(lib, harness.agilenn_images(lib, 4, seed=29), seed=31)
    setup = harness.native_chunks(port_name)
    tiny = harness.tiny_chunks(f"n_{harness.TINY}", inputs)
    agilenn = harness.agilenn_chunks(f"n_{harness.AGILENN}", lib, cases, 1, alpha_attribute=False)
    results = build.run([*setup, *tiny, *agilenn])
    for result in results[: len(setup)]:
        result.check()
    results = results[len(setup) :]
    assert harness.check_tiny(results[: len(tiny)], expected) == 6
    assert harness.check_agilenn(results[len(tiny) :], lib, cases, 1) == 4


@pytest.mark.parametrize("port_name", harness.PORT_NAMES)
def test_native_module_reports_wrong_input_like_the_c_module(port_name):
    build = harness.prepared(port_name)
    setup = harness.native_chunks(port_name)
    probe = (
        "import n_tiny_cnn_int8 as m\n"
        "try:\n    m.run(b'abc')\nexcept ValueError as e:\n    print(e)\n"
        "try:\n    m.run(7)\nexcept TypeError as e:\n    print(e)\n"
    )
    results = build.run([*setup, probe])
    lines = results[-1].check().splitlines()
    assert lines == [
        "run: input must be 3136 bytes (float32[784]), got 3 bytes",
        "run: input must be a bytes-like object holding float32[784] (3136 bytes), not int",
    ]
