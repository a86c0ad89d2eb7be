/* agilenn_dequantize_s8_f32 - DequantizeLinear, strided. */
#include "agilenn_quantization.h"

agilenn_status_t agilenn_dequantize_s8_f32(const agilenn_quantization_params_t *p, const int8_t *input,
                                           float *output)
{
    const agilenn_strided_t *g;
    int32_t i0, i1, i2, i3;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    g = &p->geometry;
    input += g->src_offset;
    output += g->dst_offset;
    for (i0 = 0; i0 < g->dims[0]; i0++) {
        for (i1 = 0; i1 < g->dims[1]; i1++) {
            for (i2 = 0; i2 < g->dims[2]; i2++) {
                const int32_t s = i0 * g->src_strides[0] + i1 * g->src_strides[1] + i2 * g->src_strides[2];
                const int32_t d = i0 * g->dst_strides[0] + i1 * g->dst_strides[1] + i2 * g->dst_strides[2];
                for (i3 = 0; i3 < g->dims[3]; i3++) {
                    output[d + i3 * g->dst_strides[3]] =
                        (float)((int32_t)input[s + i3 * g->src_strides[3]] - p->zero_point) * p->scale;
                }
            }
        }
    }
    return AGILENN_OK;
}
