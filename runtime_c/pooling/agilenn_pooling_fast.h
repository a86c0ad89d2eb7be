/*
 * agilenn_pooling_fast.h - the optimized twin of global average pooling (agilenn_pooling_s8.h, the spec):
 * up to eight channels summed at once in registers, one pass over the pixels.
 * Average and max pooling are the reference bodies, instantiated per layer with constant shapes.
 */
#ifndef AGILENN_POOLING_FAST_H
#define AGILENN_POOLING_FAST_H

#include "agilenn_pooling_s8.h"
#include "agilenn_requantize_fast.h"

/** Channels [c0, c0 + n) (n <= 8, a constant where inlined). */
AGILENN_INLINE void agilenn_global_avgpool_block(const agilenn_global_avgpool_params_t *p,
                                                 const int8_t *restrict input, int8_t *restrict output, int32_t c0,
                                                 int32_t n)
{
    const int8_t *x = input + c0;
    int32_t acc[8], i, j;
    AGILENN_UNROLL
    for (j = 0; j < 8; j++) {
        acc[j] = -p->input_zero_point * p->pixels;
    }
    for (i = 0; i < p->pixels; i++) {
        AGILENN_UNROLL
        for (j = 0; j < 8; j++) {
            if (j < n) {
                acc[j] += x[j];
            }
        }
        x += p->pixel_stride;
    }
    AGILENN_UNROLL
    for (j = 0; j < 8; j++) {
        if (j < n) {
            output[c0 + j] = (int8_t)agilenn_requantize_fast(acc[j], p->multiplier, p->output_zero_point,
                                                             p->act_min, p->act_max);
        }
    }
}

AGILENN_INLINE void agilenn_global_avgpool_s8_fast_body(const agilenn_global_avgpool_params_t *p,
                                                        const int8_t *restrict input, int8_t *restrict output)
{
    const int32_t channels = p->channels, full = channels - channels % 8;
    int32_t c;
    for (c = 0; c < full; c += 8) {
        agilenn_global_avgpool_block(p, input, output, c, 8);
    }
    if (channels % 8 != 0) {
        agilenn_global_avgpool_block(p, input, output, full, channels % 8);
    }
}

agilenn_status_t agilenn_global_avgpool_s8_fast(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                                int8_t *output);

#endif /* AGILENN_POOLING_FAST_H */
