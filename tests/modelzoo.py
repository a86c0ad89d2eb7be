"""Random float ONNX models, their int8 versions and test inputs, for op- and model-level tests.

Every builder takes a seeded ``numpy.random.Generator`` first and returns a :class:`ZooModel`: the
float model (opset 13, NCHW, batch 1 unless ``batch`` says otherwise) plus seeded calibration data.
Weights use He initialisation so activations keep a realistic spread through the layers.

Typical use::

    rng = np.random.default_rng(0)
    zoo = conv_model(rng, shape=(1, 8, 12, 12), group=8, activation="relu6")
    qpath = quantized(zoo, "qoperator", True, tmp_path)
    feeds = sample_inputs(qpath, rng, "ties", 4)     # {input name: (4, 8, 12, 12) float32}
    outs = run_ort(qpath, feeds)                     # one list of outputs per sample

Import as ``from modelzoo import ...`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from agilenn_codegen.quantize import quantize_model

OPSET = 13
Activation = Literal["none", "relu", "relu6"]
SampleKind = Literal["random", "saturating", "min", "max", "ties"]
SAMPLE_KINDS: tuple[str, ...] = ("random", "saturating", "min", "max", "ties")


@dataclass
class ZooModel:
    """A float model and the calibration data to quantize it with."""

    name: str
    model: onnx.ModelProto
    calibration: dict[str, np.ndarray]
    meta: dict[str, object] = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        """Write the float model to ``path`` and return it."""
        onnx.save(self.model, str(path))
        return path


class _Graph:
    """A tiny helper that accumulates nodes and initializers with unique names."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], prefix: str | None = None, **attrs: object) -> str:
        out = self.name(prefix or op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{out}_node", **attrs))
        return out

    def conv(
        self,
        x: str,
        in_ch: int,
        out_ch: int,
        kernel: tuple[int, int] = (3, 3),
        *,
        strides: tuple[int, int] = (1, 1),
        pads: tuple[int, int, int, int] | None = None,
        dilations: tuple[int, int] = (1, 1),
        group: int = 1,
        bias: bool = True,
        activation: Activation = "none",
        large: bool = False,
    ) -> str:
        """Conv (+ Relu / Clip(0,6)); pads default to 'same' for odd kernels at stride 1."""
        if pads is None:
            pads = (
                (kernel[0] - 1) * dilations[0] // 2,
                (kernel[1] - 1) * dilations[1] // 2,
                (kernel[0] - 1) * dilations[0] // 2,
                (kernel[1] - 1) * dilations[1] // 2,
            )
        wshape = (out_ch, in_ch // group, *kernel)
        fan_in = int(np.prod(wshape[1:]))
        w = self.rng.uniform(0.5, 1.0, wshape) if large else self.rng.standard_normal(wshape) * np.sqrt(2.0 / fan_in)
        inputs = [x, self.const("w", w.astype(np.float32))]
        if bias:
            inputs.append(self.const("b", (self.rng.standard_normal(out_ch) * 0.1).astype(np.float32)))
        y = self.node(
            "Conv",
            inputs,
            kernel_shape=list(kernel),
            strides=list(strides),
            pads=list(pads),
            dilations=list(dilations),
            group=group,
        )
        return self.activation(y, activation)

    def activation(self, x: str, activation: Activation) -> str:
        if activation == "relu":
            return self.node("Relu", [x])
        if activation == "relu6":
            lo = self.const("clip_min", np.array(0.0, np.float32))
            hi = self.const("clip_max", np.array(6.0, np.float32))
            return self.node("Clip", [x, lo, hi])
        return x

    def gemm(self, x: str, k: int, n: int, *, trans_b: bool = True, bias: bool = True, large: bool = False) -> str:
        w = self.rng.uniform(0.5, 1.0, (n, k)) if large else self.rng.standard_normal((n, k)) * np.sqrt(2.0 / k)
        w = w.astype(np.float32)
        inputs = [x, self.const("gemm_w", w if trans_b else np.ascontiguousarray(w.T))]
        if bias:
            inputs.append(self.const("gemm_b", (self.rng.standard_normal(n) * 0.1).astype(np.float32)))
        return self.node("Gemm", inputs, transB=int(trans_b))

    def build(
        self,
        name: str,
        inputs: Mapping[str, Sequence[int | str]],
        outputs: Sequence[str],
        calibration: dict[str, np.ndarray],
        **meta: object,
    ) -> ZooModel:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
        return ZooModel(name, model, calibration, dict(meta))


def _calib(rng: np.random.Generator, shape: Sequence[int], samples: int, *, positive: bool = False) -> np.ndarray:
    """Seeded calibration data: standard normal, or uniform in [0, 1) when ``positive``."""
    full = (samples * shape[0], *shape[1:])
    data = rng.uniform(0.0, 1.0, full) if positive else rng.standard_normal(full)
    return data.astype(np.float32)


def _input_dims(shape: Sequence[int], batch: int | str) -> list[int | str]:
    return [batch, *shape[1:]]


# --------------------------------------------------------------------------------------------------
# Single-op builders
# --------------------------------------------------------------------------------------------------


def conv_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 4, 10, 10),
    out_channels: int = 8,
    kernel: tuple[int, int] = (3, 3),
    strides: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (1, 1, 1, 1),
    dilations: tuple[int, int] = (1, 1),
    group: int = 1,
    bias: bool = True,
    activation: Activation = "none",
    large_accumulator: bool = False,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """One Conv (pads [top, left, bottom, right]) with optional Relu / Clip(0,6).

    ``large_accumulator`` uses positive weights in [0.5, 1) and positive inputs, so that with many
    input channels (e.g. 256 with a 3x3 kernel) the int32 accumulators exceed 2**24.
    """
    g = _Graph(rng)
    y = g.conv(
        "input",
        shape[1],
        out_channels,
        kernel,
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=group,
        bias=bias,
        activation=activation,
        large=large_accumulator,
    )
    calib = {"input": _calib(rng, shape, samples, positive=large_accumulator)}
    return g.build("conv", {"input": _input_dims(shape, batch)}, [y], calib, group=group)


def gemm_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, ...] = (1, 4, 3, 3),
    out_features: int = 10,
    trans_b: bool = True,
    bias: bool = True,
    activation: Activation = "none",
    large_accumulator: bool = False,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Flatten (when the input has rank > 2) + Gemm, transB 0 or 1, optional bias and activation."""
    g = _Graph(rng)
    x = "input"
    k = int(np.prod(shape[1:]))
    if len(shape) > 2:
        x = g.node("Flatten", [x], axis=1)
    y = g.activation(g.gemm(x, k, out_features, trans_b=trans_b, bias=bias, large=large_accumulator), activation)
    calib = {"input": _calib(rng, shape, samples, positive=large_accumulator)}
    return g.build("gemm", {"input": _input_dims(shape, batch)}, [y], calib)


def matmul_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, ...] = (1, 16),
    out_features: int = 8,
    large_accumulator: bool = False,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """MatMul of a 2-D (N, K) or 3-D (N, M, K) input with a constant (K, out_features) weight."""
    g = _Graph(rng)
    k = shape[-1]
    if large_accumulator:
        w = rng.uniform(0.5, 1.0, (k, out_features))
    else:
        w = rng.standard_normal((k, out_features)) * np.sqrt(2.0 / k)
    y = g.node("MatMul", ["input", g.const("mm_w", w.astype(np.float32))])
    calib = {"input": _calib(rng, shape, samples, positive=large_accumulator)}
    return g.build("matmul", {"input": _input_dims(shape, batch)}, [y], calib)


def _pre_conv(g: _Graph, shape: Sequence[int], pre_conv: bool) -> str:
    return g.conv("input", shape[1], shape[1], (3, 3), activation="none") if pre_conv else "input"


def global_avgpool_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 8, 7, 7),
    pre_conv: bool = True,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """[Conv 3x3 ->] GlobalAveragePool."""
    g = _Graph(rng)
    y = g.node("GlobalAveragePool", [_pre_conv(g, shape, pre_conv)])
    return g.build("gap", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def avgpool_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 4, 9, 9),
    kernel: tuple[int, int] = (2, 2),
    strides: tuple[int, int] = (2, 2),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    count_include_pad: bool = False,
    ceil_mode: bool = False,
    pre_conv: bool = True,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """[Conv 3x3 ->] AveragePool with kernel, strides, pads, count_include_pad, ceil_mode."""
    g = _Graph(rng)
    y = g.node(
        "AveragePool",
        [_pre_conv(g, shape, pre_conv)],
        kernel_shape=list(kernel),
        strides=list(strides),
        pads=list(pads),
        count_include_pad=int(count_include_pad),
        ceil_mode=int(ceil_mode),
    )
    return g.build("avgpool", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def maxpool_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 4, 9, 9),
    kernel: tuple[int, int] = (3, 3),
    strides: tuple[int, int] = (2, 2),
    pads: tuple[int, int, int, int] = (1, 1, 1, 1),
    dilations: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
    pre_conv: bool = True,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """[Conv 3x3 ->] MaxPool. Without ``pre_conv`` the quantizer leaves MaxPool in float."""
    g = _Graph(rng)
    y = g.node(
        "MaxPool",
        [_pre_conv(g, shape, pre_conv)],
        kernel_shape=list(kernel),
        strides=list(strides),
        pads=list(pads),
        dilations=list(dilations),
        ceil_mode=int(ceil_mode),
    )
    return g.build("maxpool", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def residual_add_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 8, 8, 8),
    activation: Activation = "none",
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """x + Conv3x3(x) (the graph input feeds two consumers), then optional Relu / Clip(0,6)."""
    g = _Graph(rng)
    branch = g.conv("input", shape[1], shape[1], (3, 3), activation="relu")
    y = g.activation(g.node("Add", ["input", branch]), activation)
    return g.build("residual_add", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def add_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 8, 8, 8),
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Conv1x1(x) + Conv3x3(x): an Add of two quantized branches."""
    g = _Graph(rng)
    a = g.conv("input", shape[1], shape[1], (1, 1))
    b = g.conv("input", shape[1], shape[1], (3, 3))
    y = g.node("Add", [a, b])
    return g.build("add", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def mul_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 8, 8, 8),
    mode: Literal["inputs", "branches"] = "inputs",
    broadcast: bool = False,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Mul of two tensors: two graph inputs ``a``, ``b`` or two conv branches of one input.

    ``broadcast`` (``inputs`` mode) gives ``b`` the shape (N, C, 1, 1).
    """
    g = _Graph(rng)
    if mode == "inputs":
        b_shape = (*shape[:2], 1, 1) if broadcast else shape
        y = g.node("Mul", ["a", "b"])
        calib = {"a": _calib(rng, shape, samples), "b": _calib(rng, b_shape, samples)}
        inputs = {"a": _input_dims(shape, batch), "b": _input_dims(b_shape, batch)}
        return g.build("mul", inputs, [y], calib)
    a = g.conv("input", shape[1], shape[1], (1, 1))
    b = g.conv("input", shape[1], shape[1], (3, 3))
    y = g.node("Mul", [a, b])
    return g.build("mul_branches", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def concat_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 4, 8, 8),
    channels: tuple[int, int] = (6, 10),
    activation: Activation = "relu",
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Concat on the channel axis of a Conv3x3 and a Conv1x1 branch (different ranges)."""
    g = _Graph(rng)
    a = g.conv("input", shape[1], channels[0], (3, 3), activation=activation)
    b = g.conv("input", shape[1], channels[1], (1, 1), activation="none")
    y = g.node("Concat", [a, b], axis=1)
    return g.build("concat", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def slice_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 4, 8, 8),
    channels: int = 12,
    starts: Sequence[int] = (3,),
    ends: Sequence[int] = (10,),
    axes: Sequence[int] = (1,),
    steps: Sequence[int] | None = None,
    follow_conv: bool = True,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Conv -> Slice (channels by default, as AgileNN's feature split) -> optional Conv."""
    g = _Graph(rng)
    y = g.conv("input", shape[1], channels, (3, 3), activation="relu6")
    inputs = [
        y,
        g.const("starts", np.array(starts, np.int64)),
        g.const("ends", np.array(ends, np.int64)),
        g.const("axes", np.array(axes, np.int64)),
    ]
    if steps is not None:
        inputs.append(g.const("steps", np.array(steps, np.int64)))
    y = g.node("Slice", inputs)
    if follow_conv:
        sliced = (
            len(range(*slice(starts[0], ends[0], (steps or (1,))[0]).indices(channels))) if axes[0] == 1 else channels
        )
        y = g.conv(y, sliced, 4, (1, 1), activation="none")
    return g.build("slice", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


ShapeOp = Literal["reshape", "flatten", "squeeze", "unsqueeze", "transpose"]


def shape_op_model(
    rng: np.random.Generator,
    op: ShapeOp,
    *,
    shape: tuple[int, int, int, int] = (1, 4, 6, 6),
    out_channels: int = 6,
    follow_gemm: bool = False,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Conv3x3 followed by Reshape / Flatten / Squeeze / Unsqueeze / Transpose [-> Gemm].

    For ``squeeze`` the input height is forced to 1 and axis 2 is squeezed. ``follow_gemm``
    (reshape/flatten only) feeds the 2-D result to a Gemm, so the shape op sits between int8 ops.
    """
    if op == "squeeze":
        shape = (shape[0], shape[1], 1, shape[3])
    g = _Graph(rng)
    pads = (0, 1, 0, 1) if op == "squeeze" else (1, 1, 1, 1)
    kernel = (1, 3) if op == "squeeze" else (3, 3)
    x = g.conv("input", shape[1], out_channels, kernel, pads=pads, activation="relu")
    n = shape[0]
    features = out_channels * shape[2] * shape[3]
    if op == "reshape":
        y = g.node("Reshape", [x, g.const("shape", np.array([n, features], np.int64))])
    elif op == "flatten":
        y = g.node("Flatten", [x], axis=1)
    elif op == "squeeze":
        y = g.node("Squeeze", [x, g.const("axes", np.array([2], np.int64))])
    elif op == "unsqueeze":
        y = g.node("Unsqueeze", [x, g.const("axes", np.array([1], np.int64))])
    elif op == "transpose":
        y = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    else:
        raise ValueError(f"unknown shape op {op}")
    if follow_gemm and op in ("reshape", "flatten"):
        y = g.gemm(y, features, 10)
    return g.build(f"{op}", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


# --------------------------------------------------------------------------------------------------
# Small networks
# --------------------------------------------------------------------------------------------------


def mixed_cnn_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 3, 16, 16),
    channels: tuple[int, int] = (8, 16),
    classes: int = 10,
    pool: Literal["gap", "avgpool", "maxpool"] = "gap",
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """Conv3x3/2 + Relu -> depthwise 3x3 + Clip(0,6) -> pointwise + Clip(0,6) -> pool -> Flatten -> Gemm."""
    g = _Graph(rng)
    c1, c2 = channels
    x = g.conv("input", shape[1], c1, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), activation="relu")
    x = g.conv(x, c1, c1, (3, 3), group=c1, activation="relu6")
    x = g.conv(x, c1, c2, (1, 1), activation="relu6")
    h, w = (shape[2] + 1) // 2, (shape[3] + 1) // 2
    if pool == "gap":
        x = g.node("GlobalAveragePool", [x])
        h = w = 1
    else:
        op = "AveragePool" if pool == "avgpool" else "MaxPool"
        x = g.node(op, [x], kernel_shape=[2, 2], strides=[2, 2])
        h, w = h // 2, w // 2
    x = g.node("Flatten", [x], axis=1)
    y = g.gemm(x, c2 * h * w, classes)
    return g.build("mixed_cnn", {"input": _input_dims(shape, batch)}, [y], {"input": _calib(rng, shape, samples)})


def agilenn_device_model(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int, int, int] = (1, 3, 32, 32),
    channels: tuple[int, int] = (16, 24),
    features: int = 24,
    k: int = 6,
    classes: int = 10,
    samples: int = 16,
    batch: int | str = 1,
) -> ZooModel:
    """A two-output model shaped like AgileNN's on-device part.

    image -> stem Conv3x3/2 + Clip(0,6) -> 2 depthwise-separable blocks (dw 3x3 + Clip(0,6), pw 1x1 +
    Clip(0,6)) -> branch A: pointwise conv to ``k`` channels -> GlobalAveragePool -> Flatten -> Gemm
    = ``local_logits``; branch B: pointwise conv to ``features - k`` channels -> Clip(0,6) =
    ``remote_features``.
    """
    g = _Graph(rng)
    x = g.conv("input", shape[1], channels[0], (3, 3), strides=(2, 2), activation="relu6")
    c_in = channels[0]
    for i, c_out in enumerate(channels):
        stride = (2, 2) if i == 1 else (1, 1)
        x = g.conv(x, c_in, c_in, (3, 3), strides=stride, group=c_in, activation="relu6")
        x = g.conv(x, c_in, c_out, (1, 1), activation="relu6")
        c_in = c_out
    local = g.conv(x, c_in, k, (1, 1), activation="none")
    local = g.node("GlobalAveragePool", [local])
    local = g.node("Flatten", [local], axis=1)
    logits = g.gemm(local, k, classes)
    remote = g.conv(x, c_in, features - k, (1, 1), activation="relu6")
    # Give the outputs stable, meaningful names.
    for node in g.nodes:
        node.output[:] = [{logits: "local_logits", remote: "remote_features"}.get(o, o) for o in node.output]
    return g.build(
        "agilenn_device",
        {"input": _input_dims(shape, batch)},
        ["local_logits", "remote_features"],
        {"input": _calib(rng, shape, samples)},
        k=k,
    )


# --------------------------------------------------------------------------------------------------
# Quantization, sessions and inputs
# --------------------------------------------------------------------------------------------------


def quantized(
    zoo: ZooModel,
    fmt: Literal["qoperator", "qdq"],
    per_channel: bool,
    tmp_path: Path,
    *,
    calibrate_method: str = "minmax",
) -> Path:
    """Save ``zoo``'s float model under ``tmp_path``, quantize it, return the int8 model's path."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    tag = f"{zoo.name}_{fmt}_{'pc' if per_channel else 'pt'}"
    float_path = zoo.save(tmp_path / f"{tag}_float.onnx")
    out = tmp_path / f"{tag}_int8.onnx"
    quantize_model(
        float_path, zoo.calibration, out, fmt=fmt, per_channel=per_channel, calibrate_method=calibrate_method
    )
    return out


def ort_session(model_path: Path | str | bytes, *, optimized_model_path: Path | None = None) -> object:
    """An onnxruntime CPU session at ORT_ENABLE_ALL with ``session.qdqisint8allowed=1``, one thread.

    ``model_path`` may also be a serialized model (bytes). ``optimized_model_path`` saves the graph
    onnxruntime actually runs (for inspection).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.qdqisint8allowed", "1")
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    source = model_path if isinstance(model_path, bytes) else str(model_path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_ort(model_path: Path, feeds: Mapping[str, np.ndarray]) -> list[list[np.ndarray]]:
    """Run ``model_path`` on each sample of ``feeds`` (batch axis first); one output list per sample."""
    session = ort_session(model_path)
    inputs = session.get_inputs()  # type: ignore[attr-defined]
    count = next(iter(feeds.values())).shape[0]
    fixed = {i.shape[0] for i in inputs if isinstance(i.shape[0], int)}
    step = min(fixed) if fixed else count
    results: list[list[np.ndarray]] = []
    for start in range(0, count, step):
        outs = session.run(None, {k: v[start : start + step] for k, v in feeds.items()})  # type: ignore[attr-defined]
        for j in range(min(step, count - start)):
            results.append([o[j : j + 1] for o in outs])
    return results


def input_quant_params(model_path: Path) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of each graph input's QuantizeLinear in a quantized model.

    Inputs of a float model, or inputs that are not quantized, are left out.
    """
    model = onnx.load(str(model_path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    names = {i.name for i in model.graph.input} - set(inits)
    params: dict[str, tuple[float, int]] = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in names and node.input[0] not in params:
            scale = float(inits[node.input[1]].reshape(-1)[0])
            zp = int(inits[node.input[2]].reshape(-1)[0]) if len(node.input) > 2 else 0
            params[node.input[0]] = (scale, zp)
    return params


def _tie_values(rng: np.random.Generator, scale: float, zp: int, size: int) -> np.ndarray:
    """float32 values x with fl(x / scale) == k + 0.5 exactly, for random integers k in range."""
    s = np.float32(scale)
    ks = np.arange(-128 - zp, 127 - zp, dtype=np.int64)  # (k + 0.5) + zp stays inside [-128, 127]
    good: list[np.float32] = []
    for k in ks:
        target = np.float32(k + 0.5)
        base = np.float32(target * s)
        for cand in (base, np.nextafter(base, np.float32(np.inf)), np.nextafter(base, np.float32(-np.inf))):
            if np.float32(cand / s) == target:
                good.append(np.float32(cand))
                break
    if not good:
        raise ValueError(f"no exact ties exist for scale {scale}")
    return rng.choice(np.array(good, np.float32), size=size)


def sample_inputs(model_path: Path, rng: np.random.Generator, kind: SampleKind, count: int) -> dict[str, np.ndarray]:
    """Test inputs for every graph input: float32 arrays of shape (count, *dims[1:]), ONNX layout.

    Kinds, relative to each input's quantization (scale s, zero point z; a float model or an
    unquantized input uses s = 8/255, z = 0):

    * ``random``: uniform over the representable range [s*(-128-z), s*(127-z)];
    * ``saturating``: magnitudes 2x to 10x the range's ends, random signs;
    * ``min`` / ``max``: every element the real value of -128 / 127 (s*(-128-z), s*(127-z));
    * ``ties``: values (k + 0.5) * s with fl(x / s) == k + 0.5 exactly, so QuantizeLinear rounds a tie.

    A model with a fixed batch size b gets arrays whose slices ``x[i:i+b]`` are valid feeds.
    """
    model = onnx.load(str(model_path))
    init_names = {i.name for i in model.graph.initializer}
    params = input_quant_params(model_path)
    feeds: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        if value.name in init_names:
            continue
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in value.type.tensor_type.shape.dim
        ]
        shape = (count, *dims[1:])
        scale, zp = params.get(value.name, (8.0 / 255.0, 0))
        s = np.float32(scale)
        lo, hi = np.float32(s * np.float32(-128 - zp)), np.float32(s * np.float32(127 - zp))
        if kind == "random":
            data = rng.uniform(lo, hi, shape)
        elif kind == "saturating":
            span = max(abs(float(lo)), abs(float(hi)), float(s))
            data = rng.uniform(2.0, 10.0, shape) * span * rng.choice([-1.0, 1.0], shape)
        elif kind == "min":
            data = np.full(shape, lo)
        elif kind == "max":
            data = np.full(shape, hi)
        elif kind == "ties":
            data = _tie_values(rng, scale, zp, int(np.prod(shape))).reshape(shape)
        else:
            raise ValueError(f"unknown sample kind {kind!r}; expected one of {SAMPLE_KINDS}")
        feeds[value.name] = np.ascontiguousarray(data, dtype=np.float32)
    return feeds


ALL_BUILDERS = (
    "conv_model",
    "gemm_model",
    "matmul_model",
    "global_avgpool_model",
    "avgpool_model",
    "maxpool_model",
    "residual_add_model",
    "add_model",
    "mul_model",
    "concat_model",
    "shape_op_model",
    "mixed_cnn_model",
    "agilenn_device_model",
)
