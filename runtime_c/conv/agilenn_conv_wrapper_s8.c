/*
 * agilenn_conv_wrapper_s8 - dispatch to the most specific convolution kernel.
 *
 * Optimized kernels for a core family (e.g. Cortex-M DSP) replace these same-named functions when
 * the build selects them; the predicates here stay the single place that picks a variant.
 */
#include "agilenn_conv_s8.h"

static int agilenn_conv_is_depthwise(const agilenn_conv_params_t *p)
{
    return p->groups == p->in_c && p->out_c == p->in_c && p->groups > 1;
}

static int agilenn_conv_is_1x1(const agilenn_conv_params_t *p)
{
    return p->kernel_h == 1 && p->kernel_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
           p->pad_left == 0 && p->groups == 1 && p->out_h == p->in_h && p->out_w == p->in_w;
}

agilenn_status_t agilenn_conv_wrapper_s8(const agilenn_conv_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (agilenn_conv_is_depthwise(p)) {
        return agilenn_depthwise_conv_s8(p, input, output);
    }
    if (agilenn_conv_is_1x1(p)) {
        return agilenn_conv_1x1_s8(p, input, output);
    }
    return agilenn_conv_s8(p, input, output);
}

int32_t agilenn_conv_wrapper_s8_get_buffer_size(const agilenn_conv_params_t *p)
{
    (void)p;
    return 0;
}
