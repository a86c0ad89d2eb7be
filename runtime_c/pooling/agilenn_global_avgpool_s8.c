/* agilenn_global_avgpool_s8 - QLinearGlobalAveragePool over an NHWC map, one output per channel. */
#include "agilenn_pooling_s8.h"

agilenn_status_t agilenn_global_avgpool_s8(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                           int8_t *output)
{
    int32_t c, i;
    if (p == NULL || input == NULL || output == NULL || p->pixel_stride < p->channels) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (c = 0; c < p->channels; c++) {
        int32_t acc = -p->input_zero_point * p->pixels;
        for (i = 0; i < p->pixels; i++) {
            acc += input[(size_t)i * (size_t)p->pixel_stride + (size_t)c];
        }
        output[c] = agilenn_requantize(acc, p->multiplier, p->output_zero_point, p->act_min, p->act_max);
    }
    return AGILENN_OK;
}
