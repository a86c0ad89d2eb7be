/*
 * offload_driver - runs the device encoder on test cases read from a file and writes what it produced,
 * for tests/offload/test_protocol_c.py to compare with the Python reference (host, ASan/UBSan, qemu).
 *
 * usage: offload_driver, in a folder with cases.bin; it writes out.bin (fixed names: the bare-metal
 * startup code passes no arguments)
 * A case (little-endian): u8 op, u8 W (or b), u16 K, u32 N, u32 cap, u32 model_id, u32 seq,
 * u16 max_fragment, u16 zero, then N symbol bytes. ops:
 *   0 payload: encode_payload into a buffer of `cap` bytes (0: AGILENN_PAYLOAD_MAX_BYTES), then every
 *     fragment with agilenn_frame_write -> u32 status, u32 len, payload, u32 guard_ok,
 *     u32 nframes, then per frame u32 len + bytes
 *   1 lzw:  agilenn_lzw_encode with capacity cap -> u32 status, u32 len, body, u32 guard_ok
 *   2 pack: agilenn_pack_indices at b = W with capacity cap -> u32 status, u32 len, bytes, u32 guard_ok
 *   3 crc:  agilenn_crc32 of the N bytes, chained at byte `cap` -> u32 crc
 */
#include <stdio.h>
#include <string.h>

#include "agilenn_offload.h"

#define MAX_N 70000u
#define GUARD 64u
#define GUARD_BYTE 0xA5u

static uint8_t symbols[MAX_N];
static uint16_t lzw_state[AGILENN_LZW_STATE_WORDS(AGILENN_LZW_MAX_BITS)];
static uint8_t buffer[AGILENN_PAYLOAD_HEADER_SIZE + MAX_N + GUARD];
static uint8_t frame[AGILENN_FRAME_MAX_BYTES(65535u) + GUARD];

static uint32_t get_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int put_u32(FILE *f, uint32_t v)
{
    uint8_t b[4];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int put_bytes(FILE *f, const uint8_t *data, size_t len)
{
    return (len == 0u || fwrite(data, 1, len, f) == len) ? 0 : -1;
}

static uint32_t guard_ok(const uint8_t *buf, size_t cap)
{
    size_t i;
    for (i = 0; i < GUARD; i++) {
        if (buf[cap + i] != GUARD_BYTE) {
            return 0u;
        }
    }
    return 1u;
}

int main(void)
{
    FILE *in;
    FILE *out;
    uint8_t head[24];
    int rc = 0;
    in = fopen("cases.bin", "rb");
    out = fopen("out.bin", "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open files\n");
        return 2;
    }
    while (fread(head, 1, sizeof head, in) == sizeof head) {
        const uint8_t op = head[0];
        const uint8_t w = head[1];
        const uint16_t k = (uint16_t)(head[2] | head[3] << 8);
        const uint32_t n = get_u32(head + 4);
        uint32_t cap = get_u32(head + 8);
        agilenn_status_t st = AGILENN_OK;
        size_t len = 0u;
        if (n > MAX_N || fread(symbols, 1, n, in) != n) {
            fprintf(stderr, "bad case\n");
            rc = 3;
            break;
        }
        if (op == 0u) {
            const agilenn_payload_params_t pp = {n, k, w, NULL};
            agilenn_frame_params_t fp;
            uint32_t i, nframes;
            if (cap == 0u) {
                cap = (uint32_t)AGILENN_PAYLOAD_MAX_BYTES(n, k);
            }
            if (cap > AGILENN_PAYLOAD_HEADER_SIZE + MAX_N) {
                rc = 3;
                break;
            }
            memset(buffer, GUARD_BYTE, cap + GUARD);
            st = agilenn_encode_payload(&pp, symbols, w ? lzw_state : NULL, w ? sizeof lzw_state : 0u, buffer, cap,
                                        &len);
            rc |= put_u32(out, (uint32_t)st) | put_u32(out, st == AGILENN_OK ? (uint32_t)len : 0u);
            rc |= put_bytes(out, buffer, st == AGILENN_OK ? len : 0u) | put_u32(out, guard_ok(buffer, cap));
            fp.kind = AGILENN_OFFLOAD_KIND_REQUEST;
            fp.model_id = get_u32(head + 12);
            fp.seq = get_u32(head + 16);
            fp.max_fragment = (uint16_t)(head[20] | head[21] << 8);
            nframes = (st == AGILENN_OK) ? AGILENN_FRAGMENT_COUNT((uint32_t)len, (uint32_t)fp.max_fragment) : 0u;
            rc |= put_u32(out, nframes);
            for (i = 0; i < nframes; i++) {
                const size_t fcap = AGILENN_FRAME_MAX_BYTES(fp.max_fragment);
                size_t flen = 0u;
                agilenn_status_t fs;
                memset(frame, GUARD_BYTE, fcap + GUARD);
                fs = agilenn_frame_write(&fp, buffer, (uint32_t)len, (uint16_t)i, frame, fcap, &flen);
                if (fs != AGILENN_OK || !guard_ok(frame, fcap)) {
                    fprintf(stderr, "frame_write failed: %d\n", (int)fs);
                    return 4;
                }
                rc |= put_u32(out, (uint32_t)flen) | put_bytes(out, frame, flen);
            }
        } else if (op == 1u || op == 2u) {
            if (cap > AGILENN_PAYLOAD_HEADER_SIZE + MAX_N) {
                rc = 3;
                break;
            }
            memset(buffer, GUARD_BYTE, cap + GUARD);
            if (op == 1u) {
                const agilenn_lzw_params_t lp = {n, k, w};
                st = agilenn_lzw_encode(&lp, symbols, lzw_state, sizeof lzw_state, buffer, cap, &len);
            } else {
                const agilenn_pack_params_t pk = {n, w};
                st = agilenn_pack_indices(&pk, symbols, buffer, cap, &len);
            }
            rc |= put_u32(out, (uint32_t)st) | put_u32(out, st == AGILENN_OK ? (uint32_t)len : 0u);
            rc |= put_bytes(out, buffer, st == AGILENN_OK ? len : 0u) | put_u32(out, guard_ok(buffer, cap));
        } else if (op == 3u) {
            const uint32_t split = cap < n ? cap : n;
            rc |= put_u32(out, agilenn_crc32(agilenn_crc32(0u, symbols, split), symbols + split, n - split));
        } else {
            fprintf(stderr, "bad op %u\n", (unsigned)op);
            rc = 3;
            break;
        }
        if (rc != 0) {
            fprintf(stderr, "write failed\n");
            break;
        }
    }
    fclose(in);
    if (fclose(out) != 0) {
        rc = 5;
    }
    return rc;
}
