/*
 * agilenn_types.h - shared types of the agilenn-codegen C runtime.
 *
 * The runtime is C99, allocation-free and reentrant: kernels read their parameters from const
 * structs prepared at compile time and work on caller-provided buffers. Activations are int8
 * NHWC; weights are int8 symmetric; biases int32. See docs/numerics.md for the arithmetic.
 */
#ifndef AGILENN_TYPES_H
#define AGILENN_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "agilenn_config.h" /* generated per target: AGILENN_NO_FPU, AGILENN_USE_DSP */

#ifndef AGILENN_NO_FPU
#define AGILENN_NO_FPU 0
#endif

/**
 * Storage class of a generated library's mutable state (the arena, the pipeline's buffers): static
 * by default. A native MicroPython module (.mpy) builds with -DAGILENN_STATE= because its linker
 * reaches writable data only through global symbols (the names are prefixed with the library's).
 * The state is zero-initialised either way.
 */
#ifndef AGILENN_STATE
#define AGILENN_STATE static
#endif

/** Status returned by every kernel and by the generated model entry points. */
typedef enum {
    AGILENN_OK = 0,
    AGILENN_ERR_ARGUMENT = 1, /**< a NULL pointer or inconsistent parameters */
    AGILENN_ERR_UNSUPPORTED = 2, /**< parameters outside what this kernel implements */
    AGILENN_ERR_NO_SPACE = 3, /**< the output would not fit the caller's buffer (offload encoders) */
    AGILENN_ERR_BAD_REPLY = 4, /**< a reply frame is not a valid answer to the current request */
    AGILENN_ERR_BUSY = 5 /**< the server answered the current request with a valid busy reply: answer locally */
} agilenn_status_t;

/**
 * Requantization multiplier S of y = clamp(rne((float)acc * S) + zp).
 * With an FPU it is the float32 value itself; without one, the same float32 value split into an
 * exact integer form S = mantissa * 2^-shift (mantissa in [2^23, 2^24), or 0).
 */
#if AGILENN_NO_FPU
typedef struct {
    int32_t mantissa;
    int32_t shift;
} agilenn_multiplier_t;
#else
typedef float agilenn_multiplier_t;
#endif

/** A 4-D strided iteration space (outermost axis first), strides in elements. */
typedef struct {
    int32_t dims[4];
    int32_t src_strides[4];
    int32_t dst_strides[4];
    int32_t src_offset; /**< elements added to the source pointer */
    int32_t dst_offset; /**< elements added to the destination pointer */
} agilenn_strided_t;

#endif /* AGILENN_TYPES_H */
