"""QuantizeLinear and DequantizeLinear.

A DequantizeLinear of a constant (QDQ weights and biases) produces no node: its output is recorded
as an alias of the integer constant so that the consuming op's parser reads the integer weight.
"""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.compiler.ops import parser
from agilenn_codegen.compiler.ops.common import check_symmetric_weight
from agilenn_codegen.errors import UserError


@parser("QuantizeLinear")
def parse_quantize(node: OnnxNode, builder: GraphBuilder) -> None:
    x = builder.tensor(node, node.input(0))
    if x.dtype != ir.DType.FLOAT32:
        raise UserError(f"{node.label}: input '{x.name}' is {x.dtype.value}, expected float32")
    zp = builder.const(node.input(2))
    if zp is not None and str(zp.dtype) == "uint8":
        raise UserError(
            f"{node.label}: quantizes to uint8; the compiler supports int8 activations",
            hint="quantize with int8 activations: agilenn quantize (its default) or activation_type=QInt8",
        )
    if zp is not None and str(zp.dtype) != "int8":
        raise UserError(f"{node.label}: quantizes to {zp.dtype}; int8 is supported")
    quant = builder.qparams(node, 1, 2)
    if quant.per_channel:
        raise UserError(f"{node.label}: per-axis quantization of activations is not supported")
    builder.add_tensor(ir.Tensor(node.outputs[0], ir.DType.INT8, x.shape, quant))
    builder.add_node(ir.Node(node.name, ir.QuantizeAttrs(), (x.name,), (node.outputs[0],), node.op_type))


@parser("DequantizeLinear")
def parse_dequantize(node: OnnxNode, builder: GraphBuilder) -> None:
    name = node.input(0)
    const = builder.const(name)
    if const is not None:
        if str(const.dtype) not in ("int8", "int32"):
            raise UserError(f"{node.label}: constant '{name}' is {const.dtype}; int8 weights / int32 biases expected")
        axis = int(node.attr("axis", 1))
        quant = builder.qparams(node, 1, 2, axis=axis % max(const.ndim, 1))
        check_symmetric_weight(node, name, quant)
        builder.set_quant(node, name, quant)
        builder.dequantized_constants[node.outputs[0]] = (name, quant)
        return
    x = builder.tensor(node, name)
    if x.dtype == ir.DType.UINT8:
        raise UserError(
            f"{node.label}: dequantizes uint8; the compiler supports int8 activations",
            hint="quantize with int8 activations: agilenn quantize (its default) or activation_type=QInt8",
        )
    if x.dtype != ir.DType.INT8:
        raise UserError(f"{node.label}: input '{name}' is {x.dtype.value}, expected int8")
    quant = builder.qparams(node, 1, 2)
    if quant.per_channel:
        raise UserError(f"{node.label}: per-axis dequantization of activations is not supported")
    builder.set_quant(node, name, quant)
    builder.add_tensor(ir.Tensor(node.outputs[0], ir.DType.FLOAT32, x.shape))
    builder.add_node(ir.Node(node.name, ir.DequantizeAttrs(), (name,), (node.outputs[0],), node.op_type))
