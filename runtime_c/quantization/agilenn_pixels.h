/*
 * agilenn_pixels.h - camera pixels (uint8) to the network's int8 input, through one 256-entry table per
 * channel computed at compile time (agilenn_codegen/compiler/pixels.py): table[c][p] is QuantizeLinear of
 * the normalised float value of pixel value p in channel c, so the result equals quantizing the float
 * image, bit for bit.
 *
 * Pixel element (pixel i, channel c) is read at pixels[i * in_pixel_stride + c * in_channel_stride] and
 * written at output[i * out_pixel_stride + c * out_channel_stride]: interleaved (H, W, C) pixels use
 * strides (C, 1), planes (C, H, W) use (1, H * W).
 *
 * When every table adds a constant to p (pattern_words > 0; e.g. an input quantized at scale 1/255 gives
 * q = p - 128) and input and output share a layout, the offsets are added four pixels at a time without
 * carries between bytes: for interleaved pixels `pattern` holds the per-byte offsets of lcm(C, 4) bytes
 * (1 to 4 words: C is 1, 2, 3, 4, 6, 8, 12 or 16), for planes one word per
 * plane with the plane's offset in every byte (C <= 4).
 */
#ifndef AGILENN_PIXELS_H
#define AGILENN_PIXELS_H

#include "agilenn_arch.h"

typedef struct {
    int32_t pixels;                                 /**< H * W */
    int32_t channels;                               /**< C */
    int32_t in_pixel_stride, in_channel_stride;     /**< the caller's pixel layout */
    int32_t out_pixel_stride, out_channel_stride;   /**< the network input's layout */
    const int8_t *tables;                           /**< [C][256] */
    int32_t pattern_words;                          /**< 0: look every value up; 1..4: add `pattern` bytewise */
    uint32_t pattern[4];                            /**< interleaved: offsets of lcm(C, 4) bytes; planar: per plane,
                                                         the plane's offset in every byte (pattern_words = C <= 4) */
} agilenn_pixels_params_t;

/** Four bytes of a plus four bytes of b, each modulo 256 (no carry crosses a byte). */
AGILENN_INLINE uint32_t agilenn_add_u8x4(uint32_t a, uint32_t b)
{
#if AGILENN_DSP_INSTRUCTIONS
    return __uadd8(a, b);
#else
    return ((a & 0x7F7F7F7Fu) + (b & 0x7F7F7F7Fu)) ^ ((a ^ b) & 0x80808080u);
#endif
}

AGILENN_INLINE void agilenn_pixels_u8_s8_body(const agilenn_pixels_params_t *p, const uint8_t *restrict pixels,
                                              int8_t *restrict output)
{
    const int32_t C = p->channels, P = p->pixels;
    const int32_t same = p->in_pixel_stride == p->out_pixel_stride && p->in_channel_stride == p->out_channel_stride;
    int32_t i, c;
    if (same && p->pattern_words > 0 && p->in_channel_stride == 1) {
        /* interleaved, every table an offset: four pixels a word, the offset pattern repeating every
           pattern_words words (lcm(C, 4) bytes) */
        const int32_t total = P * C, step = 4 * p->pattern_words;
        int32_t k;
        for (i = 0; i + step <= total; i += step) {
            AGILENN_UNROLL
            for (k = 0; k < 4; k++) {
                if (k < p->pattern_words) {
                    uint32_t w;
                    memcpy(&w, pixels + i + 4 * k, sizeof w);
                    w = agilenn_add_u8x4(w, p->pattern[k]);
                    memcpy(output + i + 4 * k, &w, sizeof w);
                }
            }
        }
        for (; i < total; i++) {
            output[i] = p->tables[(i % C) * 256 + pixels[i]];
        }
        return;
    }
    if (same && p->pattern_words > 0 && p->in_pixel_stride == 1) {
        /* planes, every table an offset: one word of the plane's offset, four pixels a step */
        for (c = 0; c < C; c++) {
            const uint8_t *src = pixels + c * p->in_channel_stride;
            int8_t *dst = output + c * p->out_channel_stride;
            for (i = 0; i + 4 <= P; i += 4) {
                uint32_t w;
                memcpy(&w, src + i, sizeof w);
                w = agilenn_add_u8x4(w, p->pattern[c]);
                memcpy(dst + i, &w, sizeof w);
            }
            for (; i < P; i++) {
                dst[i] = p->tables[c * 256 + src[i]];
            }
        }
        return;
    }
    /* any layouts: one table lookup per value */
    for (i = 0; i < P; i++) {
        const uint8_t *src = pixels + i * p->in_pixel_stride;
        int8_t *dst = output + i * p->out_pixel_stride;
        AGILENN_UNROLL
        for (c = 0; c < 8; c++) {
            if (c < C) {
                dst[c * p->out_channel_stride] = p->tables[c * 256 + src[c * p->in_channel_stride]];
            }
        }
        for (c = 8; c < C; c++) {
            dst[c * p->out_channel_stride] = p->tables[c * 256 + src[c * p->in_channel_stride]];
        }
    }
}

/** The pixel stage; AGILENN_ERR_ARGUMENT for NULL pointers or a pattern outside 0..4 words. */
agilenn_status_t agilenn_pixels_u8_s8(const agilenn_pixels_params_t *p, const uint8_t *pixels, int8_t *output);

#endif /* AGILENN_PIXELS_H */
