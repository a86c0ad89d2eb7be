/*
 * agilenn_requantize_fast.h - onnxruntime's requantization (agilenn_requantize.h, the spec) in fewer
 * instructions, with bit-identical results.
 *
 *   spec:  v = (float)acc * S;  v = min(max(v, act_min - zp), act_max - zp);  y = rne(v) + zp
 *   fast:  r = rne_saturating((float)acc * S);  y = clamp(sat(r + zp), act_min, act_max)
 *
 * Equal because act_min - zp and act_max - zp are integers, and rounding to nearest (ties to even) is
 * monotonic and leaves integers alone: rne(clamp(v, L, H)) == clamp(rne(v), L, H). The conversion
 * saturates at the int32 range (VCVT does), which keeps the order, and the saturating add keeps
 * r + zp in range. (float)acc * S is finite or +-inf, never NaN (acc is an integer, S >= 0).
 *
 * Cortex-M4F/M7/M33: VCVTR.S32.F32 rounds with the FPSCR rounding mode, round-to-nearest-even from
 * reset. The application must not change FPSCR.RMode (no C code here does; fesetround would).
 * FPU-less cores (Cortex-M3/M0+): an integer emulation of the same two float roundings, with CLZ.
 * Elsewhere (the host): the spec itself.
 */
#ifndef AGILENN_REQUANTIZE_FAST_H
#define AGILENN_REQUANTIZE_FAST_H

#include "agilenn_arch.h"
#include "agilenn_requantize.h"

#if !AGILENN_NO_FPU && defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)

/** rne(v) as int32, saturating (VCVTR with FPSCR in round-to-nearest-even mode). */
AGILENN_INLINE int32_t agilenn_rne_sat(float v)
{
    int32_t r;
    __asm__("vcvtr.s32.f32 %1, %1\n\tvmov %0, %1" : "=r"(r), "+t"(v));
    return r;
}

AGILENN_INLINE int32_t agilenn_requantize_fast(int32_t acc, agilenn_multiplier_t s, int32_t zp, int32_t act_min,
                                               int32_t act_max)
{
    const int32_t y = agilenn_qadd(agilenn_rne_sat((float)acc * s), zp);
    if (act_min == -128 && act_max == 127) {
        return agilenn_sat8(y);
    }
    return agilenn_clamp_i32(y, act_min, act_max);
}

#elif AGILENN_NO_FPU

/** Round-half-even right shift of a 32-bit value by 0..31 bits; `sticky` says nonzero bits lie below v. */
AGILENN_INLINE uint32_t agilenn_rne_shr32(uint32_t v, int32_t shift, uint32_t sticky)
{
    uint32_t q, rest, half;
    if (shift == 0) {
        return v;
    }
    q = v >> shift;
    rest = v & ((1u << shift) - 1u);
    half = 1u << (shift - 1);
    return q + (uint32_t)(rest > half || (rest == half && (sticky || (q & 1u))));
}

AGILENN_INLINE int32_t agilenn_bit_length32(uint32_t v)
{
    return v == 0u ? 0 : 32 - __builtin_clz(v);
}

/**
 * |rne(float(float(u) * S))| for u = |acc| and S = mantissa * 2^-shift, saturated at 2^16 (far outside the
 * int8 range): the two float roundings of the spec, in 32-bit integers.
 *
 * float(u) keeps u's 24 leading bits (RNE): u ~ u' * 2^e1. The exact product P = u' * mantissa (< 2^48) is
 * rounded to 24 significant bits at bit e2 = L - 24 (L its bit length), then to an integer at bit
 * k = shift - e1. When L - k >= 10 the value is at least 2^9: saturated. Otherwise k >= L - 9, so only P's top
 * 32 bits (and whether any bit below them is set) decide both roundings: the first is an RNE of those 32 bits
 * at bit L - 24 - s (s = the bits dropped), the second, of the result, at bit k - L + 24 >= 15.
 */
AGILENN_INLINE uint32_t agilenn_requantize_magnitude(uint32_t u, agilenn_multiplier_t s)
{
    int32_t e1 = 0, bits, k, drop;
    uint32_t hi, lo, top, sticky, r;
    uint64_t product;
    if (u == 0u || s.mantissa == 0) {
        return 0u;
    }
    bits = agilenn_bit_length32(u);
    if (bits > 24) { /* float(acc) rounds: keep 24 significant bits */
        e1 = bits - 24;
        u = agilenn_rne_shr32(u, e1, 0u); /* may reach 2^24: still exact as an integer */
    }
    product = (uint64_t)u * (uint32_t)s.mantissa; /* < 2^49, exact */
    hi = (uint32_t)(product >> 32);
    lo = (uint32_t)product;
    bits = hi != 0u ? 32 + agilenn_bit_length32(hi) : agilenn_bit_length32(lo);
    k = s.shift - e1;
    if (bits - k >= 10) {
        return 1u << 16;
    }
    drop = bits > 32 ? bits - 32 : 0; /* keep P's top 32 bits */
    top = drop > 0 ? (hi << (32 - drop)) | (lo >> drop) : lo;
    sticky = drop > 0 ? (uint32_t)((lo << (32 - drop)) != 0u) : 0u;
    r = agilenn_rne_shr32(top, bits > 24 ? bits - 24 - drop : 0, sticky); /* the product as a float32 */
    k = k - (bits > 24 ? bits - 24 : 0);                                  /* its integer point, >= 15 */
    return k > 31 ? 0u : agilenn_rne_shr32(r, k, 0u);
}

AGILENN_INLINE int32_t agilenn_requantize_fast(int32_t acc, agilenn_multiplier_t s, int32_t zp, int32_t act_min,
                                               int32_t act_max)
{
    const uint32_t u = acc < 0 ? 0u - (uint32_t)acc : (uint32_t)acc;
    const int32_t m = (int32_t)agilenn_requantize_magnitude(u, s); /* <= 2^16 */
    const int32_t y = (acc < 0 ? -m : m) + zp;
    if (act_min == -128 && act_max == 127) {
        return agilenn_sat8(y);
    }
    return agilenn_clamp_i32(y, act_min, act_max);
}

#else

AGILENN_INLINE int32_t agilenn_requantize_fast(int32_t acc, agilenn_multiplier_t s, int32_t zp, int32_t act_min,
                                               int32_t act_max)
{
    return agilenn_requantize(acc, s, zp, act_min, act_max);
}

#endif

#endif /* AGILENN_REQUANTIZE_FAST_H */
