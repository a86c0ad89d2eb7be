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
#define AGILENN_CONTEXT_COLD __attribute__((noinline, cold))
#else
#define AGILENN_CONTEXT_COLD
#endif

static inline void agilenn_context_put(agilenn_context_encoder_t *enc, uint32_t byte)
{
    byte &= 0xFFu;
    if (byte == 0u) {
        enc->zeros++;
        return;
    }
    if (enc->pos > enc->capacity || enc->capacity - enc->pos < enc->zeros + 1u) {
        enc->status = AGILENN_ERR_NO_SPACE;
        return;
    }
    memset(enc->out + enc->pos, 0, enc->zeros);
    enc->pos += enc->zeros;
    enc->zeros = 0u;
    enc->out[enc->pos++] = (uint8_t)byte;
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

/* Escape bit 1, then each rare channel's symbol as 8 equiprobable bits (values < K). */
static AGILENN_CONTEXT_COLD agilenn_status_t agilenn_context_escape(agilenn_context_encoder_t *enc,
                                                                    const uint8_t *pixel, uint32_t stride)
{
    const agilenn_context_model_t *m = enc->model;
    uint32_t i, r;
    for (i = 0u; i < m->rare_count; i++) {
        if (pixel[(uint32_t)m->rare[i] * stride] >= m->alphabet) {
            return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT);
        }
    }
    r = enc->range >> AGILENN_CONTEXT_ESCAPE_BITS;
    enc->low += enc->range - r;
    enc->range = r;
    agilenn_context_renormalize(enc);
    for (i = 0u; i < m->rare_count; i++) {
        r = enc->range >> AGILENN_CONTEXT_RARE_BITS;
        enc->low += (uint64_t)r * pixel[(uint32_t)m->rare[i] * stride];
        enc->range = r;
        agilenn_context_renormalize(enc);
    }
    return enc->status;
}

/* Non-zero if a rare channel of the pixel holds a non-zero symbol. */
static inline uint32_t agilenn_context_rare_any(const agilenn_context_model_t *m, const uint8_t *pixel, uint32_t stride)
{
    uint32_t any = 0u;
    uint32_t i = 0u;
    if (stride == 1u) { /* the rare channels' bytes, four at a time, through the mask */
        for (; i + 4u <= m->channels; i += 4u) {
            uint32_t value, mask;
            memcpy(&value, pixel + i, 4u);
            memcpy(&mask, m->rare_mask + i, 4u);
            any |= value & mask;
        }
        for (; i < m->channels; i++) {
            any |= (uint32_t)pixel[i] & m->rare_mask[i];
        }
        return any;
    }
    for (; i < m->rare_count; i++) {
        any |= pixel[(uint32_t)m->rare[i] * stride];
    }
    return any;
}

/*
 * One pixel: its symbol for channel c is pixel[c * stride]. `rare_zero` != 0 promises that every rare
 * symbol of the pixel is 0 (the whole-buffer encoder checks the rare channels' planes at once).
 */
static inline agilenn_status_t agilenn_context_code_pixel(agilenn_context_encoder_t *enc, const uint8_t *pixel,
                                                          uint32_t stride, int rare_zero)
{
    const agilenn_context_model_t *m = enc->model;
    const uint32_t K = m->alphabet;
    const uint32_t K1 = K + 1u;
    const uint32_t P = m->precision;
    const uint32_t L = m->live_count;
    const uint16_t *live = m->live;
    const uint16_t *map = m->context_map;
    const uint16_t *cum = m->cum;
    const uint16_t *freq = m->freq;
    uint8_t *up;
    const uint8_t *left;
    uint64_t low;
    uint32_t range, j;
    if (enc->status != AGILENN_OK) {
        return enc->status;
    }
    if (enc->y >= m->height) {
        return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT);
    }
    if (m->rare_count != 0u) {
        if (!rare_zero && agilenn_context_rare_any(m, pixel, stride) != 0u) {
            if (agilenn_context_escape(enc, pixel, stride) != AGILENN_OK) {
                return enc->status;
            }
        } else {
            enc->range -= enc->range >> AGILENN_CONTEXT_ESCAPE_BITS;
            if (enc->range < AGILENN_CONTEXT_TOP) {
                agilenn_context_renormalize(enc);
            }
        }
    }
    up = enc->line + enc->x * L;
    left = enc->x != 0u ? up - L : m->border;
    low = enc->low;
    range = enc->range;
    for (j = 0u; j < L; j++) {
        const uint32_t s = pixel[(uint32_t)live[j] * stride];
        uint32_t t, r;
        if (s >= K) {
            enc->low = low;
            enc->range = range;
            return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT);
        }
        t = (uint32_t)map[left[j] * K1 + up[j]] * K + s;
        up[j] = (uint8_t)s;
        r = range >> P;
        low += (uint64_t)r * cum[t];
        range = r * freq[t];
        map += K1 * K1;
        if (range < AGILENN_CONTEXT_TOP) {
            enc->low = low;
            enc->range = range;
            agilenn_context_renormalize(enc);
            low = enc->low;
            range = enc->range;
        }
    }
    enc->low = low;
    enc->range = range;
    if (++enc->x == m->width) {
        enc->x = 0u;
        enc->y++;
    }
    return enc->status;
}

#endif /* AGILENN_CONTEXT_INTERNAL_H */
