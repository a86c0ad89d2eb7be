"""The model zoo: float models are valid and run, quantize to the expected int8 graphs, inputs are right."""

from __future__ import annotations

from collections.abc import Callable

import modelzoo as mz
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

Q = "QuantizeLinear"
DQ = "DequantizeLinear"
MS = "com.microsoft::"

# (id, builder, op types of the QOperator model)
CASES: list[tuple[str, Callable[[np.random.Generator], mz.ZooModel], set[str]]] = [
    ("conv", lambda r: mz.conv_model(r), {Q, "QLinearConv", DQ}),
    (
        "conv_asym_pads_stride_relu",
        lambda r: mz.conv_model(r, shape=(1, 3, 9, 11), pads=(0, 1, 2, 1), strides=(2, 1), activation="relu"),
        {Q, "QLinearConv", DQ},
    ),
    (
        "conv_dilated_nobias",
        lambda r: mz.conv_model(r, dilations=(2, 2), pads=(2, 2, 2, 2), bias=False),
        {Q, "QLinearConv", DQ},
    ),
    (
        "conv_depthwise_relu6",
        lambda r: mz.conv_model(r, shape=(1, 6, 8, 8), out_channels=6, group=6, activation="relu6"),
        {Q, "QLinearConv", DQ},
    ),
    (
        "conv_group2_5x3",
        lambda r: mz.conv_model(r, shape=(1, 4, 8, 8), out_channels=6, group=2, kernel=(5, 3), pads=(2, 1, 2, 1)),
        {Q, "QLinearConv", DQ},
    ),
    ("gemm", lambda r: mz.gemm_model(r), {"Flatten", Q, MS + "QGemm", DQ}),
    ("gemm_transb0_nobias", lambda r: mz.gemm_model(r, trans_b=False, bias=False), {"Flatten", Q, MS + "QGemm", DQ}),
    ("gemm_2d", lambda r: mz.gemm_model(r, shape=(1, 12)), {Q, MS + "QGemm", DQ}),
    ("matmul_2d", lambda r: mz.matmul_model(r), {Q, "QLinearMatMul", DQ}),
    ("matmul_3d", lambda r: mz.matmul_model(r, shape=(1, 5, 16)), {Q, "QLinearMatMul", DQ}),
    ("gap", lambda r: mz.global_avgpool_model(r), {Q, "QLinearConv", MS + "QLinearGlobalAveragePool", DQ}),
    ("avgpool", lambda r: mz.avgpool_model(r), {Q, "QLinearConv", MS + "QLinearAveragePool", DQ}),
    (
        "avgpool_pads_include",
        lambda r: mz.avgpool_model(r, kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True),
        {Q, "QLinearConv", MS + "QLinearAveragePool", DQ},
    ),
    ("maxpool", lambda r: mz.maxpool_model(r), {Q, "QLinearConv", "MaxPool", DQ}),
    ("residual_add", lambda r: mz.residual_add_model(r), {Q, "QLinearConv", MS + "QLinearAdd", DQ}),
    ("add_branches", lambda r: mz.add_model(r), {Q, "QLinearConv", MS + "QLinearAdd", DQ}),
    ("mul_inputs", lambda r: mz.mul_model(r), {Q, MS + "QLinearMul", DQ}),
    ("mul_broadcast", lambda r: mz.mul_model(r, broadcast=True), {Q, MS + "QLinearMul", DQ}),
    ("mul_branches", lambda r: mz.mul_model(r, mode="branches"), {Q, "QLinearConv", MS + "QLinearMul", DQ}),
    ("concat", lambda r: mz.concat_model(r), {Q, "QLinearConv", MS + "QLinearConcat", DQ}),
    (
        "reshape_gemm",
        lambda r: mz.shape_op_model(r, "reshape", follow_gemm=True),
        {Q, "QLinearConv", "Reshape", MS + "QGemm", DQ},
    ),
    ("flatten", lambda r: mz.shape_op_model(r, "flatten"), {Q, "QLinearConv", "Flatten", DQ}),
    ("squeeze", lambda r: mz.shape_op_model(r, "squeeze"), {Q, "QLinearConv", "Squeeze", DQ}),
    ("unsqueeze", lambda r: mz.shape_op_model(r, "unsqueeze"), {Q, "QLinearConv", "Unsqueeze", DQ}),
    ("transpose", lambda r: mz.shape_op_model(r, "transpose"), {Q, "QLinearConv", "Transpose", DQ}),
    (
        "mixed_cnn",
        lambda r: mz.mixed_cnn_model(r),
        {Q, "QLinearConv", MS + "QLinearGlobalAveragePool", "Flatten", MS + "QGemm", DQ},
    ),
    (
        "mixed_cnn_avgpool",
        lambda r: mz.mixed_cnn_model(r, pool="avgpool"),
        {Q, "QLinearConv", MS + "QLinearAveragePool", "Flatten", MS + "QGemm", DQ},
    ),
    (
        "agilenn_device",
        lambda r: mz.agilenn_device_model(r),
        {Q, "QLinearConv", MS + "QLinearGlobalAveragePool", "Flatten", MS + "QGemm", DQ},
    ),
]
IDS = [c[0] for c in CASES]


def _ops(path) -> set[str]:
    model = onnx.load(str(path))
    return {(f"{n.domain}::" if n.domain else "") + n.op_type for n in model.graph.node}


@pytest.mark.parametrize(("name", "build", "expected"), CASES, ids=IDS)
def test_float_model_valid_and_runs(name, build, expected):
    zoo = build(np.random.default_rng(1))
    onnx.checker.check_model(zoo.model, full_check=True)
    session = mz.ort_session(zoo.model.SerializeToString())
    feeds = {k: v[:1] for k, v in zoo.calibration.items()}
    outs = session.run(None, feeds)
    for out in outs:
        assert np.all(np.isfinite(out))
        assert float(np.std(out)) > 1e-3, "activations collapsed"


