/*
 * agilenn_context_decode - the decoder of context-coded bodies, for the server (host builds only).
 *
 * The mirror of runtime_c/offload/agilenn_context_encode*.c: `code` is the body's value minus `low`,
 * always below `range` for a valid body; bytes past the end read as zero. Any byte sequence is either
 * decoded or rejected after at most C_r * H * W coding steps.
 */
#include "agilenn_context_decode.h"

#include <string.h>

#define TOP (1u << 24)

typedef struct {
    const uint8_t *body;
    size_t len;
    size_t pos;
    uint32_t code;
    uint32_t range;
} reader_t;

static void normalize(reader_t *rd)
{
    while (rd->range < TOP) {
        const uint32_t byte = rd->pos < rd->len ? rd->body[rd->pos] : 0u;
        rd->pos++;
        rd->code = (rd->code << 8) | byte;
        rd->range <<= 8;
    }
}

static int check_model(const agilenn_context_model_t *m)
{
    return m != NULL && m->alphabet >= 2u && m->alphabet <= AGILENN_CONTEXT_MAX_ALPHABET &&
           m->live_count >= 1u && m->width >= 1u && m->height >= 1u &&
           (uint32_t)m->live_count + m->rare_count == m->channels && m->live != NULL && m->border != NULL &&
           m->context_map != NULL && m->cum_freq != NULL && (m->rare_count == 0u || m->rare != NULL);
}

int agilenn_context_decode(const agilenn_context_model_t *model, const uint8_t *body, size_t len, uint8_t *symbols,
                           uint8_t *line, size_t line_bytes, uint8_t *scratch, size_t scratch_bytes, uint32_t *where)
{
    const agilenn_context_model_t *m = model;
    reader_t rd;
    uint32_t K, K1, P, L, plane, pixel, i;
    size_t again = 0u;
    if (where != NULL) {
        *where = 0u;
    }
    if (!check_model(m) || (body == NULL && len > 0u) || symbols == NULL || line == NULL ||
        line_bytes < AGILENN_CONTEXT_LINE_BYTES(m) || (scratch == NULL && scratch_bytes > 0u) || scratch_bytes < len) {
        return AGILENN_CONTEXT_BAD_ARGUMENT;
    }
    K = m->alphabet;
    K1 = K + 1u;
    P = AGILENN_CONTEXT_PRECISION;
    L = m->live_count;
    plane = (uint32_t)m->height * m->width;
    memset(line, (int)K, AGILENN_CONTEXT_LINE_BYTES(m));
    rd.body = body;
    rd.len = len;
    rd.code = 0u;
    for (i = 0u; i < 4u; i++) {
        rd.code = (rd.code << 8) | (i < len ? body[i] : 0u);
    }
    rd.pos = 4u;
    rd.range = 0xFFFFFFFFu;
    if (rd.code >= rd.range) {
        return AGILENN_CONTEXT_BAD_SYMBOL;
    }
    for (pixel = 0u; pixel < plane; pixel++) {
        const uint32_t x = pixel % m->width;
        uint8_t *up = line + x * L;
        const uint8_t *left = x != 0u ? up - L : m->border;
        uint32_t j, prev = 0u;
        if (where != NULL) {
            *where = pixel;
        }
        if (m->rare_count != 0u) {
            const uint32_t r = rd.range >> 16;
            uint32_t any = 0u;
            if (rd.code < rd.range - r) {
                rd.range -= r;
                normalize(&rd);
                for (i = 0u; i < m->rare_count; i++) {
                    symbols[(size_t)m->rare[i] * plane + pixel] = 0u;
                }
            } else {
                rd.code -= rd.range - r;
                rd.range = r;
                normalize(&rd);
                for (i = 0u; i < m->rare_count; i++) {
                    const uint32_t q = rd.range >> 8;
                    const uint32_t value = rd.code / q;
                    if (value >= K) {
                        return AGILENN_CONTEXT_BAD_SYMBOL;
                    }
                    rd.code -= q * value;
                    rd.range = q;
                    normalize(&rd);
                    symbols[(size_t)m->rare[i] * plane + pixel] = (uint8_t)value;
                    any |= value;
                }
                if (any == 0u) {
                    return AGILENN_CONTEXT_BAD_ESCAPE;
                }
            }
        }
        for (j = 0u; j < L; j++) {
            const uint32_t row = m->context_map[((j * K1 + left[j]) * K1 + up[j]) * K + prev]; /* row * K */
            const uint32_t *entry = m->cum_freq + row;
            const uint32_t r = rd.range >> P;
            const uint32_t value = rd.code / r;
            uint32_t s = 0u;
            if (value >> P) {
                return AGILENN_CONTEXT_BAD_SYMBOL;
            }
            while (s + 1u < K && (entry[s + 1u] & 0xFFFFu) <= value) {
                s++;
            }
            rd.code -= r * (entry[s] & 0xFFFFu);
            rd.range = r * (entry[s] >> 16);
            normalize(&rd);
            up[j] = (uint8_t)s;
            symbols[(size_t)m->live[j] * plane + pixel] = (uint8_t)s;
            prev = s;
        }
    }
    if (where != NULL) {
        *where = plane;
    }
    /* canonical: exactly the encoder's bytes for these symbols (no trailing or missing bytes) */
    if (agilenn_context_encode(m, symbols, line, line_bytes, scratch, len, &again) != AGILENN_OK || again != len ||
        (len > 0u && memcmp(scratch, body, len) != 0)) {
        return AGILENN_CONTEXT_NONCANONICAL;
    }
    return AGILENN_CONTEXT_DECODED;
}
