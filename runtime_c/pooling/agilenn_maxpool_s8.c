/* agilenn_maxpool_s8 - max pooling on int8 NHWC (padding never wins), with dilations. */
#include "agilenn_pooling_s8.h"

agilenn_status_t agilenn_maxpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox, c;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (oy = 0; oy < p->out_h; oy++) {
        for (ox = 0; ox < p->out_w; ox++) {
            int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->channels;
            for (c = 0; c < p->channels; c++) {
                int32_t best = -128;
                int32_t ky, kx;
                for (ky = 0; ky < p->kernel_h; ky++) {
                    const int32_t y = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (y < 0 || y >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->kernel_w; kx++) {
                        const int32_t x = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                        int32_t v;
                        if (x < 0 || x >= p->in_w) {
                            continue;
                        }
                        v = input[((size_t)y * (size_t)p->in_w + (size_t)x) * (size_t)p->channels + (size_t)c];
                        best = v > best ? v : best;
                    }
                }
                best = best < p->act_min ? p->act_min : best;
                best = best > p->act_max ? p->act_max : best;
                out[c] = (int8_t)best;
            }
        }
    }
    return AGILENN_OK;
}
