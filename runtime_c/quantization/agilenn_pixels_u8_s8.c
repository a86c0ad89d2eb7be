/* agilenn_pixels_u8_s8 - camera pixels to the network's int8 input through per-channel tables (agilenn_pixels.h). */
#include "agilenn_pixels.h"

agilenn_status_t agilenn_pixels_u8_s8(const agilenn_pixels_params_t *p, const uint8_t *pixels, int8_t *output)
{
    if (p == NULL || pixels == NULL || output == NULL || p->tables == NULL || p->pattern_words < 0 ||
        p->pattern_words > 4 || p->pixels < 0 || p->channels < 1) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_pixels_u8_s8_body(p, pixels, output);
    return AGILENN_OK;
}
