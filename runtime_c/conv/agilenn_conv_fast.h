/*
 * agilenn_conv_fast.h - optimized convolution kernels: exactly the results of the reference kernels
 * (agilenn_conv_s8.h, the spec), in fewer instructions.
 *
 * What they do that the reference does not:
 *  - outputs whose whole window lies inside the input ("interior") start from interior_bias[oc] =
 *    bias[oc] + input_offset * (sum of the channel's weights) and multiply the raw int8 inputs, so the
 *    input offset costs nothing per tap; only border outputs test bounds (and use the reference formula);
 *  - the 1x1 and general kernels read weights laid out at compile time for the dot product
 *    (agilenn_dot_fast.h: SMLAD on DSP cores), the depthwise kernel the plain OHWI weights;
 *  - requantization by agilenn_requantize_fast.h (one rounding instruction on FPU cores).
 *
 * Each kernel is an inline body plus an out-of-line function with the same name (the "twin" of the
 * reference kernel, for any parameters). Generated code instantiates the body once per layer with the
 * layer's `static const` parameters, so every shape, stride and offset is a compile-time constant.
 * The bodies trust their parameters (the code generator checked them); the functions check them.
 */
#ifndef AGILENN_CONV_FAST_H
#define AGILENN_CONV_FAST_H

#include "agilenn_conv_s8.h"
#include "agilenn_dot_fast.h"
#include "agilenn_requantize_fast.h"

typedef struct {
    agilenn_conv_params_t ref;                 /**< what the reference kernel reads (ref.weights may be NULL
                                                    for a 1x1 kernel on a DSP core: it reads fast_weights) */
    const int32_t *interior_bias;              /**< [out_c]: bias + input_offset * sum of the channel's weights */
    const agilenn_fast_weight_t *fast_weights; /**< 1x1 and general kernels: [out_c][kernel_h][kernel_w] rows of
                                                    AGILENN_FAST_ROW(in_c / groups) (agilenn_dot_fast.h) */
} agilenn_conv_fast_params_t;

/** First output index whose window starts inside the input: o * stride - pad >= 0. */
AGILENN_INLINE int32_t agilenn_conv_first_inside(int32_t pad, int32_t stride)
{
    return (pad + stride - 1) / stride;
}

/** One past the last output index whose window ends inside the input, at least `first`. */
AGILENN_INLINE int32_t agilenn_conv_end_inside(int32_t in, int32_t pad, int32_t stride, int32_t span, int32_t out,
                                               int32_t first)
{
    const int32_t room = in - span + pad; /* last start position: o * stride <= room */
    int32_t end = room < 0 ? 0 : room / stride + 1;
    end = end > out ? out : end;
    return end < first ? first : end;
}

/** Output channels [oc0, oc1) of output pixel (oy, ox), the reference way: bounds-checked taps, input offset
 * per tap. Used where the window crosses the padding. */
AGILENN_INLINE void agilenn_conv_fast_border(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output,
                                             int32_t oy, int32_t ox, int32_t oc0, int32_t oc1)
{
    const int32_t cpg = p->in_c / p->groups, opg = p->out_c / p->groups;
    int8_t *out = output + (oy * p->out_w + ox) * p->out_c;
    int32_t oc;
    for (oc = oc0; oc < oc1; oc++) {
        const int32_t ic0 = (oc / opg) * cpg;
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
                in = input + (iy * p->in_w + ix) * p->in_c + ic0;
                w = p->weights + ((oc * p->kernel_h + ky) * p->kernel_w + kx) * cpg;
                for (ic = 0; ic < cpg; ic++) {
                    acc += ((int32_t)in[ic] + p->input_offset) * (int32_t)w[ic];
                }
            }
        }
        out[oc] = (int8_t)agilenn_requantize_fast(acc, p->multiplier[p->per_channel ? oc : 0], p->output_offset,
                                                  p->act_min, p->act_max);
    }
}

/* ---- 1x1, stride 1, no padding, groups 1: a matrix product over pixels -------------------------- */

