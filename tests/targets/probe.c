/*
 * Toolchain probe for tests/test_targets.py: reads probe_in.bin (int8 bytes), runs the float and
 * integer operations generated code relies on and writes probe_out.bin. Exits with PROBE_EXIT_CODE.
 *
 * Output layout (little-endian):
 *   int32 lrintf(x / 2)   for each input byte x (ties: round half to even)
 *   float rintf(x / 2)    for each input byte x
 *   float fmaf(x, 0.75f, 0.125f) for each input byte x
 *   int64 product of (x * 1000003) and (x - 7) * 65537 for each input byte x
 *   int32 __builtin_clz((uint32_t)(x & 0xff) | 1u) for each input byte x
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#ifndef PROBE_EXIT_CODE
#define PROBE_EXIT_CODE 3
#endif

#define MAX_INPUT 256

static void put_u32(unsigned char *dst, uint32_t v) {
    dst[0] = (unsigned char)(v & 0xFFu);
    dst[1] = (unsigned char)((v >> 8) & 0xFFu);
    dst[2] = (unsigned char)((v >> 16) & 0xFFu);
    dst[3] = (unsigned char)((v >> 24) & 0xFFu);
}

static uint32_t float_bits(float f) {
    union {
        float f;
        uint32_t u;
    } pun;
    pun.f = f;
    return pun.u;
}

int main(void) {
    static signed char input[MAX_INPUT];
    static unsigned char out[MAX_INPUT * 24];
    size_t n, i, pos = 0;
    FILE *fin = fopen("probe_in.bin", "rb");
    FILE *fout;
    if (fin == NULL) {
        fprintf(stderr, "probe: cannot open probe_in.bin\n");
        return 1;
    }
    n = fread(input, 1, sizeof input, fin);
    fclose(fin);
    for (i = 0; i < n; ++i) {
        volatile float half = (float)input[i] / 2.0f; /* volatile: keep the libm calls */
        put_u32(&out[pos], (uint32_t)(int32_t)lrintf(half));
        pos += 4;
    }
    for (i = 0; i < n; ++i) {
        volatile float half = (float)input[i] / 2.0f;
        put_u32(&out[pos], float_bits(rintf(half)));
        pos += 4;
    }
    for (i = 0; i < n; ++i) {
        volatile float x = (float)input[i];
        put_u32(&out[pos], float_bits(fmaf(x, 0.75f, 0.125f)));
        pos += 4;
    }
    for (i = 0; i < n; ++i) {
        volatile int32_t a = (int32_t)input[i] * 1000003;
        volatile int32_t b = ((int32_t)input[i] - 7) * 65537;
        uint64_t p = (uint64_t)((int64_t)a * (int64_t)b);
        put_u32(&out[pos], (uint32_t)(p & 0xFFFFFFFFu));
        put_u32(&out[pos + 4], (uint32_t)(p >> 32));
        pos += 8;
    }
    for (i = 0; i < n; ++i) {
        volatile uint32_t v = ((uint32_t)(unsigned char)input[i]) | 1u;
        put_u32(&out[pos], (uint32_t)__builtin_clz(v));
        pos += 4;
    }
    fout = fopen("probe_out.bin", "wb");
    if (fout == NULL || fwrite(out, 1, pos, fout) != pos || fclose(fout) != 0) {
        fprintf(stderr, "probe: cannot write probe_out.bin\n");
        return 1;
    }
    printf("probe: %u bytes in, %u bytes out\n", (unsigned)n, (unsigned)pos);
    return PROBE_EXIT_CODE;
}
