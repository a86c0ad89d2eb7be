"""Fully connected layers: QGemm (com.microsoft), QLinearMatMul, and Gemm/MatMul in QDQ models.

IR inputs: (a, weight, bias?). The weight is an int8 constant stored as (N, K), each output's row
contiguous, with per-tensor or per-N scales; the bias an int32 constant of N values.
"""

from __future__ import annotations

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.compiler.ops import parser
from agilenn_codegen.compiler.ops.common import activation, check_symmetric_weight, quantized_output
from agilenn_codegen.errors import UserError


def _canonical_weight(
    builder: GraphBuilder, node: OnnxNode, name: str, w: np.ndarray, quant: ir.QParams, *, transposed: bool
) -> tuple[str, int, int]:
    """Store the weight as (N, K); returns (constant name, N, K)."""
    if w.ndim != 2:
        raise UserError(f"{node.label}: weight '{name}' has shape {list(w.shape)}; a 2-D constant is required")
    if w.dtype != np.int8:
        raise UserError(f"{node.label}: weight '{name}' is {w.dtype}; int8 weights are supported")
    check_symmetric_weight(node, name, quant)
    nk = w if transposed else w.T
    n, k = (int(d) for d in nk.shape)
    if len(quant.scale) not in (1, n):
        raise UserError(f"{node.label}: weight '{name}' has {len(quant.scale)} scales for {n} outputs")
    per_n = ir.QParams(quant.scale, quant.zero_point, 0 if len(quant.scale) > 1 else None)
    if transposed:
        builder.set_quant(node, name, per_n)
        return name, n, k
    new_name = builder.fresh_name(f"{name}_nk")
    builder.add_const(new_name, np.ascontiguousarray(nk), per_n)
    return new_name, n, k


def _fc_node(
    node: OnnxNode,
    builder: GraphBuilder,
    a: ir.Tensor,
    w_name: str,
    n: int,
    k: int,
    bias: str | None,
    attrs: ir.FullyConnectedAttrs,
    out_dtype: ir.DType,
    out_quant: ir.QParams | None,
) -> None:
    if not a.shape or a.shape[-1] != k:
        raise UserError(f"{node.label}: input '{a.name}' has shape {list(a.shape)}, expected (..., {k})")
    shape = (*a.shape[:-1], n)
    if out_quant is not None:
        quantized_output(builder, node.outputs[0], shape, out_quant)
    else:
        builder.add_tensor(ir.Tensor(node.outputs[0], out_dtype, shape))
    inputs = (a.name, w_name) + ((bias,) if bias else ())
    builder.add_node(ir.Node(node.name, attrs, inputs, (node.outputs[0],), node.op_type))


def _check_bias(node: OnnxNode, name: str, array: np.ndarray, n: int) -> None:
    if array.dtype != np.int32 or array.size != n:
        raise UserError(f"{node.label}: bias '{name}' must be int32 with {n} values")


@parser("QGemm", domain="com.microsoft")
def parse_qgemm(node: OnnxNode, builder: GraphBuilder) -> None:
    if int(node.attr("transA", 0)):
        raise UserError(f"{node.label}: transA=1 is not supported")
    a = activation(node, builder, 0)
    builder.set_quant(node, a.name, builder.qparams(node, 1, 2))
    a = builder.tensors[a.name]
    w = builder.require_const(node, 3, "B")
    w_name, n, k = _canonical_weight(
        builder, node, node.input(3), w, builder.qparams(node, 4, 5, axis=1), transposed=bool(node.attr("transB", 0))
    )
    bias = node.input(6) or None
    if bias:
        _check_bias(node, bias, builder.require_const(node, 6, "C"), n)
    alpha = float(np.float32(node.attr("alpha", 1.0)))
    if node.input(7):
        attrs = ir.FullyConnectedAttrs(alpha=alpha)
        _fc_node(node, builder, a, w_name, n, k, bias, attrs, ir.DType.INT8, builder.qparams(node, 7, 8))
    else:
        attrs = ir.FullyConnectedAttrs(alpha=alpha, float_output=True)
        _fc_node(node, builder, a, w_name, n, k, bias, attrs, ir.DType.FLOAT32, None)


@parser("QLinearMatMul")
def parse_qlinear_matmul(node: OnnxNode, builder: GraphBuilder) -> None:
    a = activation(node, builder, 0)
    builder.set_quant(node, a.name, builder.qparams(node, 1, 2))
    a = builder.tensors[a.name]
    w = builder.require_const(node, 3, "b (a constant weight; activation x activation MatMul is not supported)")
    w_name, n, k = _canonical_weight(
        builder, node, node.input(3), w, builder.qparams(node, 4, 5, axis=1), transposed=False
    )
    _fc_node(node, builder, a, w_name, n, k, None, ir.FullyConnectedAttrs(), ir.DType.INT8, builder.qparams(node, 6, 7))


@parser("Gemm")
def parse_gemm(node: OnnxNode, builder: GraphBuilder) -> None:
    if int(node.attr("transA", 0)):
        raise UserError(f"{node.label}: transA=1 is not supported")
    if float(node.attr("beta", 1.0)) != 1.0:
        raise UserError(f"{node.label}: beta != 1 is not supported")
    a = activation(node, builder, 0)
    name, w, quant = builder.weight(node, 1, "B")
    w_name, n, k = _canonical_weight(builder, node, name, w, quant, transposed=bool(node.attr("transB", 0)))
    bias = None
    if node.input(2):
        bias, array, _ = builder.weight(node, 2, "C")
        _check_bias(node, bias, array, n)
    attrs = ir.FullyConnectedAttrs(alpha=float(np.float32(node.attr("alpha", 1.0))))
    _fc_node(node, builder, a, w_name, n, k, bias, attrs, ir.DType.FLOAT32, None)


@parser("MatMul")
def parse_matmul(node: OnnxNode, builder: GraphBuilder) -> None:
    a = activation(node, builder, 0)
    name, w, quant = builder.weight(node, 1, "B (a constant weight; activation x activation MatMul is not supported)")
    w_name, n, k = _canonical_weight(builder, node, name, w, quant, transposed=False)
    _fc_node(node, builder, a, w_name, n, k, None, ir.FullyConnectedAttrs(), ir.DType.FLOAT32, None)