AGILENN_INLINE void agilenn_conv_1x1_s8_fast_body(const agilenn_conv_fast_params_t *fp, const int8_t *restrict input,
                                                  int8_t *restrict output)
{
    const agilenn_conv_params_t *p = &fp->ref;
    const int32_t pixels = p->out_h * p->out_w, in_c = p->in_c, out_c = p->out_c, row = AGILENN_FAST_ROW(in_c);
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    int32_t oc = 0, px;
    if (in_c <= 4) {
        /* few inputs: two output channels at a time across all pixels, their weights held in registers */
        for (; oc + 2 <= out_c; oc += 2) {
            const agilenn_fast_weight_t *w0 = fp->fast_weights + oc * row;
            const agilenn_fast_weight_t *w1 = w0 + row;
            const int32_t b0 = fp->interior_bias[oc], b1 = fp->interior_bias[oc + 1];
            const agilenn_multiplier_t m0 = p->multiplier[p->per_channel ? oc : 0];
            const agilenn_multiplier_t m1 = p->multiplier[p->per_channel ? oc + 1 : 0];
            const int8_t *x = input;
            int8_t *y = output + oc;
            for (px = 0; px + 2 <= pixels; px += 2) { /* two pixels a step: half the loop overhead */
                const int32_t a0 = agilenn_dot_fast(x, w0, in_c, b0);
                const int32_t a1 = agilenn_dot_fast(x, w1, in_c, b1);
                const int32_t a2 = agilenn_dot_fast(x + in_c, w0, in_c, b0);
                const int32_t a3 = agilenn_dot_fast(x + in_c, w1, in_c, b1);
                y[0] = (int8_t)agilenn_requantize_fast(a0, m0, zp, lo, hi);
                y[1] = (int8_t)agilenn_requantize_fast(a1, m1, zp, lo, hi);
                y[out_c] = (int8_t)agilenn_requantize_fast(a2, m0, zp, lo, hi);
                y[out_c + 1] = (int8_t)agilenn_requantize_fast(a3, m1, zp, lo, hi);
                x += 2 * in_c;
                y += 2 * out_c;
            }
            if (px < pixels) {
                const int32_t a0 = agilenn_dot_fast(x, w0, in_c, b0);
                const int32_t a1 = agilenn_dot_fast(x, w1, in_c, b1);
                y[0] = (int8_t)agilenn_requantize_fast(a0, m0, zp, lo, hi);
                y[1] = (int8_t)agilenn_requantize_fast(a1, m1, zp, lo, hi);
            }
        }
        if (oc < out_c) {
            const agilenn_fast_weight_t *w0 = fp->fast_weights + oc * row;
            const int32_t b0 = fp->interior_bias[oc];
            const agilenn_multiplier_t m0 = p->multiplier[p->per_channel ? oc : 0];
            const int8_t *x = input;
            int8_t *y = output + oc;
            for (px = 0; px < pixels; px++) {
                *y = (int8_t)agilenn_requantize_fast(agilenn_dot_fast(x, w0, in_c, b0), m0, zp, lo, hi);
                x += in_c;
                y += out_c;
            }
        }
        return;
    }
    /* many inputs: every output channel of one pixel, then the next pixel */
    for (px = 0; px < pixels; px++) {
        const int8_t *x = input + px * in_c;
        int8_t *y = output + px * out_c;
        for (oc = 0; oc < out_c; oc++) {
            const int32_t acc = agilenn_dot_fast(x, fp->fast_weights + oc * row, in_c, fp->interior_bias[oc]);
            y[oc] = (int8_t)agilenn_requantize_fast(acc, p->multiplier[p->per_channel ? oc : 0], zp, lo, hi);
        }
    }
}

/* ---- depthwise (groups == in_c == out_c), kernels up to 5x5, any stride, dilation and padding ------ */

/** A channel's depthwise weights as the multiply-accumulates read them: on DSP cores two taps per register
 * (int16 pairs for SMLABB/SMLABT), which keeps a 3x3 kernel's nine weights in five registers. */
