/* agilenn_fully_connected_s8 - int8 x int8 -> int8 matrix product with onnxruntime's requantization. */
#include "agilenn_fully_connected_s8.h"

static int32_t agilenn_fc_dot(const agilenn_fully_connected_params_t *p, const int8_t *a, int32_t n)
{
    const int8_t *w = p->weights + (size_t)n * (size_t)p->in_features;
    int32_t acc = (p->bias != NULL) ? p->bias[n] : 0;
    int32_t k;
    for (k = 0; k < p->in_features; k++) {
        acc += ((int32_t)a[k] + p->input_offset) * (int32_t)w[k];
    }
    return acc;
}

agilenn_status_t agilenn_fully_connected_s8(const agilenn_fully_connected_params_t *p, const int8_t *input,
                                            int8_t *output)
{
    int32_t m, n;
    if (p == NULL || input == NULL || output == NULL || p->multiplier == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (m = 0; m < p->rows; m++) {
        const int8_t *a = input + (size_t)m * (size_t)p->in_features;
        int8_t *out = output + (size_t)m * (size_t)p->out_features;
        for (n = 0; n < p->out_features; n++) {
            out[n] = agilenn_requantize(agilenn_fc_dot(p, a, n), p->multiplier[p->per_channel ? n : 0],
                                        p->output_offset, p->act_min, p->act_max);
        }
    }
    return AGILENN_OK;
}

agilenn_status_t agilenn_fully_connected_s8_f32(const agilenn_fully_connected_params_t *p, const int8_t *input,
                                                float *output)
{
    int32_t m, n;
    if (p == NULL || input == NULL || output == NULL || p->float_multiplier == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (m = 0; m < p->rows; m++) {
        const int8_t *a = input + (size_t)m * (size_t)p->in_features;
        float *out = output + (size_t)m * (size_t)p->out_features;
        for (n = 0; n < p->out_features; n++) {
            out[n] = (float)agilenn_fc_dot(p, a, n) * p->float_multiplier[p->per_channel ? n : 0];
        }
    }
    return AGILENN_OK;
}
