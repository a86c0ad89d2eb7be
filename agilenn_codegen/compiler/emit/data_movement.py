"""Transpose / relayout, Slice, Concat, Reshape: strided copies (or nothing, for aliases)."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall
from agilenn_codegen.compiler.emit.geometry import Strided, gather, scatter_into
from agilenn_codegen.compiler.passes.memory import alias_of


def _copy_call(
    ctx: EmitContext, node: ir.Node, src: str, dst: str, geometry: Strided, table: str | None, comment: str
) -> KernelCall:
    size = ctx.graph.tensor(src).dtype.itemsize
    return ctx.call(
        "agilenn_copy_strided",
        "agilenn_copy_params_t",
        (("geometry", geometry.c_init()), ("element_size", str(size)), ("table", table or "NULL")),
        (f"(const void *){ctx.ptr(src, const=True)}", f"(void *){ctx.ptr(dst)}"),
        fast_body="agilenn_copy_strided_s8_fast_body" if size == 1 else "agilenn_copy_strided_32_fast_body",
        parameters=("const void *input", "void *output"),
        comment=comment,
    )


def _needs_copy(ctx: EmitContext, node: ir.Node) -> bool:
    src = alias_of(ctx.graph, node)
    if src is None:
        return True
    # an alias still needs a copy when one side is a caller buffer and the other is not
    return (src in ctx.external) != (node.outputs[0] in ctx.external)


@emitter("reshape", "transpose")
def emit_transpose(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    if not _needs_copy(ctx, node):
        return []
    src, dst = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    if node.op == "reshape":
        # both sides are in row-major order after the layout pass: a flat copy
        geometry = Strided((1, 1, 1, src.size), (0, 0, 0, 1), (0, 0, 0, 1))
    else:
        assert isinstance(node.attrs, ir.TransposeAttrs)
        geometry = gather(src, dst, node.attrs.perm, f"node '{node.name}'")
    return [_copy_call(ctx, node, src.name, dst.name, geometry, None, "")]


@emitter("slice")
def emit_slice(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.SliceAttrs)
    src, dst = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    rank = len(src.shape)
    starts, steps = [0] * rank, [1] * rank
    for axis, start, step in zip(attrs.axes, attrs.starts, attrs.steps, strict=True):
        starts[axis], steps[axis] = start, step
    geometry = gather(src, dst, tuple(range(rank)), f"node '{node.name}'", starts=starts, steps=steps)
    return [_copy_call(ctx, node, src.name, dst.name, geometry, None, "")]


@emitter("concat")
def emit_concat(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.ConcatAttrs)
    dst = ctx.graph.tensor(node.outputs[0])
    calls, start = [], 0
    tables = attrs.tables or tuple(None for _ in node.inputs)
    for i, (name, table) in enumerate(zip(node.inputs, tables, strict=True)):
        src = ctx.graph.tensor(name)
        geometry = scatter_into(src, dst, attrs.axis, start, f"node '{node.name}'")
        table_symbol = ctx.const_array(table) if table else None
        comment = f"input {i} '{name}'" + (" requantized through a table" if table else "")
        calls.append(_copy_call(ctx, node, name, dst.name, geometry, table_symbol, comment))
        start += src.shape[attrs.axis]
    return calls


@emitter("table")
def emit_table(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.TableAttrs)
    src, dst = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    view = attrs.view
    geometry = gather(
        src,
        dst,
        tuple(range(len(src.shape))),
        f"node '{node.name}'",
        starts=view.starts or None,
        steps=view.steps or None,
    )
    return [
        _copy_call(
            ctx,
            node,
            src.name,
            dst.name,
            geometry,
            ctx.const_array(attrs.table),
            "requantize through the table (input and output quantized differently)",
        )
    ]
