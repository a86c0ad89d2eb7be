"""Helpers shared by the op parsers: attribute reading, spatial geometry, activation typing."""

from __future__ import annotations

import math

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.errors import UserError


def require_4d(node: OnnxNode, tensor: ir.Tensor) -> tuple[int, int, int, int]:
    if len(tensor.shape) != 4:
        raise UserError(
            f"{node.label}: input '{tensor.name}' has shape {list(tensor.shape)}; only 2-D spatial "
            "(N, C, H, W) tensors are supported"
        )
    n, c, h, w = tensor.shape
    if n != 1:
        raise UserError(f"{node.label}: batch size {n}; the generated code runs one sample per call (batch 1)")
    return n, c, h, w


def activation(node: OnnxNode, builder: GraphBuilder, index: int) -> ir.Tensor:
    """An activation input: int8 (quantized), or float32 when it comes from a DequantizeLinear (QDQ)."""
    tensor = builder.tensor(node, node.input(index))
    if tensor.dtype == ir.DType.UINT8:
        raise UserError(
            f"{node.label}: input '{tensor.name}' is uint8; the compiler supports int8 activations",
            hint="quantize with int8 activations: agilenn quantize (its default) or activation_type=QInt8",
        )
    return tensor


def int_pair(node: OnnxNode, key: str, default: tuple[int, int], *, minimum: int | None = None) -> tuple[int, int]:
    """A 2-element int attribute; with `minimum`, both values must be at least that."""
    value = node.attr(key)
    if value is None:
        return default
    if len(value) != 2:
        raise UserError(f"{node.label}: attribute {key}={list(value)}; only 2-D spatial ops are supported")
    pair = int(value[0]), int(value[1])
    if minimum is not None and min(pair) < minimum:
        what = "positive" if minimum == 1 else f"at least {minimum}"
        raise UserError(f"{node.label}: attribute {key}={list(pair)}; each value must be {what}")
    return pair


def spatial_geometry(
    node: OnnxNode,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    *,
    ceil_mode: bool = False,
) -> tuple[tuple[int, int], tuple[int, int, int, int], tuple[int, int], tuple[int, int]]:
    """Resolve strides, pads (top, left, bottom, right), dilations and the output size."""
    strides = int_pair(node, "strides", (1, 1), minimum=1)
    dilations = int_pair(node, "dilations", (1, 1), minimum=1)
    if min(kernel) < 1:
        raise UserError(f"{node.label}: kernel {list(kernel)}; each kernel size must be positive")
    auto_pad = node.attr("auto_pad", "NOTSET")
    eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = tuple(math.ceil(i / s) for i, s in zip(in_hw, strides, strict=True))
        total = [max((o - 1) * s + e - i, 0) for o, s, e, i in zip(out, strides, eff, in_hw, strict=True)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        if auto_pad == "SAME_UPPER":
            pads = (small[0], small[1], big[0], big[1])
        else:
            pads = (big[0], big[1], small[0], small[1])
    elif auto_pad == "VALID":
        pads = (0, 0, 0, 0)
    elif auto_pad in ("NOTSET", ""):
        raw = node.attr("pads", (0, 0, 0, 0))
        if len(raw) != 4:
            raise UserError(f"{node.label}: pads={list(raw)}; only 2-D spatial ops are supported")
        pads = (int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]))
        if min(pads) < 0:
            raise UserError(f"{node.label}: pads={list(pads)}; negative padding is not supported")
    else:
        raise UserError(f"{node.label}: auto_pad={auto_pad} is not supported")
    rounding = math.ceil if ceil_mode else math.floor
    out_hw = []
    for axis in range(2):
        span = in_hw[axis] + pads[axis] + pads[axis + 2] - eff[axis]
        if span < 0:
            raise UserError(f"{node.label}: kernel {kernel} does not fit the padded input {in_hw}")
        size = int(rounding(span / strides[axis])) + 1
        if ceil_mode and (size - 1) * strides[axis] >= in_hw[axis] + pads[axis]:
            size -= 1  # the last window must start inside the input or its left padding
        out_hw.append(size)
    return strides, pads, dilations, (out_hw[0], out_hw[1])


def output_like(
    builder: GraphBuilder, name: str, source: ir.Tensor, shape: tuple[int, ...], quant: ir.QParams | None
) -> ir.Tensor:
    return builder.add_tensor(ir.Tensor(name, source.dtype, shape, quant))


def quantized_output(builder: GraphBuilder, name: str, shape: tuple[int, ...], quant: ir.QParams) -> ir.Tensor:
    if quant.zero_point and not -128 <= quant.zero_point[0] <= 127:
        raise UserError(f"tensor '{name}': zero point {quant.zero_point[0]} is outside int8")
    return builder.add_tensor(ir.Tensor(name, ir.DType.INT8, shape, quant))


def check_symmetric_weight(node: OnnxNode, name: str, quant: ir.QParams) -> None:
    nonzero = sorted({z for z in quant.zero_point if z != 0})
    if nonzero:
        shown = ", ".join(str(z) for z in nonzero[:4]) + (", ..." if len(nonzero) > 4 else "")
        raise UserError(
            f"{node.label}: weight '{name}' has non-zero zero points ({shown}); the runtime supports "
            "symmetric weights (zero point 0)",
            hint="quantize with symmetric weights (agilenn quantize does)",
        )
