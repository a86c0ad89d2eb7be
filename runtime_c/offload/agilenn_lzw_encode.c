/*
 * agilenn_lzw_encode - LZW body of a symbol stream (docs/offload-protocol.md, section 2).
 *
 * Greedy LZW over an initial dictionary of the K single symbols. A string is identified by its code;
 * the entry (prefix code, symbol) of every added code >= K lives in the caller's state, found through
 * an open-addressing hash table with linear probing. The table has twice as many slots as the largest
 * number of entries, so a probe always ends at an empty slot (0: codes in the table are >= K >= 1).
 */
#include <string.h>

#include "agilenn_offload.h"

agilenn_status_t agilenn_lzw_encode(const agilenn_lzw_params_t *p, const uint8_t *symbols, uint16_t *state,
                                    size_t state_bytes, uint8_t *out, size_t capacity, size_t *out_len)
{
    uint16_t *hash;
    uint16_t *prefix;
    uint8_t *suffix;
    uint32_t W, K, limit, mask, shift, next_code, avail, width, current, i;
    uint32_t acc = 0u;
    uint32_t nbits = 0u;
    size_t pos = 0u;
    if (p == NULL || out_len == NULL || state == NULL || (p->count > 0u && (symbols == NULL || out == NULL))) {
        return AGILENN_ERR_ARGUMENT;
    }
    W = p->max_bits;
    K = p->alphabet;
    if (W < AGILENN_LZW_MIN_BITS || W > AGILENN_LZW_MAX_BITS || K < 1u || K > 256u ||
        state_bytes < AGILENN_LZW_STATE_BYTES(W)) {
        return AGILENN_ERR_ARGUMENT;
    }
    limit = 1u << W;
    mask = (2u << W) - 1u;
    shift = 32u - (W + 1u);
    hash = state;
    prefix = state + (2u << W);
    suffix = (uint8_t *)(prefix + limit);
    *out_len = 0u;
    if (p->count == 0u) {
        return AGILENN_OK;
    }
    memset(hash, 0, (size_t)(2u << W) * sizeof(uint16_t));

    next_code = K;
    avail = K; /* min(K + emitted, 2^W): the width of the next code is bit_length(avail - 1) */
    width = 1u;
    while (((avail - 1u) >> width) != 0u) {
        width++;
    }
    current = symbols[0];
    if (current >= K) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (i = 1u; i <= p->count; i++) {
        uint32_t symbol = 0u;
        uint32_t slot = 0u;
        if (i < p->count) {
            uint32_t code;
            symbol = symbols[i];
            if (symbol >= K) {
                return AGILENN_ERR_ARGUMENT;
            }
            slot = (((current << 8) | symbol) * 2654435761u) >> shift;
            for (;;) {
                code = hash[slot];
                if (code == 0u || (prefix[code] == current && suffix[code] == symbol)) {
                    break;
                }
                slot = (slot + 1u) & mask;
            }
            if (code != 0u) {
                current = code; /* string + symbol is in the dictionary: extend */
                continue;
            }
        }
        /* emit the code of the current string */
        acc |= current << nbits;
        nbits += width;
        while (nbits >= 8u) {
            if (pos >= capacity) {
                return AGILENN_ERR_NO_SPACE;
            }
            out[pos++] = (uint8_t)acc;
            acc >>= 8;
            nbits -= 8u;
        }
        if (avail < limit) {
            avail++;
            if (((avail - 1u) >> width) != 0u) {
                width++;
            }
        }
        if (i < p->count) {
            if (next_code < limit) {
                hash[slot] = (uint16_t)next_code;
                prefix[next_code] = (uint16_t)current;
                suffix[next_code] = (uint8_t)symbol;
                next_code++;
            }
            current = symbol;
        }
    }
    if (nbits > 0u) {
        if (pos >= capacity) {
            return AGILENN_ERR_NO_SPACE;
        }
        out[pos++] = (uint8_t)acc;
    }
    *out_len = pos;
    return AGILENN_OK;
}
