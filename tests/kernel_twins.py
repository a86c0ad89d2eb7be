"""Byte-for-byte checks of every optimized kernel (`*_fast`) against its reference kernel, the spec.

A batch of cases becomes one C program: each case's parameters, weights and input are `static const`
data, and `main` runs the reference kernel and the optimized twin on the same input and writes both
outputs (with the status each returned) to twins.bin. The program is built for a target (its own
agilenn_config.h: FPU or not, DSP or not) and run natively or under qemu; the test compares the
outputs. The optimized twins read the compile-time data the code generator would emit (interior
biases, weights in the dot product's layout) from agilenn_codegen.compiler.emit.fast_layout, so those
are checked too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agilenn_codegen.compiler import numerics
from agilenn_codegen.compiler.emit.context import c_float
from agilenn_codegen.compiler.emit.fast_layout import c_words, interior_bias, pack_rows
from agilenn_codegen.paths import RUNTIME_C_DIR
from agilenn_codegen.targets import Target, build_program, run_program


@dataclass(frozen=True)
class Config:
    """The arithmetic a program is built with (agilenn_config.h)."""

    no_fpu: bool
    dsp: bool

    @staticmethod
    def of(target: Target, *, no_fpu: bool | None = None) -> Config:
        return Config(not target.fpu if no_fpu is None else no_fpu, target.dsp)


@dataclass
class Batch:
    config: Config
    lines: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    outputs: list[tuple[str, int, str]] = field(default_factory=list)  # (case label, bytes, kind) per call
    _n: int = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}{self._n}"

    def array(self, c_type: str, values: list[str]) -> str:
        symbol = self.name("a")
        body = ", ".join(values) if values else "0"
        self.lines.append(f"static const {c_type} {symbol}[{max(len(values), 1)}] = {{{body}}};")
        return symbol

    def ints(self, c_type: str, values: np.ndarray) -> str:
        return self.array(c_type, [str(int(v)) for v in np.asarray(values).reshape(-1)])

    def multipliers(self, values: list[float]) -> str:
        if self.config.no_fpu:
            items = []
            for v in values:
                m = numerics.int_multiplier(v)
                items.append(f"{{{m.mantissa}, {m.shift}}}")
            return self.array("agilenn_multiplier_t", items)
        return self.array("agilenn_multiplier_t", [c_float(v) for v in values])

    def multiplier_literal(self, value: float) -> str:
        if self.config.no_fpu:
            m = numerics.int_multiplier(value)
            return f"{{{m.mantissa}, {m.shift}}}"
        return c_float(value)

    def fast_weights(self, rows: np.ndarray) -> str:
        if self.config.dsp:
            return self.array("agilenn_fast_weight_t", c_words(pack_rows(rows)))
        return self.ints("int8_t", rows)

    def params(self, c_type: str, fields: list[tuple[str, str]]) -> str:
        symbol = self.name("p")
        body = ", ".join(f".{k} = {v}" for k, v in fields)
        self.lines.append(f"static const {c_type} {symbol} = {{{body}}};")
        return symbol

    def run(self, label: str, call: str, out_symbol: str, out_bytes: int, kind: str) -> None:
        self.calls.append(f"    put(f, (int32_t)({call}), {out_symbol}, {out_bytes}u);")
        self.outputs.append((label, out_bytes, kind))

    def buffer(self, c_type: str, count: int) -> str:
        symbol = self.name("o")
        self.lines.append(f"static {c_type} {symbol}[{max(count, 1)}];")
        return symbol

    def source(self) -> str:
        return "\n".join(
            [
                "#include <math.h>",
                "#include <stdio.h>",
                '#include "agilenn_runtime.h"',
                "static void put(FILE *f, int32_t status, const void *out, size_t bytes)",
                "{",
                "    fwrite(&status, sizeof status, 1, f);",
                "    fwrite(out, 1, bytes, f);",
                "}",
                *self.lines,
                "int main(void)",
                "{",
                '    FILE *f = fopen("twins.bin", "wb");',
                "    if (f == NULL) {",
                "        return 3;",
                "    }",
                *self.calls,
                "    return fclose(f) == 0 ? 0 : 4;",
                "}",
                "",
            ]
        )


# ---- cases --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvCase:
    in_h: int
    in_w: int
    in_c: int
    out_c: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    groups: int
    input_offset: int
    output_offset: int
    act: tuple[int, int]
    weights: np.ndarray  # (out_c, kh, kw, in_c / groups) int8
    bias: np.ndarray | None  # (out_c,) int32
    multipliers: list[float]
    input: np.ndarray  # (in_h, in_w, in_c) int8

    @property
    def out_h(self) -> int:
        return (self.in_h + self.pads[0] + self.pads[2] - self.dilations[0] * (self.kernel[0] - 1) - 1) // self.strides[
            0
        ] + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + self.pads[1] + self.pads[3] - self.dilations[1] * (self.kernel[1] - 1) - 1) // self.strides[
            1
        ] + 1

    def variants(self) -> list[str]:
        """The optimized kernels that accept this convolution."""
        out = ["agilenn_conv_s8_fast"]
        if self.groups == self.in_c == self.out_c and self.kernel[0] * self.kernel[1] <= 25:
            out.append("agilenn_depthwise_conv_s8_fast")
        if (
            self.kernel == (1, 1)
            and self.strides == (1, 1)
            and self.pads[:2] == (0, 0)
            and self.groups == 1
            and (self.out_h, self.out_w) == (self.in_h, self.in_w)
        ):
            out.append("agilenn_conv_1x1_s8_fast")
        return out


def add_conv(batch: Batch, label: str, case: ConvCase) -> None:
    fields = [
        ("in_h", str(case.in_h)),
        ("in_w", str(case.in_w)),
        ("in_c", str(case.in_c)),
        ("out_h", str(case.out_h)),
        ("out_w", str(case.out_w)),
        ("out_c", str(case.out_c)),
        ("kernel_h", str(case.kernel[0])),
        ("kernel_w", str(case.kernel[1])),
        ("stride_h", str(case.strides[0])),
        ("stride_w", str(case.strides[1])),
        ("pad_top", str(case.pads[0])),
        ("pad_left", str(case.pads[1])),
        ("dilation_h", str(case.dilations[0])),
        ("dilation_w", str(case.dilations[1])),
        ("groups", str(case.groups)),
        ("input_offset", str(case.input_offset)),
        ("output_offset", str(case.output_offset)),
        ("act_min", str(case.act[0])),
        ("act_max", str(case.act[1])),
        ("per_channel", "1" if len(case.multipliers) > 1 else "0"),
        ("weights", batch.ints("int8_t", case.weights)),
        ("bias", batch.ints("int32_t", case.bias) if case.bias is not None else "NULL"),
        ("multiplier", batch.multipliers(case.multipliers)),
    ]
    ref = batch.params("agilenn_conv_params_t", fields)
    interior = batch.ints("int32_t", interior_bias(case.bias, case.weights, case.input_offset))
    rows = case.weights.reshape(-1, case.weights.shape[-1])
    fast = batch.params(
        "agilenn_conv_fast_params_t",
        [
            ("ref", "{" + ", ".join(f".{k} = {v}" for k, v in fields) + "}"),
            ("interior_bias", interior),
            ("fast_weights", batch.fast_weights(rows)),
        ],
    )
    x = batch.ints("int8_t", case.input)
    size = case.out_h * case.out_w * case.out_c
    out = batch.buffer("int8_t", size)
    batch.run(f"{label} reference", f"agilenn_conv_s8(&{ref}, {x}, {out})", out, size, "reference")
    for function in case.variants():
        out = batch.buffer("int8_t", size)
        batch.run(f"{label} {function}", f"{function}(&{fast}, {x}, {out})", out, size, "twin")


@dataclass(frozen=True)
class FullyConnectedCase:
    rows: int
    in_features: int
    out_features: int
    input_offset: int
    output_offset: int
    act: tuple[int, int]
    weights: np.ndarray  # (N, K)
    bias: np.ndarray | None
    multipliers: list[float]
    float_output: bool
    input: np.ndarray  # (rows, K)


def add_fully_connected(batch: Batch, label: str, case: FullyConnectedCase) -> None:
    mult = "NULL" if case.float_output else batch.multipliers(case.multipliers)
    fmult = batch.array("float", [c_float(m) for m in case.multipliers]) if case.float_output else "NULL"
    fields = [
        ("rows", str(case.rows)),
        ("in_features", str(case.in_features)),
        ("out_features", str(case.out_features)),
        ("input_offset", str(case.input_offset)),
        ("output_offset", str(case.output_offset)),
        ("act_min", str(case.act[0])),
        ("act_max", str(case.act[1])),
        ("per_channel", "1" if len(case.multipliers) > 1 else "0"),
        ("weights", batch.ints("int8_t", case.weights)),
        ("bias", batch.ints("int32_t", case.bias) if case.bias is not None else "NULL"),
        ("multiplier", mult),
        ("float_multiplier", fmult),
    ]
    ref = batch.params("agilenn_fully_connected_params_t", fields)
    fast = batch.params(
        "agilenn_fully_connected_fast_params_t",
        [
            ("ref", "{" + ", ".join(f".{k} = {v}" for k, v in fields) + "}"),
            ("interior_bias", batch.ints("int32_t", interior_bias(case.bias, case.weights, case.input_offset))),
            ("fast_weights", batch.fast_weights(case.weights)),
        ],
    )
    x = batch.ints("int8_t", case.input)
    count = case.rows * case.out_features
    suffix, c_type, size = ("_f32", "float", 4 * count) if case.float_output else ("", "int8_t", count)
    for kind, function, params in (
        ("reference", f"agilenn_fully_connected_s8{suffix}", ref),
        ("twin", f"agilenn_fully_connected_s8{suffix}_fast", fast),
    ):
        out = batch.buffer(c_type, count)
        batch.run(f"{label} {function}", f"{function}(&{params}, {x}, {out})", out, size, kind)


@dataclass(frozen=True)
class GlobalAvgPoolCase:
    pixels: int
    channels: int
    pixel_stride: int  # the twin reads channels [offset, offset + channels) of pixels pixel_stride apart
    offset: int
    input_zero_point: int
    output_zero_point: int
    act: tuple[int, int]
    multiplier: float
    input: np.ndarray  # (pixels, pixel_stride)


def add_global_avgpool(batch: Batch, label: str, case: GlobalAvgPoolCase) -> None:
    fields = [
        ("pixels", str(case.pixels)),
        ("pixel_stride", str(case.pixel_stride)),
        ("channels", str(case.channels)),
        ("input_zero_point", str(case.input_zero_point)),
        ("output_zero_point", str(case.output_zero_point)),
        ("act_min", str(case.act[0])),
        ("act_max", str(case.act[1])),
        ("multiplier", batch.multiplier_literal(case.multiplier)),
    ]
    p = batch.params("agilenn_global_avgpool_params_t", fields)
    full = batch.ints("int8_t", case.input)
    for kind, function in (("reference", "agilenn_global_avgpool_s8"), ("twin", "agilenn_global_avgpool_s8_fast")):
        out = batch.buffer("int8_t", case.channels)
        batch.run(f"{label} {function}", f"{function}(&{p}, {full} + {case.offset}, {out})", out, case.channels, kind)


@dataclass(frozen=True)
class AddCase:
    params: numerics.AddParams
    act: tuple[int, int]
    a: np.ndarray
    b: np.ndarray


def add_add(batch: Batch, label: str, case: AddCase) -> None:
    size = case.a.size
    p = batch.params(
        "agilenn_add_params_t",
        [
            ("size", str(size)),
            ("a_ratio", c_float(case.params.a_ratio)),
            ("b_ratio", c_float(case.params.b_ratio)),
            ("offset", c_float(case.params.offset)),
            ("act_min", str(case.act[0])),
            ("act_max", str(case.act[1])),
        ],
    )
    a, b = batch.ints("int8_t", case.a), batch.ints("int8_t", case.b)
    for kind, function in (("reference", "agilenn_add_s8"), ("twin", "agilenn_add_s8_fast")):
        out = batch.buffer("int8_t", size)
        batch.run(f"{label} {function}", f"{function}(&{p}, {a}, {b}, {out})", out, size, kind)


@dataclass(frozen=True)
class StridedCase:
    """A 4-D strided space: a copy (optionally through a table), a quantize or a dequantize."""

    dims: tuple[int, int, int, int]
    src_strides: tuple[int, int, int, int]
    dst_strides: tuple[int, int, int, int]
    src_size: int
    dst_size: int
    kind: str  # "copy", "table", "quantize", "dequantize"
    source: np.ndarray  # int8, or float32 for quantize
    table: np.ndarray | None = None
    scale: float = 1.0
    zero_point: int = 0


def add_strided(batch: Batch, label: str, case: StridedCase) -> None:
    def arr(v: tuple[int, ...]) -> str:
        return "{" + ", ".join(str(x) for x in v) + "}"

    geometry = (
        f"{{.dims = {arr(case.dims)}, .src_strides = {arr(case.src_strides)}, .dst_strides = {arr(case.dst_strides)}, "
        ".src_offset = 0, .dst_offset = 0}"
    )
    if case.kind in ("copy", "table"):
        table = batch.ints("int8_t", case.table) if case.table is not None else "NULL"
        p = batch.params("agilenn_copy_params_t", [("geometry", geometry), ("element_size", "1"), ("table", table)])
        src = batch.ints("int8_t", case.source)
        pairs = (("reference", "agilenn_copy_strided"), ("twin", "agilenn_copy_strided_fast"))
        out_type, item = "int8_t", 1
        call = "{f}(&{p}, (const void *){src}, (void *){out})"
    else:
        p = batch.params(
            "agilenn_quantization_params_t",
            [("geometry", geometry), ("scale", c_float(case.scale)), ("zero_point", str(case.zero_point))],
        )
        if case.kind == "quantize":
            src = batch.array("float", [_c_float_any(v) for v in case.source.reshape(-1)])
            pairs = (("reference", "agilenn_quantize_f32_s8"), ("twin", "agilenn_quantize_f32_s8_fast"))
            out_type, item = "int8_t", 1
        else:
            src = batch.ints("int8_t", case.source)
            pairs = (("reference", "agilenn_dequantize_s8_f32"), ("twin", "agilenn_dequantize_s8_f32_fast"))
            out_type, item = "float", 4
        call = "{f}(&{p}, {src}, {out})"
    for kind, function in pairs:
        out = batch.buffer(out_type, case.dst_size)
        batch.run(
            f"{label} {function}", call.format(f=function, p=p, src=src, out=out), out, case.dst_size * item, kind
        )


def _c_float_any(v: float) -> str:
    """A float32 literal that also covers NaN and infinities (quantize inputs)."""
    v = float(np.float32(v))
    if np.isnan(v):
        return "NAN"
    return c_float(v)


# ---- building and running ----------------------------------------------------------------------------


def run_batch(batch: Batch, target: Target, work: Path, *, sanitize: bool = False) -> list[tuple[str, str, bytes, int]]:
    """Build and run the batch; returns (label, kind, output bytes, status) per call."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "agilenn_config.h").write_text(
        f"#define AGILENN_NO_FPU {int(batch.config.no_fpu)}\n#define AGILENN_USE_DSP {int(batch.config.dsp)}\n"
    )
    main = work / "twins_main.c"
    main.write_text(batch.source())
    runtime = sorted(p for p in RUNTIME_C_DIR.rglob("*.c") if "port" not in p.relative_to(RUNTIME_C_DIR).parts)
    includes = [work, *sorted({p.parent for p in RUNTIME_C_DIR.rglob("*.h")})]
    elf = build_program(target, [main, *runtime], includes, work / "build", sanitize=sanitize)
    result = run_program(target, elf, work, timeout_s=600)
    if result.returncode != 0:
        raise AssertionError(f"twin program failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    raw = (work / "twins.bin").read_bytes()
    outputs, offset = [], 0
    for label, size, kind in batch.outputs:
        (status,) = struct.unpack_from("<i", raw, offset)
        outputs.append((label, kind, raw[offset + 4 : offset + 4 + size], status))
        offset += 4 + size
    assert offset == len(raw), f"twins.bin has {len(raw)} bytes, expected {offset}"
    return outputs


def compare(outputs: list[tuple[str, str, bytes, int]]) -> None:
    """Every twin's output equals the reference output before it, byte for byte, and both returned OK."""
    reference: bytes | None = None
    for label, kind, data, status in outputs:
        assert status == 0, f"{label} returned status {status}"
        if kind == "reference":
            reference = data
            continue
        assert reference is not None
        if data != reference:
            got, want = np.frombuffer(data, np.uint8), np.frombuffer(reference, np.uint8)
            where = int(np.argmax(got != want))
            raise AssertionError(f"{label}: differs from the reference at byte {where} of {len(data)}")
