"""ONNX front end: the only module that reads ONNX protobufs.

It checks the file, turns every node into a plain :class:`OnnxNode` view (attributes as Python
values, initializers and Constant nodes as numpy arrays) and hands each to the op parser registered
for it in :mod:`agilenn_codegen.compiler.ops`, which builds typed IR nodes through a
:class:`GraphBuilder`. Shapes are resolved here, op by op, because onnx's shape inference does not
know onnxruntime's com.microsoft quantized ops.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError

# The ai.onnx opsets whose op definitions the parsers follow (docs/compiler.md).
MIN_OPSET = 10
MAX_OPSET = 21
_ONNX_DTYPES: Mapping[int, ir.DType] = {1: ir.DType.FLOAT32, 2: ir.DType.UINT8, 3: ir.DType.INT8, 6: ir.DType.INT32}
_ONNX_DTYPE_NAMES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    10: "float16",
    11: "float64",
    16: "bfloat16",
}


@dataclass(frozen=True)
class OnnxNode:
    """A protobuf-free view of one ONNX node."""

    op_type: str
    domain: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any]

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, index: int) -> str:
        """The name of input `index`, or '' when it is absent (optional inputs)."""
        return self.inputs[index] if index < len(self.inputs) else ""

    @property
    def label(self) -> str:
        return f"node '{self.name}' ({self.op_type})"


class GraphBuilder:
    """Mutable scratchpad the op parsers fill; frozen into an :class:`ir.Graph` at the end."""

    def __init__(self) -> None:
        self.tensors: dict[str, ir.Tensor] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.nodes: list[ir.Node] = []
        # DequantizeLinear outputs of constant inputs (QDQ weights): name -> (int constant, qparams)
        self.dequantized_constants: dict[str, tuple[str, ir.QParams]] = {}
        self._fresh = 0

    # tensors --------------------------------------------------------------------------------
    def tensor(self, node: OnnxNode, name: str) -> ir.Tensor:
        if not name:
            raise UserError(
                f"{node.label}: a required input is missing (the node has {len(node.inputs)} inputs: "
                f"{', '.join(repr(i) for i in node.inputs) or 'none'})"
            )
        if name not in self.tensors:
            raise UserError(f"{node.label}: input '{name}' is not produced by any node, initializer or input")
        return self.tensors[name]

    def add_tensor(self, tensor: ir.Tensor) -> ir.Tensor:
        """Record an activation tensor; every dimension must be positive (no op here makes an empty tensor)."""
        if any(d < 1 for d in tensor.shape):
            raise UserError(
                f"tensor '{tensor.name}' would have shape {list(tensor.shape)}; every dimension must be positive",
                hint="check the attributes and weights of the node that produces it",
            )
        self.tensors[tensor.name] = tensor
        return tensor

    def set_quant(self, node: OnnxNode, name: str, quant: ir.QParams) -> None:
        """Attach quantization parameters to a tensor, refusing contradictory ones."""
        tensor = self.tensor(node, name)
        if tensor.quant is not None and tensor.quant != quant:
            raise UserError(
                f"{node.label}: tensor '{name}' is used with quantization {_fmt_q(quant)} but was "
                f"produced with {_fmt_q(tensor.quant)}; the compiler needs one set of parameters per tensor"
            )
        self.tensors[name] = ir.Tensor(tensor.name, tensor.dtype, tensor.shape, quant, tensor.layout)

    def fresh_name(self, base: str) -> str:
        self._fresh += 1
        return f"{base}__{self._fresh}"

    # constants ------------------------------------------------------------------------------
    def const(self, name: str) -> np.ndarray | None:
        return self.constants.get(name) if name else None

    def require_const(self, node: OnnxNode, index: int, what: str) -> np.ndarray:
        name = node.input(index)
        value = self.const(name)
        if value is None:
            raise UserError(f"{node.label}: {what} ('{name or 'missing'}') must be a constant initializer")
        return value

    def add_const(self, name: str, array: np.ndarray, quant: ir.QParams | None = None) -> str:
        array = np.ascontiguousarray(array)
        dtype = ir.DType(str(array.dtype))
        self.constants[name] = array
        self.tensors[name] = ir.Tensor(name, dtype, tuple(int(d) for d in array.shape), quant)
        return name

    def add_raw_const(self, name: str, array: np.ndarray) -> None:
        """Record an initializer or Constant; only runtime-capable dtypes become IR tensors."""
        array = np.asarray(array)
        if array.dtype.kind == "f" and array.dtype != np.float32:
            array = array.astype(np.float32)
        if str(array.dtype) in ("float32", "int8", "uint8", "int32"):
            self.add_const(name, array)
        else:
            self.constants[name] = array  # int64 shapes, axes, ...: read by parsers, never emitted

    def weight(self, node: OnnxNode, index: int, what: str) -> tuple[str, np.ndarray, ir.QParams]:
        """A quantized constant input: an int8/int32 initializer (QOperator, quant set by the
        parser) or the output of DequantizeLinear on one (QDQ). Returns (name, array, qparams)."""
        name = node.input(index)
        if name in self.dequantized_constants:
            source, quant = self.dequantized_constants[name]
            return source, self.constants[source], quant
        array = self.const(name)
        if array is None:
            raise UserError(f"{node.label}: {what} ('{name or 'missing'}') must be a constant initializer")
        if array.dtype == np.float32:
            raise UserError(
                f"{node.label}: {what} '{name}' is float32: the model is not quantized",
                hint="quantize it first: agilenn quantize model.onnx --calibration data.npz --out model_int8.onnx",
            )
        found = self.tensors[name].quant if name in self.tensors else None
        if found is None:
            raise UserError(f"{node.label}: {what} '{name}' has no quantization parameters")
        return name, array, found

    def qparams(self, node: OnnxNode, scale_index: int, zp_index: int, *, axis: int | None = None) -> ir.QParams:
        """Read (scale, zero_point) inputs of a quantized op as QParams (per-tensor or per-axis)."""
        scale = self.require_const(node, scale_index, "a scale").astype(np.float32).reshape(-1)
        zp_name = node.input(zp_index)
        zp = self.const(zp_name) if zp_name else np.zeros(scale.shape, np.int8)
        if zp is None:
            raise UserError(f"{node.label}: zero point '{zp_name}' must be a constant initializer")
        zp = zp.reshape(-1).astype(np.int64)
        if zp.size == 1 and scale.size > 1:
            zp = np.repeat(zp, scale.size)
        if scale.size != zp.size:
            raise UserError(f"{node.label}: scale has {scale.size} values but zero point has {zp.size}")
        bad = [float(v) for v in scale if not (np.isfinite(v) and v >= np.finfo(np.float32).tiny)]
        if bad:
            raise UserError(
                f"{node.label}: scale '{node.input(scale_index)}' is {bad[0]:g}; quantization scales must be "
                "positive, finite float32 numbers (not subnormal)",
                hint="re-quantize the model (agilenn quantize) with calibration data that is not constant",
            )
        per_axis = scale.size > 1
        return ir.QParams(
            scale=tuple(float(s) for s in scale),
            zero_point=tuple(int(z) for z in zp),
            axis=axis if per_axis else None,
        )

    def add_node(self, node: ir.Node) -> None:
        self.nodes.append(node)


def _fmt_q(q: ir.QParams) -> str:
    if len(q.scale) == 1:
        return f"(scale={q.scale[0]:.9g}, zero_point={q.zero_point[0]})"
    return f"(per-axis {q.axis}, {len(q.scale)} scales)"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def read_model_bytes(path: Path) -> bytes:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected an .onnx file")
    return path.read_bytes()


def parse_onnx(path: Path) -> tuple[Any, str]:
    """Read and parse an ONNX file without checking it; returns (ModelProto, sha256 hex)."""
    import onnx
    from google.protobuf.message import DecodeError

    data = read_model_bytes(path)
    sha256 = hashlib.sha256(data).hexdigest()
    if not data:
        raise UserError(f"{path}: the file is empty, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable ONNX model (protobuf parse failed: {exc})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise UserError(f"{path}: not an ONNX model (no graph or no nodes found; is the file truncated?)")
    return model, sha256


def check_onnx(path: Path, model: Any) -> None:
    """Run onnx's checker; its first complaint becomes a UserError."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise UserError(f"{path}: the ONNX checker rejects this model: {first}") from None


