/*
 * agilenn_requantize.h - onnxruntime's output requantization, exactly.
 *
 *   v = (float)acc * S;  v = min(max(v, act_min - zp), act_max - zp);  y = rne(v) + zp
 *
 * rne() rounds half to even. Built with -ffp-contract=off and without -ffast-math, each float
 * operation rounds once, as in onnxruntime's MLAS kernels. Without an FPU the same two roundings
 * (acc to float32, the product to float32) and the final rne are emulated with integers.
 */
#ifndef AGILENN_REQUANTIZE_H
#define AGILENN_REQUANTIZE_H

#include "agilenn_types.h"

/** Round half to even for |v| < 2^22 (the magic-number trick; exact under IEEE RNE). */
static inline int32_t agilenn_rne_small(float v)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    volatile float shifted = v + magic; /* volatile: keep the rounding step, never re-associate */
    return (int32_t)(shifted - magic);
}

/** Clamp a float to [lo, hi]; NaN goes to lo (as onnxruntime's max/min vector order does). */
static inline float agilenn_clampf(float v, float lo, float hi)
{
    v = (v >= lo) ? v : lo;
    return (v <= hi) ? v : hi;
}

#if AGILENN_NO_FPU

/** Round-half-even right shift of a non-negative 64-bit value. */
static inline uint64_t agilenn_rne_shift_u64(uint64_t value, int32_t shift)
{
    if (shift <= 0) {
        return value << (-shift);
    }
    if (shift >= 64) {
        return 0;
    }
    {
        const uint64_t q = value >> shift;
        const uint64_t r = value & ((((uint64_t)1) << shift) - 1u);
        const uint64_t half = ((uint64_t)1) << (shift - 1);
        return q + ((r > half || (r == half && (q & 1u))) ? 1u : 0u);
    }
}

static inline int32_t agilenn_bit_length_u64(uint64_t v)
{
    int32_t n = 0;
    while (v != 0u) {
        v >>= 1;
        n++;
    }
    return n;
}

/** Round a non-negative value to 24 significant bits: returns m, sets *exp so value ~ m * 2^exp. */
static inline uint64_t agilenn_round24(uint64_t value, int32_t *exp)
{
    const int32_t bits = agilenn_bit_length_u64(value);
    int32_t shift;
    uint64_t m;
    if (bits <= 24) {
        *exp = 0;
        return value;
    }
    shift = bits - 24;
    m = agilenn_rne_shift_u64(value, shift);
    if (m == (((uint64_t)1) << 24)) {
        m >>= 1;
        shift++;
    }
    *exp = shift;
    return m;
}

static inline int8_t agilenn_requantize(int32_t acc, agilenn_multiplier_t s, int32_t zp, int32_t act_min,
                                        int32_t act_max)
{
    int32_t v = 0;
    if (acc != 0 && s.mantissa != 0) {
        const uint64_t mag = (acc < 0) ? (uint64_t)(-(int64_t)acc) : (uint64_t)acc;
        int32_t e1, e2, shift;
        const uint64_t m1 = agilenn_round24(mag, &e1);
        const uint64_t m2 = agilenn_round24(m1 * (uint64_t)s.mantissa, &e2);
        uint64_t r;
        shift = s.shift - e1 - e2;
        r = agilenn_rne_shift_u64(m2, shift);
        if (shift < 0 || r > 65535u) {
            r = 65535u; /* far outside int8 anyway: saturate before the sign is applied */
        }
        v = (acc < 0) ? -(int32_t)r : (int32_t)r;
    }
    if (v < act_min - zp) {
        v = act_min - zp;
    }
    if (v > act_max - zp) {
        v = act_max - zp;
    }
    return (int8_t)(v + zp);
}

#else

static inline int8_t agilenn_requantize(int32_t acc, agilenn_multiplier_t s, int32_t zp, int32_t act_min,
                                        int32_t act_max)
{
    float v = (float)acc * s;
    v = agilenn_clampf(v, (float)(act_min - zp), (float)(act_max - zp));
    return (int8_t)(agilenn_rne_small(v) + zp);
}

#endif /* AGILENN_NO_FPU */

/** QuantizeLinear of one float: rne(clamp(x / s, -128 - zp, 127 - zp)) + zp, true division. */
static inline int8_t agilenn_quantize_value(float x, float scale, int32_t zp)
{
    float v = x / scale;
    v = agilenn_clampf(v, (float)(-128 - zp), (float)(127 - zp));
    return (int8_t)(agilenn_rne_small(v) + zp);
}

/** Round half to even of any float in int32 range (used by the float paths of pooling/add). */
static inline int32_t agilenn_rne_int(float v)
{
    v = agilenn_clampf(v, -2147483520.0f, 2147483520.0f);
    if (v > -4194304.0f && v < 4194304.0f) {
        return agilenn_rne_small(v);
    }
    return (int32_t)v; /* |v| >= 2^22: already an integer */
}

/** fmaf correctly rounded; on FPU-less cores a portable exact version (see agilenn_fmaf.c). */
float agilenn_fmaf(float a, float b, float c);

#endif /* AGILENN_REQUANTIZE_H */
