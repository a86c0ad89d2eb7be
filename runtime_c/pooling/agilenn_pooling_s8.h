/*
 * Pooling kernels on NHWC int8 tensors.
 *
 * Global average (QLinearGlobalAveragePool): acc = sum(x) - x_zp * H * W, then the requantizer.
 * Average (QLinearAveragePool), onnxruntime's float path: d = x_scale * (float)(x - x_zp) summed
 * in window row-major order, divided by the count, y = clamp(rne((float)(mean / y_scale) + y_zp)).
 * Max: the largest input in the window (padding ignored), then clamped to [act_min, act_max].
 */
#ifndef AGILENN_POOLING_S8_H
#define AGILENN_POOLING_S8_H

#include "agilenn_arch.h"
#include "agilenn_requantize.h"

typedef struct {
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t dilation_h, dilation_w; /**< max pooling only */
    int32_t count_include_pad;      /**< average pooling: divide by the padded window size */
    float input_scale;              /**< average pooling (float path) */
    int32_t input_zero_point;
    float output_scale;
    int32_t output_zero_point;
    int32_t act_min, act_max;
} agilenn_pool_params_t;

typedef struct {
    int32_t pixels;           /**< H * W */
    int32_t pixel_stride;     /**< elements from one pixel to the next, >= channels (more: a channel slice of a
                                   wider NHWC tensor, the input pointer at its first channel) */
    int32_t channels;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t act_min, act_max;
    agilenn_multiplier_t multiplier; /**< x_scale / (y_scale * H * W), as onnxruntime rounds it */
} agilenn_global_avgpool_params_t;

agilenn_status_t agilenn_global_avgpool_s8(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                           int8_t *output);

agilenn_status_t agilenn_avgpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output);

agilenn_status_t agilenn_maxpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output);

/* The average and max pooling kernels are inline bodies here, so that generated code can instantiate them
 * per layer with constant shapes; agilenn_avgpool_s8.c and agilenn_maxpool_s8.c wrap them. */

AGILENN_INLINE int32_t agilenn_min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

AGILENN_INLINE int32_t agilenn_max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

AGILENN_INLINE void agilenn_avgpool_s8_body(const agilenn_pool_params_t *p, const int8_t *restrict input,
                                            int8_t *restrict output)
{
    int32_t oy, ox, c;
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
                        const int8_t v =
                            input[((size_t)y * (size_t)p->in_w + (size_t)x) * (size_t)p->channels + (size_t)c];
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
}

AGILENN_INLINE void agilenn_maxpool_s8_body(const agilenn_pool_params_t *p, const int8_t *restrict input,
                                            int8_t *restrict output)
{
    int32_t oy, ox, c;
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
}

#endif /* AGILENN_POOLING_S8_H */