def load_onnx(path: Path) -> tuple[Any, str]:
    """Parse and check an ONNX file; returns (ModelProto, sha256 hex). User errors for bad files."""
    model, sha256 = parse_onnx(path)
    check_onnx(path, model)
    return model, sha256


def check_opsets(path: Path, model: Any) -> int:
    """The model's ai.onnx opset, which must be one the parsers know; com.microsoft, when used, version 1."""
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise UserError(f"{path}: opset {opset} is too old; quantized models need opset {MIN_OPSET} or newer")
    if opset > MAX_OPSET:
        raise UserError(
            f"{path}: opset {opset} is newer than this compiler knows (opsets {MIN_OPSET}..{MAX_OPSET}); the "
            "meaning of its ops cannot be checked",
            hint=f"export the model with an opset from {MIN_OPSET} to {MAX_OPSET} (e.g. torch.onnx.export(..., "
            "opset_version=17))",
        )
    used = {node.domain for node in model.graph.node}
    for entry in model.opset_import:
        if entry.domain == "com.microsoft" and "com.microsoft" in used and entry.version != 1:
            raise UserError(
                f"{path}: com.microsoft opset {entry.version}; the compiler knows version 1 of onnxruntime's "
                "quantized ops"
            )
    return int(opset)


@dataclass(frozen=True)
class ValueSignature:
    """A graph input or output: its name and dims (an int, or the symbolic name; '?' when unset)."""

    name: str
    dims: tuple[int | str, ...]


