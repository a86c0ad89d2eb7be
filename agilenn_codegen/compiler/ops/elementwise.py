"""Elementwise ops: QLinearAdd, QLinearMul (com.microsoft), Add/Mul of QDQ models, Relu and Clip."""

from __future__ import annotations

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.compiler.ops import parser
from agilenn_codegen.compiler.ops.common import activation, quantized_output
from agilenn_codegen.errors import UserError


def _same_shape(node: OnnxNode, a: ir.Tensor, b: ir.Tensor) -> None:
    if a.shape != b.shape:
        raise UserError(
            f"{node.label}: inputs have shapes {list(a.shape)} and {list(b.shape)}; broadcasting is not "
            "supported, the two inputs must have the same shape"
        )


def _binary(node: OnnxNode, builder: GraphBuilder, attrs: ir.AddAttrs | ir.MulAttrs, *, qlinear: bool) -> None:
    if qlinear:
        a = activation(node, builder, 0)
        b = activation(node, builder, 3)
        builder.set_quant(node, a.name, builder.qparams(node, 1, 2))
        builder.set_quant(node, b.name, builder.qparams(node, 4, 5))
        _same_shape(node, a, b)
        quantized_output(builder, node.outputs[0], a.shape, builder.qparams(node, 6, 7))
    else:
        a = activation(node, builder, 0)
        b = activation(node, builder, 1)
        if builder.const(a.name) is not None or builder.const(b.name) is not None:
            raise UserError(f"{node.label}: adding or multiplying a constant is not supported")
        _same_shape(node, a, b)
        builder.add_tensor(ir.Tensor(node.outputs[0], a.dtype, a.shape))
    builder.add_node(ir.Node(node.name, attrs, (a.name, b.name), (node.outputs[0],), node.op_type))


@parser("QLinearAdd", domain="com.microsoft")
def parse_qlinear_add(node: OnnxNode, builder: GraphBuilder) -> None:
    _binary(node, builder, ir.AddAttrs(), qlinear=True)


@parser("Add")
def parse_add(node: OnnxNode, builder: GraphBuilder) -> None:
    _binary(node, builder, ir.AddAttrs(), qlinear=False)


@parser("QLinearMul", domain="com.microsoft")
def parse_qlinear_mul(node: OnnxNode, builder: GraphBuilder) -> None:
    _binary(node, builder, ir.MulAttrs(), qlinear=True)


@parser("Mul")
def parse_mul(node: OnnxNode, builder: GraphBuilder) -> None:
    _binary(node, builder, ir.MulAttrs(), qlinear=False)


def _clamp(node: OnnxNode, builder: GraphBuilder, lo: float, hi: float) -> None:
    x = activation(node, builder, 0)
    if x.dtype == ir.DType.INT8:
        attrs = ir.ClampAttrs(lo=int(max(lo, -128)), hi=int(min(hi, 127)))
    else:
        attrs = ir.ClampAttrs(lo=lo, hi=hi)
    builder.add_tensor(ir.Tensor(node.outputs[0], x.dtype, x.shape, x.quant))
    builder.add_node(ir.Node(node.name, attrs, (x.name,), (node.outputs[0],), node.op_type))


@parser("Relu")
def parse_relu(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    if x.dtype == ir.DType.INT8:
        if x.quant is None:
            raise UserError(f"{node.label}: int8 Relu on a tensor without quantization parameters")
        _clamp(node, builder, x.quant.scalar_zero_point, 127)
    else:
        _clamp(node, builder, 0.0, float("inf"))


@parser("Clip")
def parse_clip(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    is_int = x.dtype == ir.DType.INT8
    default_lo, default_hi = (-128, 127) if is_int else (float("-inf"), float("inf"))

    def bound(index: int, attr: str, default: float) -> float:
        if node.input(index):
            value = builder.require_const(node, index, f"Clip's {attr}")
            return float(np.asarray(value).reshape(-1)[0])
        return float(node.attr(attr, default))

    _clamp(node, builder, bound(1, "min", default_lo), bound(2, "max", default_hi))
