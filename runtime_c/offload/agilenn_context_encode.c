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
        uint32_t a, b, c, d;
        memcpy(&a, plane + i, 4u);
        memcpy(&b, plane + i + 4u, 4u);
        memcpy(&c, plane + i + 8u, 4u);
        memcpy(&d, plane + i + 12u, 4u);
        any |= a | b | c | d;
    }
    for (; i < n; i++) {
        any |= plane[i];
    }
    return any == 0u;
}

static int rare_any(const agilenn_context_model_t *model, const uint8_t *pixel, uint32_t plane)
{
    uint32_t i, any = 0u;
    for (i = 0u; i < model->rare_count; i++) {
        any |= pixel[(size_t)model->rare[i] * plane];
    }
    return any != 0u;
}

agilenn_status_t agilenn_context_encode(const agilenn_context_model_t *model, const uint8_t *symbols, uint8_t *line,
                                        size_t line_bytes, uint8_t *out, size_t capacity, size_t *out_len)
{
    agilenn_context_encoder_t enc;
    agilenn_status_t status;
    uint32_t plane, i, x, y;
    uint64_t low;
    uint32_t range;
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
    low = enc.low;
    range = enc.range;
    for (y = 0u; y < model->height; y++) {
        const uint8_t *left = model->border;
        uint8_t *up = line;
        for (x = 0u; x < model->width; x++) {
            if (model->rare_count != 0u) {
                if (!rare_zero && rare_any(model, symbols, plane)) {
                    enc.low = low;
                    enc.range = range;
                    if (agilenn_context_escape(&enc, symbols, plane) != AGILENN_OK) {
                        return enc.status;
                    }
                    low = enc.low;
                    range = enc.range;
                } else {
                    agilenn_context_no_escape(&enc, &low, &range);
                }
            }
            status = agilenn_context_code_live(&enc, symbols++, 0, plane, up, left, &low, &range);
            if (status != AGILENN_OK) {
                return status;
            }
            left = up;
            up += model->live_count;
        }
    }
    enc.low = low;
    enc.range = range;
    enc.x = 0u;
    enc.y = model->height;
    return agilenn_context_encode_end(&enc, out_len);
}
