"""The uint8 pixel entry point: `<name>_run_u8` equals quantizing the normalised float image, bit for bit.

The tables are checked against onnxruntime's QuantizeLinear for every pixel value of every channel; the
generated C is run on images that hold every pixel value in every channel, in both pixel layouts, and
its outputs are compared with `<name>_run` on the float image and with onnxruntime.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from agilenn_codegen.cli import main
from agilenn_codegen.compiler import compile_model
from agilenn_codegen.compiler.codegen import generate
from agilenn_codegen.compiler.pixels import PixelNormalisation, byte_offsets, parse_normalisation, pixel_input
from agilenn_codegen.errors import UserError
from agilenn_codegen.reference import ort_session, run_reference
from agilenn_codegen.targets import build_program, load_target, run_program
from benchmarks.anchor_model import write_anchor

NORMALISATIONS = {
    "pixel/255": PixelNormalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), divisor=255.0),
    "imagenet": PixelNormalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), divisor=255.0),
    "scaled": PixelNormalisation((0.5,), (0.25,), scale=0.0039215688),
}


@pytest.fixture(scope="module")
def anchor(tmp_path_factory) -> Path:
    return write_anchor(tmp_path_factory.mktemp("anchor"))[1]


def _ort_quantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """onnxruntime's own QuantizeLinear of float32 values."""
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
        "q",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [values.size])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [values.size])],
        [
            helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("z", TensorProto.INT8, [], [zero_point]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return ort_session(model.SerializeToString()).run(None, {"x": values.reshape(-1)})[0]


@pytest.mark.parametrize("norm", sorted(NORMALISATIONS))
def test_tables_equal_onnxruntime_for_every_pixel_value(anchor, norm):
    graph = compile_model(anchor)
    pixel = pixel_input(graph, NORMALISATIONS[norm], "test")
    quant = graph.tensor(pixel.quantize.outputs[0]).quant
    assert quant is not None
    floats = NORMALISATIONS[norm].for_channels(3, "test").normalised(3)
    want = _ort_quantize(floats, quant.scalar_scale, quant.scalar_zero_point).reshape(3, 256)
    assert np.array_equal(pixel.tables, want)


def test_the_anchor_input_is_a_byte_offset(anchor):
    """Quantized at scale 1/255 from pixel / 255, the input is p - 128: the stage needs no table lookups."""
    pixel = pixel_input(compile_model(anchor), NORMALISATIONS["pixel/255"], "test")
    assert pixel.offsets == (-128, -128, -128)
    assert byte_offsets(pixel.tables[:1] + np.int8(0)) == (-128,)
    assert pixel_input(compile_model(anchor), NORMALISATIONS["imagenet"], "test").offsets is None


def test_normalisation_options():
    assert parse_normalisation(None, None, None) is None
    norm = parse_normalisation("0.485,0.456,0.406", "0.229,0.224,0.225", "1/255")
    assert norm == PixelNormalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), divisor=255.0)
    assert parse_normalisation(None, None, "0.5") == PixelNormalisation((0.0,), (1.0,), scale=0.5)
    for mean, std, scale in (("a", None, "1/255"), (None, "0", "1/255"), (None, None, "1/0"), ("0.5", None, None)):
        with pytest.raises(UserError):
            parse_normalisation(mean, std, scale)
    with pytest.raises(UserError, match="2 values"):
        PixelNormalisation((0.1, 0.2), (1.0,), divisor=255.0).for_channels(3, "test")


HARNESS = r"""
#include <stdio.h>
#include "{name}.h"
static uint8_t pixels[{NAME}_PIXELS_SIZE], planes[{NAME}_PIXELS_SIZE];
static float image[{NAME}_INPUT0_SIZE];
{outputs}
static void put(FILE *f)
{{
{writes}
}}
int main(void)
{{
    FILE *in = fopen("input.bin", "rb");
    FILE *out = fopen("output.bin", "wb");
    uint32_t count, i;
    if (in == NULL || out == NULL || fread(&count, 4, 1, in) != 1) return 3;
    for (i = 0; i < count; i++) {{
        if (fread(pixels, 1, sizeof pixels, in) != sizeof pixels) return 4;
        if (fread(planes, 1, sizeof planes, in) != sizeof planes || fread(image, sizeof image, 1, in) != 1) return 4;
        if ({name}_run_u8(pixels, {args}) != AGILENN_OK) return 5;
        put(out);
        if ({name}_run_u8_planar(planes, {args}) != AGILENN_OK) return 5;
        put(out);
        if ({name}_run(image, {args}) != AGILENN_OK) return 5;
        put(out);
    }}
    fclose(in);
    return fclose(out) == 0 ? 0 : 6;
}}
"""


