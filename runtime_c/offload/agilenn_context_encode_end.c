/*
 * agilenn_context_encode_end - the tail of a context-coded body.
 *
 * The final interval is [low, low + range). Of the values in it, take the one with the most trailing
 * zero bytes (a multiple of 2^32, 2^24, 2^16, 2^8, or low itself), move its bytes out and release the
 * held ones. Trailing zero bytes are never written: the decoder reads zeros past the end.
 */
#include "agilenn_context_internal.h"

agilenn_status_t agilenn_context_encode_end(agilenn_context_encoder_t *enc, size_t *out_len)
{
    uint32_t n;
    uint64_t value = 0u;
    if (enc == NULL || out_len == NULL || enc->model == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    *out_len = 0u;
    if (enc->status != AGILENN_OK) {
        return enc->status;
    }
    if (enc->y != enc->model->height || enc->x != 0u) {
        return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT); /* not exactly H * W pixels */
    }
    for (n = 0u; n < 4u; n++) {
        const uint64_t step = (uint64_t)1u << (32u - 8u * n);
        value = (enc->low + step - 1u) & ~(step - 1u);
        if (value < enc->low + enc->range) {
            break;
        }
    }
    if (n == 4u) {
        value = enc->low;
    }
    enc->low = value;
    while (n-- > 0u) {
        agilenn_context_shift_low(enc);
    }
    agilenn_context_release(enc, (uint32_t)(enc->low >> 32));
    if (enc->status == AGILENN_OK) {
        *out_len = enc->pos;
    }
    return enc->status;
}
