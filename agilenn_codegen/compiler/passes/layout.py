"""Choose physical layouts: NHWC for 4-D activations around spatial ops, the model's order elsewhere.

Each tensor gets ``layout`` (the memory order of its logical axes). Spatial ops (conv, pools) read
and write NHWC; fully connected and reshape need the logical (row-major) order; elementwise ops,
slices and concats follow their first input; Transpose picks the output layout that makes it a
no-op when it can. Where a consumer needs another layout than its input has, a relayout node (an
IR transpose with the identity permutation) is inserted. Dimensions of size 1 are ignored when
comparing layouts, so (1, C, 1, 1) in NHWC needs no relayout before a Flatten.
Conv weights are reordered to (O, KH, KW, I/group) at the same time.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from agilenn_codegen.compiler import ir

NHWC = (0, 2, 3, 1)
SPATIAL = ("conv", "avgpool", "maxpool", "global_avgpool")
FOLLOW_FIRST = ("add", "mul", "clamp", "slice", "concat", "table")


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def equivalent(shape: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Do two layouts put the elements of a tensor of `shape` in the same memory order?"""
    return [ax for ax in a if shape[ax] != 1] == [ax for ax in b if shape[ax] != 1]


def transpose_is_alias(perm: tuple[int, ...], in_tensor: ir.Tensor, out_tensor: ir.Tensor) -> bool:
    """True when a transpose (or relayout) leaves the bytes where they are."""
    in_seq = [ax for ax in in_tensor.physical_layout if in_tensor.shape[ax] != 1]
    out_seq = [perm[ax] for ax in out_tensor.physical_layout if out_tensor.shape[ax] != 1]
    return in_seq == out_seq


def _required(
    node: ir.Node, index: int, layouts: dict[str, tuple[int, ...]], graph: ir.Graph
) -> tuple[int, ...] | None:
    """The layout `node` needs for its input `index`, or None when any layout will do."""
    tensor = graph.tensor(node.inputs[index])
    rank = len(tensor.shape)
    if node.op in SPATIAL and index == 0:
        return NHWC
    if node.op in ("fully_connected", "reshape") and index == 0:
        return identity(rank)
    if node.op in ("add", "mul", "concat") and index > 0:
        return layouts[node.inputs[0]]
    return None


def _output_layout(
    node: ir.Node, layouts: dict[str, tuple[int, ...]], graph: ir.Graph, consumers: dict[str, tuple[ir.Node, ...]]
) -> tuple[int, ...]:
    out = graph.tensor(node.outputs[0])
    rank = len(out.shape)
    if node.op in SPATIAL:
        return NHWC
    if node.op == "table" and node.outputs[0] in graph.outputs:
        return identity(rank)  # the table copy gathers straight into the caller's order
    if node.op in FOLLOW_FIRST:
        return layouts[node.inputs[0]]
    if node.op == "transpose":
        assert isinstance(node.attrs, ir.TransposeAttrs)
        in_layout = layouts[node.inputs[0]]
        return tuple(node.attrs.perm.index(a) for a in in_layout)
    if node.op == "quantize" and rank == 4 and any(c.op in SPATIAL for c in consumers.get(node.outputs[0], ())):
        return NHWC
    return identity(rank)


def layout_nhwc(graph: ir.Graph) -> ir.Graph:
    consumers = dict(graph.consumers())
    layouts: dict[str, tuple[int, ...]] = {name: identity(len(graph.tensor(name).shape)) for name in graph.inputs}
    for const in graph.constants:
        layouts[const.name] = identity(const.array.ndim)
    tensors: dict[str, ir.Tensor] = {t.name: t for t in graph.tensors}
    constants: dict[str, ir.Constant] = {c.name: c for c in graph.constants}
    relayouts: dict[tuple[str, tuple[int, ...]], str] = {}
    nodes: list[ir.Node] = []

    def relayout(name: str, want: tuple[int, ...]) -> str:
        key = (name, want)
        if key not in relayouts:
            src = tensors[name]
            new_name = f"{name}__{'nhwc' if want == NHWC else 'ordered'}"
            tensors[new_name] = dataclasses.replace(src, name=new_name, layout=want)
            layouts[new_name] = want
            attrs = ir.TransposeAttrs(perm=identity(len(src.shape)))
            nodes.append(ir.Node(f"relayout_{name}", attrs, (name,), (new_name,), "relayout"))
            relayouts[key] = new_name
        return relayouts[key]

    for node in graph.nodes:
        inputs = list(node.inputs)
        for i, name in enumerate(inputs):
            if not name or name in constants:
                continue
            want = _required(node, i, layouts, graph)
            if want is not None and not equivalent(tensors[name].shape, layouts[name], want):
                inputs[i] = relayout(name, want)
        node = dataclasses.replace(node, inputs=tuple(inputs))
        layout = _output_layout(node, layouts, graph, consumers)
        for out in node.outputs:
            layouts[out] = layout
            tensors[out] = dataclasses.replace(tensors[out], layout=layout)
        if node.op == "conv" and node.inputs[1] in constants:
            w_name = node.inputs[1]
            if tensors[w_name].layout is None:
                ohwi = np.ascontiguousarray(constants[w_name].array.transpose(0, 2, 3, 1))
                constants[w_name] = ir.Constant(w_name, ohwi)
                tensors[w_name] = dataclasses.replace(tensors[w_name], layout=NHWC)
        nodes.append(node)

    # Graph outputs are delivered in the model's logical order.
    outputs = list(graph.outputs)
    renames: dict[str, str] = {}
    for name in outputs:
        t = tensors[name]
        written_by_dequantize = t.dtype == ir.DType.FLOAT32 and any(
            n.op == "dequantize" and name in n.outputs for n in nodes
        )
        if not written_by_dequantize and not equivalent(t.shape, layouts[name], identity(len(t.shape))):
            renames[name] = f"{name}__physical"
    if renames:
        nodes = [
            dataclasses.replace(
                n,
                inputs=tuple(renames.get(i, i) for i in n.inputs),
                outputs=tuple(renames.get(o, o) for o in n.outputs),
            )
            for n in nodes
        ]
        for old, new in renames.items():
            tensors[new] = dataclasses.replace(tensors[old], name=new)
            tensors[old] = dataclasses.replace(tensors[old], layout=identity(len(tensors[old].shape)))
            attrs = ir.TransposeAttrs(perm=identity(len(tensors[old].shape)))
            nodes.append(ir.Node(f"relayout_{old}", attrs, (new,), (old,), "relayout"))
    return dataclasses.replace(
        graph, nodes=tuple(nodes), tensors=tuple(tensors.values()), constants=tuple(constants.values())
    )
