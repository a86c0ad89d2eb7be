/*
 * Test driver for the runtime's scalar arithmetic. Reads records from stdin, writes results to stdout:
 *   mode 'r': int32 acc, float mult, int32 zp, int32 lo, int32 hi -> int8 requantized value
 *   mode 'R': the same through agilenn_requantize_fast (the optimized kernels' requantization)
 *   mode 'q': float x, float scale, int32 zp -> int8 quantized value
 *   mode 'f': float a, float b, float c -> float agilenn_fmaf(a, b, c)
 * Built once with AGILENN_NO_FPU=0 and once with AGILENN_NO_FPU=1 (integer-only path).
 */
#include <stdio.h>
#include <string.h>

#include "agilenn_requantize.h"
#include "agilenn_requantize_fast.h"

static agilenn_multiplier_t make_multiplier(float m)
{
#if AGILENN_NO_FPU
    /* the same split the code generator emits: m = mantissa * 2^-shift */
    agilenn_multiplier_t r;
    uint32_t bits;
    int32_t exp;
    memcpy(&bits, &m, sizeof bits);
    exp = (int32_t)((bits >> 23) & 0xffu);
    if (exp == 0) {
        r.mantissa = 0;
        r.shift = 0;
        return r;
    }
    r.mantissa = (int32_t)((bits & 0x7fffffu) | 0x800000u);
    r.shift = 150 - exp;
    return r;
#else
    return m;
#endif
}

int main(int argc, char **argv)
{
    const char mode = (argc > 1) ? argv[1][0] : 'r';
    if (mode == 'r' || mode == 'R') {
        struct {
            int32_t acc;
            float mult;
            int32_t zp, lo, hi;
        } rec;
        while (fread(&rec, sizeof rec, 1, stdin) == 1) {
            const agilenn_multiplier_t m = make_multiplier(rec.mult);
            const int8_t y = (mode == 'R') ? (int8_t)agilenn_requantize_fast(rec.acc, m, rec.zp, rec.lo, rec.hi)
                                           : agilenn_requantize(rec.acc, m, rec.zp, rec.lo, rec.hi);
            fwrite(&y, 1, 1, stdout);
        }
    } else if (mode == 'q') {
        struct {
            float x, scale;
            int32_t zp;
        } rec;
        while (fread(&rec, sizeof rec, 1, stdin) == 1) {
            const int8_t y = agilenn_quantize_value(rec.x, rec.scale, rec.zp);
            fwrite(&y, 1, 1, stdout);
        }
    } else {
        float rec[3];
        while (fread(rec, sizeof rec, 1, stdin) == 1) {
            const float y = agilenn_fmaf(rec[0], rec[1], rec[2]);
            fwrite(&y, sizeof y, 1, stdout);
        }
    }
    return 0;
}
