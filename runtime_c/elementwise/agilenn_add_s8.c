/* agilenn_add_s8 - QLinearAdd exactly as onnxruntime's x86 kernel rounds it (two FMAs). */
#include "agilenn_elementwise_s8.h"

agilenn_status_t agilenn_add_s8(const agilenn_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    int32_t i;
    if (p == NULL || a == NULL || b == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (i = 0; i < p->size; i++) {
        const float inner = agilenn_fmaf((float)b[i], p->b_ratio, p->offset);
        int32_t q = agilenn_rne_int(agilenn_fmaf((float)a[i], p->a_ratio, inner));
        q = q < p->act_min ? p->act_min : q;
        q = q > p->act_max ? p->act_max : q;
        output[i] = (int8_t)q;
    }
    return AGILENN_OK;
}
