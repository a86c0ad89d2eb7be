/*
 * Fully connected kernels (QGemm, QLinearMatMul): rows x [K] int8 times weights [N][K].
 *
 *   acc[m][n] = bias[n] + sum_k (a[m][k] + input_offset) * w[n][k]
 *   int8 output:  y = agilenn_requantize(acc, multiplier[n or 0], output_offset, act_min, act_max)
 *   float output: y = (float)acc * multiplier[n or 0]  (QGemm without an output scale)
 */
#ifndef AGILENN_FULLY_CONNECTED_S8_H
#define AGILENN_FULLY_CONNECTED_S8_H

#include "agilenn_requantize.h"

typedef struct {
    int32_t rows;          /**< M: independent input rows */
    int32_t in_features;   /**< K */
    int32_t out_features;  /**< N */
    int32_t input_offset;  /**< -(input zero point) */
    int32_t output_offset; /**< output zero point (int8 output only) */
    int32_t act_min, act_max;
    int32_t per_channel;   /**< 1: one multiplier per output feature */
    const int8_t *weights; /**< [N][K] */
    const int32_t *bias;   /**< [N] or NULL */
    const agilenn_multiplier_t *multiplier;
    const float *float_multiplier; /**< float output only: [N] or [1] */
} agilenn_fully_connected_params_t;

agilenn_status_t agilenn_fully_connected_s8(const agilenn_fully_connected_params_t *p, const int8_t *input,
                                            int8_t *output);

agilenn_status_t agilenn_fully_connected_s8_f32(const agilenn_fully_connected_params_t *p, const int8_t *input,
                                                float *output);

#endif /* AGILENN_FULLY_CONNECTED_S8_H */
