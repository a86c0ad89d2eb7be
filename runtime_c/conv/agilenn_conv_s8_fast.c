/* agilenn_conv_s8_fast - the optimized twin of agilenn_conv_s8, any convolution (agilenn_conv_fast.h). */
#include "agilenn_conv_fast.h"

agilenn_status_t agilenn_conv_s8_fast(const agilenn_conv_fast_params_t *p, const int8_t *input, int8_t *output)
{
    const agilenn_conv_params_t *r;
    if (p == NULL || input == NULL || output == NULL || p->interior_bias == NULL || p->fast_weights == NULL ||
        p->ref.weights == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    r = &p->ref;
    if (r->groups < 1 || r->in_c % r->groups != 0 || r->out_c % r->groups != 0 || r->stride_h < 1 ||
        r->stride_w < 1 || r->dilation_h < 1 || r->dilation_w < 1) {
        return AGILENN_ERR_UNSUPPORTED;
    }
    agilenn_conv_s8_fast_body(p, input, output);
    return AGILENN_OK;
}
