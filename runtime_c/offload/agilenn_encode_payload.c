/* agilenn_encode_payload - a request payload: header + a context-coded or LZW body if strictly shorter than raw,
 * else raw packing. */
#include "agilenn_offload.h"

agilenn_status_t agilenn_encode_payload(const agilenn_payload_params_t *p, const uint8_t *symbols, void *state,
                                        size_t state_bytes, uint8_t *out, size_t capacity, size_t *out_len)
{
    uint32_t K, bits, i;
    uint64_t raw_bytes;
    size_t body = 0u;
    agilenn_status_t status;
    if (p == NULL || out == NULL || out_len == NULL || (p->count > 0u && symbols == NULL)) {
        return AGILENN_ERR_ARGUMENT;
    }
    K = p->alphabet;
    if (K < 1u || K > 256u) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->max_bits != 0u && (p->max_bits < AGILENN_LZW_MIN_BITS || p->max_bits > AGILENN_LZW_MAX_BITS)) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (capacity < AGILENN_PAYLOAD_HEADER_SIZE) {
        return AGILENN_ERR_NO_SPACE;
    }
    bits = AGILENN_RAW_BITS(K);
    raw_bytes = AGILENN_PACKED_BYTES(p->count, bits);
    if (p->context != NULL) {
        const agilenn_context_model_t *m = p->context;
        size_t cap = capacity - AGILENN_PAYLOAD_HEADER_SIZE;
        if (K != m->alphabet || (uint64_t)p->count != (uint64_t)m->channels * m->height * m->width) {
            return AGILENN_ERR_ARGUMENT;
        }
        if ((uint64_t)cap > raw_bytes - 1u) { /* only if strictly shorter than raw (raw_bytes > 0 here) */
            cap = (size_t)(raw_bytes - 1u);
        }
        status = agilenn_context_encode(m, symbols, (uint8_t *)state, state_bytes, out + AGILENN_PAYLOAD_HEADER_SIZE,
                                        cap, &body);
        if (status == AGILENN_OK) {
            agilenn_payload_header(out, AGILENN_PAYLOAD_CONTEXT, p->count, K, AGILENN_CONTEXT_PRECISION);
            *out_len = AGILENN_PAYLOAD_HEADER_SIZE + body;
            return AGILENN_OK;
        }
        if (status != AGILENN_ERR_NO_SPACE) {
            return status;
        }
    } else if (p->max_bits != 0u && raw_bytes > 0u) {
        /* LZW only if its body is strictly shorter than raw: cap it at raw_bytes - 1 */
        const agilenn_lzw_params_t lp = {p->count, (uint16_t)K, p->max_bits};
        size_t cap = capacity - AGILENN_PAYLOAD_HEADER_SIZE;
        if ((uint64_t)cap > raw_bytes - 1u) {
            cap = (size_t)(raw_bytes - 1u);
        }
        status = agilenn_lzw_encode(&lp, symbols, (uint16_t *)state, state_bytes, out + AGILENN_PAYLOAD_HEADER_SIZE, cap,
                                    &body);
        if (status == AGILENN_OK) {
            agilenn_payload_header(out, AGILENN_PAYLOAD_LZW, p->count, K, p->max_bits);
            *out_len = AGILENN_PAYLOAD_HEADER_SIZE + body;
            return AGILENN_OK;
        }
        if (status != AGILENN_ERR_NO_SPACE) {
            return status;
        }
    }
    for (i = 0u; i < p->count; i++) {
        if (symbols[i] >= K) {
            return AGILENN_ERR_ARGUMENT;
        }
    }
    {
        const agilenn_pack_params_t pk = {p->count, (uint8_t)bits};
        status = agilenn_pack_indices(&pk, symbols, out + AGILENN_PAYLOAD_HEADER_SIZE,
                                      capacity - AGILENN_PAYLOAD_HEADER_SIZE, &body);
        if (status != AGILENN_OK) {
            return status;
        }
    }
    agilenn_payload_header(out, AGILENN_PAYLOAD_RAW, p->count, K, (uint8_t)bits);
    *out_len = AGILENN_PAYLOAD_HEADER_SIZE + body;
    return AGILENN_OK;
}
