/*
 * QuantizeLinear (float32 -> int8) and DequantizeLinear (int8 -> float32) over a 4-D strided space,
 * so that the model's float inputs and outputs keep the caller's layout while the network runs NHWC.
 *
 *   quantize:   q = rne(clamp(x / scale, -128 - zp, 127 - zp)) + zp   (a true division)
 *   dequantize: x = (float)(q - zp) * scale
 */
#ifndef AGILENN_QUANTIZATION_H
#define AGILENN_QUANTIZATION_H

#include "agilenn_requantize.h"

typedef struct {
    agilenn_strided_t geometry;
    float scale;
    int32_t zero_point;
} agilenn_quantization_params_t;

agilenn_status_t agilenn_quantize_f32_s8(const agilenn_quantization_params_t *p, const float *input, int8_t *output);

agilenn_status_t agilenn_dequantize_s8_f32(const agilenn_quantization_params_t *p, const int8_t *input,
                                           float *output);

#endif /* AGILENN_QUANTIZATION_H */
