/*
 * agilenn_siphash - SipHash-2-4 (Aumasson and Bernstein, 2012), the MAC of authenticated frames.
 *
 * A 128-bit key, a 64-bit tag; 2 rounds per 8-byte message word, 4 to finish. Only 64-bit additions,
 * rotations and exclusive ors (a Cortex-M runs each as two 32-bit instructions, a rotation by 32 is a
 * register swap). The message may be fed in pieces of any length; agilenn_codegen/offload/siphash.py is
 * the reference, checked against the published test vectors.
 */
#include <string.h>

#include "agilenn_offload.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load_u64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void sip_rounds(agilenn_siphash_t *s, uint64_t m, int rounds)
{
    uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3 ^ m;
    int i;
    for (i = 0; i < rounds; i++) {
        v0 += v1;
        v1 = ROTL(v1, 13);
        v1 ^= v0;
        v0 = ROTL(v0, 32);
        v2 += v3;
        v3 = ROTL(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = ROTL(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = ROTL(v1, 17);
        v1 ^= v2;
        v2 = ROTL(v2, 32);
    }
    s->v0 = v0 ^ m;
    s->v1 = v1;
    s->v2 = v2;
    s->v3 = v3;
}

void agilenn_siphash_init(agilenn_siphash_t *s, const uint8_t *key)
{
    const uint64_t k0 = load_u64(key), k1 = load_u64(key + 8);
    s->v0 = k0 ^ 0x736f6d6570736575ull;
    s->v1 = k1 ^ 0x646f72616e646f6dull;
    s->v2 = k0 ^ 0x6c7967656e657261ull;
    s->v3 = k1 ^ 0x7465646279746573ull;
    s->length = 0u;
    memset(s->tail, 0, sizeof s->tail);
}

void agilenn_siphash_update(agilenn_siphash_t *s, const uint8_t *data, size_t len)
{
    size_t have = (size_t)(s->length & 7u);
    if (len == 0u) {
        return;
    }
    s->length += (uint32_t)len;
    if (have != 0u) {
        const size_t take = len < 8u - have ? len : 8u - have;
        memcpy(s->tail + have, data, take);
        data += take;
        len -= take;
        if (have + take < 8u) {
            return;
        }
        sip_rounds(s, load_u64(s->tail), 2);
    }
    while (len >= 8u) {
        sip_rounds(s, load_u64(data), 2);
        data += 8;
        len -= 8u;
    }
    if (len != 0u) {
        memcpy(s->tail, data, len);
    }
}

uint64_t agilenn_siphash_final(agilenn_siphash_t *s)
{
    const size_t have = (size_t)(s->length & 7u);
    uint64_t b = (uint64_t)(s->length & 0xFFu) << 56;
    size_t i;
    for (i = 0; i < have; i++) {
        b |= (uint64_t)s->tail[i] << (8u * i);
    }
    sip_rounds(s, b, 2);
    s->v2 ^= 0xFFu;
    sip_rounds(s, 0u, 4);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t agilenn_siphash24(const uint8_t *key, const uint8_t *data, size_t len)
{
    agilenn_siphash_t s;
    agilenn_siphash_init(&s, key);
    agilenn_siphash_update(&s, data, len);
    return agilenn_siphash_final(&s);
}
