"""The remote-feature quantizer: int8 feature value -> nearest-centroid index, as a 256-entry table.

Computed at compile time so that it equals the trainer's rule on the dequantized value exactly:
index = argmin_j |x - centroids[j]| in float32 with x = (float)(v - zp) * scale, ties to the lower
index. The table then replaces the remote output's DequantizeLinear in the device graph, so the
network writes centroid indices in the caller's (channel, row, column) order in one pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.numerics import dequantize_f32
from agilenn_codegen.errors import UserError


def nearest_centroid(values: np.ndarray, centroids: Sequence[float]) -> np.ndarray:
    """Index of the nearest centroid of each float32 value; ties go to the lower index."""
    c = np.asarray(centroids, np.float32)
    distance = np.abs(values.astype(np.float32)[..., None] - c)
    return np.argmin(distance, axis=-1).astype(np.uint8)


def symbol_table(scale: float, zero_point: int, centroids: Sequence[float]) -> np.ndarray:
    """table[v + 128] = index of the centroid nearest to the dequantized int8 value v."""
    values = dequantize_f32(np.arange(-128, 128, dtype=np.int32).astype(np.int8), scale, zero_point)
    return nearest_centroid(values, centroids)


def features_to_symbols(remote_features: np.ndarray, table: np.ndarray) -> np.ndarray:
    """int8 remote features (C_r, H, W) or (1, C_r, H, W) -> symbols `table[v + 128]`, channel-major."""
    values = np.asarray(remote_features)
    if values.dtype != np.int8:
        raise TypeError(f"remote features must be int8, got {values.dtype}")
    return np.asarray(table, dtype=np.uint8)[values.reshape(-1).astype(np.int16) + 128]


def attach_symbol_output(graph: ir.Graph, output: str, centroids: Sequence[float]) -> tuple[ir.Graph, np.ndarray]:
    """Replace the DequantizeLinear that produces model output `output` by the centroid table.

    The output keeps its name and shape and becomes uint8 centroid indices. Returns the new graph
    and the table (for the reference pipeline).
    """
    producer = graph.producers().get(output)
    if producer is None or producer.op != "dequantize":
        raise UserError(
            f"the device model's output '{output}' is not produced by DequantizeLinear; quantize the device model "
            "(agilenn quantize) so that the remote features are int8 inside the model"
        )
    source = graph.tensor(producer.inputs[0])
    if source.quant is None:
        raise UserError(f"tensor '{source.name}' has no quantization parameters")
    table = symbol_table(source.quant.scalar_scale, source.quant.scalar_zero_point, centroids)
    table_name = f"{output}__centroid_table"
    node = ir.Node(
        f"{output}_centroid_index", ir.TableAttrs(table=table_name), (source.name,), (output,), "nearest centroid"
    )
    tensors = (
        *tuple(
            dataclasses.replace(t, dtype=ir.DType.UINT8, quant=None) if t.name == output else t for t in graph.tensors
        ),
        ir.Tensor(table_name, ir.DType.INT8, (256,)),
    )
    nodes = tuple(node if n is producer else n for n in graph.nodes)
    constants = (*graph.constants, ir.Constant(table_name, table.astype(np.int8)))
    return dataclasses.replace(graph, nodes=nodes, tensors=tensors, constants=constants), table
