"""QGemm / QLinearMatMul -> agilenn_fully_connected_s8 (or its float-output variant)."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_float


@emitter("fully_connected")
def emit_fully_connected(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.FullyConnectedAttrs) and attrs.requant is not None
    a, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    assert a.quant is not None
    n, k = ctx.graph.constant(node.inputs[1]).shape
    rows = a.size // k
    mult = attrs.requant.multiplier
    bias = ctx.optional_const(node, 2)
    if attrs.float_output:
        multiplier, float_multiplier = (
            "NULL",
            ctx.add_array("scale", "float", [c_float(m) for m in mult], "output scale per feature"),
        )
        function = "agilenn_fully_connected_s8_f32"
    else:
        multiplier = ctx.multipliers("multiplier", mult, "requantization S per output feature")
        float_multiplier = "NULL"
        function = "agilenn_fully_connected_s8"
    params = (
        ("rows", str(rows)),
        ("in_features", str(k)),
        ("out_features", str(n)),
        ("input_offset", str(-a.quant.scalar_zero_point)),
        ("output_offset", str(attrs.requant.out_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
        ("per_channel", "1" if len(mult) > 1 else "0"),
        ("weights", ctx.const_array(node.inputs[1])),
        ("bias", bias),
        ("multiplier", multiplier),
        ("float_multiplier", float_multiplier),
    )
    return [
        KernelCall(
            function,
            "agilenn_fully_connected_params_t",
            ctx.symbol(f"{ctx.layer_symbol}_params"),
            params,
            (ctx.ptr(a.name, const=True), ctx.ptr(y.name)),
        )
    ]
