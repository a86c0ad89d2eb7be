/*
 * agilenn_quantization_fast.h - optimized twins of QuantizeLinear and DequantizeLinear
 * (agilenn_quantization.h, the spec), instantiated with constant geometry by generated code.
 *
 * Quantize keeps the spec's true division and its clamp in float (which also sends NaN to the minimum),
 * then rounds with one instruction on FPU cores: rne(clamp(x / s, lo, hi)) + zp, lo and hi integers.
 */
#ifndef AGILENN_QUANTIZATION_FAST_H
#define AGILENN_QUANTIZATION_FAST_H

#include "agilenn_quantization.h"
#include "agilenn_requantize_fast.h"

/** QuantizeLinear of one float: the value of agilenn_quantize_value. */
AGILENN_INLINE int32_t agilenn_quantize_value_fast(float x, float scale, int32_t zp)
{
#if !AGILENN_NO_FPU && defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)
    return agilenn_rne_sat(agilenn_clampf(x / scale, (float)(-128 - zp), (float)(127 - zp))) + zp;
#else
    return agilenn_quantize_value(x, scale, zp);
#endif
}

AGILENN_INLINE void agilenn_quantize_f32_s8_fast_body(const agilenn_quantization_params_t *p,
                                                      const float *restrict input, int8_t *restrict output)
{
    const agilenn_strided_t *g = &p->geometry;
    int32_t i0, i1, i2, i3;
    input += g->src_offset;
    output += g->dst_offset;
    for (i0 = 0; i0 < g->dims[0]; i0++) {
        for (i1 = 0; i1 < g->dims[1]; i1++) {
            for (i2 = 0; i2 < g->dims[2]; i2++) {
                const float *s = input + i0 * g->src_strides[0] + i1 * g->src_strides[1] + i2 * g->src_strides[2];
                int8_t *d = output + i0 * g->dst_strides[0] + i1 * g->dst_strides[1] + i2 * g->dst_strides[2];
                for (i3 = 0; i3 < g->dims[3]; i3++) {
                    *d = (int8_t)agilenn_quantize_value_fast(*s, p->scale, p->zero_point);
                    s += g->src_strides[3];
                    d += g->dst_strides[3];
                }
            }
        }
    }
}

AGILENN_INLINE void agilenn_dequantize_s8_f32_fast_body(const agilenn_quantization_params_t *p,
                                                        const int8_t *restrict input, float *restrict output)
{
    const agilenn_strided_t *g = &p->geometry;
    int32_t i0, i1, i2, i3;
    input += g->src_offset;
    output += g->dst_offset;
    for (i0 = 0; i0 < g->dims[0]; i0++) {
        for (i1 = 0; i1 < g->dims[1]; i1++) {
            for (i2 = 0; i2 < g->dims[2]; i2++) {
                const int8_t *s = input + i0 * g->src_strides[0] + i1 * g->src_strides[1] + i2 * g->src_strides[2];
                float *d = output + i0 * g->dst_strides[0] + i1 * g->dst_strides[1] + i2 * g->dst_strides[2];
                for (i3 = 0; i3 < g->dims[3]; i3++) {
                    *d = (float)((int32_t)*s - p->zero_point) * p->scale;
                    s += g->src_strides[3];
                    d += g->dst_strides[3];
                }
            }
        }
    }
}

agilenn_status_t agilenn_quantize_f32_s8_fast(const agilenn_quantization_params_t *p, const float *input,
                                              int8_t *output);
agilenn_status_t agilenn_dequantize_s8_f32_fast(const agilenn_quantization_params_t *p, const int8_t *input,
                                                float *output);

#endif /* AGILENN_QUANTIZATION_FAST_H */
