"""Op-level bit-exactness on the host: every supported op, QOperator and QDQ, per-tensor and
per-channel, on random, saturating, all-min, all-max and exact-tie inputs (ASan/UBSan builds)."""

from __future__ import annotations

import zlib

import modelzoo
import numpy as np
import pytest
from compiler_harness import check_zoo

FORMATS = [("qoperator", True), ("qoperator", False), ("qdq", True), ("qdq", False)]

CONV_CASES = {
    "3x3": dict(shape=(1, 4, 10, 10), out_channels=8, kernel=(3, 3), pads=(1, 1, 1, 1)),
    "strided_asym_pads": dict(shape=(1, 3, 11, 9), out_channels=5, kernel=(3, 3), strides=(2, 2), pads=(0, 1, 2, 0)),
    "dilated": dict(shape=(1, 4, 12, 12), out_channels=6, kernel=(3, 3), dilations=(2, 2), pads=(2, 2, 2, 2)),
    "depthwise_relu6": dict(shape=(1, 8, 9, 9), out_channels=8, group=8, activation="relu6"),
    "depthwise_stride3": dict(shape=(1, 6, 12, 12), out_channels=6, group=6, strides=(3, 3), pads=(1, 1, 1, 1)),
    "pointwise_relu": dict(shape=(1, 8, 6, 6), out_channels=16, kernel=(1, 1), pads=(0, 0, 0, 0), activation="relu"),
    "grouped": dict(shape=(1, 8, 7, 7), out_channels=12, group=4),
    "rect_kernel_no_bias": dict(shape=(1, 3, 8, 10), out_channels=4, kernel=(1, 5), pads=(0, 2, 0, 2), bias=False),
    "large_accumulator": dict(shape=(1, 64, 6, 6), out_channels=4, kernel=(3, 3), large_accumulator=True),
}


@pytest.mark.parametrize("fmt,per_channel", FORMATS)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv(case, fmt, per_channel, tmp_path):
    zoo = modelzoo.conv_model(np.random.default_rng(zlib.crc32(case.encode())), **CONV_CASES[case])
    check_zoo(zoo, fmt, per_channel, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt,per_channel", FORMATS)
@pytest.mark.parametrize("trans_b", [True, False])
def test_gemm(trans_b, fmt, per_channel, tmp_path):
    zoo = modelzoo.gemm_model(np.random.default_rng(1), trans_b=trans_b, activation="relu")
    check_zoo(zoo, fmt, per_channel, tmp_path, sanitize=True)


def test_gemm_large_accumulator(tmp_path):
    zoo = modelzoo.gemm_model(np.random.default_rng(2), shape=(1, 64, 4, 4), large_accumulator=True)
    check_zoo(zoo, "qoperator", True, tmp_path)


@pytest.mark.parametrize("fmt,per_channel", FORMATS)
@pytest.mark.parametrize("shape", [(1, 16), (1, 3, 12)])
def test_matmul(shape, fmt, per_channel, tmp_path):
    zoo = modelzoo.matmul_model(np.random.default_rng(3), shape=shape)
    check_zoo(zoo, fmt, per_channel, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_global_avgpool(fmt, tmp_path):
    zoo = modelzoo.global_avgpool_model(np.random.default_rng(4), shape=(1, 8, 7, 5))
    check_zoo(zoo, fmt, True, tmp_path, sanitize=True)


AVGPOOL_CASES = {
    "2x2": dict(kernel=(2, 2), strides=(2, 2)),
    "3x3_pad_exclude": dict(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    "3x3_pad_include": dict(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True),
    "asym_pad_include": dict(kernel=(3, 2), strides=(1, 2), pads=(0, 1, 2, 0), count_include_pad=True),
    "ceil_mode": dict(kernel=(2, 2), strides=(2, 2), ceil_mode=True),
}


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("case", sorted(AVGPOOL_CASES))
def test_avgpool(case, fmt, tmp_path):
    zoo = modelzoo.avgpool_model(np.random.default_rng(5), **AVGPOOL_CASES[case])
    check_zoo(zoo, fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("dilations,ceil_mode", [((1, 1), False), ((2, 2), False), ((1, 1), True)])
def test_maxpool(dilations, ceil_mode, fmt, tmp_path):
    zoo = modelzoo.maxpool_model(np.random.default_rng(6), dilations=dilations, ceil_mode=ceil_mode)
    check_zoo(zoo, fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("activation", ["none", "relu"])
def test_residual_add(activation, fmt, tmp_path):
    zoo = modelzoo.residual_add_model(np.random.default_rng(7), activation=activation)
    check_zoo(zoo, fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_add_two_inputs(fmt, tmp_path):
    check_zoo(modelzoo.add_model(np.random.default_rng(8)), fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("mode", ["inputs", "branches"])
def test_mul(mode, fmt, tmp_path):
    check_zoo(modelzoo.mul_model(np.random.default_rng(9), mode=mode), fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_concat_channels(fmt, tmp_path):
    check_zoo(modelzoo.concat_model(np.random.default_rng(10)), fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("op", ["reshape", "flatten", "squeeze", "unsqueeze", "transpose"])
def test_shape_ops(op, fmt, tmp_path):
    zoo = modelzoo.shape_op_model(np.random.default_rng(11), op)
    check_zoo(zoo, fmt, True, tmp_path, sanitize=True)


@pytest.mark.parametrize("op", ["reshape", "flatten", "transpose"])
def test_shape_op_then_gemm(op, tmp_path):
    zoo = modelzoo.shape_op_model(np.random.default_rng(12), op, follow_gemm=True)
    check_zoo(zoo, "qoperator", True, tmp_path, sanitize=True)


SLICE_CASES = {
    "channels": dict(starts=(3,), ends=(10,), axes=(1,)),
    "channels_step": dict(starts=(0,), ends=(12,), axes=(1,), steps=(2,)),
    "spatial_negative": dict(starts=(1, -6), ends=(7, -1), axes=(2, 3)),
    "last_op": dict(starts=(5,), ends=(12,), axes=(1,), follow_conv=False),
}


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("case", sorted(SLICE_CASES))
def test_slice(case, fmt, tmp_path):
    """QOperator keeps Slice in float (DQ -> Slice -> Q with its own scale): a table requantizes."""
    zoo = modelzoo.slice_model(np.random.default_rng(13), **SLICE_CASES[case])
    check_zoo(zoo, fmt, True, tmp_path, sanitize=True)


def test_gemm_with_float_output(tmp_path):
    """A QDQ Gemm whose output is not quantized runs as QGemm with float output: y = (float)acc * S."""
    import onnx
    from compiler_harness import adversarial_inputs

    from agilenn_codegen.targets import load_target
    from agilenn_codegen.verify import verify_model

    model = onnx.load(str(modelzoo.quantized(modelzoo.gemm_model(np.random.default_rng(1)), "qdq", True, tmp_path)))
    graph = model.graph
    dequantize = next(n for n in graph.node if graph.output[0].name in n.output)
    quantize = next(n for n in graph.node if dequantize.input[0] in n.output)
    gemm_out = quantize.input[0]
    graph.node.remove(dequantize)
    graph.node.remove(quantize)
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == gemm_out:
                node.output[i] = graph.output[0].name
    path = tmp_path / "float_output.onnx"
    onnx.save(model, str(path))
    report = verify_model(path, load_target("host"), inputs=adversarial_inputs(path, 0), sanitize=True)
    assert report.exact and report.samples == 10
