/*
 * agilenn_lzw_encode - LZW body of a symbol stream (docs/offload-protocol.md, section 2).
 *
 * Greedy LZW over an initial dictionary of the K single symbols. The dictionary is a trie in the
 * caller's state: every code has its first child, its next sibling and its last symbol (children of a
 * string are the strings one symbol longer). Looking up string + symbol walks the string's children;
 * a new code is appended to its parent's list and starts with no children, so nothing but the K roots
 * needs resetting per inference (no table to clear).
 */
#include "agilenn_offload.h"

agilenn_status_t agilenn_lzw_encode(const agilenn_lzw_params_t *p, const uint8_t *symbols, uint16_t *state,
                                    size_t state_bytes, uint8_t *out, size_t capacity, size_t *out_len)
{
    uint16_t *first_child;
    uint16_t *next_sibling;
    uint8_t *suffix;
    uint32_t W, K, limit, next_code, avail, width, current, i;
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
    first_child = state;
    next_sibling = state + limit;
    suffix = (uint8_t *)(next_sibling + limit);
    *out_len = 0u;
    if (p->count == 0u) {
        return AGILENN_OK;
    }
    for (i = 0u; i < K; i++) {
        first_child[i] = 0u; /* 0 ends a list: codes of children are >= K >= 1 */
    }

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
        uint32_t last = 0u; /* the last child of `current`, if any (a new code goes after it) */
        if (i < p->count) {
            uint32_t child;
            symbol = symbols[i];
            if (symbol >= K) {
                return AGILENN_ERR_ARGUMENT;
            }
            for (child = first_child[current]; child != 0u; child = next_sibling[child]) {
                if (suffix[child] == symbol) {
                    break;
                }
                last = child;
            }
            if (child != 0u) {
                current = child; /* string + symbol is in the dictionary: extend */
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
                first_child[next_code] = 0u;
                next_sibling[next_code] = 0u;
                suffix[next_code] = (uint8_t)symbol;
                if (last != 0u) {
                    next_sibling[last] = (uint16_t)next_code;
                } else {
                    first_child[current] = (uint16_t)next_code;
                }
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
