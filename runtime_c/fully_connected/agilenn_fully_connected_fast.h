/*
 * agilenn_fully_connected_fast.h - the optimized twin of the fully connected kernels
 * (agilenn_fully_connected_s8.h, the spec): the input offset folded into the bias at compile time, the
 * weights in the dot product's layout (agilenn_dot_fast.h), agilenn_requantize_fast.h.
 */
#ifndef AGILENN_FULLY_CONNECTED_FAST_H
#define AGILENN_FULLY_CONNECTED_FAST_H

#include "agilenn_dot_fast.h"
#include "agilenn_fully_connected_s8.h"
#include "agilenn_requantize_fast.h"

typedef struct {
    agilenn_fully_connected_params_t ref;      /**< shapes, offsets, clamp, multipliers (ref.weights may be NULL) */
    const int32_t *interior_bias;              /**< [N]: bias + input_offset * sum of the row's weights */
    const agilenn_fast_weight_t *fast_weights; /**< [N] rows of AGILENN_FAST_ROW(K) */
} agilenn_fully_connected_fast_params_t;

AGILENN_INLINE void agilenn_fully_connected_s8_fast_body(const agilenn_fully_connected_fast_params_t *fp,
                                                         const int8_t *restrict input, int8_t *restrict output)
{
    const agilenn_fully_connected_params_t *p = &fp->ref;
    const int32_t k = p->in_features, row = AGILENN_FAST_ROW(k);
    int32_t m, n;
    for (m = 0; m < p->rows; m++) {
        const int8_t *a = input + m * k;
        int8_t *y = output + m * p->out_features;
        for (n = 0; n < p->out_features; n++) {
            const int32_t acc = agilenn_dot_fast(a, fp->fast_weights + n * row, k, fp->interior_bias[n]);
            y[n] = (int8_t)agilenn_requantize_fast(acc, p->multiplier[p->per_channel ? n : 0], p->output_offset,
                                                   p->act_min, p->act_max);
        }
    }
}

AGILENN_INLINE void agilenn_fully_connected_s8_f32_fast_body(const agilenn_fully_connected_fast_params_t *fp,
                                                             const int8_t *restrict input, float *restrict output)
{
    const agilenn_fully_connected_params_t *p = &fp->ref;
    const int32_t k = p->in_features, row = AGILENN_FAST_ROW(k);
    int32_t m, n;
    for (m = 0; m < p->rows; m++) {
        const int8_t *a = input + m * k;
        float *y = output + m * p->out_features;
        for (n = 0; n < p->out_features; n++) {
            const int32_t acc = agilenn_dot_fast(a, fp->fast_weights + n * row, k, fp->interior_bias[n]);
            y[n] = (float)acc * p->float_multiplier[p->per_channel ? n : 0];
        }
    }
}

agilenn_status_t agilenn_fully_connected_s8_fast(const agilenn_fully_connected_fast_params_t *p,
                                                 const int8_t *input, int8_t *output);
agilenn_status_t agilenn_fully_connected_s8_f32_fast(const agilenn_fully_connected_fast_params_t *p,
                                                     const int8_t *input, float *output);

#endif /* AGILENN_FULLY_CONNECTED_FAST_H */
