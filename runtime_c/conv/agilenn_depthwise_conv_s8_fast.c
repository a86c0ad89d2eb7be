/* agilenn_depthwise_conv_s8_fast - the optimized twin of agilenn_depthwise_conv_s8 (agilenn_conv_fast.h). */
#include "agilenn_conv_fast.h"

agilenn_status_t agilenn_depthwise_conv_s8_fast(const agilenn_conv_fast_params_t *p, const int8_t *input,
                                                int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->interior_bias == NULL || p->ref.weights == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->ref.groups != p->ref.in_c || p->ref.out_c != p->ref.in_c || p->ref.stride_h < 1 || p->ref.stride_w < 1 ||
        p->ref.dilation_h < 1 || p->ref.dilation_w < 1 ||
        p->ref.kernel_h * p->ref.kernel_w > AGILENN_DW_MAX_TAPS) {
        return AGILENN_ERR_UNSUPPORTED;
    }
    agilenn_depthwise_conv_s8_fast_body(p, input, output);
    return AGILENN_OK;
}
