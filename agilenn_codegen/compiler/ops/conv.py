"""Convolutions: QLinearConv (QOperator) and Conv between DequantizeLinear/QuantizeLinear (QDQ).

IR inputs: (x, weight, bias?) with the weight an int8 constant (O, I/group, KH, KW), symmetric,
per-tensor or per-output-channel, and the bias an int32 constant with scale x_scale * w_scale[o].
"""

from __future__ import annotations

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.compiler.ops import parser
from agilenn_codegen.compiler.ops.common import (
    activation,
    check_symmetric_weight,
    quantized_output,
    require_4d,
    spatial_geometry,
)
from agilenn_codegen.errors import UserError


def _conv_node(
    node: OnnxNode,
    builder: GraphBuilder,
    x: ir.Tensor,
    w_name: str,
    w: np.ndarray,
    bias: str | None,
    out_quant: ir.QParams | None,
) -> None:
    _, c, h, wd = require_4d(node, x)
    if w.ndim != 4:
        raise UserError(f"{node.label}: weight has shape {list(w.shape)}; only 2-D convolutions are supported")
    o, ipg, kh, kw = (int(d) for d in w.shape)
    group = int(node.attr("group", 1))
    if group < 1 or c % group or o % group or ipg != c // group:
        raise UserError(
            f"{node.label}: group={group} with {c} input channels and weight {list(w.shape)} is inconsistent"
        )
    strides, pads, dilations, (oh, ow) = spatial_geometry(node, (h, wd), (kh, kw))
    attrs = ir.ConvAttrs(kernel=(kh, kw), strides=strides, pads=pads, dilations=dilations, group=group)
    shape = (1, o, oh, ow)
    if out_quant is not None:
        quantized_output(builder, node.outputs[0], shape, out_quant)
    else:
        builder.add_tensor(ir.Tensor(node.outputs[0], ir.DType.FLOAT32, shape))
    inputs = (x.name, w_name) + ((bias,) if bias else ())
    builder.add_node(ir.Node(node.name, attrs, inputs, (node.outputs[0],), node.op_type))


def _bias(node: OnnxNode, builder: GraphBuilder, index: int, out_channels: int) -> str | None:
    if not node.input(index):
        return None
    name, array, _ = builder.weight(node, index, "bias")
    if array.dtype != np.int32 or array.size != out_channels:
        raise UserError(f"{node.label}: bias '{name}' must be int32 with {out_channels} values")
    return name


@parser("QLinearConv")
def parse_qlinear_conv(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    if x.dtype != ir.DType.INT8:
        raise UserError(f"{node.label}: input '{x.name}' is {x.dtype.value}, expected int8")
    builder.set_quant(node, x.name, builder.qparams(node, 1, 2))
    x = builder.tensors[x.name]
    w_name = node.input(3)
    w = builder.require_const(node, 3, "the weight")
    if w.dtype != np.int8:
        raise UserError(f"{node.label}: weight '{w_name}' is {w.dtype}; int8 weights are supported")
    w_quant = builder.qparams(node, 4, 5, axis=0)
    check_symmetric_weight(node, w_name, w_quant)
    builder.set_quant(node, w_name, w_quant)
    bias = None
    if node.input(8):
        bias = node.input(8)
        array = builder.require_const(node, 8, "the bias")
        if array.dtype != np.int32 or array.size != w.shape[0]:
            raise UserError(f"{node.label}: bias '{bias}' must be int32 with {w.shape[0]} values")
    _conv_node(node, builder, x, w_name, w, bias, builder.qparams(node, 6, 7))


@parser("Conv")
def parse_conv(node: OnnxNode, builder: GraphBuilder) -> None:
    """A float Conv whose weight (and bias) come from DequantizeLinear: folded by the fold_qdq pass."""
    x = activation(node, builder, 0)
    w_name, w, w_quant = builder.weight(node, 1, "the weight")
    if w.dtype != np.int8:
        raise UserError(f"{node.label}: weight '{w_name}' is {w.dtype}; int8 weights are supported")
    check_symmetric_weight(node, w_name, w_quant)
    bias = _bias(node, builder, 2, int(w.shape[0]))
    _conv_node(node, builder, x, w_name, w, bias, None)