@pytest.mark.parametrize(("name", "build", "expected"), CASES, ids=IDS)
def test_qoperator_graph_ops(name, build, expected, tmp_path):
    zoo = build(np.random.default_rng(2))
    qpath = mz.quantized(zoo, "qoperator", True, tmp_path)
    assert _ops(qpath) == expected
    feeds = mz.sample_inputs(qpath, np.random.default_rng(3), "random", 2)
    for outs in mz.run_ort(qpath, feeds):
        assert all(np.all(np.isfinite(o)) for o in outs)


@pytest.mark.parametrize(
    "name",
    [
        "conv_depthwise_relu6",
        "gemm",
        "matmul_3d",
        "avgpool",
        "maxpool",
        "residual_add",
        "mul_inputs",
        "concat",
        "transpose",
        "agilenn_device",
    ],
)
def test_qdq_matches_qoperator_in_onnxruntime(name, tmp_path):
    """QDQ at ORT_ENABLE_ALL with qdqisint8allowed fuses to QLinear ops; no float compute remains."""
    build = dict((c[0], c[1]) for c in CASES)[name]
    zoo = build(np.random.default_rng(4))
    qdq = mz.quantized(zoo, "qdq", True, tmp_path)
    optimized = tmp_path / "optimized.onnx"
    mz.ort_session(qdq, optimized_model_path=optimized)
    float_compute = {"Conv", "Gemm", "MatMul", "Add", "Mul", "AveragePool", "GlobalAveragePool", "Concat"}
    assert not (_ops(optimized) & float_compute)
    ops = [n.op_type for n in onnx.load(str(optimized)).graph.node]
    assert ops.count(Q) == len(zoo.calibration)  # only the graph inputs are quantized
    if name not in ("avgpool",):  # QDQ AveragePool keeps its input scale; QOperator calibrates its own
        qop = mz.quantized(zoo, "qoperator", True, tmp_path)
        feeds = mz.sample_inputs(qop, np.random.default_rng(5), "random", 3)
        for a, b in zip(mz.run_ort(qop, feeds), mz.run_ort(qdq, feeds), strict=True):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)


def test_sample_input_kinds(tmp_path):
    zoo = mz.conv_model(np.random.default_rng(6), shape=(1, 3, 5, 5))
    qpath = mz.quantized(zoo, "qoperator", True, tmp_path)
    ((scale, zp),) = mz.input_quant_params(qpath).values()
    s = np.float32(scale)
    rng = np.random.default_rng(7)

    def quantize(x):
        return np.clip(np.rint(x / s) + zp, -128, 127)

    for kind in mz.SAMPLE_KINDS:
        feeds = mz.sample_inputs(qpath, rng, kind, 4)
        x = feeds["input"]
        assert x.dtype == np.float32 and x.shape == (4, 3, 5, 5)
    assert np.all(quantize(mz.sample_inputs(qpath, rng, "min", 2)["input"]) == -128)
    assert np.all(quantize(mz.sample_inputs(qpath, rng, "max", 2)["input"]) == 127)
    ties = mz.sample_inputs(qpath, rng, "ties", 8)["input"]
    frac = (ties / s).astype(np.float32)
    assert np.all(frac - np.floor(frac) == 0.5)
    assert np.all(np.abs(np.floor(frac) + zp) <= 128)
    sat = mz.sample_inputs(qpath, rng, "saturating", 8)["input"]
    assert np.all((sat / s + zp < -128) | (sat / s + zp > 127))
    rand = mz.sample_inputs(qpath, rng, "random", 8)["input"]
    assert np.all((quantize(rand) >= -128) & (quantize(rand) <= 127))


def test_builders_are_seeded():
    a = mz.agilenn_device_model(np.random.default_rng(11))
    b = mz.agilenn_device_model(np.random.default_rng(11))
    assert a.model.SerializeToString() == b.model.SerializeToString()
    np.testing.assert_array_equal(a.calibration["input"], b.calibration["input"])


def test_agilenn_device_model_outputs(tmp_path):
    zoo = mz.agilenn_device_model(np.random.default_rng(8), k=5, features=20, classes=7)
    assert [o.name for o in zoo.model.graph.output] == ["local_logits", "remote_features"]
    qpath = mz.quantized(zoo, "qoperator", True, tmp_path)
    ((logits, remote),) = mz.run_ort(qpath, mz.sample_inputs(qpath, np.random.default_rng(9), "random", 1))
    assert logits.shape == (1, 7)
    assert remote.shape == (1, 15, 8, 8)
    assert remote.min() >= 0.0


@pytest.mark.parametrize("kind", ["conv", "gemm"])
def test_large_accumulator_exceeds_2_pow_24(kind, tmp_path):
    rng = np.random.default_rng(10)
    if kind == "conv":
        zoo = mz.conv_model(rng, shape=(1, 256, 5, 5), out_channels=4, large_accumulator=True)
    else:
        zoo = mz.gemm_model(rng, shape=(1, 2048), out_features=4, large_accumulator=True)
    qpath = mz.quantized(zoo, "qoperator", True, tmp_path)
    model = onnx.load(str(qpath))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    node = next(n for n in model.graph.node if n.op_type in ("QLinearConv", "QGemm"))
    weights = inits[node.input[3]].astype(np.int64)
    ((_, zx),) = mz.input_quant_params(qpath).values()
    # An all-"max" input quantizes to 127 everywhere: an interior output sums every weight tap.
    acc = (127 - zx) * weights.reshape(weights.shape[0], -1).sum(axis=1)
    assert int(np.abs(acc).max()) > 2**24
