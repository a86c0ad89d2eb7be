"""The uint8 pixel entry points: the tables of compiler/pixels.py as a pixel stage in two layouts."""

from __future__ import annotations

from dataclasses import dataclass

from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall
from agilenn_codegen.compiler.emit.geometry import logical_strides
from agilenn_codegen.compiler.pixels import PixelInput, offset_pattern
from agilenn_codegen.errors import UserError


@dataclass(frozen=True)
class PixelEntry:
    suffix: str  # the entry point is <name>_<suffix>
    layout: str  # "interleaved" (H, W, C) or "planar" (C, H, W)
    call: KernelCall
    table_free: bool  # the stage adds byte offsets instead of looking up tables

    @property
    def comment(self) -> str:
        how = "adds the per-channel byte offset, four pixels a word" if self.table_free else "one table lookup a value"
        shape = "(H, W, C), interleaved as cameras deliver them" if self.layout == "interleaved" else "(C, H, W) planes"
        return f"{self.suffix}: uint8 pixels {shape}; the pixel stage {how}"


def emit_pixel_entries(ctx: EmitContext, pixel: PixelInput) -> list[PixelEntry]:
    out = ctx.graph.tensor(pixel.quantize.outputs[0])
    c, h, w = pixel.channels, pixel.height, pixel.width
    strides = logical_strides(out)
    if strides[2] != w * strides[3]:
        raise UserError(f"the network input '{out.name}' has a layout the pixel stage cannot write")
    out_strides = (strides[3], strides[1])  # (pixel, channel)
    ctx.layer_symbol = "pixels"
    tables = ctx.add_array(
        "tables",
        "int8_t",
        [str(int(v)) for v in pixel.tables.reshape(-1)],
        f"[{c}][256]: QuantizeLinear of the normalised value of every pixel value, per channel",
    )
    entries = []
    for suffix, layout, in_strides in (
        ("run_u8", "interleaved", (c, 1)),
        ("run_u8_planar", "planar", (1, h * w)),
    ):
        pattern: list[int] = []
        if pixel.offsets is not None and in_strides == out_strides:
            if layout == "interleaved":
                pattern = offset_pattern(pixel.offsets, c)
            elif c <= 4:
                pattern = [(d & 0xFF) * 0x01010101 for d in pixel.offsets]
            if len(pattern) > 4:
                pattern = []
        params = (
            ("pixels", str(h * w)),
            ("channels", str(c)),
            ("in_pixel_stride", str(in_strides[0])),
            ("in_channel_stride", str(in_strides[1])),
            ("out_pixel_stride", str(out_strides[0])),
            ("out_channel_stride", str(out_strides[1])),
            ("tables", tables),
            ("pattern_words", str(len(pattern))),
            ("pattern", "{" + ", ".join(f"0x{v:08x}u" for v in pattern or [0]) + "}"),
        )
        call = ctx.call(
            "agilenn_pixels_u8_s8",
            "agilenn_pixels_params_t",
            params,
            ("pixels", ctx.ptr(out.name)),
            fast_body="agilenn_pixels_u8_s8_body",
            parameters=("const uint8_t *pixels", "int8_t *output"),
        )
        entries.append(PixelEntry(suffix, layout, call, bool(pattern)))
    return entries
