"""Fold DequantizeLinear -> op -> QuantizeLinear groups (QDQ models) into integer ops.

This mirrors what onnxruntime does with ``session.qdqisint8allowed=1``: an op whose activation
inputs all come from DequantizeLinear and whose only consumer is a QuantizeLinear becomes the
integer op (QLinearConv, QGemm, QLinearAdd, ...), reading the int8 tensors directly. Weights were
already resolved to int8 constants by the front end. Data movement (Reshape, Transpose, Slice,
Concat) may stay in float: it is exact in any type. Anything else left in float is an error.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.numerics import quantize_f32
from agilenn_codegen.compiler.passes.graph_utils import prune
from agilenn_codegen.errors import UserError

DATA_MOVEMENT = ("reshape", "transpose", "slice", "concat")
SAME_QUANT_OPS = ("maxpool", "reshape", "transpose", "slice", "clamp")


def _is_float_op(graph: ir.Graph, node: ir.Node) -> bool:
    return node.op not in ("quantize", "dequantize") and graph.tensor(node.outputs[0]).dtype == ir.DType.FLOAT32


def _int_clamp(attrs: ir.ClampAttrs, quant: ir.QParams) -> ir.ClampAttrs:
    def q(value: float, default: int) -> int:
        if np.isinf(value):
            return default
        return int(quantize_f32(np.float32(value), quant.scalar_scale, quant.scalar_zero_point))

    return ir.ClampAttrs(lo=q(attrs.lo, -128), hi=q(attrs.hi, 127))


def fold_qdq(graph: ir.Graph) -> ir.Graph:
    producers = graph.producers()
    consumers = graph.consumers()
    new_nodes: list[ir.Node] = []
    dropped: set[str] = set()  # QuantizeLinear nodes absorbed by the op before them
    for node in graph.nodes:
        if node.name in dropped:
            continue
        if not _is_float_op(graph, node):
            new_nodes.append(node)
            continue
        # activation inputs must come from DequantizeLinear of int8 tensors
        sources: list[str] = []
        all_dq = True
        for name in node.inputs:
            if not name or graph.is_constant(name):
                sources.append(name)
                continue
            producer = producers.get(name)
            if producer is not None and producer.op == "dequantize":
                sources.append(producer.inputs[0])
            else:
                all_dq = False
                sources.append(name)
        out = node.outputs[0]
        users = consumers.get(out, ())
        quantizer = users[0] if len(users) == 1 and users[0].op == "quantize" and out not in graph.outputs else None
        if all_dq and quantizer is not None:
            new_nodes.append(_fold(graph, node, sources, quantizer))
            dropped.add(quantizer.name)
        elif all_dq and node.op == "fully_connected" and node.source_op == "Gemm":
            attrs = dataclasses.replace(node.attrs, float_output=True)
            new_nodes.append(dataclasses.replace(node, attrs=attrs, inputs=tuple(sources)))
        elif node.op in DATA_MOVEMENT:
            new_nodes.append(node)
        else:
            reason = (
                "its inputs are not all dequantized int8 tensors"
                if not all_dq
                else ("its output is not quantized by a single QuantizeLinear")
            )
            raise UserError(
                f"node '{node.name}' ({node.source_op}) would run in float: {reason}; the compiler generates "
                "integer code only",
                hint="quantize the whole model: agilenn quantize model.onnx --calibration data.npz --out int8.onnx",
            )
    return prune(dataclasses.replace(graph, nodes=tuple(new_nodes)))


def _fold(graph: ir.Graph, node: ir.Node, sources: list[str], quantizer: ir.Node) -> ir.Node:
    out_quant = graph.tensor(quantizer.outputs[0]).quant
    assert out_quant is not None
    attrs = node.attrs
    if node.op in SAME_QUANT_OPS:
        in_quant = graph.tensor(sources[0]).quant
        if in_quant != out_quant:
            raise UserError(
                f"node '{node.name}' ({node.source_op}): its input and output are quantized differently "
                f"(scale {in_quant.scale[0] if in_quant else '?'} vs {out_quant.scale[0]}); for this op the "
                "compiler needs one set of parameters"
            )
        if isinstance(attrs, ir.ClampAttrs):
            attrs = _int_clamp(attrs, out_quant)
    return dataclasses.replace(node, attrs=attrs, inputs=tuple(sources), outputs=quantizer.outputs)


def check_integer(graph: ir.Graph) -> ir.Graph:
    """After folding, only data movement and the boundary Quantize/Dequantize may be float."""
    for node in graph.nodes:
        if (
            _is_float_op(graph, node)
            and node.op not in DATA_MOVEMENT
            and not (
                node.op == "fully_connected"
                and isinstance(node.attrs, ir.FullyConnectedAttrs)
                and node.attrs.float_output
            )
        ):
            raise UserError(f"node '{node.name}' ({node.source_op}) runs in float; the model is not fully quantized")
    for name in graph.inputs:
        tensor = graph.tensor(name)
        if tensor.dtype == ir.DType.FLOAT32:
            for user in graph.consumers().get(name, ()):
                if user.op != "quantize":
                    raise UserError(
                        f"model input '{name}' is float and feeds node '{user.name}' ({user.source_op}) directly; "
                        "float inputs must go through QuantizeLinear"
                    )
    return graph
