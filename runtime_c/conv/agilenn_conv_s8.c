/* agilenn_conv_s8 - the reference convolution: general KxK, strides, dilations, padding, groups. */
#include "agilenn_conv_s8.h"

agilenn_status_t agilenn_conv_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox, oc;
    int32_t in_c_per_group, out_c_per_group;
    if (p == NULL || input == NULL || output == NULL || p->groups < 1) {
        return AGILENN_ERR_ARGUMENT;
    }
    in_c_per_group = p->in_c / p->groups;
    out_c_per_group = p->out_c / p->groups;
    for (oy = 0; oy < p->out_h; oy++) {
        for (ox = 0; ox < p->out_w; ox++) {
            int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->out_c;
            for (oc = 0; oc < p->out_c; oc++) {
                const int32_t ic0 = (oc / out_c_per_group) * in_c_per_group;
                int32_t acc = (p->bias != NULL) ? p->bias[oc] : 0;
                int32_t ky, kx, ic;
                for (ky = 0; ky < p->kernel_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->kernel_w; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                        const int8_t *in;
                        const int8_t *w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        in = input + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c + (size_t)ic0;
                        w = p->weights + (((size_t)oc * (size_t)p->kernel_h + (size_t)ky) * (size_t)p->kernel_w +
                                          (size_t)kx) * (size_t)in_c_per_group;
                        for (ic = 0; ic < in_c_per_group; ic++) {
                            acc += ((int32_t)in[ic] + p->input_offset) * (int32_t)w[ic];
                        }
                    }
                }
                out[oc] = agilenn_requantize(acc, p->multiplier[p->per_channel ? oc : 0], p->output_offset,
                                             p->act_min, p->act_max);
            }
        }
    }
    return AGILENN_OK;
}