def _images(shape: tuple[int, int, int], count: int) -> np.ndarray:
    """uint8 (count, C, H, W): the first holds every value in every channel, the others are random."""
    c, h, w = shape
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(count, c, h, w), dtype=np.int64)
    ramp = (np.arange(h * w)[None, :] + 37 * np.arange(c)[:, None]) % 256
    images[0] = ramp.reshape(c, h, w)
    assert all(len(set(images[0, k].reshape(-1))) == 256 for k in range(c)) or h * w < 256
    return images.astype(np.uint8)


@pytest.mark.parametrize(
    "target,norm", [("host", "pixel/255"), ("host", "imagenet"), ("stm32f746", "pixel/255"), ("stm32f103", "imagenet")]
)
def test_run_u8_equals_run_on_the_normalised_image(anchor, target, norm, tmp_path):
    graph = compile_model(anchor)
    tgt = load_target(target)
    normalisation = NORMALISATIONS[norm]
    library = generate(graph, tgt, tmp_path / "lib", command="test", pixels=normalisation)
    outputs = [graph.tensor(n) for n in graph.outputs]
    harness = tmp_path / "main.c"
    harness.write_text(
        HARNESS.format(
            name=library.name,
            NAME=library.name.upper(),
            outputs="\n".join(f"static {t.dtype.c_type} out{i}[{t.size}];" for i, t in enumerate(outputs)),
            writes="\n".join(f"    fwrite(out{i}, sizeof out{i}, 1, f);" for i in range(len(outputs))),
            args=", ".join(f"out{i}" for i in range(len(outputs))),
        )
    )
    exe = build_program(
        tgt, [*library.sources, harness], library.include_dirs, tmp_path / "build", sanitize=tgt.is_host
    )
    shape = graph.tensor(graph.inputs[0]).shape[1:]
    images = _images(shape, 2 if tgt.is_host else 1)
    table = normalisation.for_channels(shape[0], "test").normalised(shape[0])  # (C, 256) float32
    floats = np.stack([np.take_along_axis(table, im.reshape(shape[0], -1).astype(np.int64), 1) for im in images])
    floats = floats.reshape(len(images), *shape)
    with (tmp_path / "input.bin").open("wb") as f:
        f.write(struct.pack("<I", len(images)))
        for im, x in zip(images, floats, strict=True):
            f.write(np.ascontiguousarray(im.transpose(1, 2, 0)).tobytes())  # interleaved (H, W, C)
            f.write(im.tobytes())  # planes (C, H, W)
            f.write(x.astype(np.float32).tobytes())
    result = run_program(tgt, exe, tmp_path, timeout_s=600)
    assert result.returncode == 0, result.stdout + result.stderr
    raw = (tmp_path / "output.bin").read_bytes()
    per_call = sum(t.nbytes for t in outputs)
    assert len(raw) == 3 * per_call * len(images)
    name = graph.inputs[0]
    want = run_reference(anchor, {name: floats}, {name: graph.tensor(name).shape}, graph.outputs)
    expected = [
        b"".join(np.ascontiguousarray(w[i]).astype(t.dtype.numpy).tobytes() for w, t in zip(want, outputs, strict=True))
        for i in range(len(images))
    ]
    for i in range(len(images)):
        calls = [raw[(3 * i + k) * per_call : (3 * i + k + 1) * per_call] for k in range(3)]
        assert calls[0] == calls[2], f"image {i}: run_u8 differs from run on the normalised float image"
        assert calls[1] == calls[2], f"image {i}: run_u8_planar differs from run on the normalised float image"
        assert calls[2] == expected[i], f"image {i}: run differs from onnxruntime"


def test_codegen_refuses_a_pixel_entry_for_a_model_without_a_float_image(tmp_path):
    tiny = Path(__file__).resolve().parents[1] / "examples" / "models" / "tiny_cnn_int8.onnx"
    code = main(["codegen", str(tiny), "--target", "host", "--out", str(tmp_path / "a"), "--input-scale", "1/255"])
    assert code == 0  # one float NCHW image: accepted
    model = onnx.load(str(tiny))
    two_means = ["--input-mean", "0.1,0.2", "--input-scale", "1/255"]
    assert main(["codegen", str(tiny), "--out", str(tmp_path / "b"), *two_means]) == 2
    assert not (tmp_path / "b").exists()
    assert model.graph.input  # untouched