#define AGILENN_DW_MAX_TAPS 25
typedef struct {
#if AGILENN_DSP_INSTRUCTIONS
    uint32_t pair[(AGILENN_DW_MAX_TAPS + 1) / 2];
#else
    int32_t tap[AGILENN_DW_MAX_TAPS];
#endif
} agilenn_dw_weights_t;

AGILENN_INLINE void agilenn_dw_load_weights(agilenn_dw_weights_t *dst, const int8_t *w, int32_t taps)
{
    int32_t k;
    AGILENN_UNROLL
    for (k = 0; k < taps; k++) {
#if AGILENN_DSP_INSTRUCTIONS
        if (k % 2 == 0) {
            dst->pair[k / 2] = agilenn_pack_s16x2(w[k], k + 1 < taps ? w[k + 1] : 0);
        }
#else
        dst->tap[k] = w[k];
#endif
    }
}

/** acc + v * (tap k's weight). */
AGILENN_INLINE int32_t agilenn_dw_mac(int32_t acc, int32_t v, const agilenn_dw_weights_t *w, int32_t k)
{
#if AGILENN_DSP_INSTRUCTIONS
    return (k % 2 == 0) ? agilenn_smlabb((uint32_t)v, w->pair[k / 2], acc)
                        : agilenn_smlabt((uint32_t)v, w->pair[k / 2], acc);
#else
    return acc + v * w->tap[k];
#endif
}

/** The taps of output o that fall inside the input along one axis: [*k0, *k1). */
AGILENN_INLINE void agilenn_valid_taps(int32_t o, int32_t stride, int32_t pad, int32_t dilation, int32_t k,
                                       int32_t in, int32_t *k0, int32_t *k1)
{
    const int32_t start = o * stride - pad;
    int32_t a = 0, b = k;
    while (a < k && start + a * dilation < 0) {
        a++;
    }
    while (b > a && start + (b - 1) * dilation >= in) {
        b--;
    }
    *k0 = a;
    *k1 = b;
}

/** Channel c of output (oy, ox) from the taps ky in [ky0, ky1), kx in [kx0, kx1) only, the others lying in the
 * padding: the reference formula, (x + input_offset) * w, without bounds checks. */
AGILENN_INLINE int32_t agilenn_depthwise_partial(const agilenn_conv_params_t *p, const int8_t *input,
                                                 const agilenn_dw_weights_t *w, int32_t c, int32_t oy, int32_t ox,
                                                 int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1)
{
    const int8_t *x =
        input + ((oy * p->stride_h - p->pad_top) * p->in_w + (ox * p->stride_w - p->pad_left)) * p->in_c + c;
    int32_t acc = (p->bias != NULL) ? p->bias[c] : 0, ky, kx;
    for (ky = ky0; ky < ky1; ky++) {
        for (kx = kx0; kx < kx1; kx++) {
            const int32_t v = x[(ky * p->dilation_h * p->in_w + kx * p->dilation_w) * p->in_c] + p->input_offset;
            acc = agilenn_dw_mac(acc, v, w, ky * p->kernel_w + kx);
        }
    }
    return acc;
}

/** Row oy of channel c. Columns [ox0, ox1) have their window inside the input horizontally; when the row's
 * taps are all inside too (`full`) they start from the interior bias and multiply raw inputs, UNROLL outputs
 * a step sharing the loads of their common columns (stride 1). The other outputs take the partial formula.
 * Called in loops whose bounds are constants, so the border rows unroll into straight code. */
