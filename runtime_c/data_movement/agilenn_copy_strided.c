/* agilenn_copy_strided - gather/scatter copy over a 4-D strided space. */
#include <string.h>

#include "agilenn_data_movement.h"

agilenn_status_t agilenn_copy_strided(const agilenn_copy_params_t *p, const void *input, void *output)
{
    const agilenn_strided_t *g;
    const uint8_t *src;
    uint8_t *dst;
    int32_t i0, i1, i2, i3;
    size_t es;
    if (p == NULL || input == NULL || output == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (p->element_size != 1 && p->element_size != 4) {
        return AGILENN_ERR_UNSUPPORTED;
    }
    g = &p->geometry;
    es = (size_t)p->element_size;
    src = (const uint8_t *)input + (size_t)g->src_offset * es;
    dst = (uint8_t *)output + (size_t)g->dst_offset * es;
    for (i0 = 0; i0 < g->dims[0]; i0++) {
        for (i1 = 0; i1 < g->dims[1]; i1++) {
            for (i2 = 0; i2 < g->dims[2]; i2++) {
                const int32_t s = i0 * g->src_strides[0] + i1 * g->src_strides[1] + i2 * g->src_strides[2];
                const int32_t d = i0 * g->dst_strides[0] + i1 * g->dst_strides[1] + i2 * g->dst_strides[2];
                for (i3 = 0; i3 < g->dims[3]; i3++) {
                    const size_t si = (size_t)(s + i3 * g->src_strides[3]) * es;
                    const size_t di = (size_t)(d + i3 * g->dst_strides[3]) * es;
                    if (es == 1u) {
                        const int8_t v = (int8_t)src[si];
                        dst[di] = (uint8_t)((p->table != NULL) ? p->table[(int32_t)v + 128] : v);
                    } else {
                        memcpy(dst + di, src + si, 4u);
                    }
                }
            }
        }
    }
    return AGILENN_OK;
}
