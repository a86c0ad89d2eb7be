"""Data-movement ops: Reshape/Flatten/Squeeze/Unsqueeze, Transpose, Concat/QLinearConcat and Slice.

On int8 tensors they keep the input's quantization (QLinearConcat requantizes its inputs through
256-entry tables computed by the requant pass)."""

from __future__ import annotations

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.compiler.ops import parser
from agilenn_codegen.compiler.ops.common import activation, quantized_output
from agilenn_codegen.errors import UserError


def _int_list(node: OnnxNode, builder: GraphBuilder, index: int, attr: str) -> tuple[int, ...] | None:
    """A list of ints given as input `index` (newer opsets) or attribute `attr` (older ones)."""
    if node.input(index):
        return tuple(int(v) for v in builder.require_const(node, index, attr).reshape(-1))
    value = node.attr(attr)
    return None if value is None else tuple(int(v) for v in value)


def _reshape_to(node: OnnxNode, builder: GraphBuilder, x: ir.Tensor, shape: tuple[int, ...]) -> None:
    if any(d < 1 for d in shape) or int(np.prod(shape, dtype=np.int64)) != x.size:
        raise UserError(f"{node.label}: cannot reshape {list(x.shape)} to {list(shape)}")
    builder.add_tensor(ir.Tensor(node.outputs[0], x.dtype, shape, x.quant))
    builder.add_node(ir.Node(node.name, ir.ReshapeAttrs(), (x.name,), (node.outputs[0],), node.op_type))


def _norm_axis(node: OnnxNode, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise UserError(f"{node.label}: axis {axis} is out of range for rank {rank}")
    return axis % rank


@parser("Reshape")
def parse_reshape(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    target = [int(v) for v in builder.require_const(node, 1, "the shape").reshape(-1)]
    allow_zero = bool(node.attr("allowzero", 0))
    shape = [x.shape[i] if (d == 0 and not allow_zero) else d for i, d in enumerate(target)]
    if shape.count(-1) > 1:
        raise UserError(f"{node.label}: more than one -1 in shape {target}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        shape[shape.index(-1)] = x.size // known if known else 0
    _reshape_to(node, builder, x, tuple(shape))


@parser("Flatten")
def parse_flatten(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    axis = int(node.attr("axis", 1))
    axis = axis % len(x.shape) if axis < 0 else axis
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    _reshape_to(node, builder, x, (outer, x.size // outer if outer else 0))


@parser("Squeeze")
def parse_squeeze(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    axes = _int_list(node, builder, 1, "axes")
    if axes is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    norm = {_norm_axis(node, a, len(x.shape)) for a in axes}
    if any(x.shape[a] != 1 for a in norm):
        raise UserError(f"{node.label}: cannot squeeze axes {sorted(norm)} of shape {list(x.shape)}")
    _reshape_to(node, builder, x, tuple(d for i, d in enumerate(x.shape) if i not in norm))


@parser("Unsqueeze")
def parse_unsqueeze(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    axes = _int_list(node, builder, 1, "axes")
    if not axes:
        raise UserError(f"{node.label}: Unsqueeze needs axes")
    rank = len(x.shape) + len(axes)
    norm = sorted(_norm_axis(node, a, rank) for a in axes)
    shape = list(x.shape)
    for a in norm:
        shape.insert(a, 1)
    _reshape_to(node, builder, x, tuple(shape))


@parser("Transpose")
def parse_transpose(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    rank = len(x.shape)
    perm = tuple(int(p) for p in node.attr("perm", tuple(reversed(range(rank)))))
    if sorted(perm) != list(range(rank)):
        raise UserError(f"{node.label}: perm {list(perm)} is not a permutation of {rank} axes")
    shape = tuple(x.shape[p] for p in perm)
    builder.add_tensor(ir.Tensor(node.outputs[0], x.dtype, shape, x.quant))
    builder.add_node(ir.Node(node.name, ir.TransposeAttrs(perm=perm), (x.name,), (node.outputs[0],), node.op_type))


def _concat(node: OnnxNode, builder: GraphBuilder, inputs: list[ir.Tensor], out_quant: ir.QParams | None) -> None:
    rank = len(inputs[0].shape)
    axis = _norm_axis(node, int(node.attr("axis", 1)), rank)
    for t in inputs[1:]:
        if len(t.shape) != rank or any(t.shape[i] != inputs[0].shape[i] for i in range(rank) if i != axis):
            raise UserError(
                f"{node.label}: inputs {[list(t.shape) for t in inputs]} cannot be concatenated on axis {axis}"
            )
    shape = list(inputs[0].shape)
    shape[axis] = sum(t.shape[axis] for t in inputs)
    if out_quant is not None:
        quantized_output(builder, node.outputs[0], tuple(shape), out_quant)
    else:
        builder.add_tensor(ir.Tensor(node.outputs[0], inputs[0].dtype, tuple(shape), inputs[0].quant))
    builder.add_node(
        ir.Node(node.name, ir.ConcatAttrs(axis=axis), tuple(t.name for t in inputs), (node.outputs[0],), node.op_type)
    )


@parser("Concat")
def parse_concat(node: OnnxNode, builder: GraphBuilder) -> None:
    inputs = [activation(node, builder, i) for i in range(len(node.inputs))]
    if inputs[0].dtype == ir.DType.INT8 and any(t.quant != inputs[0].quant for t in inputs):
        raise UserError(f"{node.label}: int8 Concat of inputs with different quantization parameters")
    _concat(node, builder, inputs, None)


@parser("QLinearConcat", domain="com.microsoft")
def parse_qlinear_concat(node: OnnxNode, builder: GraphBuilder) -> None:
    if (len(node.inputs) - 2) % 3 or len(node.inputs) < 5:
        raise UserError(f"{node.label}: expected Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples")
    inputs = []
    for i in range(2, len(node.inputs), 3):
        x = activation(node, builder, i)
        builder.set_quant(node, x.name, builder.qparams(node, i + 1, i + 2))
        inputs.append(builder.tensors[x.name])
    _concat(node, builder, inputs, builder.qparams(node, 0, 1))


@parser("Slice")
def parse_slice(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    rank = len(x.shape)
    starts = _int_list(node, builder, 1, "starts")
    ends = _int_list(node, builder, 2, "ends")
    if starts is None or ends is None:
        raise UserError(f"{node.label}: Slice needs constant starts and ends")
    axes = _int_list(node, builder, 3, "axes") or tuple(range(len(starts)))
    steps = _int_list(node, builder, 4, "steps") or tuple(1 for _ in starts)
    shape = list(x.shape)
    n_starts, n_ends, n_axes = [], [], []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _norm_axis(node, axis, rank)
        if step <= 0:
            raise UserError(f"{node.label}: Slice with step {step} is not supported (positive steps only)")
        dim = x.shape[axis]
        start = min(max(start + dim if start < 0 else start, 0), dim)
        end = min(max(end + dim if end < 0 else end, 0), dim)
        shape[axis] = max(0, (end - start + step - 1) // step)
        n_starts.append(start)
        n_ends.append(end)
        n_axes.append(axis)
    if 0 in shape:
        raise UserError(f"{node.label}: the slice is empty")
    attrs = ir.SliceAttrs(starts=tuple(n_starts), ends=tuple(n_ends), axes=tuple(n_axes), steps=tuple(steps))
    builder.add_tensor(ir.Tensor(node.outputs[0], x.dtype, tuple(shape), x.quant))
    builder.add_node(ir.Node(node.name, attrs, (x.name,), (node.outputs[0],), node.op_type))
