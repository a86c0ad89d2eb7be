/*
 * Pooling kernels on NHWC int8 tensors.
 *
 * Global average (QLinearGlobalAveragePool): acc = sum(x) - x_zp * H * W, then the requantizer.
 * Average (QLinearAveragePool), onnxruntime's float path: d = x_scale * (float)(x - x_zp) summed
 * in window row-major order, divided by the count, y = clamp(rne((float)(mean / y_scale) + y_zp)).
 * Max: the largest input in the window (padding ignored), then clamped to [act_min, act_max].
 */
#ifndef AGILENN_POOLING_S8_H
#define AGILENN_POOLING_S8_H

#include "agilenn_requantize.h"

typedef struct {
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t dilation_h, dilation_w; /**< max pooling only */
    int32_t count_include_pad;      /**< average pooling: divide by the padded window size */
    float input_scale;              /**< average pooling (float path) */
    int32_t input_zero_point;
    float output_scale;
    int32_t output_zero_point;
    int32_t act_min, act_max;
} agilenn_pool_params_t;

typedef struct {
    int32_t pixels;           /**< H * W */
    int32_t channels;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t act_min, act_max;
    agilenn_multiplier_t multiplier; /**< x_scale / (y_scale * H * W), as onnxruntime rounds it */
} agilenn_global_avgpool_params_t;

agilenn_status_t agilenn_global_avgpool_s8(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                           int8_t *output);

agilenn_status_t agilenn_avgpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output);

agilenn_status_t agilenn_maxpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output);

#endif /* AGILENN_POOLING_S8_H */
