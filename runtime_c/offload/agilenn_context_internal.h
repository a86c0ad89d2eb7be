/*
 * agilenn_context_internal.h - the steps the context encoder's public functions share (not an API).
 *
 * The range coder (docs/offload-protocol.md, section 2): `low` has 33 significant bits (bit 32 is a
 * carry into bytes not yet final), `range` 32; a symbol with frequency `freq` at cumulative `cum` of
 * 2^P does r = range >> P, low += r * cum, range = r * freq; while range < 2^24 the top byte of `low`
 * moves out. A byte that may still receive a carry is held back: the oldest one (`cache`) and the
 * 0xFF bytes after it (`pending` - 1). Zero bytes are counted and written only when a non-zero byte
 * follows, so the body never ends in a zero byte and the capacity check is exact.
 */
#ifndef AGILENN_CONTEXT_INTERNAL_H
#define AGILENN_CONTEXT_INTERNAL_H

#include <string.h>

#include "agilenn_offload.h"

#define AGILENN_CONTEXT_TOP (1u << 24)
#define AGILENN_CONTEXT_ESCAPE_BITS 16u
#define AGILENN_CONTEXT_RARE_BITS 8u

#if defined(__GNUC__)
#define AGILENN_CONTEXT_COLD __attribute__((noinline, cold, unused))
#else
#define AGILENN_CONTEXT_COLD
#endif

/* A non-zero byte after `zeros` pending zero bytes, or one that does not fit: the rare cases of put. */
static AGILENN_CONTEXT_COLD void agilenn_context_put_slow(agilenn_context_encoder_t *enc, uint32_t byte)
{
    if (enc->pos > enc->capacity || enc->capacity - enc->pos < enc->zeros + 1u) {
        enc->status = AGILENN_ERR_NO_SPACE;
        return;
    }
    for (; enc->zeros != 0u; enc->zeros--) {
        enc->out[enc->pos++] = 0u;
    }
    enc->out[enc->pos++] = (uint8_t)byte;
}

static inline void agilenn_context_put(agilenn_context_encoder_t *enc, uint32_t byte)
{
    byte &= 0xFFu;
    if (byte == 0u) {
        enc->zeros++; /* written only if a non-zero byte follows */
    } else if (enc->zeros == 0u && enc->pos < enc->capacity) {
        enc->out[enc->pos++] = (uint8_t)byte;
    } else {
        agilenn_context_put_slow(enc, byte);
    }
}

/* The held bytes become final, with the carry added. */
static inline void agilenn_context_release(agilenn_context_encoder_t *enc, uint32_t carry)
{
    if (enc->pending != 0u) {
        agilenn_context_put(enc, enc->cache + carry);
        while (--enc->pending != 0u) {
            agilenn_context_put(enc, 0xFFu + carry);
        }
    }
}

static inline void agilenn_context_shift_low(agilenn_context_encoder_t *enc)
{
    const uint32_t carry = (uint32_t)(enc->low >> 32);
    const uint32_t top = (uint32_t)(enc->low >> 24) & 0xFFu;
    if (enc->pending == 0u) {
        enc->cache = top; /* the first byte: nothing before it to carry into */
        enc->pending = 1u;
    } else if (top != 0xFFu || carry != 0u) {
        agilenn_context_release(enc, carry);
        enc->cache = top;
        enc->pending = 1u;
    } else {
        enc->pending++;
    }
    enc->low = (enc->low & 0x00FFFFFFu) << 8;
}

static AGILENN_CONTEXT_COLD void agilenn_context_renormalize(agilenn_context_encoder_t *enc)
{
    while (enc->range < AGILENN_CONTEXT_TOP) {
        enc->range <<= 8;
        agilenn_context_shift_low(enc);
    }
}

static inline agilenn_status_t agilenn_context_fail(agilenn_context_encoder_t *enc, agilenn_status_t status)
{
    if (enc->status == AGILENN_OK) {
        enc->status = status;
    }
    return enc->status;
}

/* The symbol of rare channel i: pixel[L + i] in coding order (channel_step 0), else pixel[rare[i] * step]. */
static inline uint32_t agilenn_context_rare_symbol(const agilenn_context_model_t *m, const uint8_t *pixel,
                                                   uint32_t channel_step, uint32_t i)
{
    return channel_step == 0u ? pixel[m->live_count + i] : pixel[(size_t)m->rare[i] * channel_step];
}

