/*
 * agilenn_pooling_fast.h - the optimized twin of global average pooling (agilenn_pooling_s8.h, the spec):
 * up to eight channels summed at once in registers, one pass over the pixels.
 * Average and max pooling are the reference bodies, instantiated per layer with constant shapes.
 */
#ifndef AGILENN_POOLING_FAST_H
#define AGILENN_POOLING_FAST_H

#include "agilenn_pooling_s8.h"
#include "agilenn_requantize_fast.h"

/** acc[c0 .. c0 + n) += the sums of channels [c0, c0 + n) over p->pixels pixels (n <= 8, a constant where
 * inlined): the channels are summed in registers, one pass over the pixels. */
AGILENN_INLINE void agilenn_global_avgpool_sum_block(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                                     int32_t *acc, int32_t c0, int32_t n)
{
    const int8_t *x = input + c0;
    int32_t sum[8], i, j;
    AGILENN_UNROLL
    for (j = 0; j < 8; j++) {
        sum[j] = 0;
    }
    for (i = 0; i < p->pixels; i++) {
        AGILENN_UNROLL
        for (j = 0; j < 8; j++) {
            if (j < n) {
                sum[j] += x[j];
            }
        }
        x += p->pixel_stride;
    }
    AGILENN_UNROLL
    for (j = 0; j < 8; j++) {
        if (j < n) {
            acc[c0 + j] += sum[j];
        }
    }
}

/** acc[c] += the sum of channel c over p->pixels pixels: a part of the map (a row of a stream), or all of it. */
AGILENN_INLINE void agilenn_global_avgpool_accumulate(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                                      int32_t *acc)
{
    const int32_t channels = p->channels, full = channels - channels % 8;
    int32_t c;
    for (c = 0; c < full; c += 8) {
        agilenn_global_avgpool_sum_block(p, input, acc, c, 8);
    }
    if (channels % 8 != 0) {
        agilenn_global_avgpool_sum_block(p, input, acc, full, channels % 8);
    }
}

/** output[c] = requantize(sum[c] - input_zero_point * pixels): `p` describes the whole map. */
AGILENN_INLINE void agilenn_global_avgpool_finish(const agilenn_global_avgpool_params_t *p, const int32_t *sum,
                                                  int8_t *output)
{
    int32_t c;
    for (c = 0; c < p->channels; c++) {
        output[c] = (int8_t)agilenn_requantize_fast(sum[c] - p->input_zero_point * p->pixels, p->multiplier,
                                                    p->output_zero_point, p->act_min, p->act_max);
    }
}

/** Channels [c0, c0 + n) (n <= 8): summed in registers, then requantized. */
AGILENN_INLINE void agilenn_global_avgpool_block(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                                 int8_t *output, int32_t c0, int32_t n)
{
    int32_t sum[8], j;
    AGILENN_UNROLL
    for (j = 0; j < 8; j++) {
        sum[j] = 0;
    }
    agilenn_global_avgpool_sum_block(p, input + c0, sum, 0, n);
    AGILENN_UNROLL
    for (j = 0; j < 8; j++) {
        if (j < n) {
            output[c0 + j] = (int8_t)agilenn_requantize_fast(sum[j] - p->input_zero_point * p->pixels, p->multiplier,
                                                             p->output_zero_point, p->act_min, p->act_max);
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
