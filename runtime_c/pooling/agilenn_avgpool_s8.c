/* agilenn_avgpool_s8 - QLinearAveragePool, onnxruntime's float computation, NHWC. */
#include "agilenn_pooling_s8.h"

static int32_t agilenn_min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t agilenn_max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

agilenn_status_t agilenn_avgpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t oy, ox, c;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (oy = 0; oy < p->out_h; oy++) {
        /* window rows [y0, y1) clipped to the padded input, then [ys, ye) to the input */
        const int32_t y0 = oy * p->stride_h - p->pad_top;
        const int32_t y1 = agilenn_min_i32(y0 + p->kernel_h, p->in_h + p->pad_bottom);
        const int32_t ys = agilenn_max_i32(y0, 0);
        const int32_t ye = agilenn_min_i32(y1, p->in_h);
        for (ox = 0; ox < p->out_w; ox++) {
            const int32_t x0 = ox * p->stride_w - p->pad_left;
            const int32_t x1 = agilenn_min_i32(x0 + p->kernel_w, p->in_w + p->pad_right);
            const int32_t xs = agilenn_max_i32(x0, 0);
            const int32_t xe = agilenn_min_i32(x1, p->in_w);
            const int32_t count = p->count_include_pad ? (y1 - y0) * (x1 - x0) : (ye - ys) * (xe - xs);
            int8_t *out = output + ((size_t)oy * (size_t)p->out_w + (size_t)ox) * (size_t)p->channels;
            for (c = 0; c < p->channels; c++) {
                float sum = 0.0f;
                float mean;
                int32_t y, x, q;
                for (y = ys; y < ye; y++) {
                    for (x = xs; x < xe; x++) {
                        const int8_t v = input[((size_t)y * (size_t)p->in_w + (size_t)x) * (size_t)p->channels + (size_t)c];
                        sum += p->input_scale * (float)((int32_t)v - p->input_zero_point);
                    }
                }
                mean = sum / (float)count;
                q = agilenn_rne_int(mean / p->output_scale + (float)p->output_zero_point);
                q = q < p->act_min ? p->act_min : q;
                q = q > p->act_max ? p->act_max : q;
                out[c] = (int8_t)q;
            }
        }
    }
    return AGILENN_OK;
}
