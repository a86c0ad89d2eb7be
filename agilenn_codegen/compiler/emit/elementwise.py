"""QLinearAdd, QLinearMul and unfused int8 Relu/Clip."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_float


@emitter("add")
def emit_add(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.AddAttrs)
    a, b = node.inputs
    y = ctx.graph.tensor(node.outputs[0])
    params = (
        ("size", str(y.size)),
        ("a_ratio", c_float(attrs.a_ratio)),
        ("b_ratio", c_float(attrs.b_ratio)),
        ("offset", c_float(attrs.offset)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
    )
    return [
        ctx.call(
            "agilenn_add_s8",
            "agilenn_add_params_t",
            params,
            (ctx.ptr(a, const=True), ctx.ptr(b, const=True), ctx.ptr(y.name)),
            fast_body="agilenn_add_s8_fast_body",
            parameters=("const int8_t *a", "const int8_t *b", "int8_t *output"),
        )
    ]


@emitter("mul")
def emit_mul(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.MulAttrs)
    a, b = (ctx.graph.tensor(n) for n in node.inputs)
    y = ctx.graph.tensor(node.outputs[0])
    assert a.quant and b.quant and y.quant
    params = (
        ("size", str(y.size)),
        ("a_scale", c_float(a.quant.scalar_scale)),
        ("b_scale", c_float(b.quant.scalar_scale)),
        ("output_scale", c_float(y.quant.scalar_scale)),
        ("a_zero_point", str(a.quant.scalar_zero_point)),
        ("b_zero_point", str(b.quant.scalar_zero_point)),
        ("output_zero_point", str(y.quant.scalar_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
    )
    return [
        KernelCall(
            "agilenn_mul_s8",
            "agilenn_mul_params_t",
            ctx.symbol(f"{ctx.layer_symbol}_params"),
            params,
            (ctx.ptr(a.name, const=True), ctx.ptr(b.name, const=True), ctx.ptr(y.name)),
        )
    ]


@emitter("clamp")
def emit_clamp(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.ClampAttrs)
    y = ctx.graph.tensor(node.outputs[0])
    params = (("size", str(y.size)), ("lo", str(int(attrs.lo))), ("hi", str(int(attrs.hi))))
    return [
        KernelCall(
            "agilenn_clamp_s8",
            "agilenn_clamp_params_t",
            ctx.symbol(f"{ctx.layer_symbol}_params"),
            params,
            (ctx.ptr(node.inputs[0], const=True), ctx.ptr(y.name)),
        )
    ]
