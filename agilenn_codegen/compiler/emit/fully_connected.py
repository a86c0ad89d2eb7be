"""QGemm / QLinearMatMul -> the optimized fully connected kernel instantiated for the layer, or the
reference agilenn_fully_connected_s8 (or its float-output variant)."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_float, c_struct
from agilenn_codegen.compiler.emit.fast_layout import accumulators_fit, c_words, interior_bias, pack_rows


@emitter("fully_connected")
def emit_fully_connected(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.FullyConnectedAttrs) and attrs.requant is not None
    a, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    assert a.quant is not None
    weights = ctx.graph.constant(node.inputs[1])  # (N, K)
    n, k = weights.shape
    rows = a.size // k
    mult = attrs.requant.multiplier
    input_offset = -a.quant.scalar_zero_point
    if attrs.float_output:
        multiplier, float_multiplier = (
            "NULL",
            ctx.add_array("scale", "float", [c_float(m) for m in mult], "output scale per feature"),
        )
        function, out_type = "agilenn_fully_connected_s8_f32", "float"
    else:
        multiplier = ctx.multipliers("multiplier", mult, "requantization S per output feature")
        float_multiplier = "NULL"
        function, out_type = "agilenn_fully_connected_s8", "int8_t"
    shape = (
        ("rows", str(rows)),
        ("in_features", str(k)),
        ("out_features", str(n)),
        ("input_offset", str(input_offset)),
        ("output_offset", str(attrs.requant.out_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
        ("per_channel", "1" if len(mult) > 1 else "0"),
    )
    args = (ctx.ptr(a.name, const=True), ctx.ptr(y.name))
    bias_name = node.inputs[2] if len(node.inputs) > 2 else ""
    interior = interior_bias(ctx.graph.constant(bias_name) if bias_name else None, weights, input_offset)
    if not ctx.fast or not accumulators_fit(interior, weights):
        params = (
            *shape,
            ("weights", ctx.const_array(node.inputs[1])),
            ("bias", ctx.optional_const(node, 2)),
            ("multiplier", multiplier),
            ("float_multiplier", float_multiplier),
        )
        return [ctx.call(function, "agilenn_fully_connected_params_t", params, args)]
    if ctx.dsp:
        fast_weights = ctx.add_array(
            "fast_weights",
            "agilenn_fast_weight_t",
            c_words(pack_rows(weights)),
            f"'{node.inputs[1]}' as int16 pairs for SMLAD (agilenn_dot_fast.h)",
            4,
        )
        ref_weights = "NULL"
    else:
        ref_weights = fast_weights = ctx.const_array(node.inputs[1])
    interior_symbol = ctx.add_array(
        "interior_bias", "int32_t", [str(int(v)) for v in interior], "bias + input_offset * sum of the row's weights"
    )
    ref = c_struct(
        (
            *shape,
            ("weights", ref_weights),
            ("bias", "NULL"),
            ("multiplier", multiplier),
            ("float_multiplier", float_multiplier),
        )
    )
    params = (("ref", ref), ("interior_bias", interior_symbol), ("fast_weights", fast_weights))
    return [
        ctx.call(
            function,
            "agilenn_fully_connected_fast_params_t",
            params,
            args,
            fast_body=f"{function}_fast_body",
            parameters=("const int8_t *input", f"{out_type} *output"),
        )
    ]
