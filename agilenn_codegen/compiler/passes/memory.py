"""Static memory planning: one arena, tensor lifetimes, greedy placement by size.

Every activation lives in the arena except the model's float inputs and outputs (the caller's
buffers). Reshapes and transposes that do not move bytes alias their input. Tensors are placed
largest first at the lowest offset that does not overlap any already placed tensor whose lifetime
(first write .. last read, in node order) intersects its own. Offsets are 16-byte aligned.
"""

from __future__ import annotations

import dataclasses

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.passes.layout import transpose_is_alias

ALIGN = 16


def alias_of(graph: ir.Graph, node: ir.Node) -> str | None:
    """The input whose buffer `node`'s output shares, when `node` moves no bytes."""
    if node.op == "reshape":
        return node.inputs[0]
    if node.op == "transpose":
        assert isinstance(node.attrs, ir.TransposeAttrs)
        if transpose_is_alias(node.attrs.perm, graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])):
            return node.inputs[0]
    return None


def external_tensors(graph: ir.Graph) -> set[str]:
    """Tensors in the caller's buffers: the model's float inputs, and every model output that a node
    writes (as opposed to a reshape or transpose that only renames bytes already in the arena)."""
    producers = graph.producers()
    external = {n for n in graph.inputs if graph.tensor(n).dtype == ir.DType.FLOAT32}
    for name in graph.outputs:
        producer = producers.get(name)
        if producer is not None and alias_of(graph, producer) is None:
            external.add(name)
    return external


def _align(value: int) -> int:
    return (value + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(graph: ir.Graph, exclude: frozenset[str] = frozenset()) -> ir.Graph:
    """The arena for `graph`'s tensors; `exclude` names tensors that live elsewhere (a stream's windows)."""
    external = external_tensors(graph) | set(exclude)
    root: dict[str, str] = {}
    for node in graph.nodes:
        src = alias_of(graph, node)
        if src is not None and src not in external and node.outputs[0] not in external:
            root[node.outputs[0]] = root.get(src, src)
    start: dict[str, int] = {}
    end: dict[str, int] = {}
    for name in graph.inputs:
        if name not in external:
            start[name] = -1
            end[name] = -1
    for step, node in enumerate(graph.nodes):
        for name in node.outputs:
            if name in external:
                continue
            r = root.get(name, name)
            start.setdefault(r, step)
            end[r] = max(end.get(r, step), step)
        for name in node.inputs:
            if not name or graph.is_constant(name) or name in external:
                continue
            r = root.get(name, name)
            end[r] = max(end.get(r, step), step)
    last = len(graph.nodes)
    for name in graph.outputs:
        if name not in external:
            end[root.get(name, name)] = last
    sizes = {r: graph.tensor(r).nbytes for r in start}
    placed: list[tuple[str, int]] = []
    offsets: dict[str, int] = {}
    for r in sorted(start, key=lambda n: (-sizes[n], start[n], n)):
        candidates = sorted(
            (offsets[o], offsets[o] + sizes[o]) for o, _ in placed if start[o] <= end[r] and start[r] <= end[o]
        )
        offset = 0
        for lo, hi in candidates:
            if offset + sizes[r] <= lo:
                break
            offset = max(offset, _align(hi))
        offsets[r] = offset
        placed.append((r, offset))
    arena = _align(max((offsets[r] + sizes[r] for r in offsets), default=0))
    buffers = []
    for tensor in graph.tensors:
        r = root.get(tensor.name, tensor.name)
        if r in offsets:
            buffers.append(ir.Buffer(tensor.name, offsets[r], tensor.nbytes))
    return dataclasses.replace(graph, memory=ir.MemoryPlan(arena_bytes=arena, buffers=tuple(buffers)))
