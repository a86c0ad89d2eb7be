/* agilenn_global_avgpool_s8_fast - the optimized twin of agilenn_global_avgpool_s8 (agilenn_pooling_fast.h). */
#include "agilenn_pooling_fast.h"

agilenn_status_t agilenn_global_avgpool_s8_fast(const agilenn_global_avgpool_params_t *p, const int8_t *input,
                                                int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->pixels < 0 || p->channels < 0 ||
        p->pixel_stride < p->channels) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_global_avgpool_s8_fast_body(p, input, output);
    return AGILENN_OK;
}
