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

/** Round-half-even right shift of a 32-bit value by 1..31 bits. */
AGILENN_INLINE uint32_t agilenn_rne_shr32(uint32_t v, int32_t shift)
{
    const uint32_t q = v >> shift;
    const uint32_t rest = v & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    return q + (uint32_t)(rest > half || (rest == half && (q & 1u)));
}

/** Round-half-even right shift of a 64-bit value whose result fits 32 bits, by 1..32 bits. */
AGILENN_INLINE uint32_t agilenn_rne_shr64(uint64_t v, int32_t shift)
{
    const uint32_t q = (uint32_t)(v >> shift);
    const uint64_t rest = v & ((((uint64_t)1) << shift) - 1u);
    const uint64_t half = ((uint64_t)1) << (shift - 1);
    return q + (uint32_t)(rest > half || (rest == half && (q & 1u)));
}

AGILENN_INLINE int32_t agilenn_bit_length32(uint32_t v)
{
    return v == 0u ? 0 : 32 - __builtin_clz(v);
}

/**
 * |rne(float(float(u) * S))| for u = |acc|, S = mantissa * 2^-shift, saturated at 2^16 (far outside the
 * int8 range). float(u) keeps u's 24 leading bits (RNE); the exact product of the two 24-bit mantissas
 * is rounded to 24 bits (RNE), then to an integer (RNE): the two float roundings, in integers.
 */
AGILENN_INLINE uint32_t agilenn_requantize_magnitude(uint32_t u, agilenn_multiplier_t s)
{
    int32_t e1 = 0, e2, k, bits;
    uint64_t product;
    uint32_t m2;
    if (u == 0u || s.mantissa == 0) {
        return 0u;
    }
    bits = agilenn_bit_length32(u);
    if (bits > 24) { /* float(acc) rounds: keep 24 significant bits */
        e1 = bits - 24;
        u = agilenn_rne_shr32(u, e1);
        if (u == (1u << 24)) {
            u >>= 1;
            e1++;
        }
    }
    product = (uint64_t)u * (uint32_t)s.mantissa; /* < 2^48, exact */
    bits = (uint32_t)(product >> 32) != 0u ? 32 + agilenn_bit_length32((uint32_t)(product >> 32))
                                           : agilenn_bit_length32((uint32_t)product);
    e2 = bits > 24 ? bits - 24 : 0; /* the product rounded to float: 24 significant bits */
    k = s.shift - e1 - e2;           /* the integer point, counted from the rounded product's last bit */
    if (k <= 0) {
        return 1u << 16; /* |value| >= 2^23: saturated */
    }
    if (e2 > 0) {
        m2 = agilenn_rne_shr64(product, e2);
        if (m2 == (1u << 24)) {
            m2 >>= 1;
            k--;
            if (k == 0) {
                return 1u << 16;
            }
        }
    } else {
        m2 = (uint32_t)product;
    }
    if (k > 25) {
        return 0u; /* m2 < 2^24 <= 2^(k - 2): below one half */
    }
    m2 = agilenn_rne_shr32(m2, k);
    return m2 > (1u << 16) ? (1u << 16) : m2;
}

AGILENN_INLINE int32_t agilenn_requantize_fast(int32_t acc, agilenn_multiplier_t s, int32_t zp, int32_t act_min,
                                               int32_t act_max)
{
    const uint32_t u = acc < 0 ? 0u - (uint32_t)acc : (uint32_t)acc;
    const int32_t m = (int32_t)agilenn_requantize_magnitude(u, s);
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
