"""The arithmetic rules (docs/numerics.md): the Python statement, the C float path and the C
integer-only path must agree on every value, including ties, saturation and accumulators > 2^24."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from agilenn_codegen.compiler import numerics
from agilenn_codegen.paths import RUNTIME_C_DIR

HERE = Path(__file__).parent


def _requant_cases(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    # magnitudes from tiny to beyond 2^24 (where (float)acc rounds), multipliers like real models'
    acc = (rng.standard_normal(n) * np.exp2(rng.uniform(0, 30, n))).astype(np.int64).clip(-(2**31) + 1, 2**31 - 1)
    acc = acc.astype(np.int32)
    mult = np.exp2(rng.uniform(-22, 0, n)).astype(np.float32)
    # exact ties: acc * mult == k + 0.5 exactly for a power-of-two multiplier
    ties = n // 8
    mult[:ties] = np.float32(2.0) ** -rng.integers(1, 12, ties).astype(np.float32)
    k = rng.integers(-300, 300, ties)
    acc[:ties] = ((2 * k + 1) * (1 / mult[:ties].astype(np.float64)) / 2).astype(np.int64)
    zp = rng.integers(-128, 128, n).astype(np.int32)
    lo = rng.choice([-128, -128, -100], n).astype(np.int32)
    hi = rng.choice([127, 127, 90], n).astype(np.int32)
    lo = np.minimum(lo, hi)
    return acc, mult, zp, lo, hi


def _numpy_requant(acc, mult, zp, lo, hi):
    v = acc.astype(np.float32) * mult
    v = np.minimum(np.maximum(v, (lo - zp).astype(np.float32)), (hi - zp).astype(np.float32))
    return (np.rint(v).astype(np.int32) + zp).astype(np.int8)


def test_integer_emulation_matches_float32_rule():
    rng = np.random.default_rng(0)
    acc, mult, zp, lo, hi = _requant_cases(rng, 20000)
    want = _numpy_requant(acc, mult, zp, lo, hi)
    got = np.array(
        [
            numerics.requantize_int(int(a), numerics.int_multiplier(float(m)), int(z), int(l_), int(h))
            for a, m, z, l_, h in zip(acc, mult, zp, lo, hi, strict=True)
        ],
        np.int8,
    )
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:10]


def test_fraction_rounding_to_float32():
    rng = np.random.default_rng(1)
    for value in rng.standard_normal(2000) * np.exp2(rng.uniform(-40, 40, 2000)):
        assert numerics.round_fraction_to_f32(Fraction(float(value))) == float(np.float32(value))
    # ties between two float32 neighbours go to the even one
    one = Fraction(1)
    assert numerics.round_fraction_to_f32(one + Fraction(1, 2**24)) == 1.0
    assert numerics.round_fraction_to_f32(one + Fraction(3, 2**24)) == float(np.float32(1 + 2**-22))


@pytest.fixture(scope="module", params=[0, 1], ids=["fpu", "no_fpu"])
def numerics_binary(request, tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    tmp = tmp_path_factory.mktemp(f"numerics{request.param}")
    (tmp / "agilenn_config.h").write_text(f"#define AGILENN_NO_FPU {request.param}\n#define AGILENN_USE_DSP 0\n")
    exe = tmp / "numerics_check"
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-ffp-contract=off",
            "-fsanitize=undefined",
            "-fno-sanitize-recover=all",
            f"-I{tmp}",
            f"-I{RUNTIME_C_DIR / 'common'}",
            str(HERE / "c" / "numerics_check.c"),
            str(RUNTIME_C_DIR / "common" / "agilenn_fmaf.c"),
            "-lm",
            "-o",
            str(exe),
        ],
        check=True,
    )
    return exe


def _run(exe: Path, mode: str, payload: bytes) -> bytes:
    return subprocess.run([str(exe), mode], input=payload, capture_output=True, check=True).stdout


@pytest.mark.parametrize("mode", ["r", "R"], ids=["reference", "fast"])
def test_c_requantize_matches_rule(numerics_binary, mode):
    """agilenn_requantize (the spec) and agilenn_requantize_fast (the optimized kernels') on ties, saturation,
    accumulators beyond 2^24, large and tiny multipliers."""
    rng = np.random.default_rng(2)
    acc, mult, zp, lo, hi = _requant_cases(rng, 200000)
    acc[:4] = [2**31 - 1, -(2**31), 2**24 + 1, -(2**24) - 3]
    mult[-2000:] = np.exp2(rng.uniform(0, 12, 2000)).astype(np.float32)  # multipliers > 1: saturation
    rec = np.zeros(acc.size, dtype=[("acc", "<i4"), ("mult", "<f4"), ("zp", "<i4"), ("lo", "<i4"), ("hi", "<i4")])
    rec["acc"], rec["mult"], rec["zp"], rec["lo"], rec["hi"] = acc, mult, zp, lo, hi
    got = np.frombuffer(_run(numerics_binary, mode, rec.tobytes()), np.int8)
    want = _numpy_requant(acc, mult, zp, lo, hi)
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:10]


def test_c_quantize_matches_rule(numerics_binary):
    rng = np.random.default_rng(3)
    n = 100000
    scale = np.exp2(rng.uniform(-10, 2, n)).astype(np.float32)
    zp = rng.integers(-128, 128, n).astype(np.int32)
    k = rng.integers(-200, 200, n).astype(np.float32)
    x = np.where(
        rng.random(n) < 0.5, (k + np.float32(0.5)) * scale, rng.standard_normal(n).astype(np.float32) * 300 * scale
    )
    x = x.astype(np.float32)
    x[:3] = [np.inf, -np.inf, np.nan]
    rec = np.zeros(n, dtype=[("x", "<f4"), ("s", "<f4"), ("zp", "<i4")])
    rec["x"], rec["s"], rec["zp"] = x, scale, zp
    got = np.frombuffer(_run(numerics_binary, "q", rec.tobytes()), np.int8)
    want = np.array(
        [
            numerics.quantize_f32(np.float32(v), float(s), int(z))
            for v, s, z in zip(x[3:], scale[3:], zp[3:], strict=True)
        ],
        np.int8,
    )
    assert np.array_equal(got[3:], want)
    assert got[0] == 127 and got[1] == -128 and got[2] == -128  # +inf, -inf, NaN (as onnxruntime's min/max)


def test_c_fmaf_is_correctly_rounded(numerics_binary):
    rng = np.random.default_rng(4)
    n = 5000
    a = rng.integers(-128, 128, n).astype(np.float32)  # QLinearAdd multiplies raw int8 values
    b = (rng.standard_normal(n) * np.exp2(rng.uniform(-8, 4, n))).astype(np.float32)
    c = (rng.standard_normal(n) * np.exp2(rng.uniform(-8, 10, n))).astype(np.float32)
    # near-ties: c chosen so that a*b + c sits close to the midpoint between two floats
    c[: n // 2] = (-(a[: n // 2].astype(np.float64) * b[: n // 2]) + 0.5 + 2.0**-30).astype(np.float32)
    payload = np.stack([a, b, c], axis=1).astype("<f4").tobytes()
    got = np.frombuffer(_run(numerics_binary, "f", payload), "<f4")
    want = np.array(
        [numerics.fma_f32(float(x), float(y), float(z)) for x, y, z in zip(a, b, c, strict=True)], np.float32
    )
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:10]
