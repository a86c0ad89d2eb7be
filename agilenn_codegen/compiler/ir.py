"""The compiler's typed intermediate representation.

Everything is a frozen dataclass of tuples: passes never mutate a graph, they build a new one
(``dataclasses.replace``). Constant data is a read-only numpy array inside :class:`Constant`.

Conventions
-----------
* ``Tensor.shape`` is the *logical* shape, in the source ONNX model's axis order (NCHW for images).
* ``Tensor.layout`` is the *physical* order of those logical axes in memory: ``(0, 2, 3, 1)`` stores
  an NCHW tensor as NHWC. The layout pass sets it; kernels work on physical buffers.
* Quantized activations are int8 with per-tensor asymmetric parameters; weights are int8, symmetric,
  per-tensor or per-output-channel; biases are int32 with scale ``x_scale * w_scale[c]``.
* Scales are float32 values stored as Python floats that are exactly representable in float32.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


class DType(enum.Enum):
    """Element types the runtime knows."""

    INT8 = "int8"
    UINT8 = "uint8"
    INT32 = "int32"
    FLOAT32 = "float32"

    @property
    def itemsize(self) -> int:
        return {"int8": 1, "uint8": 1, "int32": 4, "float32": 4}[self.value]

    @property
    def c_type(self) -> str:
        return {"int8": "int8_t", "uint8": "uint8_t", "int32": "int32_t", "float32": "float"}[self.value]

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def qmin(self) -> int:
        return {"int8": -128, "uint8": 0}[self.value]

    @property
    def qmax(self) -> int:
        return {"int8": 127, "uint8": 255}[self.value]


@dataclass(frozen=True)
class QParams:
    """Affine quantization: real = scale * (q - zero_point). `axis` is set for per-channel params."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def scalar_scale(self) -> float:
        assert len(self.scale) == 1, "per-channel scale used as a scalar"
        return self.scale[0]

    @property
    def scalar_zero_point(self) -> int:
        assert len(self.zero_point) == 1, "per-channel zero point used as a scalar"
        return self.zero_point[0]


@dataclass(frozen=True)
class Tensor:
    """A value of the graph: an activation, a model input/output, or (with `const`) a weight."""

    name: str
    dtype: DType
    shape: tuple[int, ...]
    quant: QParams | None = None
    layout: tuple[int, ...] | None = None  # physical axis order; None = the logical order

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def physical_layout(self) -> tuple[int, ...]:
        return self.layout if self.layout is not None else tuple(range(len(self.shape)))

    @property
    def physical_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[a] for a in self.physical_layout)


@dataclass(frozen=True, eq=False)
class Constant:
    """Constant data (weights, biases, tables). The array is read-only."""

    name: str
    array: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        array = np.ascontiguousarray(self.array)
        array.setflags(write=False)
        object.__setattr__(self, "array", array)


# --------------------------------------------------------------------------------------------
# Op attributes: one small frozen dataclass per IR op. The op name is the dataclass's `OP`.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requant:
    """Output requantization of an integer op, precomputed as onnxruntime does (float32).

    ``multiplier[c]`` is the float32 scale ``S`` of the rule ``y = clamp(rne(acc * S) + zp)``;
    one value, or one per output channel. The clamp bounds are the op's ``act_min``/``act_max``.
    """

    multiplier: tuple[float, ...]
    out_zero_point: int


@dataclass(frozen=True)
class ConvAttrs:
    """QLinearConv. Input x (NCHW logical), weight w (O, I/group, KH, KW), optional int32 bias."""

    OP = "conv"
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilations: tuple[int, int]
    group: int
    requant: Requant | None = None
    act_min: int = -128  # clamp of the quantized output; a fused Relu/Clip narrows it
    act_max: int = 127


@dataclass(frozen=True)
class FullyConnectedAttrs:
    """QGemm / QLinearMatMul: y[m, n] = sum_k (a[m, k] - za) (b[k, n] - zb) + bias[n].

    The weight constant is stored as (N, K) (each output's row contiguous) after lowering.
    ``alpha`` is QGemm's alpha, folded into the multiplier by the requant pass.
    """

    OP = "fully_connected"
    alpha: float = 1.0
    requant: Requant | None = None
    float_output: bool = False  # QGemm without y_scale: y = (float)acc * S, no quantization
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class GlobalAvgPoolAttrs:
    """QLinearGlobalAveragePool over the output's channels. With `channel_offset` (a channel Slice fused
    in by the fuse_slices pass) the input is the un-sliced tensor, and the pooled channels are
    [channel_offset, channel_offset + output channels) of it."""

    OP = "global_avgpool"
    requant: Requant | None = None
    act_min: int = -128
    act_max: int = 127
    channel_offset: int = 0


