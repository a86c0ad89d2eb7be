"""Compile-time data of the optimized kernels: interior biases and weights in SIMD read order.

The C side of these layouts is runtime_c/common/agilenn_dot_fast.h; both must agree.
"""

from __future__ import annotations

import numpy as np

INT32_MAX = 2**31 - 1


def fast_row(n: int, dsp: bool) -> int:
    """Elements of agilenn_fast_weight_t per row of n weights (AGILENN_FAST_ROW)."""
    if not dsp:
        return n
    tail = n % 4
    return 2 * (n // 4) + (0 if tail == 0 else 2 if tail == 3 else 1)


def _pair(lo: int, hi: int) -> int:
    return (int(lo) & 0xFFFF) | ((int(hi) & 0xFFFF) << 16)


def pack_rows(rows: np.ndarray) -> np.ndarray:
    """int8 rows (R, n) -> uint32 (R, fast_row(n)): int16 pairs (w0, w2), (w1, w3) per 4 weights; the tail
    as (w0, 0), (w0, w1), or (w0, w2), (w1, 0)."""
    rows = np.asarray(rows, np.int64)
    count, n = rows.shape
    out = np.zeros((count, fast_row(n, True)), np.uint32)
    for r in range(count):
        row, k = rows[r], 0
        for i in range(0, n - n % 4, 4):
            out[r, k] = _pair(row[i], row[i + 2])
            out[r, k + 1] = _pair(row[i + 1], row[i + 3])
            k += 2
        t, i = n % 4, n - n % 4
        if t == 1:
            out[r, k] = _pair(row[i], 0)
        elif t == 2:
            out[r, k] = _pair(row[i], row[i + 1])
        elif t == 3:
            out[r, k] = _pair(row[i], row[i + 2])
            out[r, k + 1] = _pair(row[i + 1], 0)
    return out


def interior_bias(bias: np.ndarray | None, weights: np.ndarray, input_offset: int) -> np.ndarray:
    """bias[o] + input_offset * sum(weights[o]) per output channel (weights: (O, ...)), as int64."""
    w = np.asarray(weights, np.int64).reshape(weights.shape[0], -1)
    b = np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    return b + int(input_offset) * w.sum(axis=1)


def accumulators_fit(interior: np.ndarray, weights: np.ndarray) -> bool:
    """Every partial sum interior[o] + sum x*w stays in int32 for any int8 inputs x (so SMLAD and the
    portable arithmetic are exact)."""
    w = np.abs(np.asarray(weights, np.int64).reshape(weights.shape[0], -1)).sum(axis=1)
    return bool(np.all(np.abs(interior) + 128 * w <= INT32_MAX))


def c_words(values: np.ndarray) -> list[str]:
    return [f"0x{int(v):08x}u" for v in np.asarray(values, np.uint32).reshape(-1)]