def _signature(vi: Any) -> ValueSignature:
    dims: list[int | str] = []
    for dim in vi.type.tensor_type.shape.dim:
        dims.append(int(dim.dim_value) if dim.HasField("dim_value") else (dim.dim_param or "?"))
    return ValueSignature(vi.name, tuple(dims))


def read_signature(path: Path) -> tuple[tuple[ValueSignature, ...], tuple[ValueSignature, ...]]:
    """Parse and check an ONNX file (UserError when it is unreadable or invalid); its (inputs, outputs)."""
    model, _ = load_onnx(path)
    constants = {init.name for init in model.graph.initializer}
    inputs = tuple(_signature(vi) for vi in model.graph.input if vi.name not in constants)
    return inputs, tuple(_signature(vi) for vi in model.graph.output)


def _attr_value(attr: Any) -> Any:
    import onnx

    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, list):
        return tuple(v.decode() if isinstance(v, bytes) else v for v in value)
    return value


def _value_info_shape(path: Path, vi: Any, *, is_input: bool) -> tuple[ir.DType, tuple[int, ...]]:
    ttype = vi.type.tensor_type
    elem = int(ttype.elem_type)
    if elem not in _ONNX_DTYPES:
        kind = "input" if is_input else "output"
        raise UserError(
            f"{path}: model {kind} '{vi.name}' has element type {_ONNX_DTYPE_NAMES.get(elem, elem)}; "
            "supported are float32, int8 and uint8"
        )
    dims: list[int] = []
    for axis, dim in enumerate(ttype.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value <= 0:
            raise UserError(
                f"{path}: input '{vi.name}' has size {dim.dim_value} on axis {axis}; every dimension must be a "
                "positive number (or, on the batch axis only, a symbolic name)"
            )
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif axis == 0:
            dims.append(1)  # a symbolic batch axis: the generated code runs one sample per call
        else:
            symbol = dim.dim_param or "?"
            raise UserError(
                f"{path}: input '{vi.name}' has a dynamic dimension '{symbol}' on axis {axis}; the generated "
                "code needs static shapes (only the batch axis may be dynamic, it is fixed to 1)",
                hint="re-export the model with fixed input sizes, or fix them with "
                "onnxruntime.tools.make_dynamic_shape_fixed",
            )
    if not ttype.HasField("shape"):
        raise UserError(f"{path}: input '{vi.name}' has no shape; the generated code needs static shapes")
    return _ONNX_DTYPES[elem], tuple(dims)


def _model_format(op_types: set[str]) -> str:
    qop = {"QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd", "QLinearGlobalAveragePool"}
    floats = {"Conv", "Gemm", "MatMul", "Add", "GlobalAveragePool", "AveragePool"}
    has_q, has_f = bool(op_types & qop), bool(op_types & floats)
    if has_q and has_f:
        return "mixed"
    return "qdq" if has_f else "qoperator"


def import_onnx(path: Path) -> ir.Graph:
    """Read `path` and build the IR graph (the first stage of the pipeline)."""
    import onnx

    from agilenn_codegen.compiler.ops import check_supported, parse_node

    model, sha256 = parse_onnx(path)
    graph = model.graph
    # Unsupported ops first: the checker would only say "No Op registered" for an unknown op type.
    for index, proto in enumerate(graph.node):
        if proto.op_type != "Constant":
            check_supported(proto.op_type, proto.domain or "ai.onnx", proto.name or f"#{index}")
    opset = check_opsets(path, model)  # before the checker, whose message for an unknown opset is obscure
    check_onnx(path, model)

    builder = GraphBuilder()
    for init in graph.initializer:
        try:
            array = onnx.numpy_helper.to_array(init)
        except Exception as exc:  # onnx raises ValueError, TypeError, OSError (external data), ...
            raise UserError(f"{path}: initializer '{init.name}' cannot be read: {_first_line(exc)}") from None
        builder.add_raw_const(init.name, np.asarray(array))

    initializer_names = {i.name for i in graph.initializer}
    inputs: list[str] = []
    for vi in graph.input:
        if vi.name in initializer_names:
            continue
        dtype, shape = _value_info_shape(path, vi, is_input=True)
        builder.add_tensor(ir.Tensor(vi.name, dtype, shape))
        inputs.append(vi.name)
    if not inputs:
        raise UserError(f"{path}: the model has no inputs")

    op_types: set[str] = set()
    for proto in graph.node:
        name = proto.name or f"{proto.op_type}_{len(builder.nodes)}"
        label = f"node '{name}' ({proto.op_type})"
        if not proto.output or not proto.output[0]:
            raise UserError(f"{path}: {label} has no output")
        try:
            attrs = {a.name: _attr_value(a) for a in proto.attribute}
        except Exception as exc:  # an attribute onnx cannot decode
            raise UserError(f"{path}: {label}: unreadable attribute: {_first_line(exc)}") from None
        node = OnnxNode(
            op_type=proto.op_type,
            domain=proto.domain or "ai.onnx",
            name=name,
            inputs=tuple(proto.input),
            outputs=tuple(proto.output),
            attrs=attrs,
        )
        op_types.add(node.op_type)
        try:
            if node.op_type == "Constant":
                builder.add_raw_const(node.outputs[0], _constant_value(node))
                continue
            parse_node(node, builder)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
            # Parsers validate what the runtime needs; a protobuf shaped unlike any valid model (an
            # attribute of the wrong type, a list where a number belongs, ...) must not end in a traceback.
            shown = ", ".join(f"{k}={_short_repr(v)}" for k, v in attrs.items())
            raise UserError(
                f"{path}: {label} is malformed: {type(exc).__name__}: {_first_line(exc)}"
                + (f" (attributes: {shown})" if shown else ""),
                hint="check the model with onnx.checker and onnxruntime; if both accept it, please report "
                "this as an agilenn-codegen bug",
            ) from None

    outputs = [o.name for o in graph.output]
    for name in outputs:
        if name not in builder.tensors:
            raise UserError(f"{path}: model output '{name}' is not produced by any node")

    producer = f"{model.producer_name} {model.producer_version}".strip() or "unknown"
    name = Path(path).stem
    return ir.Graph(
        name=name,
        nodes=tuple(builder.nodes),
        tensors=tuple(builder.tensors.values()),
        constants=tuple(ir.Constant(k, v) for k, v in builder.constants.items() if k in builder.tensors),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        source=ir.ModelSource(str(path), sha256, producer, int(opset), _model_format(op_types)),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _constant_value(node: OnnxNode) -> np.ndarray:
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if key in node.attrs:
            value = np.asarray(node.attrs[key])
            if value.dtype == np.float64:
                value = value.astype(np.float32)
            return value
    raise UserError(f"{node.label}: Constant without a supported value attribute")
