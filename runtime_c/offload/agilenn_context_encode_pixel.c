/* agilenn_context_encode_pixel - code the next pixel's C_r symbols (streaming: no symbol buffer). */
#include "agilenn_context_internal.h"

/* Non-zero if a byte of bytes[0 .. n) is non-zero: four at a time, the last word overlapping. */
static uint32_t any_nonzero(const uint8_t *bytes, uint32_t n)
{
    uint32_t any = 0u;
    uint32_t word;
    uint32_t i = 0u;
    if (n < 4u) {
        for (; i < n; i++) {
            any |= bytes[i];
        }
        return any;
    }
    for (; i + 4u < n; i += 4u) {
        memcpy(&word, bytes + i, 4u);
        any |= word;
    }
    memcpy(&word, bytes + n - 4u, 4u);
    return any | word;
}

agilenn_status_t agilenn_context_encode_pixel(agilenn_context_encoder_t *enc, const uint8_t *pixel)
{
    const agilenn_context_model_t *m;
    uint8_t *up;
    uint32_t x, L;
    uint64_t low;
    uint32_t range;
    agilenn_status_t status;
    if (enc == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (enc->status != AGILENN_OK) { /* also after a failed begin */
        return enc->status;
    }
    m = enc->model;
    if (pixel == NULL || enc->y >= m->height) {
        return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT); /* more pixels than the feature map has */
    }
    L = m->live_count;
    if (m->rare_count != 0u && any_nonzero(pixel + L, m->rare_count) != 0u) {
        if (agilenn_context_escape(enc, pixel, 0u) != AGILENN_OK) {
            return enc->status;
        }
        low = enc->low;
        range = enc->range;
    } else {
        low = enc->low;
        range = enc->range;
        if (m->rare_count != 0u) {
            agilenn_context_no_escape(enc, &low, &range);
        }
    }
    x = enc->x;
    up = enc->line + x * L;
    status = agilenn_context_code_live(enc, pixel, 1, 0u, up, x != 0u ? up - L : m->border, &low, &range);
    enc->low = low;
    enc->range = range;
    if (++x == m->width) {
        x = 0u;
        enc->y++;
    }
    enc->x = x;
    return status;
}
