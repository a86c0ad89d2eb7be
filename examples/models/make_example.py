"""Build, quantize and save the tiny example CNN (28x28x1 inputs, 10 classes).

Writes, next to this script:

* ``tiny_cnn.onnx``: float model, opset 13:
  Conv3x3/2 (1->8) + Relu -> depthwise Conv3x3 (8) + Clip(0,6) -> pointwise Conv1x1 (8->16) + Clip(0,6)
  -> AveragePool 2x2/2 -> GlobalAveragePool -> Flatten -> Gemm (16->10);
* ``tiny_cnn_int8.onnx``: the same model quantized with ``agilenn_codegen.quantize`` (QOperator, per-channel);
* ``tiny_cnn_samples.npy``: 8 test inputs, float32, shape (8, 1, 28, 28).

The weights are random (He init) and the images are synthetic strokes, all from fixed seeds, so the
outputs are reproducible. Run from the repository root: ``python examples/models/make_example.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
try:
    from agilenn_codegen.quantize import quantize_model
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parents[1]))
    from agilenn_codegen.quantize import quantize_model

SEED = 2024
MEAN, STD = 0.1307, 0.3081  # MNIST-style normalisation


def synthetic_digits(rng: np.random.Generator, count: int) -> np.ndarray:
    """Images of a few thick random strokes in [0, 1], normalised like MNIST: (count, 1, 28, 28)."""
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    images = np.zeros((count, 28, 28), np.float32)
    for img in images:
        for _ in range(rng.integers(2, 5)):
            (y0, x0), (y1, x1) = rng.uniform(5, 23, (2, 2))
            for t in np.linspace(0.0, 1.0, 24):
                cy, cx = y0 + t * (y1 - y0), x0 + t * (x1 - x0)
                img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
        np.clip(img, 0.0, 1.0, out=img)
    return ((images - MEAN) / STD)[:, None].astype(np.float32)


def build_model(rng: np.random.Generator) -> onnx.ModelProto:
    """The float tiny CNN with He-initialised weights and small random biases."""
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    def bias(n: int) -> np.ndarray:
        return rng.standard_normal(n) * 0.05

    zero, six = const("relu6_min", np.array(0.0)), const("relu6_max", np.array(6.0))
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node(
            "Conv", ["input", const("conv1_w", he((8, 1, 3, 3), 9)), const("conv1_b", bias(8))], ["c1"],
            name="conv1", strides=[2, 2], **conv,
        ),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node(
            "Conv", ["r1", const("dw_w", he((8, 1, 3, 3), 9)), const("dw_b", bias(8))], ["c2"],
            name="depthwise", group=8, **conv,
        ),
        helper.make_node("Clip", ["c2", zero, six], ["r2"], name="relu6_dw"),
        helper.make_node(
            "Conv", ["r2", const("pw_w", he((16, 8, 1, 1), 8)), const("pw_b", bias(16))], ["c3"],
            name="pointwise", kernel_shape=[1, 1],
        ),
        helper.make_node("Clip", ["c3", zero, six], ["r3"], name="relu6_pw"),
        helper.make_node("AveragePool", ["r3"], ["p1"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p1"], ["p2"], name="gap"),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten", axis=1),
        helper.make_node(
            "Gemm", ["f", const("fc_w", he((10, 16), 16)), const("fc_b", bias(10))], ["logits"],
            name="fc", transB=1,
        ),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="agilenn-example")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main(out_dir: Path = HERE) -> None:
    """Write the float model, its int8 version and the sample inputs to ``out_dir``."""
    rng = np.random.default_rng(SEED)
    model = build_model(rng)
    calibration = synthetic_digits(rng, 64)
    samples = synthetic_digits(rng, 8)
    float_path = out_dir / "tiny_cnn.onnx"
    onnx.save(model, str(float_path))
    report = quantize_model(
        float_path, {"input": calibration}, out_dir / "tiny_cnn_int8.onnx", fmt="qoperator", per_channel=True
    )
    np.save(out_dir / "tiny_cnn_samples.npy", samples)
    print(f"wrote {float_path.name}, {report.output.name} ({dict(report.ops_after)}), tiny_cnn_samples.npy")


if __name__ == "__main__":
    main()
