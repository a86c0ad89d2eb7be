/* agilenn_copy_strided_fast - the optimized twin of agilenn_copy_strided (agilenn_data_movement_fast.h). */
#include "agilenn_data_movement_fast.h"

agilenn_status_t agilenn_copy_strided_fast(const agilenn_copy_params_t *p, const void *input, void *output)
{
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->element_size == 1) {
        agilenn_copy_strided_s8_fast_body(p, input, output);
    } else if (p->element_size == 4 && p->table == NULL) {
        agilenn_copy_strided_32_fast_body(p, input, output);
    } else {
        return AGILENN_ERR_UNSUPPORTED;
    }
    return AGILENN_OK;
}
