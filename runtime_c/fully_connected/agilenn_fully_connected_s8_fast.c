/* agilenn_fully_connected_s8_fast - optimized twins of agilenn_fully_connected_s8 and its float-output form. */
#include "agilenn_fully_connected_fast.h"

static int agilenn_fc_fast_usable(const agilenn_fully_connected_fast_params_t *p, const void *input, const void *output)
{
    return p != NULL && input != NULL && output != NULL && p->interior_bias != NULL && p->fast_weights != NULL &&
           p->ref.rows >= 0 && p->ref.in_features >= 0 && p->ref.out_features >= 0;
}

agilenn_status_t agilenn_fully_connected_s8_fast(const agilenn_fully_connected_fast_params_t *p,
                                                 const int8_t *input, int8_t *output)
{
    if (!agilenn_fc_fast_usable(p, input, output) || p->ref.multiplier == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_fully_connected_s8_fast_body(p, input, output);
    return AGILENN_OK;
}

agilenn_status_t agilenn_fully_connected_s8_f32_fast(const agilenn_fully_connected_fast_params_t *p,
                                                     const int8_t *input, float *output)
{
    if (!agilenn_fc_fast_usable(p, input, output) || p->ref.float_multiplier == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_fully_connected_s8_f32_fast_body(p, input, output);
    return AGILENN_OK;
}
