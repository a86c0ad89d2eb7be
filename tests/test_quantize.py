"""quantize_model and `agilenn quantize`: int8 settings, determinism, user errors (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import modelzoo as mz
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from agilenn_codegen.cli import main
from agilenn_codegen.errors import UserError
from agilenn_codegen.quantize import QuantizeReport, quantize_model

WEIGHT_INPUTS = {"QLinearConv": (3, 4, 5), "QGemm": (3, 4, 5), "QLinearMatMul": (3, 4, 5)}


def _inits(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in model.graph.initializer}


def _float_and_calib(tmp_path: Path, zoo: mz.ZooModel) -> tuple[Path, Path]:
    float_path = zoo.save(tmp_path / "float.onnx")
    calib = tmp_path / "calib.npz"
    np.savez(calib, **zoo.calibration)
    return float_path, calib


@pytest.mark.parametrize("per_channel", [True, False])
def test_qoperator_int8_settings(tmp_path, per_channel):
    zoo = mz.mixed_cnn_model(np.random.default_rng(0))
    float_path, calib = _float_and_calib(tmp_path, zoo)
    out = tmp_path / "q.onnx"
    report = quantize_model(float_path, calib, out, per_channel=per_channel)
    assert isinstance(report, QuantizeReport)
    assert report.output == out and out.exists()
    assert report.num_samples == 16 and report.fmt == "qoperator" and report.per_channel is per_channel
    assert report.ops_before["Conv"] == 3 and "Conv" not in report.ops_after
    assert report.ops_after["QLinearConv"] == 3 and report.ops_after["com.microsoft::QGemm"] == 1
    assert "Relu" not in report.ops_after and "Clip" not in report.ops_after

    model = onnx.load(str(out))
    inits = _inits(model)
    for node in model.graph.node:
        if node.op_type not in WEIGHT_INPUTS:
            continue
        w_name, ws_name, wzp_name = (node.input[i] for i in WEIGHT_INPUTS[node.op_type])
        weights, w_scale, w_zp = inits[w_name], numpy_helper.to_array(inits[ws_name]), inits[wzp_name]
        assert weights.data_type == TensorProto.INT8 and w_zp.data_type == TensorProto.INT8
        assert np.all(numpy_helper.to_array(w_zp) == 0)
        assert numpy_helper.to_array(weights).min() >= -127
        out_channels = numpy_helper.to_array(weights).shape[0]
        assert w_scale.shape == ((out_channels,) if per_channel else ())
        # activation zero points (x_zp, y_zp) are int8
        zp_inputs = (2, 7) if node.op_type == "QLinearConv" else (2, 8)
        for i in zp_inputs:
            assert inits[node.input[i]].data_type == TensorProto.INT8
        bias_index = 8 if node.op_type == "QLinearConv" else 6
        assert inits[node.input[bias_index]].data_type == TensorProto.INT32


def test_qdq_format_pairs(tmp_path):
    zoo = mz.conv_model(np.random.default_rng(1), activation="relu6")
    float_path, calib = _float_and_calib(tmp_path, zoo)
    out = tmp_path / "qdq.onnx"
    report = quantize_model(float_path, calib, out, fmt="qdq")
    assert report.ops_after == {"Conv": 1, "DequantizeLinear": 4, "QuantizeLinear": 2}
    model = onnx.load(str(out))
    inits = _inits(model)
    weight_dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    types = sorted(TensorProto.DataType.Name(inits[n.input[0]].data_type) for n in weight_dq)
    assert types == ["INT32", "INT8"]  # bias and weight
    for node in weight_dq:
        assert helper.get_attribute_value(node.attribute[0]) == 0  # per-channel axis 0
        assert np.all(numpy_helper.to_array(inits[node.input[2]]) == 0)


def test_deterministic_output(tmp_path):
    zoo = mz.agilenn_device_model(np.random.default_rng(2))
    float_path, calib = _float_and_calib(tmp_path, zoo)
    for fmt in ("qoperator", "qdq"):
        a, b = tmp_path / f"a_{fmt}.onnx", tmp_path / f"b_{fmt}.onnx"
        quantize_model(float_path, calib, a, fmt=fmt)
        quantize_model(float_path, zoo.calibration, b, fmt=fmt)
        assert a.read_bytes() == b.read_bytes()


def test_batchnorm_folded(tmp_path):
    rng = np.random.default_rng(3)
    c = 4
    inits = [
        numpy_helper.from_array((rng.standard_normal((c, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), "gamma"),
        numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "beta"),
        numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), "var"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 8, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "bn.onnx"
    onnx.save(model, str(path))
    report = quantize_model(path, {"anything": rng.standard_normal((8, 3, 8, 8))}, tmp_path / "q.onnx")
    assert report.ops_before["BatchNormalization"] == 1
    assert dict(report.ops_after) == {"DequantizeLinear": 1, "QLinearConv": 1, "QuantizeLinear": 1}


def test_npy_and_single_key_calibration(tmp_path):
    zoo = mz.conv_model(np.random.default_rng(4))
    float_path = zoo.save(tmp_path / "f.onnx")
    npy = tmp_path / "samples.npy"
    np.save(npy, zoo.calibration["input"])
    npz = tmp_path / "other_key.npz"
    np.savez(npz, images=zoo.calibration["input"])
    a = quantize_model(float_path, npy, tmp_path / "a.onnx")
    b = quantize_model(float_path, npz, tmp_path / "b.onnx")
    assert a.num_samples == b.num_samples == 16
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_cli_success(tmp_path, capsys):
    zoo = mz.gemm_model(np.random.default_rng(5))
    float_path, calib = _float_and_calib(tmp_path, zoo)
    out = tmp_path / "sub" / "q.onnx"
    code = main(["quantize", str(float_path), "--calibration", str(calib), "--out", str(out), "--per-tensor"])
    assert code == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "per-tensor" in printed and "QGemm" in printed


def _bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    zoo = mz.mul_model(np.random.default_rng(6))  # two inputs: a, b
    float_path, calib = _float_and_calib(tmp_path, zoo)
    wrong_keys = tmp_path / "wrong_keys.npz"
    np.savez(wrong_keys, a=zoo.calibration["a"], c=zoo.calibration["b"])
    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, a=zoo.calibration["a"], b=zoo.calibration["b"][:, :, :4])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01definitely not onnx" * 20)
    text = tmp_path / "calib.txt"
    text.write_text("not numpy")
    quantized = tmp_path / "q.onnx"
    quantize_model(float_path, calib, quantized)
    out = str(tmp_path / "out.onnx")

    def args(model: Path, cal: Path, *extra: str) -> list[str]:
        return ["quantize", str(model), "--calibration", str(cal), "--out", out, *extra]

    return {
        "missing_model": (args(tmp_path / "nope.onnx", calib), "model file not found"),
        "not_onnx": (args(garbage, calib), "not"),
        "already_quantized": (args(quantized, calib), "already quantized"),
        "wrong_keys": (args(float_path, wrong_keys), "expected ['a', 'b'], got ['a', 'c']"),
        "wrong_shape": (args(float_path, wrong_shape), "expected (samples, 8, 8, 8)"),
        "missing_calibration": (args(float_path, tmp_path / "nope.npz"), "calibration file not found"),
        "unreadable_calibration": (args(float_path, text), "cannot read calibration data"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing_model",
        "not_onnx",
        "already_quantized",
        "wrong_keys",
        "wrong_shape",
        "missing_calibration",
        "unreadable_calibration",
    ],
)
def test_cli_user_errors_exit_2(tmp_path, capsys, case):
    argv, message = _bad_cases(tmp_path)[case]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert message in " ".join(err.split())


def test_cli_usage_error_exit_2(tmp_path):
    from typer.testing import CliRunner

    from agilenn_codegen.cli import app

    zoo = mz.conv_model(np.random.default_rng(8))
    float_path, calib = _float_and_calib(tmp_path, zoo)
    argv = ["quantize", str(float_path), "--calibration", str(calib), "--out", str(tmp_path / "o.onnx")]
    result = CliRunner().invoke(app, [*argv, "--format", "qfoo"])
    assert result.exit_code == 2
    assert not (tmp_path / "o.onnx").exists()


def test_api_errors(tmp_path):
    zoo = mz.conv_model(np.random.default_rng(7), batch=2)
    float_path = zoo.save(tmp_path / "f.onnx")
    with pytest.raises(UserError, match="multiple of 2"):
        quantize_model(float_path, {"input": zoo.calibration["input"][:3]}, tmp_path / "q.onnx")
    with pytest.raises(UserError, match="NaN"):
        quantize_model(float_path, {"input": np.full((2, 4, 10, 10), np.nan)}, tmp_path / "q.onnx")
    with pytest.raises(UserError, match="unknown calibration method"):
        quantize_model(float_path, zoo.calibration, tmp_path / "q.onnx", calibrate_method="median")


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_relu_on_shared_tensor_keeps_its_clamp(tmp_path, fmt):
    """A Relu whose input also feeds another op must still clamp (onnxruntime's QOperator drops it)."""
    rng = np.random.default_rng(9)
    g = mz._Graph(rng)
    c = g.conv("input", 4, 4, (3, 3))
    relu = g.node("Relu", [c])
    other = g.conv(c, 4, 4, (1, 1))
    zoo = g.build("fanout", {"input": [1, 4, 6, 6]}, [relu, other], {"input": mz._calib(rng, (1, 4, 6, 6), 16)})
    qpath = mz.quantized(zoo, fmt, True, tmp_path)
    feeds = mz.sample_inputs(qpath, np.random.default_rng(10), "random", 4)
    assert min(float(outs[0].min()) for outs in mz.run_ort(qpath, feeds)) >= 0.0


def test_the_papers_model_quantizes_and_compiles_in_the_default_format(tmp_path):
    """AgileNN's channel split (Slice -> GlobalAveragePool) stays int8 in QOperator format, so the model compiles."""
    import onnx

    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.targets import load_target
    from agilenn_codegen.verify import verify_model
    from benchmarks.anchor_model import write_anchor

    _, int8 = write_anchor(tmp_path)
    ops = [node.op_type for node in onnx.load(str(int8)).graph.node]
    assert "QLinearGlobalAveragePool" in ops and "GlobalAveragePool" not in ops
    graph = compile_model(int8)
    assert not [node for node in graph.nodes if node.op == "slice"]  # both slices fused into their readers
    pool = next(node for node in graph.nodes if node.op == "global_avgpool")
    assert pool.attrs.channel_offset == 0 and graph.tensor(pool.inputs[0]).shape[1] == 24
    report = verify_model(int8, load_target("host"), count=5, sanitize=True)
    assert report.exact
