/*
 * offload_driver - runs the device encoder on test cases read from a file and writes what it produced,
 * for tests/offload/test_protocol_c.py to compare with the Python reference (host, ASan/UBSan, qemu).
 *
 * usage: offload_driver, in a folder with cases.bin; it writes out.bin (fixed names: the bare-metal
 * startup code passes no arguments)
 * A case (little-endian): u8 op, u8 W (or b), u16 K, u32 N, u32 cap, u32 model_id, u32 seq,
 * u16 max_fragment, u16 flags, then N symbol bytes; with flags bit 0, then 32 bytes of frame options:
 * u32 device id, u16 deadline ms, u8 has_key, u8 zero, 16-byte key, 8-byte request tag. ops:
 *   0 payload: encode_payload into a buffer of `cap` bytes (0: AGILENN_PAYLOAD_MAX_BYTES), then every
 *     fragment with agilenn_frame_write (and the frame options) -> u32 status, u32 len, payload,
 *     u32 guard_ok, u32 nframes, then per frame u32 len + bytes + u32 (1: agilenn_frame_seal on the
 *     fragment already in place wrote the same bytes)
 *   1 lzw:  agilenn_lzw_encode with capacity cap -> u32 status, u32 len, body, u32 guard_ok
 *   2 pack: agilenn_pack_indices at b = W with capacity cap -> u32 status, u32 len, bytes, u32 guard_ok
 *   3 crc:  agilenn_crc32 of the N bytes, chained at byte `cap` -> u32 crc
 *   7 siphash: SipHash-2-4 of the N bytes under the options' key -> u64 tag (agilenn_siphash24), u64 tag
 *     fed in two pieces split at byte `cap` (init/update/update/final)
 *   8 read reply: agilenn_frame_read_reply of the N bytes as a datagram, for model_id, seq and the options'
 *     device id, key (if has_key) and request tag -> u32 status, u32 kind, u32 payload offset, u32 payload len
 * ops 4..6 take a context model after the symbols (`model_id` holds its size in bytes): u16 K, C, H, W,
 * L, R (rare count), rows; u16 live[L], u16 rare[R], u16 map[L * (K+1)^2 * K] (row * K), u32 cum_freq[rows * K]
 *   4 context payload: agilenn_encode_payload with the model into `cap` bytes (0: the maximum)
 *     -> u32 status, u32 len, payload, u32 guard_ok, u32 line_guard_ok
 *   5 context body: agilenn_context_encode with capacity cap (0 is 0) -> the same fields
 *   6 context body pixel by pixel: begin, `seq` calls of agilenn_context_encode_pixel (pixels in
 *     coding order, made from the channel-major symbols), end -> u32 status of the first failing call
 *     (or of end), u32 len, body, u32 guard_ok, u32 line_guard_ok
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
static uint8_t sealed[AGILENN_FRAME_MAX_BYTES(65535u)];
static uint8_t options[32];

#define MAX_LIVE 16u
#define MAX_CHANNELS 64u
#define MAX_MAP (MAX_LIVE * 17u * 17u * 16u)
#define MAX_ENTRIES 65535u
#define MAX_LINE 4096u
static uint8_t model_blob[2u * (7u + MAX_CHANNELS + MAX_MAP) + 4u * MAX_ENTRIES];
static uint16_t live[MAX_LIVE];
static uint16_t rare[MAX_CHANNELS];
static uint8_t border[MAX_LIVE];
static uint16_t context_map[MAX_MAP];
static uint32_t cum_freq[MAX_ENTRIES];
static uint8_t line[MAX_LINE + GUARD];
static uint8_t pixel[MAX_CHANNELS];
static agilenn_context_model_t model;

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

static uint16_t get_u16(const uint8_t *b)
{
    return (uint16_t)(b[0] | b[1] << 8);
}

static int put_u64(FILE *f, uint64_t v)
{
    return put_u32(f, (uint32_t)v) | put_u32(f, (uint32_t)(v >> 32));
}

/* The context model of ops 4..6 from its blob; 0 if it does not fit this driver's arrays. */
static int read_model(const uint8_t *b, uint32_t size)
{
    uint32_t K, C, L, R, rows, i, n_map, pos = 14u;
    if (size < 14u) {
        return 0;
    }
    K = get_u16(b);
    C = get_u16(b + 2);
    L = get_u16(b + 8);
    R = get_u16(b + 10);
    rows = get_u16(b + 12);
    n_map = L * (K + 1u) * (K + 1u) * K;
    if (C > MAX_CHANNELS || L > MAX_LIVE || R > MAX_CHANNELS || n_map > MAX_MAP || rows * K > MAX_ENTRIES ||
        size != 14u + 2u * (L + R + n_map) + 4u * rows * K || (uint32_t)get_u16(b + 6) * L > MAX_LINE) {
        return 0;
    }
    for (i = 0u; i < L; i++, pos += 2u) {
        live[i] = get_u16(b + pos);
        border[i] = (uint8_t)K;
    }
    for (i = 0u; i < R; i++, pos += 2u) {
        rare[i] = get_u16(b + pos);
    }
    for (i = 0u; i < n_map; i++, pos += 2u) {
        context_map[i] = get_u16(b + pos);
    }
    for (i = 0u; i < rows * K; i++, pos += 4u) {
        cum_freq[i] = get_u32(b + pos);
    }
    model.alphabet = (uint16_t)K;
    model.channels = (uint16_t)C;
    model.height = get_u16(b + 4);
    model.width = get_u16(b + 6);
    model.live_count = (uint16_t)L;
    model.rare_count = (uint16_t)R;
    model.live = live;
    model.rare = R ? rare : NULL;
    model.border = border;
    model.context_map = context_map;
    model.cum_freq = cum_freq;
    return 1;
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
        memset(options, 0, sizeof options);
        if ((head[22] & 1u) != 0u && fread(options, 1, sizeof options, in) != sizeof options) {
            fprintf(stderr, "bad options\n");
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
            fp.device_id = get_u32(options);
            fp.seq = get_u32(head + 16);
            fp.deadline_ms = get_u16(options + 4);
            fp.max_fragment = (uint16_t)(head[20] | head[21] << 8);
            fp.key = options[6] ? options + 8 : NULL;
            fp.request_tag = NULL;
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
                {
                    /* the same fragment sealed in place: the payload bytes already after the header's room */
                    const uint32_t offset = i * fp.max_fragment;
                    const uint32_t part = (uint32_t)len - offset < fp.max_fragment ? (uint32_t)len - offset
                                                                                     : fp.max_fragment;
                    size_t slen = 0u;
                    memset(sealed, 0, sizeof sealed);
                    if (part > 0u) {
                        memcpy(sealed + AGILENN_FRAME_HEADER_SIZE, buffer + offset, part);
                    }
                    fs = agilenn_frame_seal(&fp, (uint32_t)len, (uint16_t)i, sealed, fcap, &slen);
                    rc |= put_u32(out, (uint32_t)(fs == AGILENN_OK && slen == flen && memcmp(sealed, frame, flen) == 0));
                }
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
        } else if (op >= 4u && op <= 6u) {
            const uint32_t blob = get_u32(head + 12);
            size_t line_bytes;
            if (blob > sizeof model_blob || fread(model_blob, 1, blob, in) != blob || !read_model(model_blob, blob)) {
                fprintf(stderr, "bad model\n");
                rc = 3;
                break;
            }
            line_bytes = (size_t)model.width * model.live_count;
            if (op == 4u && cap == 0u) {
                cap = (uint32_t)AGILENN_PAYLOAD_MAX_BYTES(n, k);
            }
            if (cap > AGILENN_PAYLOAD_HEADER_SIZE + MAX_N) {
                rc = 3;
                break;
            }
            memset(buffer, GUARD_BYTE, cap + GUARD);
            memset(line, GUARD_BYTE, sizeof line);
            if (op == 4u) {
                const agilenn_payload_params_t pp = {n, k, 0u, &model};
                st = agilenn_encode_payload(&pp, symbols, line, line_bytes, buffer, cap, &len);
            } else if (op == 5u) {
                st = agilenn_context_encode(&model, symbols, line, line_bytes, buffer, cap, &len);
            } else {
                agilenn_context_encoder_t enc;
                const uint32_t pushes = get_u32(head + 16);
                const uint32_t plane = (uint32_t)model.height * model.width;
                uint32_t p, j;
                st = agilenn_context_encode_begin(&enc, &model, line, line_bytes, buffer, cap);
                for (p = 0u; p < pushes && st == AGILENN_OK; p++) {
                    const uint32_t at = p % plane; /* past the end: pixels again (the call must refuse) */
                    for (j = 0u; j < model.live_count; j++) {
                        pixel[j] = symbols[(size_t)model.live[j] * plane + at];
                    }
                    for (j = 0u; j < model.rare_count; j++) {
                        pixel[model.live_count + j] = symbols[(size_t)model.rare[j] * plane + at];
                    }
                    st = agilenn_context_encode_pixel(&enc, pixel);
                }
                if (st == AGILENN_OK) {
                    st = agilenn_context_encode_end(&enc, &len);
                }
            }
            rc |= put_u32(out, (uint32_t)st) | put_u32(out, st == AGILENN_OK ? (uint32_t)len : 0u);
            rc |= put_bytes(out, buffer, st == AGILENN_OK ? len : 0u) | put_u32(out, guard_ok(buffer, cap));
            rc |= put_u32(out, guard_ok(line, line_bytes));
        } else if (op == 3u) {
            const uint32_t split = cap < n ? cap : n;
            rc |= put_u32(out, agilenn_crc32(agilenn_crc32(0u, symbols, split), symbols + split, n - split));
        } else if (op == 7u) {
            const uint32_t split = cap < n ? cap : n;
            agilenn_siphash_t state;
            rc |= put_u64(out, agilenn_siphash24(options + 8, symbols, n));
            agilenn_siphash_init(&state, options + 8);
            agilenn_siphash_update(&state, symbols, split);
            agilenn_siphash_update(&state, symbols + split, n - split);
            rc |= put_u64(out, agilenn_siphash_final(&state));
        } else if (op == 8u) {
            agilenn_reply_params_t rp;
            uint8_t kind = 0u;
            const uint8_t *payload = NULL;
            size_t payload_len = 0u;
            uint8_t *copy; /* the datagram at the very end of an array: ASan sees any read past it */
            if (n > sizeof sealed) {
                rc = 3;
                break;
            }
            copy = sealed + (sizeof sealed - n);
            rp.model_id = get_u32(head + 12);
            rp.device_id = get_u32(options);
            rp.seq = get_u32(head + 16);
            rp.key = options[6] ? options + 8 : NULL;
            rp.request_tag = options + 24;
            if (n > 0u) {
                memcpy(copy, symbols, n);
            }
            st = agilenn_frame_read_reply(&rp, copy, n, &kind, &payload, &payload_len);
            rc |= put_u32(out, (uint32_t)st) | put_u32(out, kind);
            rc |= put_u32(out, payload != NULL ? (uint32_t)(payload - copy) : 0xFFFFFFFFu);
            rc |= put_u32(out, (uint32_t)payload_len);
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
