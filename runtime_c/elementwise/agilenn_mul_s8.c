/* agilenn_mul_s8 - QLinearMul through float32, one rounding per operation. */
#include "agilenn_elementwise_s8.h"

agilenn_status_t agilenn_mul_s8(const agilenn_mul_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    int32_t i;
    if (p == NULL || a == NULL || b == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    for (i = 0; i < p->size; i++) {
        const float va = p->a_scale * (float)((int32_t)a[i] - p->a_zero_point);
        const float vb = p->b_scale * (float)((int32_t)b[i] - p->b_zero_point);
        const float product = va * vb;
        int32_t q = agilenn_rne_int(product / p->output_scale + (float)p->output_zero_point);
        q = q < p->act_min ? p->act_min : q;
        q = q > p->act_max ? p->act_max : q;
        output[i] = (int8_t)q;
    }
    return AGILENN_OK;
}
