"""Human-readable IR dump (used by --dump-ir and in error reports)."""

from __future__ import annotations

import dataclasses

from agilenn_codegen.compiler import ir


def _tensor(t: ir.Tensor) -> str:
    text = f"{t.dtype.value}{list(t.shape)}"
    if t.layout is not None and t.layout != tuple(range(len(t.shape))):
        text += f"@{''.join('NCHW'[a] if len(t.shape) == 4 else str(a) for a in t.layout)}"
    if t.quant is not None and not t.quant.per_channel:
        text += f" q(s={t.quant.scale[0]:.6g},zp={t.quant.zero_point[0]})"
    elif t.quant is not None:
        text += f" q(axis={t.quant.axis},{len(t.quant.scale)} scales)"
    return text


def _attrs(attrs: ir.OpAttrs) -> str:
    parts = []
    for f in dataclasses.fields(attrs):
        value = getattr(attrs, f.name)
        if isinstance(value, ir.Requant):
            m = value.multiplier
            value = f"S={m[0]:.6g}" + (f"..(x{len(m)})" if len(m) > 1 else "") + f",zp={value.out_zero_point}"
        parts.append(f"{f.name}={value}")
    return ", ".join(parts)


def format_graph(graph: ir.Graph, stage: str = "") -> str:
    lines = [f"graph {graph.name}" + (f"  (after {stage})" if stage else "")]
    for name in graph.inputs:
        lines.append(f"  input  {name}: {_tensor(graph.tensor(name))}")
    for node in graph.nodes:
        ins = ", ".join(n for n in node.inputs if n)
        outs = ", ".join(f"{n}: {_tensor(graph.tensor(n))}" for n in node.outputs)
        lines.append(f"  {node.op:<16} {node.name}  ({ins}) -> {outs}")
        lines.append(f"  {'':<16}   {_attrs(node.attrs)}")
    for name in graph.outputs:
        lines.append(f"  output {name}: {_tensor(graph.tensor(name))}")
    if graph.memory is not None:
        lines.append(f"  arena {graph.memory.arena_bytes} bytes")
        for buf in graph.memory.buffers:
            lines.append(f"    [{buf.offset:>7}, {buf.offset + buf.size:>7})  {buf.tensor}")
    return "\n".join(lines)
