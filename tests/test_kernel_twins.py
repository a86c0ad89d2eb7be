"""Every optimized kernel equals its reference kernel byte for byte, on hypothesis-drawn shapes and data.

On the host under ASan/UBSan (with the FPU arithmetic and with the integer-only arithmetic of FPU-less
cores), and on the emulated Cortex-M7, M4F, M33 (DSP extension: SMLAD on packed weights, VCVTR
rounding) and M3 (no FPU, no DSP). Multipliers include exact powers of two, so that products land on
ties; data include all-minimum and all-maximum inputs, so that accumulators saturate the output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_twins import (
    AddCase,
    Batch,
    Config,
    ConvCase,
    FullyConnectedCase,
    GlobalAvgPoolCase,
    StridedCase,
    add_add,
    add_conv,
    add_fully_connected,
    add_global_avgpool,
    add_strided,
    compare,
    run_batch,
)

from agilenn_codegen.compiler import numerics
from agilenn_codegen.targets import load_target

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}


def _data(rng: np.random.Generator, shape: tuple[int, ...], flavour: int) -> np.ndarray:
    if flavour == 1:
        return np.full(shape, -128, np.int8)
    if flavour == 2:
        return np.full(shape, 127, np.int8)
    return rng.integers(-128, 128, size=shape).astype(np.int8)


@st.composite
def multipliers(draw: st.DrawFn, count: int) -> list[float]:
    kind = draw(st.sampled_from(["random", "power_of_two", "large"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "power_of_two":  # products land exactly on .5: round-half-to-even is exercised
        return [float(np.float32(2.0 ** -int(e))) for e in rng.integers(1, 12, size=count)]
    top = 16.0 if kind == "large" else 0.05
    return [float(np.float32(v)) for v in rng.uniform(1e-6, top, size=count)]


@st.composite
def activation(draw: st.DrawFn) -> tuple[int, int]:
    if draw(st.booleans()):
        return (-128, 127)
    lo = draw(st.integers(-128, 127))
    return (lo, draw(st.integers(lo, 127)))


@st.composite
def conv_cases(draw: st.DrawFn) -> ConvCase:
    kind = draw(st.sampled_from(["general", "depthwise", "pointwise", "grouped"]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilations = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    in_c = draw(st.integers(1, 12))
    out_c = draw(st.integers(1, 10))
    groups = 1
    if kind == "depthwise":
        in_c = out_c = groups = draw(st.integers(2, 9))
    elif kind == "grouped":
        groups = draw(st.integers(2, 3))
        in_c, out_c = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4))
    elif kind == "pointwise":
        kh = kw = 1
        strides, pads, dilations = (1, 1), (0, 0, 0, 0), (1, 1)
    span_h, span_w = dilations[0] * (kh - 1) + 1, dilations[1] * (kw - 1) + 1
    in_h = draw(st.integers(max(1, span_h - pads[0] - pads[2]), 11))
    in_w = draw(st.integers(max(1, span_w - pads[1] - pads[3]), 11))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    flavour = draw(st.integers(0, 3))
    weights = rng.integers(-127, 128, size=(out_c, kh, kw, in_c // groups)).astype(np.int8)
    bias = rng.integers(-20000, 20000, size=out_c).astype(np.int32) if draw(st.booleans()) else None
    per_channel = draw(st.booleans())
    mults = draw(multipliers(out_c if per_channel else 1))
    return ConvCase(
        in_h,
        in_w,
        in_c,
        out_c,
        (kh, kw),
        strides,
        pads,
        dilations,
        groups,  # type: ignore[arg-type]
        input_offset=draw(st.integers(-127, 128)),
        output_offset=draw(st.integers(-128, 127)),
        act=draw(activation()),
        weights=weights,
        bias=bias,
        multipliers=mults,
        input=_data(rng, (in_h, in_w, in_c), flavour),
    )


@st.composite
def fully_connected_cases(draw: st.DrawFn) -> FullyConnectedCase:
    rows, k, n = draw(st.integers(1, 3)), draw(st.integers(1, 40)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_channel = draw(st.booleans())
    return FullyConnectedCase(
        rows,
        k,
        n,
        input_offset=draw(st.integers(-127, 128)),
        output_offset=draw(st.integers(-128, 127)),
        act=draw(activation()),
        weights=rng.integers(-127, 128, size=(n, k)).astype(np.int8),
        bias=rng.integers(-50000, 50000, size=n).astype(np.int32) if draw(st.booleans()) else None,
        multipliers=draw(multipliers(n if per_channel else 1)),
        float_output=draw(st.booleans()),
        input=_data(rng, (rows, k), draw(st.integers(0, 3))),
    )


@st.composite
def global_avgpool_cases(draw: st.DrawFn) -> GlobalAvgPoolCase:
    pixels, channels = draw(st.integers(1, 60)), draw(st.integers(1, 20))
    offset = draw(st.integers(0, 4))
    stride = channels + offset + draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    zp = draw(st.integers(-128, 127))
    x_scale, y_scale = draw(st.floats(1e-3, 1.0)), draw(st.floats(1e-3, 1.0))
    return GlobalAvgPoolCase(
        pixels,
        channels,
        stride,
        offset,
        zp,
        output_zero_point=draw(st.integers(-128, 127)),
        act=draw(activation()),
        multiplier=numerics.global_avgpool_multiplier(x_scale, y_scale, pixels),
        input=_data(rng, (pixels, stride), draw(st.integers(0, 3))),
    )


@st.composite
def add_cases(draw: st.DrawFn) -> AddCase:
    size = draw(st.integers(1, 64))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scales = [draw(st.floats(1e-3, 1.0)) for _ in range(3)]
    zps = [draw(st.integers(-128, 127)) for _ in range(3)]
    params = numerics.add_params(scales[0], zps[0], scales[1], zps[1], scales[2], zps[2])
    flavour = draw(st.integers(0, 3))
    return AddCase(params, draw(activation()), _data(rng, (size,), flavour), _data(rng, (size,), flavour))


@st.composite
def strided_cases(draw: st.DrawFn) -> StridedCase:
    """A transpose of a small 4-D block, through a table, a quantization or a dequantization."""
    dims = tuple(draw(st.integers(1, 4)) for _ in range(4))
    perm = draw(st.permutations(range(4)))
    src_strides = [0] * 4
    step = 1
    for axis in reversed(range(4)):
        src_strides[axis] = step
        step *= dims[axis]
    dst_strides = [0] * 4
    step = 1
    for axis in reversed(perm):
        dst_strides[axis] = step
        step *= dims[axis]
    size = int(np.prod(dims))
    kind = draw(st.sampled_from(["copy", "table", "quantize", "dequantize"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale, zp = float(np.float32(draw(st.floats(1e-3, 2.0)))), draw(st.integers(-128, 127))
    if kind == "quantize":
        source = rng.uniform(-300 * scale, 300 * scale, size=size).astype(np.float32)
        special = np.array([np.nan, np.inf, -np.inf, 0.5 * scale, 1.5 * scale, -2.5 * scale], np.float32)
        source[: min(size, special.size)] = special[: min(size, special.size)]
    else:
        source = rng.integers(-128, 128, size=size).astype(np.int8)
    table = rng.integers(-128, 128, size=256).astype(np.int8) if kind == "table" else None
    return StridedCase(
        dims,
        tuple(src_strides),
        tuple(dst_strides),
        size,
        size,
        kind,
        source,
        table,
        scale,
        zp,  # type: ignore[arg-type]
    )


CASE_BUILDERS = (
    (conv_cases(), add_conv),
    (fully_connected_cases(), add_fully_connected),
    (global_avgpool_cases(), add_global_avgpool),
    (add_cases(), add_add),
    (strided_cases(), add_strided),
)


@st.composite
def batches(draw: st.DrawFn, count: int) -> list[tuple[object, object]]:
    out = []
    for i in range(count):
        strategy, add = CASE_BUILDERS[i % len(CASE_BUILDERS)]
        out.append((draw(strategy), add))
    return out


def _check(cases: list[tuple[object, object]], config: Config, target_name: str, work, sanitize: bool) -> None:
    batch = Batch(config)
    for i, (case, add) in enumerate(cases):
        add(batch, f"case {i} ({type(case).__name__})", case)  # type: ignore[operator]
    compare(run_batch(batch, load_target(target_name), work, sanitize=sanitize))


@pytest.mark.parametrize(
    "config",
    [Config(no_fpu=False, dsp=False), Config(no_fpu=True, dsp=False), Config(no_fpu=False, dsp=True)],
    ids=["fpu", "integer-only", "dsp-layout"],
)
@settings(max_examples=6, **SETTINGS)
@given(cases=batches(25))
def test_twins_on_the_host(cases, config, tmp_path_factory):
    """Host, ASan and UBSan. The integer-only build is the arithmetic of the FPU-less cores; the DSP-layout
    build runs the packed-weight kernels with the portable equivalents of SXTB16 and SMLAD."""
    _check(cases, config, "host", tmp_path_factory.mktemp("twins"), sanitize=True)


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["stm32f746", "nrf52840", "stm32l552", "stm32f103"])
@settings(max_examples=2, **SETTINGS)
@given(cases=batches(40))
def test_twins_on_cortex_m(cases, target, tmp_path_factory):
    """Cortex-M7, M4F, M33 (DSP + FPU) and M3 (neither) under qemu."""
    t = load_target(target)
    _check(cases, Config.of(t), target, tmp_path_factory.mktemp("twins"), sanitize=False)


def _conv(in_hw, in_c, out_c, kernel, strides, pads, groups, dilations=(1, 1), seed=0) -> ConvCase:
    rng = np.random.default_rng(seed)
    return ConvCase(
        in_hw[0], in_hw[1], in_c, out_c, kernel, strides, pads, dilations, groups,
        input_offset=37, output_offset=-5, act=(-128, 127),
        weights=rng.integers(-127, 128, size=(out_c, *kernel, in_c // groups)).astype(np.int8),
        bias=rng.integers(-2000, 2000, size=out_c).astype(np.int32),
        multipliers=[0.0123] * out_c,
        input=rng.integers(-128, 128, size=(*in_hw, in_c)).astype(np.int8),
    )  # fmt: skip


REGRESSIONS = {
    # padding wider than the output: no output's window starts inside the input (an out-of-bounds write once)
    "padding_wider_than_output": _conv((1, 1), 3, 3, (1, 3), (1, 1), (2, 2, 2, 2), 3, dilations=(2, 2)),
    "padding_wider_than_output_general": _conv((1, 1), 2, 3, (1, 3), (1, 1), (2, 2, 2, 2), 1, dilations=(2, 2)),
    "single_output_all_border": _conv((1, 1), 4, 4, (3, 3), (2, 2), (1, 1, 1, 1), 4),
    "dilated_window_taller_than_input": _conv((3, 6), 4, 4, (4, 4), (1, 1), (2, 1, 2, 2), 4, dilations=(2, 2)),
    "general_padding_wider_than_output": _conv((1, 2), 2, 3, (3, 3), (1, 1), (2, 2, 2, 2), 1),
}


@pytest.mark.parametrize("config", [Config(False, False), Config(True, False), Config(False, True)], ids=str)
def test_twin_regressions(config, tmp_path):
    batch = Batch(config)
    for label, case in REGRESSIONS.items():
        add_conv(batch, label, case)
    compare(run_batch(batch, load_target("host"), tmp_path, sanitize=True))
