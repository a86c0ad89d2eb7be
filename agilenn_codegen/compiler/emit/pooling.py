"""Global average, average and max pooling."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_float


@emitter("global_avgpool")
def emit_global_avgpool(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.GlobalAvgPoolAttrs) and attrs.requant is not None
    x, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    assert x.quant is not None
    _, c, h, w = x.shape
    channels = y.shape[1]
    fields = (
        ("pixels", str(h * w)),
        ("pixel_stride", str(c)),
        ("channels", str(channels)),
        ("input_zero_point", str(x.quant.scalar_zero_point)),
        ("output_zero_point", str(attrs.requant.out_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
        ("multiplier", ctx.multiplier_literal(attrs.requant.multiplier[0])),
    )
    source = ctx.ptr(x.name, const=True)
    if attrs.channel_offset:
        source = f"{source} + {attrs.channel_offset}"
    args = (source, ctx.ptr(y.name))
    comment = f"channels [{attrs.channel_offset}, {attrs.channel_offset + channels}) of {c}" if channels != c else ""
    return [
        ctx.call(
            "agilenn_global_avgpool_s8",
            "agilenn_global_avgpool_params_t",
            fields,
            args,
            fast_body="agilenn_global_avgpool_s8_fast_body",
            parameters=("const int8_t *input", "int8_t *output"),
            comment=comment,
        )
    ]


@emitter("avgpool", "maxpool")
def emit_pool(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    attrs = node.attrs
    assert isinstance(attrs, ir.AvgPoolAttrs | ir.MaxPoolAttrs)
    x, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    assert x.quant is not None and y.quant is not None
    _, c, h, w = x.shape
    _, _, oh, ow = y.shape
    dil = attrs.dilations if isinstance(attrs, ir.MaxPoolAttrs) else (1, 1)
    include_pad = isinstance(attrs, ir.AvgPoolAttrs) and attrs.count_include_pad
    params = (
        ("in_h", str(h)),
        ("in_w", str(w)),
        ("channels", str(c)),
        ("out_h", str(oh)),
        ("out_w", str(ow)),
        ("kernel_h", str(attrs.kernel[0])),
        ("kernel_w", str(attrs.kernel[1])),
        ("stride_h", str(attrs.strides[0])),
        ("stride_w", str(attrs.strides[1])),
        ("pad_top", str(attrs.pads[0])),
        ("pad_left", str(attrs.pads[1])),
        ("pad_bottom", str(attrs.pads[2])),
        ("pad_right", str(attrs.pads[3])),
        ("dilation_h", str(dil[0])),
        ("dilation_w", str(dil[1])),
        ("count_include_pad", "1" if include_pad else "0"),
        ("input_scale", c_float(x.quant.scalar_scale)),
        ("input_zero_point", str(x.quant.scalar_zero_point)),
        ("output_scale", c_float(y.quant.scalar_scale)),
        ("output_zero_point", str(y.quant.scalar_zero_point)),
        ("act_min", str(attrs.act_min)),
        ("act_max", str(attrs.act_max)),
    )
    function = "agilenn_avgpool_s8" if node.op == "avgpool" else "agilenn_maxpool_s8"
    return [
        ctx.call(
            function,
            "agilenn_pool_params_t",
            params,
            (ctx.ptr(x.name, const=True), ctx.ptr(y.name)),
            fast_body=f"{function}_body",
            parameters=("const int8_t *input", "int8_t *output"),
        )
    ]
