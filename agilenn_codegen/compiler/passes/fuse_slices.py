"""fuse_slices: a Slice whose only reader can read strided input disappears into that reader.

A channel Slice before a global average pool (AgileNN's local head takes the first k channels of
the extractor) becomes the pool's `channel_offset`: the pool reads the un-sliced NHWC tensor at its
pixel stride. A Slice before a DequantizeLinear or a table (the remote features, the centroid
table) becomes the reader's SourceView: its strided copy starts and steps through the un-sliced
tensor. Either way no sliced copy is made, and nothing changes numerically (a Slice moves bytes).
"""

from __future__ import annotations

import dataclasses

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.passes.graph_utils import prune


def _full_view(attrs: ir.SliceAttrs, rank: int) -> ir.SourceView:
    starts, steps = [0] * rank, [1] * rank
    for axis, start, step in zip(attrs.axes, attrs.starts, attrs.steps, strict=True):
        starts[axis], steps[axis] = start, step
    return ir.SourceView(tuple(starts), tuple(steps))


def _compose(outer: ir.SourceView, inner: ir.SourceView, rank: int) -> ir.SourceView:
    """The view of `inner` (on the slice's output) expressed on the slice's input `outer`."""
    if not inner.starts:
        return outer
    starts = tuple(outer.starts[a] + outer.steps[a] * inner.starts[a] for a in range(rank))
    steps = tuple(outer.steps[a] * inner.steps[a] for a in range(rank))
    return ir.SourceView(starts, steps)


def _fused(graph: ir.Graph, slice_node: ir.Node, reader: ir.Node) -> ir.Node | None:
    attrs = slice_node.attrs
    assert isinstance(attrs, ir.SliceAttrs)
    source = graph.tensor(slice_node.inputs[0])
    view = _full_view(attrs, len(source.shape))
    if isinstance(reader.attrs, ir.GlobalAvgPoolAttrs):
        only_channels = set(attrs.axes) == {1} and all(s == 1 for s in attrs.steps)
        if not only_channels or source.physical_layout != (0, 2, 3, 1):
            return None
        offset = reader.attrs.channel_offset + view.starts[1]
        return dataclasses.replace(
            reader, attrs=dataclasses.replace(reader.attrs, channel_offset=offset), inputs=(source.name,)
        )
    if isinstance(reader.attrs, ir.DequantizeAttrs | ir.TableAttrs):
        composed = _compose(view, reader.attrs.view, len(source.shape))
        return dataclasses.replace(
            reader, attrs=dataclasses.replace(reader.attrs, view=composed), inputs=(source.name, *reader.inputs[1:])
        )
    return None


def fuse_slices(graph: ir.Graph) -> ir.Graph:
    changed = True
    while changed:
        changed = False
        consumers = graph.consumers()
        for node in graph.nodes:
            if node.op != "slice" or node.outputs[0] in graph.outputs:
                continue
            readers = consumers.get(node.outputs[0], ())
            if len(readers) != 1:
                continue
            fused = _fused(graph, node, readers[0])
            if fused is None:
                continue
            nodes = tuple(fused if n is readers[0] else n for n in graph.nodes if n is not node)
            graph = prune(dataclasses.replace(graph, nodes=nodes))
            changed = True
            break
    return graph
