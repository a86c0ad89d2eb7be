/* agilenn_conv_1x1_s8 - pointwise convolution (1x1, stride 1, no padding, groups 1), NHWC. */
#include "agilenn_conv_s8.h"

agilenn_status_t agilenn_conv_1x1_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t px, oc, ic, pixels;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->kernel_h != 1 || p->kernel_w != 1 || p->stride_h != 1 || p->stride_w != 1 || p->pad_top != 0 ||
        p->pad_left != 0 || p->groups != 1 || p->out_h != p->in_h || p->out_w != p->in_w) {
        return AGILENN_ERR_UNSUPPORTED;
    }
    pixels = p->out_h * p->out_w;
    for (px = 0; px < pixels; px++) {
        const int8_t *in = input + (size_t)px * (size_t)p->in_c;
        int8_t *out = output + (size_t)px * (size_t)p->out_c;
        for (oc = 0; oc < p->out_c; oc++) {
            const int8_t *w = p->weights + (size_t)oc * (size_t)p->in_c;
            int32_t acc = (p->bias != NULL) ? p->bias[oc] : 0;
            for (ic = 0; ic < p->in_c; ic++) {
                acc += ((int32_t)in[ic] + p->input_offset) * (int32_t)w[ic];
            }
            out[oc] = agilenn_requantize(acc, p->multiplier[p->per_channel ? oc : 0], p->output_offset, p->act_min,
                                         p->act_max);
        }
    }
    return AGILENN_OK;
}
