"""QLinearConv -> agilenn_conv_wrapper_s8 (depthwise / 1x1 / general picked in C)."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall


@emitter("conv")
def emit_conv(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.ConvAttrs) and attrs.requant is not None
    x, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    assert x.quant is not None
    _, c, h, w = x.shape
    _, o, oh, ow = y.shape
    mult = attrs.requant.multiplier
    bias = ctx.optional_const(node, 2)
    params = (
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
        ("input_offset", str(-x.quant.scalar_zero_point)),
        ("output_offset", str(attrs.requant.out_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
        ("per_channel", "1" if len(mult) > 1 else "0"),
        ("weights", ctx.const_array(node.inputs[1])),
        ("bias", bias),
        ("multiplier", ctx.multipliers("multiplier", mult, "requantization S per output channel")),
    )
    return [
        KernelCall(
            "agilenn_conv_wrapper_s8",
            "agilenn_conv_params_t",
            ctx.symbol(f"{ctx.layer_symbol}_params"),
            params,
            (ctx.ptr(x.name, const=True), ctx.ptr(y.name)),
        )
    ]
