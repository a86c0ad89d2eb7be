"""Fuse int8 Relu/Clip into the clamp of the op that produces their input (exact: same quantization)."""

from __future__ import annotations

import dataclasses

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.passes.graph_utils import prune

FUSABLE = ("conv", "fully_connected", "global_avgpool", "avgpool", "maxpool", "add", "mul")


def fuse_activations(graph: ir.Graph) -> ir.Graph:
    producers = graph.producers()
    consumers = graph.consumers()
    replaced: dict[str, ir.Node] = {}  # producer name -> fused producer
    removed: set[str] = set()
    for node in graph.nodes:
        if node.op != "clamp" or graph.tensor(node.outputs[0]).dtype != ir.DType.INT8:
            continue
        src = node.inputs[0]
        producer = producers.get(src)
        if producer is None or producer.op not in FUSABLE or src in graph.outputs:
            continue
        if len(consumers.get(src, ())) != 1:
            continue
        producer = replaced.get(producer.name, producer)
        attrs = producer.attrs
        if isinstance(attrs, ir.FullyConnectedAttrs) and attrs.float_output:
            continue
        assert isinstance(node.attrs, ir.ClampAttrs)
        lo = max(attrs.act_min, int(node.attrs.lo))  # type: ignore[union-attr]
        hi = min(attrs.act_max, int(node.attrs.hi))  # type: ignore[union-attr]
        fused_attrs = dataclasses.replace(attrs, act_min=lo, act_max=hi)  # type: ignore[arg-type]
        replaced[producer.name] = dataclasses.replace(
            producer, attrs=fused_attrs, outputs=node.outputs, source_op=f"{producer.source_op}+{node.source_op}"
        )
        removed.add(node.name)
    nodes = tuple(replaced.get(n.name, n) for n in graph.nodes if n.name not in removed)
    return prune(dataclasses.replace(graph, nodes=nodes))
