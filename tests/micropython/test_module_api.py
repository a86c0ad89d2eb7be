"""The Python face of the generated modules on the unix port: constants, the AgileNN calls, alpha,
and clear errors (ValueError/TypeError naming the expected and the given size) for bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from agilenn_codegen.pipeline.device_run import reference_pipeline
from agilenn_codegen.pipeline.reference import argmax_first, combine
from tests.micropython import harness

pytestmark = pytest.mark.micropython


def _run(code: str) -> list[str]:
    (result,) = harness.prepared("unix").run([code])
    return result.check().splitlines()


def test_plain_model_constants_describe_its_input_and_output():
    lines = _run(
        "import tiny_cnn_int8 as m\n"
        "print(m.INPUT_SHAPE, m.INPUT_DTYPE, m.INPUT_BYTES)\n"
        "print(m.OUTPUT_SHAPE, m.OUTPUT_DTYPE, m.OUTPUT_BYTES)\n"
        "print(m.RUN_U8_SHAPE, m.RUN_U8_PLANAR_SHAPE, m.PIXELS_BYTES, m.NORMALISATION)\n"
        "print(len(m.MODEL_SHA256), sorted(k for k in dir(m) if not k.startswith('_')))"
    )
    assert lines[0] == "(1, 1, 28, 28) float32 3136"
    assert lines[1] == "(1, 10) float32 40"
    assert (
        lines[2]
        == "(28, 28, 1) (1, 28, 28) 784 x[c] = (pixel / 255 - mean[c]) / std[c], mean = [0.0], std = [1.0] (float32)"
    )
    names = ["INPUT_BYTES", "INPUT_DTYPE", "INPUT_SHAPE", "MODEL_SHA256", "NORMALISATION", "OUTPUT_BYTES"]
    names += ["OUTPUT_DTYPE", "OUTPUT_SHAPE", "PIXELS_BYTES", "RUN_U8_PLANAR_SHAPE", "RUN_U8_SHAPE", "run", "run_u8"]
    assert lines[3] == f"64 {[*names, 'run_u8_planar']}"


def test_run_takes_any_buffer_of_the_documented_layout():
    lines = _run(
        "import array, tiny_cnn_int8 as m\n"
        "a = array.array('f', [0.25] * 784)\n"
        "b = bytes(a)\n"
        "print(m.run(a) == m.run(b) == m.run(bytearray(b)) == m.run(memoryview(b)), type(m.run(b)).__name__)"
    )
    assert lines == ["True bytes"]


@pytest.mark.parametrize(
    ("argument", "error"),
    [
        ("b'123'", "ValueError: run: input must be 3136 bytes (float32[784]), got 3 bytes"),
        ("bytes(3140)", "ValueError: run: input must be 3136 bytes (float32[784]), got 3140 bytes"),
        ("3.5", "TypeError: run: input must be a bytes-like object holding float32[784] (3136 bytes), not float"),
        (
            "__import__('array').array('d', [0.0] * 392)",
            "TypeError: run: input must hold float32 data (raw bytes or typecode 'f'), got typecode 'd'",
        ),
        (
            "memoryview(bytearray(3137))[1:]",
            "ValueError: run: input must be 4-byte aligned (copy it with bytes(...))",
        ),
    ],
)
def test_bad_input_is_a_clear_error(argument, error):
    lines = _run(
        f"import tiny_cnn_int8 as m\ntry:\n    m.run({argument})\nexcept Exception as e:\n"
        "    print(type(e).__name__ + ': ' + str(e))\nelse:\n    print('no error')"
    )
    assert lines == [error]


def test_agilenn_module_facts():
    lib = harness.prepared("unix").agilenn
    lines = _run(
        "import struct, agilenn_fashion_mnist as m\n"
        "print(m.INPUT_SHAPE, m.INPUT_DTYPE, m.INPUT_BYTES, m.NUM_CLASSES, m.LOGITS_BYTES, m.MODEL_ID)\n"
        "print('|'.join(m.CLASSES))\n"
        "print(struct.pack('<f', m.alpha).hex(), m.alpha == m.get_alpha(), m.sequence())\n"
        "print(m.PIXELS_SHAPE, m.PIXELS_BYTES, callable(m.begin_u8))"
    )
    exported = lib.exported
    assert lines[0] == f"(1, 28, 28) float32 3136 10 40 0x{exported.model_id:08x}"
    assert lines[1] == "|".join(exported.class_names)
    assert lines[2] == f"{struct.pack('<f', exported.alpha).hex()} True 0"
    assert lines[3] == "(28, 28, 1) 784 True"


def test_alpha_is_checked_and_settable_both_ways():
    lines = _run(
        "import agilenn_fashion_mnist as m\n"
        "m.alpha = 0.5\nprint(m.get_alpha())\n"
        "m.set_alpha(0.25)\nprint(m.alpha)\n"
        "for bad in (1.5, -0.1, float('nan')):\n"
        "    try:\n        m.alpha = bad\n    except ValueError as e:\n        print(e)\n"
        "print(m.alpha)"
    )
    assert lines == ["0.5", "0.25", *["alpha must be in [0, 1] (the local logits' weight)"] * 3, "0.25"]


def test_a_bad_reply_is_refused_and_the_request_still_answers():
    build = harness.prepared("unix")
    lib = build.agilenn
    image = harness.agilenn_images(lib, 1, seed=3)[0]
    logits = np.arange(lib.num_classes, dtype=np.float32)
    good = harness.reply_frame(lib, 1, logits)
    stale = harness.reply_frame(lib, 2, logits)
    damaged = good[:-1] + bytes([good[-1] ^ 1])
    code = (
        "import agilenn_fashion_mnist as m\n"
        f"frames = m.begin({harness.hex_literal(image.tobytes())})\n"
        f"for reply in ({harness.hex_literal(stale)}, {harness.hex_literal(damaged)}, b'', 12):\n"
        "    try:\n        m.finish(reply)\n"
        "    except (ValueError, TypeError) as e:\n        print(type(e).__name__, e)\n"
        f"print(m.finish({harness.hex_literal(good)})[0])"
    )
    lines = _run(code)
    size = len(good)
    assert lines[:3] == [
        f"ValueError finish: {size} bytes are not the reply to request 1 (status 4)",
        f"ValueError finish: {size} bytes are not the reply to request 1 (status 4)",
        "ValueError finish: 0 bytes are not the reply to request 1 (status 4)",
    ]
    assert lines[3] == "TypeError finish: reply must be a bytes-like object (one reply frame), not int"
    reference = reference_pipeline(lib)
    local = reference.device(image).local_logits
    assert lines[4] == str(argmax_first(combine(local, logits, lib.exported.alpha)))
