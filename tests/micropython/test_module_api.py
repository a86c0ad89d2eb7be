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


def test_a_busy_reply_returns_none_and_the_counters_count():
    """finish() of the server's busy reply gives None (answer with local_only() at once); refused replies and busy
    replies are counted; set_timeout() puts the deadline in the request's frames, set_sequence() the number."""
    build = harness.prepared("unix")
    lib = build.agilenn
    image = harness.agilenn_images(lib, 1, seed=5)[0]
    logits = np.arange(lib.num_classes, dtype=np.float32)
    code = (
        "import agilenn_fashion_mnist as m\n"
        "m.set_sequence(41)\nm.set_timeout(750)\n"
        f"frames = m.begin({harness.hex_literal(image.tobytes())})\n"
        "print(m.sequence(), '|'.join(f.hex() for f in frames))\n"
        f"print(m.finish({harness.hex_literal(harness.reply_frame(lib, 42, logits, kind=harness.KIND_BUSY))}))\n"
        "print('skip')\n"
        "try:\n"
        f"    m.finish({harness.hex_literal(harness.reply_frame(lib, 41, logits))})\n"
        "except ValueError as e:\n    print('ValueError')\n"
        "print(m.busy_replies(), m.rejected_replies())\n"
        "for bad in (-1, 70000):\n"
        "    try:\n        m.set_timeout(bad)\n    except ValueError as e:\n        print(e)\n"
    )
    lines = _run(code)
    seq_text, frames_text = lines[0].split()
    assert seq_text == "42"
    reference = reference_pipeline(lib)
    frames = [bytes.fromhex(f) for f in frames_text.split("|")]
    assert frames == reference.frames(42, reference.device(image).payload, deadline_ms=750)
    assert lines[1] == "None" and lines[3] == "ValueError"  # busy; then a reply to request 41 is stale
    assert lines[4] == "1 1"
    assert lines[5:] == [f"set_timeout: the timeout must be 0..65535 ms, got {v}" for v in (-1, 70000)]


def test_the_authenticated_module_needs_a_key_and_takes_only_tagged_replies():
    build = harness.prepared("unix")
    lib = build.agilenn_auth
    key = bytes(range(100, 116))
    image = harness.agilenn_images(lib, 1, seed=6)[0]
    reference = reference_pipeline(lib)
    payload = reference.device(image).payload
    frames = reference.frames(1, payload, device_id=7, key=key)
    tag = frames[0][-8:]
    logits = np.linspace(-2, 2, lib.num_classes).astype(np.float32)
    good = harness.reply_frame(lib, 1, logits, device=7, key=key, request_tag=tag)
    forged = harness.reply_frame(lib, 1, logits * 3, device=7, key=bytes(16), request_tag=tag)
    untagged = harness.reply_frame(lib, 1, logits, device=7)
    busy_forged = harness.reply_frame(lib, 1, logits, device=7, key=bytes(16), request_tag=tag, kind=harness.KIND_BUSY)
    image_hex = harness.hex_literal(image.tobytes())
    code = (
        f"import {harness.AGILENN_AUTH} as m\n"
        "print(m.AUTH)\n"
        f"try:\n    m.begin({image_hex})\nexcept ValueError as e:\n    print(e)\n"
        "for args in ((0, bytes(16)), (7, bytes(15)), (7, 3)):\n"
        "    try:\n        m.provision(*args)\n"
        "    except (ValueError, TypeError) as e:\n        print(type(e).__name__, e)\n"
        f"m.provision(7, {harness.hex_literal(key)})\n"
        "m.set_sequence(0)\n"
        f"frames = m.begin({image_hex})\n"
        "print('|'.join(f.hex() for f in frames))\n"
        f"for reply in ({harness.hex_literal(forged)}, {harness.hex_literal(untagged)}, "
        f"{harness.hex_literal(busy_forged)}):\n"
        "    try:\n        m.finish(reply)\n    except ValueError:\n        print('refused')\n"
        f"print(m.finish({harness.hex_literal(good)})[1].hex(), m.rejected_replies(), m.busy_replies())\n"
    )
    lines = _run(code)
    assert lines[0] == "1"
    assert lines[1] == "begin: no key: call provision(device_id, key) first"
    assert lines[2:5] == [
        "ValueError provision: the device id must be 1..2**32-1",
        "ValueError provision: key must be 16 bytes, got 15",
        "TypeError provision: key must be a bytes-like object of 16 bytes",
    ]
    assert [bytes.fromhex(f) for f in lines[5].split("|")] == frames  # tags byte for byte the reference's
    assert lines[6:9] == ["refused"] * 3
    combined = combine(reference.device(image).local_logits, logits, lib.exported.alpha)
    assert lines[9] == f"{combined.tobytes().hex()} 3 0"
