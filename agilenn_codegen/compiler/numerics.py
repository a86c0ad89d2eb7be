"""onnxruntime's int8 arithmetic, stated once in Python (the C runtime states it once in C).

See docs/numerics.md. All float arithmetic here is IEEE float32 with round-half-to-even, done with
numpy float32 scalars (each operation rounds once, like the C code built with -ffp-contract=off).
The compile-time constants (requantization multipliers, QLinearAdd ratios, concat tables, the
integer-only multiplier form for FPU-less cores) are computed by these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

F32 = np.float32


def f32(value: float) -> float:
    """Round a Python float to the nearest float32, returned as a Python float."""
    return float(F32(value))


def conv_multiplier(x_scale: float, w_scale: float, y_scale: float) -> float:
    """QLinearConv: S = (float)((float)(x_s * w_s) / y_s)."""
    return float((F32(x_scale) * F32(w_scale)) / F32(y_scale))


def gemm_multiplier(alpha: float, a_scale: float, b_scale: float, y_scale: float | None) -> float:
    """QGemm: S = (float)((float)((float)(alpha * a_s) * b_s) / y_s); no division for float output."""
    product = (F32(alpha) * F32(a_scale)) * F32(b_scale)
    return float(product if y_scale is None else product / F32(y_scale))


def global_avgpool_multiplier(x_scale: float, y_scale: float, count: int) -> float:
    """QLinearGlobalAveragePool: S = x_s / (float)(y_s * (float)count)."""
    return float(F32(x_scale) / (F32(y_scale) * F32(count)))


def round_fraction_to_f32(value: Fraction) -> float:
    """Round an exact rational to the nearest float32 (ties to even), without double rounding."""
    if value == 0:
        return 0.0
    sign = -1 if value < 0 else 1
    mag = abs(value)
    exp = mag.numerator.bit_length() - mag.denominator.bit_length()
    if Fraction(2) ** exp > mag:
        exp -= 1
    # now 2**exp <= mag < 2**(exp+1); float32 has 24 significant bits; subnormals below 2**-126
    exp = max(exp, -126)
    quantum = Fraction(2) ** (exp - 23)
    scaled = mag / quantum
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    result = float(floor * quantum) * sign
    if abs(result) > float(np.finfo(np.float32).max):
        return sign * float("inf")
    return result


def fma_f32(a: float, b: float, c: float) -> float:
    """fmaf(a, b, c): a * b + c rounded once to float32."""
    return round_fraction_to_f32(Fraction(a) * Fraction(b) + Fraction(c))


@dataclass(frozen=True)
class AddParams:
    """QLinearAdd in onnxruntime's FMA form: y = rne(fma(a, ra, fma(b, rb, offset)))."""

    a_ratio: float
    b_ratio: float
    offset: float


def add_params(a_scale: float, a_zp: int, b_scale: float, b_zp: int, y_scale: float, y_zp: int) -> AddParams:
    ra = float(F32(a_scale) / F32(y_scale))
    rb = float(F32(b_scale) / F32(y_scale))
    offset = f32(float(F32(y_zp)) - fma_f32(ra, float(a_zp), float(F32(rb) * F32(b_zp))))
    return AddParams(ra, rb, offset)


def add_reference(a: np.ndarray, b: np.ndarray, p: AddParams, lo: int = -128, hi: int = 127) -> np.ndarray:
    """Elementwise QLinearAdd on int8 arrays (slow; for tests and tables)."""
    out = np.empty(a.shape, np.int8)
    for i, (x, y) in enumerate(zip(a.reshape(-1).tolist(), b.reshape(-1).tolist(), strict=True)):
        inner = fma_f32(float(y), p.b_ratio, p.offset)
        v = fma_f32(float(x), p.a_ratio, inner)
        out.reshape(-1)[i] = min(max(int(np.rint(v)), lo), hi)
    return out


