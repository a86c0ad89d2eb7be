"""QuantizeLinear / DequantizeLinear at the model's boundaries (with the layout change folded in)."""

from __future__ import annotations

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import emitter
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_float
from agilenn_codegen.compiler.emit.geometry import gather


def _call(
    node: ir.Node, ctx: EmitContext, function: str, quant: ir.QParams, view: ir.SourceView = ir.SourceView()
) -> list[KernelCall]:
    src, dst = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.outputs[0])
    geometry = gather(
        src,
        dst,
        tuple(range(len(src.shape))),
        f"node '{node.name}'",
        starts=view.starts or None,
        steps=view.steps or None,
    )
    in_type = "float" if src.dtype == ir.DType.FLOAT32 else "int8_t"
    out_type = "int8_t" if in_type == "float" else "float"
    return [
        ctx.call(
            function,
            "agilenn_quantization_params_t",
            (
                ("geometry", geometry.c_init()),
                ("scale", c_float(quant.scalar_scale)),
                ("zero_point", str(quant.scalar_zero_point)),
            ),
            (ctx.ptr(src.name, in_type, const=True), ctx.ptr(dst.name)),
            fast_body=f"{function}_fast_body",
            parameters=(f"const {in_type} *input", f"{out_type} *output"),
        )
    ]


@emitter("quantize")
def emit_quantize(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    quant = ctx.graph.tensor(node.outputs[0]).quant
    assert quant is not None
    return _call(node, ctx, "agilenn_quantize_f32_s8", quant)


@emitter("dequantize")
def emit_dequantize(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    quant = ctx.graph.tensor(node.inputs[0]).quant
    assert quant is not None and isinstance(node.attrs, ir.DequantizeAttrs)
    return _call(node, ctx, "agilenn_dequantize_s8_f32", quant, node.attrs.view)
