/* agilenn_pack_pixel - raw packing one pixel at a time: a streamed network's symbols at their channel-major
 * bit positions, so the bytes equal agilenn_pack_indices of the whole map. */
#include "agilenn_offload.h"

void agilenn_pack_pixel(const agilenn_pack_pixel_params_t *p, const uint8_t *pixel, uint32_t index, uint8_t *body)
{
    uint32_t j;
    for (j = 0u; j < p->channels; j++) {
        const uint32_t bit = ((uint32_t)p->order[j] * p->plane + index) * p->bits;
        const uint32_t shift = bit & 7u;
        const uint32_t value = (uint32_t)pixel[j] << shift; /* pixel[j] < 2^bits: at most 15 bits */
        uint8_t *const dst = body + (bit >> 3);
        dst[0] = (uint8_t)(dst[0] | (uint8_t)value);
        if (shift + p->bits > 8u) {
            dst[1] = (uint8_t)(dst[1] | (uint8_t)(value >> 8));
        }
    }
}