AGILENN_INLINE void agilenn_depthwise_row(const agilenn_conv_params_t *p, const int8_t *restrict input,
                                          int8_t *restrict output, const agilenn_dw_weights_t *w, int32_t c,
                                          int32_t oy, int32_t ox0, int32_t ox1, int32_t full, int32_t bias,
                                          agilenn_multiplier_t m)
{
    enum { UNROLL = 4 };
    const int32_t C = p->in_c, kh = p->kernel_h, kw = p->kernel_w, dh = p->dilation_h, dw = p->dilation_w;
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    int8_t *y = output + oy * p->out_w * C + c;
    int32_t ox, ky, kx, u, ky0, ky1, kx0, kx1;
    agilenn_valid_taps(oy, p->stride_h, p->pad_top, dh, kh, p->in_h, &ky0, &ky1);
    for (ox = 0; ox < ox0; ox++) {
        agilenn_valid_taps(ox, p->stride_w, p->pad_left, dw, kw, p->in_w, &kx0, &kx1);
        y[ox * C] = (int8_t)agilenn_requantize_fast(
            agilenn_depthwise_partial(p, input, w, c, oy, ox, ky0, ky1, kx0, kx1), m, zp, lo, hi);
    }
    if (full) {
        const int8_t *x =
            input + ((oy * p->stride_h - p->pad_top) * p->in_w + (ox0 * p->stride_w - p->pad_left)) * C + c;
        if (p->stride_w == 1 && dw == 1) {
            for (; ox + UNROLL <= ox1; ox += UNROLL) {
                int32_t acc[UNROLL];
                AGILENN_UNROLL
                for (u = 0; u < UNROLL; u++) {
                    acc[u] = bias;
                }
                AGILENN_UNROLL
                for (ky = 0; ky < kh; ky++) {
                    AGILENN_UNROLL
                    for (kx = 0; kx < kw + UNROLL - 1; kx++) {
                        const int32_t v = x[(ky * dh * p->in_w + kx) * C];
                        AGILENN_UNROLL
                        for (u = 0; u < UNROLL; u++) {
                            if (kx - u >= 0 && kx - u < kw) {
                                acc[u] = agilenn_dw_mac(acc[u], v, w, ky * kw + kx - u);
                            }
                        }
                    }
                }
                AGILENN_UNROLL
                for (u = 0; u < UNROLL; u++) {
                    y[(ox + u) * C] = (int8_t)agilenn_requantize_fast(acc[u], m, zp, lo, hi);
                }
                x += UNROLL * C;
            }
        }
        for (; ox < ox1; ox++) {
            int32_t acc = bias;
            AGILENN_UNROLL
            for (ky = 0; ky < kh; ky++) {
                AGILENN_UNROLL
                for (kx = 0; kx < kw; kx++) {
                    acc = agilenn_dw_mac(acc, x[(ky * dh * p->in_w + kx * dw) * C], w, ky * kw + kx);
                }
            }
            y[ox * C] = (int8_t)agilenn_requantize_fast(acc, m, zp, lo, hi);
            x += p->stride_w * C;
        }
    } else {
        for (; ox < ox1; ox++) {
            y[ox * C] = (int8_t)agilenn_requantize_fast(
                agilenn_depthwise_partial(p, input, w, c, oy, ox, ky0, ky1, 0, kw), m, zp, lo, hi);
        }
    }
    for (ox = ox1; ox < p->out_w; ox++) {
        agilenn_valid_taps(ox, p->stride_w, p->pad_left, dw, kw, p->in_w, &kx0, &kx1);
        y[ox * C] = (int8_t)agilenn_requantize_fast(
            agilenn_depthwise_partial(p, input, w, c, oy, ox, ky0, ky1, kx0, kx1), m, zp, lo, hi);
    }
}

AGILENN_INLINE void agilenn_depthwise_conv_s8_fast_body(const agilenn_conv_fast_params_t *fp,
                                                        const int8_t *restrict input, int8_t *restrict output)
{
    const agilenn_conv_params_t *p = &fp->ref;
    const int32_t kh = p->kernel_h, kw = p->kernel_w;
    const int32_t oy0 = agilenn_conv_first_inside(p->pad_top, p->stride_h);
    const int32_t oy1 =
        agilenn_conv_end_inside(p->in_h, p->pad_top, p->stride_h, (kh - 1) * p->dilation_h + 1, p->out_h, oy0);
    const int32_t ox0 = agilenn_conv_first_inside(p->pad_left, p->stride_w);
    const int32_t ox1 =
        agilenn_conv_end_inside(p->in_w, p->pad_left, p->stride_w, (kw - 1) * p->dilation_w + 1, p->out_w, ox0);
    int32_t c, oy;
    for (c = 0; c < p->in_c; c++) {
        const agilenn_multiplier_t m = p->multiplier[p->per_channel ? c : 0];
        const int32_t bias = fp->interior_bias[c];
        agilenn_dw_weights_t w;
        agilenn_dw_load_weights(&w, p->weights + c * kh * kw, kh * kw);
        for (oy = 0; oy < oy0; oy++) {
            agilenn_depthwise_row(p, input, output, &w, c, oy, ox0, ox1, 0, bias, m);
        }
        for (oy = oy0; oy < oy1; oy++) {
            agilenn_depthwise_row(p, input, output, &w, c, oy, ox0, ox1, 1, bias, m);
        }
        for (oy = oy1; oy < p->out_h; oy++) {
            agilenn_depthwise_row(p, input, output, &w, c, oy, ox0, ox1, 0, bias, m);
        }
    }
}

