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

from agilenn_codegen.compiler import ir, numerics
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


@dataclasses.dataclass(frozen=True)
class _Folded:
    nodes: tuple[ir.Node, ...]
    tensors: tuple[ir.Tensor, ...] = ()
    constants: tuple[ir.Constant, ...] = ()


def fold_qdq(graph: ir.Graph) -> ir.Graph:
    new_tensors: list[ir.Tensor] = []
    new_constants: list[ir.Constant] = []
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
            folded = _fold(graph, node, sources, quantizer)
            new_nodes.extend(folded.nodes)
            new_tensors.extend(folded.tensors)
            new_constants.extend(folded.constants)
            dropped.add(quantizer.name)
        elif all_dq and isinstance(node.attrs, ir.FullyConnectedAttrs) and node.source_op == "Gemm":
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
    return prune(
        dataclasses.replace(
            graph,
            nodes=tuple(new_nodes),
            tensors=graph.tensors + tuple(new_tensors),
            constants=graph.constants + tuple(new_constants),
        )
    )


def _fold(graph: ir.Graph, node: ir.Node, sources: list[str], quantizer: ir.Node) -> _Folded:
    out_quant = graph.tensor(quantizer.outputs[0]).quant
    assert out_quant is not None
    attrs = node.attrs
    if node.op not in SAME_QUANT_OPS:
        return _Folded((dataclasses.replace(node, attrs=attrs, inputs=tuple(sources), outputs=quantizer.outputs),))
    # Exact ops keep the input's quantization; where the output's differs, onnxruntime computes
    # Quantize_out(op(Dequantize_in(x))) per element. Data movement and max commute with the
    # monotone table Quantize_out(Dequantize_in(.)), so op-then-table is exact. A clamp commutes
    # with Quantize_out only in the output domain: table first, then the clamp with output bounds.
    in_quant = graph.tensor(sources[0]).quant
    assert in_quant is not None
    y = graph.tensor(quantizer.outputs[0])
    if isinstance(attrs, ir.ClampAttrs):
        attrs = _int_clamp(attrs, out_quant)
    if in_quant == out_quant:
        return _Folded((dataclasses.replace(node, attrs=attrs, inputs=tuple(sources), outputs=quantizer.outputs),))
    mid = f"{y.name}__requant"
    table = f"{y.name}__requant_table"
    values = numerics.requant_table(
        in_quant.scalar_scale, in_quant.scalar_zero_point, out_quant.scalar_scale, out_quant.scalar_zero_point
    )
    shape = graph.tensor(node.outputs[0]).shape
    if node.op == "clamp":
        first = ir.Node(f"{node.name}_requant", ir.TableAttrs(table=table), tuple(sources), (mid,), "QuantizeLinear")
        second = dataclasses.replace(node, attrs=attrs, inputs=(mid,), outputs=quantizer.outputs)
        mid_tensor = ir.Tensor(mid, ir.DType.INT8, shape, out_quant)
    else:
        first = dataclasses.replace(node, attrs=attrs, inputs=tuple(sources), outputs=(mid,))
        second = ir.Node(
            f"{node.name}_requant", ir.TableAttrs(table=table), (mid,), quantizer.outputs, "QuantizeLinear"
        )
        mid_tensor = ir.Tensor(mid, ir.DType.INT8, shape, in_quant)
    return _Folded(
        nodes=(first, second),
        tensors=(mid_tensor, ir.Tensor(table, ir.DType.INT8, (256,))),
        constants=(ir.Constant(table, values),),
    )


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
