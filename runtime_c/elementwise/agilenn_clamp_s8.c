/* agilenn_clamp_s8 - int8 Relu/Clip that the compiler could not fuse into a producer. */
#include "agilenn_elementwise_s8.h"

agilenn_status_t agilenn_clamp_s8(const agilenn_clamp_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (i = 0; i < p->size; i++) {
        int32_t v = input[i];
        v = v < p->lo ? p->lo : v;
        v = v > p->hi ? p->hi : v;
        output[i] = (int8_t)v;
    }
    return AGILENN_OK;
}
