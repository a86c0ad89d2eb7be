"""The paper's on-device model ("anchor"), with random weights from a fixed seed.

    .venv/bin/python benchmarks/anchor_model.py --out build/anchor      # anchor.onnx + anchor_int8.onnx

96x96x3 image (pixel / 255) -> L1 depthwise 3x3 stride 3 (no padding) -> L2 pointwise 3->4 + ReLU6
-> L3 depthwise 3x3 stride 1 pad 1 -> L4 pointwise 4->24 + ReLU6 -> L5 global average pool over
channels 0..4 -> L6 fully connected 5->10 (`logits`); channels 5..23 of L4 are the remote
features (`remote_features`), as in AgileNN's split. Quantized with `agilenn quantize`'s defaults
(QOperator, per-channel weights) on calibration images whose pixels span 0..255.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 20221017  # MobiCom'22
INPUT_SHAPE = (1, 3, 96, 96)
K_LOCAL = 5
FEATURES = 24
CLASSES = 10
NORMALISATION = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "scale": 1.0 / 255.0}


def build_anchor(seed: int = SEED) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def conv(name: str, x: str, cin: int, cout: int, k: int, stride: int, pad: int, group: int) -> str:
        fan_in = (cin // group) * k * k
        w = (rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        nodes.append(
            helper.make_node(
                "Conv",
                [x, const(f"{name}.weight", w), const(f"{name}.bias", b)],
                [name],
                name=name,
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[pad] * 4,
                group=group,
            )
        )
        return name

    def relu6(x: str) -> str:
        out = f"{x}_relu6"
        lo, hi = const(f"{out}.min", np.array(0.0, np.float32)), const(f"{out}.max", np.array(6.0, np.float32))
        nodes.append(helper.make_node("Clip", [x, lo, hi], [out], name=out))
        return out

    def channel_slice(name: str, x: str, start: int, end: int) -> str:
        bounds = (("starts", start), ("ends", end), ("axes", 1))
        args = [const(f"{name}.{k}", np.array([v], np.int64)) for k, v in bounds]
        nodes.append(helper.make_node("Slice", [x, *args], [name], name=name))
        return name

    x = conv("L1_dw3x3_s3", "image", 3, 3, 3, 3, 0, 3)
    x = relu6(conv("L2_pw3to4", x, 3, 4, 1, 1, 0, 1))
    x = conv("L3_dw3x3_s1", x, 4, 4, 3, 1, 1, 4)
    x = relu6(conv("L4_pw4to24", x, 4, FEATURES, 1, 1, 0, 1))
    local = channel_slice("L5_local_channels", x, 0, K_LOCAL)
    nodes.append(helper.make_node("GlobalAveragePool", [local], ["L5_gap"], name="L5_gap"))
    nodes.append(helper.make_node("Flatten", ["L5_gap"], ["L5_flat"], name="L5_flatten", axis=1))
    fc_w = (rng.standard_normal((CLASSES, K_LOCAL)) * np.sqrt(1.0 / K_LOCAL)).astype(np.float32)
    fc_b = (rng.standard_normal(CLASSES) * 0.1).astype(np.float32)
    fc_inputs = ["L5_flat", const("L6_fc.weight", fc_w), const("L6_fc.bias", fc_b)]
    nodes.append(helper.make_node("Gemm", fc_inputs, ["logits"], name="L6_fc", transB=1))
    channel_slice("remote_features", x, K_LOCAL, FEATURES)
    graph = helper.make_graph(
        nodes,
        "anchor",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(INPUT_SHAPE))],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES]),
            helper.make_tensor_value_info("remote_features", TensorProto.FLOAT, [1, FEATURES - K_LOCAL, 32, 32]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="agilenn-benchmarks")
    onnx.checker.check_model(model, full_check=True)
    return model


def calibration_images(count: int = 32, seed: int = SEED) -> np.ndarray:
    """Images of pixel / 255 whose pixels span the whole 0..255 range (as a camera's do)."""
    rng = np.random.default_rng(seed + 1)
    pixels = rng.integers(0, 256, size=(count, *INPUT_SHAPE[1:]), dtype=np.int64)
    pixels[:, :, 0, 0] = 0
    pixels[:, :, 0, 1] = 255
    return (pixels.astype(np.float32) / np.float32(255.0)).astype(np.float32)


def write_anchor(out: Path) -> tuple[Path, Path]:
    """Write anchor.onnx (float) and anchor_int8.onnx (`agilenn quantize` defaults) into `out`."""
    from agilenn_codegen.quantize import quantize_model

    out.mkdir(parents=True, exist_ok=True)
    float_path, int8_path = out / "anchor.onnx", out / "anchor_int8.onnx"
    onnx.save(build_anchor(), str(float_path))
    quantize_model(float_path, {"image": calibration_images()}, int8_path)
    return float_path, int8_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "anchor")
    args = parser.parse_args()
    for path in write_anchor(args.out):
        print(path)


if __name__ == "__main__":
    main()
