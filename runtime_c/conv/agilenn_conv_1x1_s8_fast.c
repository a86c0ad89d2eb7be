/* agilenn_conv_1x1_s8_fast - the optimized twin of agilenn_conv_1x1_s8 (agilenn_conv_fast.h). */
#include "agilenn_conv_fast.h"

agilenn_status_t agilenn_conv_1x1_s8_fast(const agilenn_conv_fast_params_t *p, const int8_t *input, int8_t *output)
{
    const agilenn_conv_params_t *r;
    if (p == NULL || input == NULL || output == NULL || p->interior_bias == NULL || p->fast_weights == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    r = &p->ref;
    if (r->kernel_h != 1 || r->kernel_w != 1 || r->stride_h != 1 || r->stride_w != 1 || r->pad_top != 0 ||
        r->pad_left != 0 || r->groups != 1 || r->out_h != r->in_h || r->out_w != r->in_w) {
        return AGILENN_ERR_UNSUPPORTED;
    }
    agilenn_conv_1x1_s8_fast_body(p, input, output);
    return AGILENN_OK;
}
