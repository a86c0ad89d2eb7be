/*
 * agilenn_fmaf - a * b + c rounded once to float32 (round half to even).
 *
 * With an FPU that has a fused multiply-add (Cortex-M4F/M7/M33, x86-64 with FMA or glibc's
 * correctly rounded fmaf) the C library's fmaf is used. Without one, an exact portable version:
 * the product of two floats is exact in double; the sum is computed in double with its rounding
 * error (TwoSum) and then rounded to odd, after which the final rounding to float is correct,
 * because double has more than 2 * 24 + 2 significant bits.
 */
#include <math.h>
#include <string.h>

#include "agilenn_requantize.h"

#if AGILENN_NO_FPU

static double agilenn_round_to_odd_sum(double p, double c)
{
    double s = p + c;
    const double bp = s - c;
    const double bc = s - bp;
    const double err = (p - bp) + (c - bc); /* exact: s + err == p + c */
    uint64_t bits;
    if (err == 0.0) {
        return s;
    }
    memcpy(&bits, &s, sizeof bits);
    if ((bits & 1u) == 0u) {
        /* move s one ulp toward the exact value, making its last bit odd */
        if ((err > 0.0) == (s > 0.0)) {
            bits += 1u;
        } else {
            bits -= 1u;
        }
        memcpy(&s, &bits, sizeof bits);
    }
    return s;
}

float agilenn_fmaf(float a, float b, float c)
{
    const double p = (double)a * (double)b; /* exact: 24 + 24 bits < 53 */
    return (float)agilenn_round_to_odd_sum(p, (double)c);
}

#else

float agilenn_fmaf(float a, float b, float c)
{
    return fmaf(a, b, c);
}

#endif