@dataclass(frozen=True)
class AvgPoolAttrs:
    """QLinearAveragePool (onnxruntime's float path)."""

    OP = "avgpool"
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    count_include_pad: bool
    ceil_mode: bool = False
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class MaxPoolAttrs:
    OP = "maxpool"
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class AddAttrs:
    """QLinearAdd with onnxruntime's FMA formulation (float32 ratios precomputed)."""

    OP = "add"
    a_ratio: float = 0.0
    b_ratio: float = 0.0
    offset: float = 0.0
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class MulAttrs:
    """QLinearMul: y = rne(((float)(sa*(a-za)) * (sb*(b-zb))) / sy + zy), clamped (float path)."""

    OP = "mul"
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class ClampAttrs:
    """Relu/Clip: y = min(max(x, lo), hi). On int8 tensors the bounds are integers in the
    tensor's quantized domain (same quantization in and out); on float tensors, real values."""

    OP = "clamp"
    lo: float
    hi: float


@dataclass(frozen=True)
class ReshapeAttrs:
    """Reshape/Flatten/Squeeze/Unsqueeze: a change of logical shape, row-major order kept."""

    OP = "reshape"


@dataclass(frozen=True)
class TransposeAttrs:
    """A change of axis order: y's logical axis i is x's logical axis perm[i]."""

    OP = "transpose"
    perm: tuple[int, ...]


@dataclass(frozen=True)
class ConcatAttrs:
    """QLinearConcat / Concat; each input is requantized through a 256-entry table when needed."""

    OP = "concat"
    axis: int
    tables: tuple[str | None, ...] = ()  # per input: name of a 256-entry int8 table constant, or None


@dataclass(frozen=True)
class SliceAttrs:
    OP = "slice"
    starts: tuple[int, ...]
    ends: tuple[int, ...]  # exclusive, clamped to the dimension
    axes: tuple[int, ...]
    steps: tuple[int, ...]


@dataclass(frozen=True)
class SourceView:
    """Which elements of its input a strided reader takes: along logical axis a, indices starts[a] +
    steps[a] * i (a Slice fused into its consumer by the fuse_slices pass). Empty tuples: all of them."""

    starts: tuple[int, ...] = ()
    steps: tuple[int, ...] = ()


@dataclass(frozen=True)
class TableAttrs:
    """Requantize int8 values through a 256-entry table: y = table[x + 128].

    Inserted where an exact op (data movement, clamp, max) has differently quantized input and
    output: onnxruntime then computes Quantize_out(Dequantize_in(x)) per element, which is the table.
    """

    OP = "table"
    table: str  # name of the int8[256] constant
    view: SourceView = SourceView()


@dataclass(frozen=True)
class QuantizeAttrs:
    """QuantizeLinear float32 -> int8: q = rne(clamp(x / s, qmin - zp, qmax - zp)) + zp."""

    OP = "quantize"


@dataclass(frozen=True)
class DequantizeAttrs:
    """DequantizeLinear int8 -> float32: (float)(q - zp) * s."""

    OP = "dequantize"
    view: SourceView = SourceView()


OpAttrs = (
    ConvAttrs
    | FullyConnectedAttrs
    | GlobalAvgPoolAttrs
    | AvgPoolAttrs
    | MaxPoolAttrs
    | AddAttrs
    | MulAttrs
    | ClampAttrs
    | ReshapeAttrs
    | TransposeAttrs
    | ConcatAttrs
    | SliceAttrs
    | TableAttrs
    | QuantizeAttrs
    | DequantizeAttrs
)


@dataclass(frozen=True)
class Node:
    """One operation. `source` names the ONNX node(s) it came from, for comments and errors."""

    name: str
    attrs: OpAttrs
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    source_op: str = ""

    @property
    def op(self) -> str:
        return self.attrs.OP


@dataclass(frozen=True)
class Buffer:
    """Where a tensor lives at run time: an arena offset, or an alias of another tensor."""

    tensor: str
    offset: int
    size: int


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    buffers: tuple[Buffer, ...]
    scratch_bytes: int = 0

    @cached_property
    def by_tensor(self) -> Mapping[str, Buffer]:
        return {b.tensor: b for b in self.buffers}


@dataclass(frozen=True)
class ModelSource:
    """Provenance of the graph, for generated-code headers and the manifest."""

    path: str
    sha256: str
    producer: str
    opset: int
    format: str  # "qoperator", "qdq", or "mixed"


@dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    tensors: tuple[Tensor, ...]
    constants: tuple[Constant, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    source: ModelSource
    memory: MemoryPlan | None = None

    @cached_property
    def tensor_map(self) -> Mapping[str, Tensor]:
        return {t.name: t for t in self.tensors}

    @cached_property
    def constant_map(self) -> Mapping[str, Constant]:
        return {c.name: c for c in self.constants}

    def tensor(self, name: str) -> Tensor:
        return self.tensor_map[name]

    def constant(self, name: str) -> np.ndarray:
        return self.constant_map[name].array

    def is_constant(self, name: str) -> bool:
        return name in self.constant_map

    def producers(self) -> Mapping[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs}

    def consumers(self) -> Mapping[str, tuple[Node, ...]]:
        result: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    result.setdefault(name, []).append(node)
        return {k: tuple(v) for k, v in result.items()}
