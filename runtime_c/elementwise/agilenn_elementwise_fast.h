/*
 * agilenn_elementwise_fast.h - the optimized twin of QLinearAdd (agilenn_add_s8, the spec): the two fused
 * multiply-adds inline (VFMA on Cortex-M4F/M7/M33), one rounding instruction and an integer clamp.
 */
#ifndef AGILENN_ELEMENTWISE_FAST_H
#define AGILENN_ELEMENTWISE_FAST_H

#include "agilenn_elementwise_s8.h"
#include "agilenn_requantize_fast.h"

/** fmaf, correctly rounded: the FPU's fused multiply-add where there is one, else agilenn_fmaf. */
AGILENN_INLINE float agilenn_fmaf_fast(float a, float b, float c)
{
#if !AGILENN_NO_FPU && defined(__arm__) && defined(__ARM_FEATURE_FMA)
    return __builtin_fmaf(a, b, c);
#else
    return agilenn_fmaf(a, b, c);
#endif
}

/** rne(v) for |v| far below 2^31 or saturated beyond, as agilenn_rne_int then a clamp to [lo, hi] >= int8. */
AGILENN_INLINE int32_t agilenn_round_clamp(float v, int32_t lo, int32_t hi)
{
#if !AGILENN_NO_FPU && defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)
    return agilenn_clamp_i32(agilenn_rne_sat(v), lo, hi);
#else
    return agilenn_clamp_i32(agilenn_rne_int(v), lo, hi);
#endif
}

AGILENN_INLINE void agilenn_add_s8_fast_body(const agilenn_add_params_t *p, const int8_t *restrict a,
                                             const int8_t *restrict b, int8_t *restrict output)
{
    int32_t i;
    for (i = 0; i < p->size; i++) {
        const float inner = agilenn_fmaf_fast((float)b[i], p->b_ratio, p->offset);
        output[i] = (int8_t)agilenn_round_clamp(agilenn_fmaf_fast((float)a[i], p->a_ratio, inner), p->act_min,
                                                p->act_max);
    }
}

agilenn_status_t agilenn_add_s8_fast(const agilenn_add_params_t *p, const int8_t *a, const int8_t *b,
                                     int8_t *output);

#endif /* AGILENN_ELEMENTWISE_FAST_H */