def requantize(
    acc: np.ndarray, multiplier: np.ndarray | float, zero_point: int, act_min: int = -128, act_max: int = 127
) -> np.ndarray:
    """y = clamp(rne((float)acc * S), act_min - zp, act_max - zp) + zp, elementwise (int32 acc)."""
    v = acc.astype(np.float32) * np.asarray(multiplier, dtype=np.float32)
    v = np.clip(v, np.float32(act_min - zero_point), np.float32(act_max - zero_point))
    return (np.rint(v).astype(np.int32) + zero_point).astype(np.int8)


def quantize_f32(x: np.ndarray | np.float32, scale: float, zero_point: int) -> np.ndarray:
    """QuantizeLinear: q = rne(clamp(x / s, -128 - zp, 127 - zp)) + zp, with a true division."""
    v = np.asarray(x, dtype=np.float32) / np.float32(scale)
    v = np.clip(v, np.float32(-128 - zero_point), np.float32(127 - zero_point))
    return (np.rint(v).astype(np.int32) + zero_point).astype(np.int8)


def dequantize_f32(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """DequantizeLinear: (float)(q - zp) * s."""
    return (q.astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


def requant_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """256-entry int8 table: QuantizeLinear(out) of DequantizeLinear(in) of every int8 value."""
    values = np.arange(-128, 128, dtype=np.int32).astype(np.int8)
    return quantize_f32(dequantize_f32(values, in_scale, in_zp), out_scale, out_zp)


# ---------------------------------------------------------------------------------------------
# Integer-only requantization for cores without an FPU (exact emulation of the float rule)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntMultiplier:
    """A float32 multiplier S = mantissa * 2**(-shift), mantissa in [2**23, 2**24) (0 for S == 0)."""

    mantissa: int
    shift: int


def int_multiplier(s: float) -> IntMultiplier:
    value = F32(s)
    if value <= 0 or not np.isfinite(value):
        if value == 0:
            return IntMultiplier(0, 0)
        raise ValueError(f"multiplier {s} must be positive and finite")
    mantissa, exp = np.frexp(np.float64(value))  # value = mantissa * 2**exp, mantissa in [0.5, 1)
    m = int(np.ldexp(mantissa, 24))
    return IntMultiplier(m, 24 - int(exp))


def _rne_shift(value: int, shift: int) -> int:
    """Round value / 2**shift to the nearest integer, ties to even (value >= 0, shift >= 0)."""
    if shift <= 0:
        return value << -shift
    q, r = value >> shift, value & ((1 << shift) - 1)
    half = 1 << (shift - 1)
    return q + (1 if r > half or (r == half and q & 1) else 0)


def _round_to_24_bits(value: int) -> tuple[int, int]:
    """Round a non-negative integer to 24 significant bits: returns (m, e) with value ~ m * 2**e."""
    bits = value.bit_length()
    if bits <= 24:
        return value, 0
    shift = bits - 24
    m = _rne_shift(value, shift)
    if m == 1 << 24:
        m, shift = m >> 1, shift + 1
    return m, shift


def requantize_int(acc: int, mult: IntMultiplier, zero_point: int, act_min: int = -128, act_max: int = 127) -> int:
    """Integer-only twin of :func:`requantize` for one value: both roundings of the float rule."""
    if mult.mantissa == 0 or acc == 0:
        v = 0
    else:
        sign = -1 if acc < 0 else 1
        m1, e1 = _round_to_24_bits(abs(acc))  # (float)acc
        product = m1 * mult.mantissa  # exact, < 2**48
        m2, e2 = _round_to_24_bits(product)  # (float)(acc * S)
        total_shift = mult.shift - e1 - e2  # value = m2 * 2**(-total_shift)
        v = sign * _rne_shift(m2, total_shift) if total_shift < 64 else 0
    lo, hi = act_min - zero_point, act_max - zero_point
    return min(max(v, lo), hi) + zero_point
