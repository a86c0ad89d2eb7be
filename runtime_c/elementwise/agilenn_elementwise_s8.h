/*
 * Elementwise kernels on int8 tensors of equal shape (any layout, both inputs the same).
 *
 * Add (QLinearAdd, onnxruntime's FMA form on raw int8 values):
 *     y = clamp(rne(fmaf(a, a_ratio, fmaf(b, b_ratio, offset))), act_min, act_max)
 *     a_ratio = sa / sy, b_ratio = sb / sy, offset = (float)zy - fmaf(a_ratio, za, b_ratio * zb)
 * Mul (QLinearMul): y = clamp(rne(((sa * (a - za)) * (sb * (b - zb))) / sy + zy), act_min, act_max)
 * Clamp (int8 Relu/Clip): y = min(max(x, lo), hi)
 */
#ifndef AGILENN_ELEMENTWISE_S8_H
#define AGILENN_ELEMENTWISE_S8_H

#include "agilenn_requantize.h"

typedef struct {
    int32_t size; /**< elements */
    float a_ratio, b_ratio, offset;
    int32_t act_min, act_max;
} agilenn_add_params_t;

typedef struct {
    int32_t size;
    float a_scale, b_scale, output_scale;
    int32_t a_zero_point, b_zero_point, output_zero_point;
    int32_t act_min, act_max;
} agilenn_mul_params_t;

typedef struct {
    int32_t size;
    int32_t lo, hi;
} agilenn_clamp_params_t;

agilenn_status_t agilenn_add_s8(const agilenn_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);

agilenn_status_t agilenn_mul_s8(const agilenn_mul_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);

agilenn_status_t agilenn_clamp_s8(const agilenn_clamp_params_t *p, const int8_t *input, int8_t *output);

#endif /* AGILENN_ELEMENTWISE_S8_H */
