/* agilenn_maxpool_s8 - max pooling on int8 NHWC, padding never wins, dilations (body in agilenn_pooling_s8.h). */
#include "agilenn_pooling_s8.h"

agilenn_status_t agilenn_maxpool_s8(const agilenn_pool_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_maxpool_s8_body(p, input, output);
    return AGILENN_OK;
}
