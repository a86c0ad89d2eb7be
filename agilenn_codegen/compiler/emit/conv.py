"""QLinearConv -> an optimized kernel instantiated for the layer (depthwise, 1x1 or general, picked here
from the shapes), or the reference agilenn_conv_wrapper_s8 (which picks in C)."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_struct
from agilenn_codegen.compiler.emit.fast_layout import accumulators_fit, c_words, interior_bias, pack_rows

DEPTHWISE_MAX_TAPS = 25  # AGILENN_DW_MAX_TAPS of agilenn_conv_fast.h

FAST_BODIES = {
    "depthwise": "agilenn_depthwise_conv_s8_fast_body",
    "1x1": "agilenn_conv_1x1_s8_fast_body",
    "general": "agilenn_conv_s8_fast_body",
}


def conv_variant(attrs: ir.ConvAttrs, in_c: int, out_c: int, same_size: bool) -> str:
    """The kernel family the shapes call for (the predicates of agilenn_conv_wrapper_s8, made at compile time)."""
    if attrs.group == in_c and out_c == in_c and attrs.kernel[0] * attrs.kernel[1] <= DEPTHWISE_MAX_TAPS:
        return "depthwise"  # one filter per channel (a single-channel convolution is one too)
    one = attrs.kernel == (1, 1) and attrs.strides == (1, 1) and attrs.pads[:2] == (0, 0)
    if one and attrs.group == 1 and same_size:
        return "1x1"
    return "general"


@emitter("conv")
def emit_conv(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.ConvAttrs) and attrs.requant is not None
    x, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    assert x.quant is not None
    _, c, h, w = x.shape
    _, o, oh, ow = y.shape
    mult = attrs.requant.multiplier
    input_offset = -x.quant.scalar_zero_point
    shape = (
        ("in_h", str(h)),
        ("in_w", str(w)),
        ("in_c", str(c)),
        ("out_h", str(oh)),
        ("out_w", str(ow)),
        ("out_c", str(o)),
        ("kernel_h", str(attrs.kernel[0])),
        ("kernel_w", str(attrs.kernel[1])),
        ("stride_h", str(attrs.strides[0])),
        ("stride_w", str(attrs.strides[1])),
        ("pad_top", str(attrs.pads[0])),
        ("pad_left", str(attrs.pads[1])),
        ("dilation_h", str(attrs.dilations[0])),
        ("dilation_w", str(attrs.dilations[1])),
        ("groups", str(attrs.group)),
        ("input_offset", str(input_offset)),
        ("output_offset", str(attrs.requant.out_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
        ("per_channel", "1" if len(mult) > 1 else "0"),
    )
    multiplier = ("multiplier", ctx.multipliers("multiplier", mult, "requantization S per output channel"))
    args = (ctx.ptr(x.name, const=True), ctx.ptr(y.name))
    weights = ctx.graph.constant(node.inputs[1])  # (O, KH, KW, I/group) after the layout pass
    bias_name = node.inputs[2] if len(node.inputs) > 2 else ""
    bias = ctx.graph.constant(bias_name) if bias_name else None
    interior = interior_bias(bias, weights, input_offset)
    if not ctx.fast or not accumulators_fit(interior, weights):
        params = (
            *shape,
            ("weights", ctx.const_array(node.inputs[1])),
            ("bias", ctx.optional_const(node, 2)),
            multiplier,
        )
        return [
            KernelCall(
                "agilenn_conv_wrapper_s8",
                "agilenn_conv_params_t",
                ctx.symbol(f"{ctx.layer_symbol}_params"),
                params,
                args,
            )
        ]

    variant = conv_variant(attrs, c, o, (oh, ow) == (h, w))
    rows = weights.reshape(-1, weights.shape[-1])  # one row per (oc, ky, kx): the input channels of a group
    if variant == "depthwise":
        ref_weights, ref_bias, fast_weights = ctx.const_array(node.inputs[1]), ctx.optional_const(node, 2), "NULL"
    elif ctx.dsp:
        fast_weights = ctx.add_array(
            "fast_weights",
            "agilenn_fast_weight_t",
            c_words(pack_rows(rows)),
            f"'{node.inputs[1]}' as int16 pairs for SMLAD (agilenn_dot_fast.h)",
            4,
        )
        if variant == "1x1":  # no border outputs: the reference weights and bias are never read
            ref_weights, ref_bias = "NULL", "NULL"
        else:
            ref_weights, ref_bias = ctx.const_array(node.inputs[1]), ctx.optional_const(node, 2)
    else:
        ref_weights, ref_bias = ctx.const_array(node.inputs[1]), ctx.optional_const(node, 2)
        fast_weights = ref_weights  # the plain int8 rows are the portable kernels' layout
    interior_symbol = ctx.add_array(
        "interior_bias",
        "int32_t",
        [str(int(v)) for v in interior],
        "bias + input_offset * sum of weights, per output channel (outputs whose window is inside the input)",
    )
    ref = c_struct((*shape, ("weights", ref_weights), ("bias", ref_bias), multiplier))
    params = (("ref", ref), ("interior_bias", interior_symbol), ("fast_weights", fast_weights))
    return [
        KernelCall(
            ctx.layer_function(f"conv_{variant}"),
            "agilenn_conv_fast_params_t",
            ctx.symbol(f"{ctx.layer_symbol}_params"),
            params,
            args,
            body=FAST_BODIES[variant],
            parameters=("const int8_t *input", "int8_t *output"),
        )
    ]
