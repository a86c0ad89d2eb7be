/* agilenn_depthwise_conv_s8 - depthwise convolution, channel multiplier 1, NHWC. */
#include "agilenn_conv_s8.h"

agilenn_status_t agilenn_depthwise_conv_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox, c;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->groups != p->in_c || p->out_c != p->in_c) {
        return AGILENN_ERR_UNSUPPORTED;
    }
    for (oy = 0; oy < p->out_h; oy++) {
        for (ox = 0; ox < p->out_w; ox++) {
            int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c;
            for (c = 0; c < p->out_c; c++) {
                int32_t acc = (p->bias != NULL) ? p->bias[c] : 0;
                int32_t ky, kx;
                for (ky = 0; ky < p->kernel_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->kernel_w; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        acc += ((int32_t)input[((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c +
                                               (size_t)c] + p->input_offset) *
                               (int32_t)p->weights[((size_t)c * (size_t)p->kernel_h + (size_t)ky) *
                                                       (size_t)p->kernel_w + (size_t)kx];
                    }
                }
                out[c] = agilenn_requantize(acc, p->multiplier[p->per_channel ? c : 0], p->output_offset,
                                            p->act_min, p->act_max);
            }
        }
    }
    return AGILENN_OK;
}
