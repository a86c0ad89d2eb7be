"""Small helpers the passes share: renaming tensors, removing unused values, checking the graph."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from agilenn_codegen.compiler import ir


def rename_inputs(node: ir.Node, mapping: Mapping[str, str]) -> ir.Node:
    return dataclasses.replace(node, inputs=tuple(mapping.get(n, n) for n in node.inputs))


def prune(graph: ir.Graph) -> ir.Graph:
    """Drop nodes whose outputs nobody uses, then tensors and constants no node or output mentions."""
    nodes = list(graph.nodes)
    while True:
        used = set(graph.outputs) | {n for node in nodes for n in node.inputs}
        kept = [node for node in nodes if any(o in used for o in node.outputs)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    mentioned = set(graph.inputs) | set(graph.outputs)
    mentioned |= {n for node in nodes for n in (*node.inputs, *node.outputs)}
    for node in nodes:
        if isinstance(node.attrs, ir.ConcatAttrs):
            mentioned |= {t for t in node.attrs.tables if t}
        if isinstance(node.attrs, ir.TableAttrs):
            mentioned.add(node.attrs.table)
    return dataclasses.replace(
        graph,
        nodes=tuple(nodes),
        tensors=tuple(t for t in graph.tensors if t.name in mentioned),
        constants=tuple(c for c in graph.constants if c.name in mentioned),
    )


def replace_tensors(graph: ir.Graph, tensors: Mapping[str, ir.Tensor]) -> tuple[ir.Tensor, ...]:
    """The graph's tensors with some replaced (by name) and new ones appended."""
    out = [tensors.get(t.name, t) for t in graph.tensors]
    known = {t.name for t in graph.tensors}
    out.extend(t for name, t in tensors.items() if name not in known)
    return tuple(out)