/* ---- general: any kernel, stride, dilation, padding and groups ------------------------------------ */

AGILENN_INLINE void agilenn_conv_s8_fast_body(const agilenn_conv_fast_params_t *fp, const int8_t *restrict input,
                                              int8_t *restrict output)
{
    const agilenn_conv_params_t *p = &fp->ref;
    const int32_t C = p->in_c, kh = p->kernel_h, kw = p->kernel_w;
    const int32_t cpg = p->in_c / p->groups, opg = p->out_c / p->groups, row = AGILENN_FAST_ROW(cpg);
    const int32_t oy0 = agilenn_conv_first_inside(p->pad_top, p->stride_h);
    const int32_t oy1 =
        agilenn_conv_end_inside(p->in_h, p->pad_top, p->stride_h, (kh - 1) * p->dilation_h + 1, p->out_h, oy0);
    const int32_t ox0 = agilenn_conv_first_inside(p->pad_left, p->stride_w);
    const int32_t ox1 =
        agilenn_conv_end_inside(p->in_w, p->pad_left, p->stride_w, (kw - 1) * p->dilation_w + 1, p->out_w, ox0);
    int32_t oy, ox, oc;
    for (oy = 0; oy < p->out_h; oy++) {
        for (ox = 0; ox < p->out_w; ox++) {
            const int8_t *x;
            int8_t *y;
            if (oy < oy0 || oy >= oy1 || ox < ox0 || ox >= ox1) {
                agilenn_conv_fast_border(p, input, output, oy, ox, 0, p->out_c);
                continue;
            }
            x = input + ((oy * p->stride_h - p->pad_top) * p->in_w + (ox * p->stride_w - p->pad_left)) * C;
            y = output + (oy * p->out_w + ox) * p->out_c;
            for (oc = 0; oc < p->out_c; oc++) {
                const int8_t *xg = x + (oc / opg) * cpg;
                const agilenn_fast_weight_t *w = fp->fast_weights + oc * kh * kw * row;
                int32_t acc = fp->interior_bias[oc], ky, kx;
                for (ky = 0; ky < kh; ky++) {
                    for (kx = 0; kx < kw; kx++) {
                        acc = agilenn_dot_fast(xg + (ky * p->dilation_h * p->in_w + kx * p->dilation_w) * C, w, cpg,
                                               acc);
                        w += row;
                    }
                }
                y[oc] = (int8_t)agilenn_requantize_fast(acc, p->multiplier[p->per_channel ? oc : 0],
                                                        p->output_offset, p->act_min, p->act_max);
            }
        }
    }
}

/** Out-of-line twins of the reference kernels (same predicates as agilenn_conv_wrapper_s8). */
agilenn_status_t agilenn_conv_1x1_s8_fast(const agilenn_conv_fast_params_t *p, const int8_t *input, int8_t *output);
agilenn_status_t agilenn_depthwise_conv_s8_fast(const agilenn_conv_fast_params_t *p, const int8_t *input,
                                                int8_t *output);
agilenn_status_t agilenn_conv_s8_fast(const agilenn_conv_fast_params_t *p, const int8_t *input, int8_t *output);

#endif /* AGILENN_CONV_FAST_H */
