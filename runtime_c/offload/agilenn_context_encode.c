/*
 * agilenn_context_encode - the context-coded body of a whole channel-major symbol map S[c][y][x].
 *
 * The same bytes as begin + agilenn_context_encode_pixel for every pixel + end. The rare channels'
 * planes are checked once, up front (they are all zero in practice), instead of pixel by pixel.
 */
#include "agilenn_context_internal.h"

static int plane_is_zero(const uint8_t *plane, size_t n)
{
    uint32_t any = 0u;
    size_t i = 0u;
    for (; i + 16u <= n; i += 16u) {
        uint32_t w[4];
        memcpy(w, plane + i, sizeof w);
        any |= w[0] | w[1] | w[2] | w[3];
    }
    for (; i < n; i++) {
        any |= plane[i];
    }
    return any == 0u;
}

agilenn_status_t agilenn_context_encode(const agilenn_context_model_t *model, const uint8_t *symbols, uint8_t *line,
                                        size_t line_bytes, uint8_t *out, size_t capacity, size_t *out_len)
{
    agilenn_context_encoder_t enc;
    agilenn_status_t status;
    uint32_t plane, pixels, i;
    int rare_zero = 1;
    if (out_len == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    *out_len = 0u;
    status = agilenn_context_encode_begin(&enc, model, line, line_bytes, out, capacity);
    if (status != AGILENN_OK) {
        return status;
    }
    if (symbols == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    plane = (uint32_t)model->height * model->width;
    for (i = 0u; i < model->rare_count && rare_zero; i++) {
        rare_zero = plane_is_zero(symbols + (size_t)model->rare[i] * plane, plane);
    }
    for (pixels = 0u; pixels < plane; pixels++) {
        status = agilenn_context_code_pixel(&enc, symbols + pixels, plane, rare_zero);
        if (status != AGILENN_OK) {
            return status;
        }
    }
    return agilenn_context_encode_end(&enc, out_len);
}
