/*
 * agilenn_dot_fast.h - the int8 dot product of the optimized kernels, with weights laid out at compile
 * time in the order the loop reads them.
 *
 * DSP cores (AGILENN_USE_DSP=1): a row of n weights is stored as int16 pairs, two words per four
 * inputs, (w0, w2) and (w1, w3): the lanes SXTB16 gives for a word of four inputs and for the same
 * word rotated by 8 bits, so that two SMLADs do four multiply-accumulates. A tail of t = n % 4 inputs
 * takes one word, (w0, 0) or (w0, w1), or for t = 3 two, (w0, w2) and (w1, 0).
 * Other cores: the row is the plain int8 weights.
 * agilenn_codegen/compiler/emit/fast_layout.py writes both layouts; AGILENN_FAST_ROW(n) is the row's
 * length in agilenn_fast_weight_t elements.
 */
#ifndef AGILENN_DOT_FAST_H
#define AGILENN_DOT_FAST_H

#include "agilenn_arch.h"

#if AGILENN_USE_DSP

typedef uint32_t agilenn_fast_weight_t;
#define AGILENN_FAST_ROW(n) (2 * ((n) / 4) + (((n) % 4) == 0 ? 0 : ((n) % 4) == 3 ? 2 : 1))

/** acc + sum_i x[i] * w[i] over n inputs (packed weights). */
AGILENN_INLINE int32_t agilenn_dot_fast(const int8_t *x, const agilenn_fast_weight_t *w, int32_t n, int32_t acc)
{
    int32_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        const uint32_t xw = agilenn_read_s8x4(x + i);
        acc = agilenn_smlad(agilenn_sxtb16(xw), w[0], acc);
        acc = agilenn_smlad(agilenn_sxtb16_odd(xw), w[1], acc);
        w += 2;
    }
    switch (n - i) {
    case 1:
        acc = agilenn_smlabb((uint32_t)(int32_t)x[i], w[0], acc);
        break;
    case 2:
        acc = agilenn_smlad(agilenn_pack_s16x2(x[i], x[i + 1]), w[0], acc);
        break;
    case 3:
        acc = agilenn_smlad(agilenn_pack_s16x2(x[i], x[i + 2]), w[0], acc);
        acc = agilenn_smlabb((uint32_t)(int32_t)x[i + 1], w[1], acc);
        break;
    default:
        break;
    }
    return acc;
}

#else

typedef int8_t agilenn_fast_weight_t;
#define AGILENN_FAST_ROW(n) (n)

AGILENN_INLINE int32_t agilenn_dot_fast(const int8_t *x, const agilenn_fast_weight_t *w, int32_t n, int32_t acc)
{
    int32_t i;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
    for (i = 0; i < n; i++) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}

#endif /* AGILENN_USE_DSP */

#endif /* AGILENN_DOT_FAST_H */