/* Escape bit 1, then each rare channel's symbol as 8 equiprobable bits (values < K). */
static AGILENN_CONTEXT_COLD agilenn_status_t agilenn_context_escape(agilenn_context_encoder_t *enc,
                                                                    const uint8_t *pixel, uint32_t channel_step)
{
    const agilenn_context_model_t *m = enc->model;
    uint32_t i, r;
    for (i = 0u; i < m->rare_count; i++) {
        if (agilenn_context_rare_symbol(m, pixel, channel_step, i) >= m->alphabet) {
            return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT);
        }
    }
    r = enc->range >> AGILENN_CONTEXT_ESCAPE_BITS;
    enc->low += enc->range - r;
    enc->range = r;
    agilenn_context_renormalize(enc);
    for (i = 0u; i < m->rare_count; i++) {
        r = enc->range >> AGILENN_CONTEXT_RARE_BITS;
        enc->low += (uint64_t)r * agilenn_context_rare_symbol(m, pixel, channel_step, i);
        enc->range = r;
        agilenn_context_renormalize(enc);
    }
    return enc->status;
}

/* Escape bit 0: no rare symbol of the pixel is non-zero. */
static inline void agilenn_context_no_escape(agilenn_context_encoder_t *enc, uint64_t *low, uint32_t *range)
{
    *range -= *range >> AGILENN_CONTEXT_ESCAPE_BITS;
    if (*range < AGILENN_CONTEXT_TOP) {
        enc->low = *low;
        enc->range = *range;
        agilenn_context_renormalize(enc);
        *low = enc->low;
        *range = enc->range;
    }
}

/*
 * The live channels' symbols of one pixel, each in the context of its left and upper neighbours and of the
 * previous live channel's symbol (zero or not): live channel j's symbol is pixel[j] when `coded_order` is
 * non-zero (a constant at each call, so each caller gets its own loop), else pixel[live[j] * channel_step]. `up` is the pixel's place in the line buffer
 * (the symbols above it, replaced by its own), `left` its left neighbour's. The coder's state is in
 * *low_io and *range_io and goes through `enc` only around the (rare) renormalisations.
 */
static inline agilenn_status_t agilenn_context_code_live(agilenn_context_encoder_t *enc, const uint8_t *pixel,
                                                         const int coded_order, uint32_t channel_step, uint8_t *up,
                                                         const uint8_t *left, uint64_t *low_io, uint32_t *range_io)
{
    const agilenn_context_model_t *m = enc->model;
    const uint32_t K = m->alphabet;
    const uint32_t K1 = K + 1u;
    const uint32_t map_step = K1 * K1 * K; /* the map entries of a channel: [left][up][prev] */
    const uint16_t *live = m->live;
    const uint16_t *map = m->context_map;
    const uint32_t *const cum_freq = m->cum_freq;
    const uint8_t *const up_end = up + m->live_count;
    uint32_t prev = 0u; /* the previous live channel's symbol of the pixel (0 for the first) */
    uint64_t low = *low_io;
    uint32_t range = *range_io;
    do {
        const uint32_t s = coded_order ? *pixel++ : pixel[(size_t)*live++ * channel_step];
        uint32_t e, r;
        if (s >= K) {
            *low_io = low;
            *range_io = range;
            return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT);
        }
        e = cum_freq[map[(*left++ * K1 + *up) * K + prev] + s]; /* the map holds row * K */
        *up++ = (uint8_t)s;
        map += map_step;
        prev = s;
        r = range >> AGILENN_CONTEXT_PRECISION;
        low += (uint64_t)r * (e & 0xFFFFu);
        range = r * (e >> 16);
        if (range < AGILENN_CONTEXT_TOP) {
            enc->low = low;
            enc->range = range;
            agilenn_context_renormalize(enc);
            low = enc->low;
            range = enc->range;
        }
    } while (up != up_end);
    *low_io = low;
    *range_io = range;
    return enc->status;
}

#endif /* AGILENN_CONTEXT_INTERNAL_H */
