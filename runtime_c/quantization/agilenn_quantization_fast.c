/* agilenn_quantize_f32_s8_fast, agilenn_dequantize_s8_f32_fast - optimized twins (agilenn_quantization_fast.h). */
#include "agilenn_quantization_fast.h"

agilenn_status_t agilenn_quantize_f32_s8_fast(const agilenn_quantization_params_t *p, const float *input,
                                              int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_quantize_f32_s8_fast_body(p, input, output);
    return AGILENN_OK;
}

agilenn_status_t agilenn_dequantize_s8_f32_fast(const agilenn_quantization_params_t *p, const int8_t *input,
                                                float *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_dequantize_s8_f32_fast_body(p, input, output);
    return AGILENN_OK;
}
