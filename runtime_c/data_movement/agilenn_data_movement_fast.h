/*
 * agilenn_data_movement_fast.h - the optimized twin of agilenn_copy_strided (the spec): the same 4-D
 * strided copy, one body per element size and table use, so that the generated code instantiates it
 * with constant extents and strides (no per-element stride arithmetic, the inner loop unrolled). With a
 * table (int8 requantization, the AgileNN centroid table) each byte becomes table[v + 128].
 */
#ifndef AGILENN_DATA_MOVEMENT_FAST_H
#define AGILENN_DATA_MOVEMENT_FAST_H

#include "agilenn_arch.h"
#include "agilenn_data_movement.h"

/** One byte per element; `table` non-NULL maps each value through table[v + 128]. */
AGILENN_INLINE void agilenn_copy_strided_s8_fast_body(const agilenn_copy_params_t *p, const void *restrict input,
                                                      void *restrict output)
{
    const agilenn_strided_t *g = &p->geometry;
    const int8_t *src = (const int8_t *)input + g->src_offset;
    int8_t *dst = (int8_t *)output + g->dst_offset;
    const int8_t *table = p->table != NULL ? p->table + 128 : NULL;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < g->dims[0]; i0++) {
        for (i1 = 0; i1 < g->dims[1]; i1++) {
            for (i2 = 0; i2 < g->dims[2]; i2++) {
                const int8_t *s = src + i0 * g->src_strides[0] + i1 * g->src_strides[1] + i2 * g->src_strides[2];
                int8_t *d = dst + i0 * g->dst_strides[0] + i1 * g->dst_strides[1] + i2 * g->dst_strides[2];
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
                for (i3 = 0; i3 < g->dims[3]; i3++) {
                    const int8_t v = *s;
                    *d = table != NULL ? table[v] : v;
                    s += g->src_strides[3];
                    d += g->dst_strides[3];
                }
            }
        }
    }
}

/** Four bytes per element (float32 or int32), copied as words. */
AGILENN_INLINE void agilenn_copy_strided_32_fast_body(const agilenn_copy_params_t *p, const void *restrict input,
                                                      void *restrict output)
{
    const agilenn_strided_t *g = &p->geometry;
    const uint8_t *src = (const uint8_t *)input + (size_t)g->src_offset * 4u;
    uint8_t *dst = (uint8_t *)output + (size_t)g->dst_offset * 4u;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < g->dims[0]; i0++) {
        for (i1 = 0; i1 < g->dims[1]; i1++) {
            for (i2 = 0; i2 < g->dims[2]; i2++) {
                const int32_t s = i0 * g->src_strides[0] + i1 * g->src_strides[1] + i2 * g->src_strides[2];
                const int32_t d = i0 * g->dst_strides[0] + i1 * g->dst_strides[1] + i2 * g->dst_strides[2];
                for (i3 = 0; i3 < g->dims[3]; i3++) {
                    memcpy(dst + (size_t)(d + i3 * g->dst_strides[3]) * 4u,
                           src + (size_t)(s + i3 * g->src_strides[3]) * 4u, 4u);
                }
            }
        }
    }
}

agilenn_status_t agilenn_copy_strided_fast(const agilenn_copy_params_t *p, const void *input, void *output);

#endif /* AGILENN_DATA_MOVEMENT_FAST_H */
