/*
 * Convolution kernels (QLinearConv): NHWC int8 input and output, weights [out_c][kh][kw][in_c/groups].
 *
 *   acc = bias[oc] + sum (x + input_offset) * w      (exact int32; padding contributes nothing)
 *   y   = agilenn_requantize(acc, multiplier[per_channel ? oc : 0], output_offset, act_min, act_max)
 */
#ifndef AGILENN_CONV_S8_H
#define AGILENN_CONV_S8_H

#include "agilenn_requantize.h"

typedef struct {
    int32_t in_h, in_w, in_c;       /**< input feature map (NHWC, batch 1) */
    int32_t out_h, out_w, out_c;    /**< output feature map */
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;     /**< >= 1 */
    int32_t pad_top, pad_left;      /**< leading zero padding (trailing padding follows from the sizes) */
    int32_t dilation_h, dilation_w; /**< >= 1 */
    int32_t groups;                 /**< in_c and out_c are multiples of it; depthwise: groups == in_c */
    int32_t input_offset;           /**< -(input zero point), in [-127, 128] */
    int32_t output_offset;          /**< output zero point, in [-128, 127] */
    int32_t act_min, act_max;       /**< clamp of the quantized output, -128 <= act_min <= act_max <= 127 */
    int32_t per_channel;            /**< 1: one multiplier per output channel; 0: multiplier[0] for all */
    const int8_t *weights;          /**< [out_c][kernel_h][kernel_w][in_c / groups] */
    const int32_t *bias;            /**< [out_c], or NULL */
    const agilenn_multiplier_t *multiplier;
} agilenn_conv_params_t;

/** Any convolution (the reference: general KxK, strides, dilations, groups). */
agilenn_status_t agilenn_conv_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output);

/** Depthwise convolution with channel multiplier 1 (groups == in_c == out_c). */
agilenn_status_t agilenn_depthwise_conv_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output);

/** 1x1 convolution, stride 1, no padding, groups 1: a matrix product over pixels. */
agilenn_status_t agilenn_conv_1x1_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output);

/** Picks the fastest kernel that implements `p` (depthwise, 1x1, else the general one). */
agilenn_status_t agilenn_conv_wrapper_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output);

/** Scratch bytes the kernel chosen by the wrapper needs (0 for the portable kernels). */
int32_t agilenn_conv_wrapper_s8_get_buffer_size(const agilenn_conv_params_t *p);

#endif /* AGILENN_CONV_S8_H */
