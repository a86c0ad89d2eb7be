"""Move data movement across the model's Quantize/Dequantize boundaries.

Quantization is elementwise, so it commutes with Reshape, Transpose and Slice:
``Q(reshape(x)) == reshape(Q(x))`` and ``reshape(DQ(q)) == DQ(reshape(q))``, bit for bit. Moving
the movement into the int8 region keeps float copies out of the arena (a Flatten of the float
model input would otherwise need a float buffer) and lets the boundary kernels read and write the
caller's buffers directly.
"""

from __future__ import annotations

import dataclasses

from agilenn_codegen.compiler import ir

MOVABLE = ("reshape", "transpose", "slice")


def _single_consumer(consumers: dict[str, tuple[ir.Node, ...]], name: str) -> ir.Node | None:
    users = consumers.get(name, ())
    return users[0] if len(users) == 1 else None


def _step(graph: ir.Graph) -> ir.Graph | None:
    """Apply one rewrite; None when nothing matches."""
    producers = graph.producers()
    consumers = dict(graph.consumers())
    tensors = {t.name: t for t in graph.tensors}
    for node in graph.nodes:
        if node.op not in MOVABLE or tensors[node.outputs[0]].dtype != ir.DType.FLOAT32:
            continue
        out = node.outputs[0]
        user = _single_consumer(consumers, out)
        if user is not None and user.op == "quantize" and out not in graph.outputs:
            # x -> move -> Q  becomes  x -> Q -> move
            src = tensors[node.inputs[0]]
            quant = tensors[user.outputs[0]].quant
            q_name = f"{src.name}__quantized"
            tensors[q_name] = ir.Tensor(q_name, ir.DType.INT8, src.shape, quant)
            new_q = dataclasses.replace(user, inputs=(src.name,), outputs=(q_name,))
            new_move = dataclasses.replace(node, inputs=(q_name,), outputs=user.outputs)
            nodes = []
            for n in graph.nodes:
                if n is node:
                    nodes.extend([new_q, new_move])
                elif n is not user:
                    nodes.append(n)
            return _rebuild(graph, nodes, tensors)
        producer = producers.get(node.inputs[0])
        if producer is not None and producer.op == "dequantize" and _single_consumer(consumers, node.inputs[0]) is node:
            # q -> DQ -> move  becomes  q -> move -> DQ
            q_src = tensors[producer.inputs[0]]
            moved = f"{out}__int8"
            tensors[moved] = ir.Tensor(moved, ir.DType.INT8, tensors[out].shape, q_src.quant)
            new_move = dataclasses.replace(node, inputs=(q_src.name,), outputs=(moved,))
            new_dq = dataclasses.replace(producer, inputs=(moved,), outputs=(out,))
            nodes = []
            for n in graph.nodes:
                if n is producer:
                    continue
                nodes.extend([new_move, new_dq] if n is node else [n])
            return _rebuild(graph, nodes, tensors)
    return None


def _rebuild(graph: ir.Graph, nodes: list[ir.Node], tensors: dict[str, ir.Tensor]) -> ir.Graph:
    used = set(graph.inputs) | set(graph.outputs) | {n for node in nodes for n in (*node.inputs, *node.outputs)}
    used |= {c.name for c in graph.constants}
    return dataclasses.replace(graph, nodes=tuple(nodes), tensors=tuple(t for t in tensors.values() if t.name in used))


def move_data_movement_into_int8(graph: ir.Graph) -> ir.Graph:
    while (rewritten := _step(graph)) is not None:
        graph = rewritten
    return graph
