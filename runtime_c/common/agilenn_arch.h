/*
 * agilenn_arch.h - what the optimized kernels need of the compiler and the instruction set.
 *
 * The optimized kernels (`*_fast`) are written once, in C, against the small helpers below: on a core
 * with the DSP extension (Cortex-M4F, M7, M33: AGILENN_USE_DSP=1 in agilenn_config.h) they are single
 * instructions through ACLE intrinsics (arm_acle.h); elsewhere (Cortex-M3, the host) portable C with
 * the same results. Every helper is exact: it computes what its instruction computes, bit for bit.
 *
 * Layer functions: the generated code instantiates one kernel body per layer inside a function marked
 * AGILENN_LAYER_FUNCTION, with the layer's const parameters in scope, so the compiler folds shapes,
 * strides and offsets into constant-bound loops. Such functions are kept out of line (never inlined
 * into the run function, never cloned) so that each layer stays one call, which `agilenn profile`
 * measures.
 */
#ifndef AGILENN_ARCH_H
#define AGILENN_ARCH_H

#include <string.h>

#include "agilenn_types.h"

#ifndef AGILENN_USE_DSP
#define AGILENN_USE_DSP 0
#endif

#if defined(__GNUC__)
#define AGILENN_INLINE static inline __attribute__((always_inline))
#if defined(__clang__)
#define AGILENN_LAYER_FUNCTION static __attribute__((noinline))
#else
#define AGILENN_LAYER_FUNCTION static __attribute__((noinline, noclone))
#endif
#else
#define AGILENN_INLINE static inline
#define AGILENN_LAYER_FUNCTION static
#endif

/* A constant-bound loop the compiler should unroll completely (shapes are compile-time constants). */
#if defined(__GNUC__) && !defined(__clang__)
#define AGILENN_UNROLL _Pragma("GCC unroll 32")
#elif defined(__clang__)
#define AGILENN_UNROLL _Pragma("unroll 32")
#else
#define AGILENN_UNROLL
#endif

/* AGILENN_USE_DSP (agilenn_config.h, from the target) chooses the data layouts of the DSP kernels (weights
 * packed for SMLAD); AGILENN_DSP_INSTRUCTIONS says whether this compilation can use the instructions. A
 * library generated for a DSP core and compiled elsewhere (for the host, to test it there) runs the
 * portable equivalents below on the same layouts, with the same results. */
#if AGILENN_USE_DSP && defined(__ARM_FEATURE_DSP)
#define AGILENN_DSP_INSTRUCTIONS 1
#include <arm_acle.h>
#else
#define AGILENN_DSP_INSTRUCTIONS 0
#endif

#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/** Four int8 values from memory as one little-endian word (any alignment). */
AGILENN_INLINE uint32_t agilenn_read_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/** Two int16 values from memory as one little-endian word (any alignment). */
AGILENN_INLINE uint32_t agilenn_read_s16x2(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if AGILENN_DSP_INSTRUCTIONS

/** Bytes 0 and 2 of x, sign-extended into the low and high halfword. */
AGILENN_INLINE uint32_t agilenn_sxtb16(uint32_t x)
{
    return __sxtb16(x);
}

/** Bytes 1 and 3 of x, sign-extended into the low and high halfword (SXTB16 with ROR #8: gcc does not
 * fold the rotation into the instruction by itself). */
AGILENN_INLINE uint32_t agilenn_sxtb16_odd(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/** Two int16 values in one word: lo in the low halfword, hi in the high one (PKHBT). */
AGILENN_INLINE uint32_t agilenn_pack_s16x2(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/** acc + lo(a) * lo(b) + hi(a) * hi(b), halfwords signed (SMLAD). */
AGILENN_INLINE int32_t agilenn_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}

/** acc + lo(a) * lo(b), halfwords signed (SMLABB). */
AGILENN_INLINE int32_t agilenn_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb(a, b, acc);
}

/** acc + hi(a) * hi(b) (SMLATT). */
AGILENN_INLINE int32_t agilenn_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt(a, b, acc);
}

/** acc + lo(a) * hi(b) (SMLABT). */
AGILENN_INLINE int32_t agilenn_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabt(a, b, acc);
}

/** acc + hi(a) * lo(b) (SMLATB). */
AGILENN_INLINE int32_t agilenn_smlatb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatb(a, b, acc);
}

/** Saturating a + b (QADD). */
AGILENN_INLINE int32_t agilenn_qadd(int32_t a, int32_t b)
{
    return __qadd(a, b);
}

#else /* portable: the same results, in plain C */

AGILENN_INLINE uint32_t agilenn_pack_s16x2(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

AGILENN_INLINE int32_t agilenn_lo16(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu);
}

AGILENN_INLINE int32_t agilenn_hi16(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x >> 16);
}

AGILENN_INLINE uint32_t agilenn_sxtb16(uint32_t x)
{
    return agilenn_pack_s16x2((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}

AGILENN_INLINE uint32_t agilenn_sxtb16_odd(uint32_t x)
{
    return agilenn_pack_s16x2((int8_t)(uint8_t)((x >> 8) & 0xFFu), (int8_t)(uint8_t)(x >> 24));
}

AGILENN_INLINE int32_t agilenn_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + agilenn_lo16(a) * agilenn_lo16(b) + agilenn_hi16(a) * agilenn_hi16(b);
}

AGILENN_INLINE int32_t agilenn_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + agilenn_lo16(a) * agilenn_lo16(b);
}

AGILENN_INLINE int32_t agilenn_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + agilenn_hi16(a) * agilenn_hi16(b);
}

AGILENN_INLINE int32_t agilenn_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + agilenn_lo16(a) * agilenn_hi16(b);
}

AGILENN_INLINE int32_t agilenn_smlatb(uint32_t a, uint32_t b, int32_t acc)
{
    return acc + agilenn_hi16(a) * agilenn_lo16(b);
}

AGILENN_INLINE int32_t agilenn_qadd(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

#endif /* AGILENN_DSP_INSTRUCTIONS */

/** v clamped to the int8 range (SSAT #8 where the core has it). */
AGILENN_INLINE int32_t agilenn_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_SAT)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/** v clamped to [lo, hi]. */
AGILENN_INLINE int32_t agilenn_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* AGILENN_ARCH_H */
