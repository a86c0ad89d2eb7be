"""The remote-feature quantizer: int8 feature value -> symbol, as a 256-entry table.

The symbols are the indices of the **distinct** centroid values, sorted (the trainer's k-means may
leave several centroids equal: the shipped model has 8 centroids and 5 distinct values, so K = 5).
The table is computed at compile time so that it equals the trainer's rule on the dequantized value
exactly: the value nearest to x = (float)(v - zp) * scale in float32, ties to the lower value (the
trainer's argmin over sorted centroids, where equal centroids are equally near). The table then
replaces the remote output's DequantizeLinear in the device graph, so the network writes symbols in
the caller's (channel, row, column) order in one pass; the server maps symbol s back to values[s].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.numerics import dequantize_f32
from agilenn_codegen.errors import UserError


def symbol_values(centroids: Sequence[float]) -> np.ndarray:
    """The alphabet: the distinct centroid values as float32, ascending; symbol s stands for values[s]."""
    return np.unique(np.asarray(centroids, np.float32))


def nearest_centroid(values: np.ndarray, centroids: Sequence[float]) -> np.ndarray:
    """Symbol (index into :func:`symbol_values`) of the distinct centroid value nearest to each float32
    value; ties go to the lower value."""
    c = symbol_values(centroids)
    distance = np.abs(values.astype(np.float32)[..., None] - c)
    return np.argmin(distance, axis=-1).astype(np.uint8)


def symbol_table(scale: float, zero_point: int, centroids: Sequence[float]) -> np.ndarray:
    """table[v + 128] = symbol of the distinct centroid value nearest to the dequantized int8 value v."""
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
