"""The IR checker run after every pass: a broken invariant is a compiler bug, reported precisely."""

from __future__ import annotations

from agilenn_codegen.compiler import ir


class IRError(AssertionError):
    """An IR invariant does not hold after a pass (a bug in that pass)."""


def verify_graph(graph: ir.Graph, stage: str) -> None:
    def fail(message: str) -> None:
        raise IRError(f"IR check failed after pass '{stage}': {message}")

    names = [t.name for t in graph.tensors]
    if len(names) != len(set(names)):
        fail("duplicate tensor names")
    tensors = graph.tensor_map
    for const in graph.constants:
        tensor = tensors.get(const.name)
        if tensor is None:
            fail(f"constant '{const.name}' has no tensor entry")
        elif tuple(const.array.shape) != tensor.shape and tensor.layout is None:
            fail(f"constant '{const.name}' has shape {const.array.shape}, its tensor says {tensor.shape}")
    defined = set(graph.inputs) | {c.name for c in graph.constants}
    produced: set[str] = set()
    for node in graph.nodes:
        for name in node.inputs:
            if name and name not in defined:
                fail(f"node '{node.name}' ({node.op}) reads '{name}' before it is produced")
            if name and name not in tensors:
                fail(f"node '{node.name}' reads '{name}', which has no tensor entry")
        for name in node.outputs:
            if name in produced or name in graph.inputs:
                fail(f"tensor '{name}' is produced twice")
            if name not in tensors:
                fail(f"node '{node.name}' writes '{name}', which has no tensor entry")
            produced.add(name)
            defined.add(name)
    for name in graph.outputs:
        if name not in defined:
            fail(f"graph output '{name}' is never produced")
    for tensor in graph.tensors:
        if tensor.layout is not None and sorted(tensor.layout) != list(range(len(tensor.shape))):
            fail(f"tensor '{tensor.name}' has layout {tensor.layout} for shape {tensor.shape}")
    if graph.memory is not None:
        for buf in graph.memory.buffers:
            if buf.offset < 0 or buf.offset + buf.size > graph.memory.arena_bytes:
                fail(f"buffer of '{buf.tensor}' [{buf.offset}, +{buf.size}) is outside the arena")
