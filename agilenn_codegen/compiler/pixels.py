"""The uint8 pixel entry point: camera pixels -> the network's int8 input through one table per channel.

When the input normalisation is known (an AgileNN export's agilenn.json, or --input-mean/--input-std/
--input-scale for a plain model), every pixel value p of channel c has one normalised float32 value
x = (p / divisor - mean[c]) / std[c]  (or p * scale when the scale is not written as "1/N"),
computed with exactly the float32 operations PyTorch and numpy perform (each rounded once), and that
float has one QuantizeLinear result. So the whole chain pixel -> float -> int8 is a 256-entry table per
channel, computed here at compile time, and `<name>_run_u8(pixels, ...)` gives byte for byte what
`<name>_run` gives for the normalised float image.

When every table is a byte offset (table[c][p] == p + d_c, the common case of an input quantized at
scale 1/255), the kernel adds the offsets four pixels at a time instead of looking up tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from agilenn_codegen.compiler import ir, numerics
from agilenn_codegen.errors import UserError


@dataclass(frozen=True)
class PixelNormalisation:
    """x = (p * scale - mean[c]) / std[c], or with `divisor` set, (p / divisor - mean[c]) / std[c] (float32)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float | None = None
    divisor: float | None = None

    def describe(self) -> str:
        pixel = f"pixel / {self.divisor:g}" if self.divisor is not None else f"pixel * {self.scale!r}"
        return f"x[c] = ({pixel} - mean[c]) / std[c], mean = {list(self.mean)}, std = {list(self.std)} (float32)"

    def for_channels(self, channels: int, what: str) -> PixelNormalisation:
        """Means and standard deviations broadcast to `channels` (one value serves all)."""

        def expand(values: tuple[float, ...], name: str) -> tuple[float, ...]:
            if len(values) == 1:
                return values * channels
            if len(values) != channels:
                raise UserError(f"{what}: {name} has {len(values)} values; the model's input has {channels} channels")
            return values

        return PixelNormalisation(expand(self.mean, "the mean"), expand(self.std, "the std"), self.scale, self.divisor)

    def normalised(self, channels: int) -> np.ndarray:
        """(channels, 256) float32: the normalised value of every pixel value of every channel."""
        p = np.arange(256, dtype=np.float32)
        if self.divisor is not None:
            t = p / np.float32(self.divisor)
        else:
            t = p * np.float32(self.scale if self.scale is not None else 1.0)
        mean = np.asarray(self.mean, np.float32)[:channels, None]
        std = np.asarray(self.std, np.float32)[:channels, None]
        return ((t[None, :] - mean) / std).astype(np.float32)


def parse_normalisation(
    mean: str | None, std: str | None, scale: str | None, *, what: str = "--input-mean/--input-std/--input-scale"
) -> PixelNormalisation | None:
    """The CLI's three options: comma-separated floats; the scale as a float or as `1/N` (a division by N)."""
    if mean is None and std is None and scale is None:
        return None
    if scale is None:
        raise UserError(f"{what}: give --input-scale too (e.g. 1/255 for pixels divided by 255)")

    def floats(text: str | None, name: str, default: float) -> tuple[float, ...]:
        if text is None:
            return (default,)
        try:
            values = tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise UserError(f"{name} {text!r}: expected comma-separated numbers") from None
        if not values or not all(np.isfinite(values)):
            raise UserError(f"{name} {text!r}: expected finite numbers")
        return values

    means = floats(mean, "--input-mean", 0.0)
    stds = floats(std, "--input-std", 1.0)
    if any(s <= 0 for s in stds):
        raise UserError(f"--input-std {std!r}: standard deviations must be positive")
    text = scale.replace(" ", "")
    try:
        if text.startswith("1/"):
            divisor = float(Fraction(text[2:]))
            if divisor <= 0:
                raise ValueError
            return PixelNormalisation(means, stds, divisor=divisor)
        value = float(text)
        if not np.isfinite(value) or value <= 0:
            raise ValueError
        return PixelNormalisation(means, stds, scale=value)
    except (ValueError, ZeroDivisionError):
        raise UserError(f"--input-scale {scale!r}: expected a positive number, or 1/N for a division by N") from None


def from_agilenn_meta(meta: dict) -> PixelNormalisation | None:
    """The normalisation agilenn.json states (the trainer's: pixel / 255, no resize), or None."""
    norm = (meta.get("input") or {}).get("normalisation") or {}
    if norm.get("in_model") or norm.get("resize_to") or not norm.get("mean") or not norm.get("std"):
        return None
    return PixelNormalisation(
        tuple(float(v) for v in norm["mean"]), tuple(float(v) for v in norm["std"]), divisor=255.0
    )


@dataclass(frozen=True)
class PixelInput:
    """The model's float image input and the QuantizeLinear that reads it (the stage the tables replace)."""

    input: str
    quantize: ir.Node
    channels: int
    height: int
    width: int
    tables: np.ndarray  # (C, 256) int8
    offsets: tuple[int, ...] | None  # d_c when every table is p -> p + d_c, else None


def pixel_input(graph: ir.Graph, norm: PixelNormalisation, what: str) -> PixelInput:
    """Check that `graph` takes one float NCHW image read only by a QuantizeLinear, and build its tables."""
    floats = [n for n in graph.inputs if graph.tensor(n).dtype == ir.DType.FLOAT32]
    if len(graph.inputs) != 1 or len(floats) != 1:
        raise UserError(
            f"{what}: a uint8 pixel entry point needs a model with one float input, not {list(graph.inputs)}"
        )
    name = floats[0]
    shape = graph.tensor(name).shape
    if len(shape) != 4 or shape[0] != 1:
        raise UserError(f"{what}: the input '{name}' has shape {list(shape)}; a pixel entry point needs (1, C, H, W)")
    readers = graph.consumers().get(name, ())
    if len(readers) != 1 or readers[0].op != "quantize" or readers[0] is not graph.nodes[0]:
        raise UserError(f"{what}: the input '{name}' is not read by a single QuantizeLinear first")
    quant = graph.tensor(readers[0].outputs[0]).quant
    assert quant is not None
    channels = shape[1]
    norm = norm.for_channels(channels, what)
    tables = np.stack(
        [numerics.quantize_f32(row, quant.scalar_scale, quant.scalar_zero_point) for row in norm.normalised(channels)]
    )
    return PixelInput(name, readers[0], channels, shape[2], shape[3], tables, byte_offsets(tables))


def byte_offsets(tables: np.ndarray) -> tuple[int, ...] | None:
    """d_c for tables that are all p -> p + d_c exactly (as integers, no wrap-around), else None."""
    p = np.arange(256, dtype=np.int32)
    offsets = []
    for row in np.asarray(tables, np.int32):
        d = row - p
        if not np.all(d == d[0]):
            return None
        offsets.append(int(d[0]))
    return tuple(offsets)


def offset_pattern(offsets: Sequence[int], channels: int) -> list[int]:
    """The per-byte offsets of interleaved pixels as little-endian words, over lcm(channels, 4) bytes (one
    word when every channel has the same offset)."""
    if len(set(offsets)) == 1:
        channels = 1
    period = int(np.lcm(channels, 4))
    pattern = [offsets[i % channels] & 0xFF for i in range(period)]
    return [int.from_bytes(bytes(pattern[i : i + 4]), "little") for i in range(0, period, 4)]
