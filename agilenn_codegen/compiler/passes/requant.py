"""Precompute every integer op's float32 constants exactly as onnxruntime computes them.

The scales are combined in onnxruntime's order, in float32 (see docs/numerics.md); doing this in
double would change about a third of real multipliers by one ulp, and then outputs.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from agilenn_codegen.compiler import ir, numerics
from agilenn_codegen.errors import UserError


def _quant(graph: ir.Graph, node: ir.Node, name: str) -> ir.QParams:
    quant = graph.tensor(name).quant
    if quant is None:
        raise UserError(f"node '{node.name}' ({node.source_op}): tensor '{name}' has no quantization parameters")
    return quant


def _requant_node(
    graph: ir.Graph, node: ir.Node, new_constants: list[ir.Constant], new_tensors: list[ir.Tensor]
) -> ir.Node:
    attrs = node.attrs
    if graph.tensor(node.outputs[0]).dtype != ir.DType.INT8 and not (
        isinstance(attrs, ir.FullyConnectedAttrs) and attrs.float_output
    ):
        return node
    if isinstance(attrs, ir.ConvAttrs):
        x, w, y = (_quant(graph, node, n) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
        mult = tuple(numerics.conv_multiplier(x.scalar_scale, ws, y.scalar_scale) for ws in w.scale)
        attrs = dataclasses.replace(attrs, requant=ir.Requant(mult, y.scalar_zero_point))
    elif isinstance(attrs, ir.FullyConnectedAttrs):
        a, w = _quant(graph, node, node.inputs[0]), _quant(graph, node, node.inputs[1])
        y_quant = None if attrs.float_output else _quant(graph, node, node.outputs[0])
        y_scale = None if y_quant is None else y_quant.scalar_scale
        mult = tuple(numerics.gemm_multiplier(attrs.alpha, a.scalar_scale, ws, y_scale) for ws in w.scale)
        zero_point = 0 if y_quant is None else y_quant.scalar_zero_point
        attrs = dataclasses.replace(attrs, requant=ir.Requant(mult, zero_point))
    elif isinstance(attrs, ir.GlobalAvgPoolAttrs):
        x_t = graph.tensor(node.inputs[0])
        x, y = _quant(graph, node, x_t.name), _quant(graph, node, node.outputs[0])
        count = x_t.shape[2] * x_t.shape[3]
        mult = (numerics.global_avgpool_multiplier(x.scalar_scale, y.scalar_scale, count),)
        attrs = dataclasses.replace(attrs, requant=ir.Requant(mult, y.scalar_zero_point))
    elif isinstance(attrs, ir.AddAttrs):
        a, b, y = (_quant(graph, node, n) for n in (*node.inputs, node.outputs[0]))
        p = numerics.add_params(
            a.scalar_scale,
            a.scalar_zero_point,
            b.scalar_scale,
            b.scalar_zero_point,
            y.scalar_scale,
            y.scalar_zero_point,
        )
        attrs = dataclasses.replace(attrs, a_ratio=p.a_ratio, b_ratio=p.b_ratio, offset=p.offset)
    elif isinstance(attrs, ir.ConcatAttrs):
        y = _quant(graph, node, node.outputs[0])
        tables: list[str | None] = []
        for name in node.inputs:
            x = _quant(graph, node, name)
            if x == y:
                tables.append(None)
                continue
            table_name = f"{node.name}__requant_{len(tables)}"
            array = numerics.requant_table(x.scalar_scale, x.scalar_zero_point, y.scalar_scale, y.scalar_zero_point)
            new_constants.append(ir.Constant(table_name, array))
            new_tensors.append(ir.Tensor(table_name, ir.DType.INT8, (256,)))
            tables.append(table_name)
        attrs = dataclasses.replace(attrs, tables=tuple(tables))
    _check_finite(node, attrs)
    return dataclasses.replace(node, attrs=attrs)


def _check_finite(node: ir.Node, attrs: object) -> None:
    """Scales that are each valid can still combine into a multiplier float32 cannot hold (e.g. 1e30 * 1e30)."""
    requant = getattr(attrs, "requant", None)
    values = list(requant.multiplier) if requant is not None else []
    if isinstance(attrs, ir.AddAttrs):
        values += [attrs.a_ratio, attrs.b_ratio, attrs.offset]
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise UserError(
            f"node '{node.name}' ({node.source_op}): its quantization scales combine into the multiplier {bad[0]}, "
            "which float32 cannot hold; the model's scales are out of range",
            hint="re-quantize the model (agilenn quantize)",
        )


def requantize(graph: ir.Graph) -> ir.Graph:
    new_constants: list[ir.Constant] = []
    new_tensors: list[ir.Tensor] = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # out-of-range scales: _check_finite
        nodes = tuple(_requant_node(graph, node, new_constants, new_tensors) for node in graph.nodes)
    return dataclasses.replace(
        graph,
        nodes=nodes,
        constants=graph.constants + tuple(new_constants),
        tensors=graph.tensors + tuple(new_tensors),
    )
