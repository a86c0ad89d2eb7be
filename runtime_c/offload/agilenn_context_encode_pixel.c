/* agilenn_context_encode_pixel - code the next pixel's C_r symbols (streaming: no symbol buffer). */
#include "agilenn_context_internal.h"

agilenn_status_t agilenn_context_encode_pixel(agilenn_context_encoder_t *enc, const uint8_t *pixel)
{
    if (enc == NULL || enc->model == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (pixel == NULL) {
        return agilenn_context_fail(enc, AGILENN_ERR_ARGUMENT);
    }
    return agilenn_context_code_pixel(enc, pixel, 1u, 0);
}
