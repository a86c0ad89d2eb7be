"""Pooling: QLinearGlobalAveragePool, QLinearAveragePool (com.microsoft), MaxPool on int8, and the
float GlobalAveragePool/AveragePool/MaxPool of QDQ models."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.compiler.ops import parser
from agilenn_codegen.compiler.ops.common import (
    activation,
    int_pair,
    quantized_output,
    require_4d,
    spatial_geometry,
)
from agilenn_codegen.errors import UserError


def _check_channels_first(node: OnnxNode) -> None:
    if int(node.attr("channels_last", 0)):
        raise UserError(f"{node.label}: channels_last=1 is not supported (the model's layout must be NCHW)")


def _add_output(
    builder: GraphBuilder, node: OnnxNode, x: ir.Tensor, shape: tuple[int, ...], quant: ir.QParams | None
) -> None:
    if quant is not None:
        quantized_output(builder, node.outputs[0], shape, quant)
    else:
        builder.add_tensor(ir.Tensor(node.outputs[0], x.dtype, shape))


@parser("QLinearGlobalAveragePool", domain="com.microsoft")
def parse_qlinear_global_avgpool(node: OnnxNode, builder: GraphBuilder) -> None:
    _check_channels_first(node)
    x = activation(node, builder, 0)
    builder.set_quant(node, x.name, builder.qparams(node, 1, 2))
    _, c, _, _ = require_4d(node, x)
    quantized_output(builder, node.outputs[0], (1, c, 1, 1), builder.qparams(node, 3, 4))
    builder.add_node(ir.Node(node.name, ir.GlobalAvgPoolAttrs(), (x.name,), (node.outputs[0],), node.op_type))


@parser("GlobalAveragePool")
def parse_global_avgpool(node: OnnxNode, builder: GraphBuilder) -> None:
    x = activation(node, builder, 0)
    _, c, _, _ = require_4d(node, x)
    _add_output(builder, node, x, (1, c, 1, 1), None)
    builder.add_node(ir.Node(node.name, ir.GlobalAvgPoolAttrs(), (x.name,), (node.outputs[0],), node.op_type))


def _avgpool(node: OnnxNode, builder: GraphBuilder, x: ir.Tensor, out_quant: ir.QParams | None) -> None:
    _, c, h, w = require_4d(node, x)
    kernel = int_pair(node, "kernel_shape", (0, 0))
    if node.attr("kernel_shape") is None:
        raise UserError(f"{node.label}: kernel_shape is required")
    if node.attr("dilations") is not None and tuple(node.attr("dilations")) != (1, 1):
        raise UserError(f"{node.label}: dilated average pooling is not supported")
    ceil_mode = bool(node.attr("ceil_mode", 0))
    strides, pads, _, (oh, ow) = spatial_geometry(node, (h, w), kernel, ceil_mode=ceil_mode)
    attrs = ir.AvgPoolAttrs(
        kernel=kernel,
        strides=strides,
        pads=pads,
        count_include_pad=bool(node.attr("count_include_pad", 0)),
        ceil_mode=ceil_mode,
    )
    _add_output(builder, node, x, (1, c, oh, ow), out_quant)
    builder.add_node(ir.Node(node.name, attrs, (x.name,), (node.outputs[0],), node.op_type))


@parser("QLinearAveragePool", domain="com.microsoft")
def parse_qlinear_avgpool(node: OnnxNode, builder: GraphBuilder) -> None:
    _check_channels_first(node)
    x = activation(node, builder, 0)
    builder.set_quant(node, x.name, builder.qparams(node, 1, 2))
    _avgpool(node, builder, builder.tensors[x.name], builder.qparams(node, 3, 4))


@parser("AveragePool")
def parse_avgpool(node: OnnxNode, builder: GraphBuilder) -> None:
    _avgpool(node, builder, activation(node, builder, 0), None)


@parser("MaxPool")
def parse_maxpool(node: OnnxNode, builder: GraphBuilder) -> None:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UserError(f"{node.label}: the Indices output of MaxPool is not supported")
    if int(node.attr("storage_order", 0)):
        raise UserError(f"{node.label}: storage_order=1 is not supported")
    x = activation(node, builder, 0)
    _, c, h, w = require_4d(node, x)
    kernel = int_pair(node, "kernel_shape", (0, 0))
    if node.attr("kernel_shape") is None:
        raise UserError(f"{node.label}: kernel_shape is required")
    ceil_mode = bool(node.attr("ceil_mode", 0))
    strides, pads, dilations, (oh, ow) = spatial_geometry(node, (h, w), kernel, ceil_mode=ceil_mode)
    attrs = ir.MaxPoolAttrs(kernel=kernel, strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode)
    _add_output(builder, node, x, (1, c, oh, ow), x.quant)
    builder.add_node(ir.Node(node.name, attrs, (x.name,), (node.outputs[0],), node.op_type))
