/* agilenn_add_s8_fast - the optimized twin of agilenn_add_s8 (agilenn_elementwise_fast.h). */
#include "agilenn_elementwise_fast.h"

agilenn_status_t agilenn_add_s8_fast(const agilenn_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    if (p == NULL || a == NULL || b == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    agilenn_add_s8_fast_body(p, a, b, output);
    return AGILENN_OK;
}
