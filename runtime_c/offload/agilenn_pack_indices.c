/* agilenn_pack_indices - raw packing of centroid indices, b bits each, LSB-first. */
#include "agilenn_offload.h"

agilenn_status_t agilenn_pack_indices(const agilenn_pack_params_t *p, const uint8_t *symbols, uint8_t *out,
                                      size_t capacity, size_t *out_len)
{
    uint64_t need;
    uint32_t i;
    uint32_t acc = 0u;
    uint32_t nbits = 0u;
    size_t pos = 0u;
    if (p == NULL || out_len == NULL || (p->count > 0u && (symbols == NULL || out == NULL))) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->bits < 1u || p->bits > 8u) {
        return AGILENN_ERR_ARGUMENT;
    }
    need = AGILENN_PACKED_BYTES(p->count, p->bits);
    if (need > (uint64_t)capacity) {
        return AGILENN_ERR_NO_SPACE;
    }
    for (i = 0u; i < p->count; i++) {
        if ((uint32_t)symbols[i] >> p->bits != 0u) {
            return AGILENN_ERR_ARGUMENT;
        }
    }
    for (i = 0u; i < p->count; i++) {
        acc |= (uint32_t)symbols[i] << nbits;
        nbits += p->bits;
        if (nbits >= 8u) {
            out[pos++] = (uint8_t)acc;
            acc >>= 8;
            nbits -= 8u;
        }
    }
    if (nbits > 0u) {
        out[pos++] = (uint8_t)acc;
    }
    *out_len = pos;
    return AGILENN_OK;
}
