/* agilenn_frame_read_reply - the device's check of a reply or busy reply to its current request
 * (docs/offload-protocol.md section 5): every header field, the CRC and, with a key, the tag. */
#include <string.h>

#include "agilenn_offload.h"

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 1 when the 8 bytes equal the tag (little-endian), in time independent of where they differ. */
static int tag_equal(const uint8_t *bytes, uint64_t tag)
{
    uint32_t diff = 0u;
    uint32_t i;
    for (i = 0; i < AGILENN_FRAME_MAC_SIZE; i++) {
        diff |= (uint32_t)(bytes[i] ^ (uint8_t)(tag >> (8u * i)));
    }
    return diff == 0u;
}

agilenn_status_t agilenn_frame_read_reply(const agilenn_reply_params_t *p, const uint8_t *frame, size_t length,
                                          uint8_t *kind, const uint8_t **payload, size_t *payload_len)
{
    const size_t mac = (p != NULL && p->key != NULL) ? AGILENN_FRAME_MAC_SIZE : 0u;
    uint32_t fragment;
    if (p == NULL || frame == NULL || kind == NULL || payload == NULL || payload_len == NULL ||
        (p->key != NULL && p->request_tag == NULL) || length < AGILENN_FRAME_HEADER_SIZE + mac) {
        return AGILENN_ERR_BAD_REPLY;
    }
    fragment = get_u16(frame + 26);
    if (memcmp(frame, "AGNN", 4) != 0 || frame[4] != AGILENN_OFFLOAD_VERSION ||
        (frame[5] != AGILENN_OFFLOAD_KIND_REPLY && frame[5] != AGILENN_OFFLOAD_KIND_BUSY) ||
        frame[6] != (mac != 0u ? AGILENN_FRAME_FLAG_MAC : 0u) || frame[7] != 0u || get_u16(frame + 8) != 0u ||
        get_u16(frame + 10) != 1u || get_u32(frame + 12) != p->model_id || get_u32(frame + 16) != p->device_id ||
        get_u32(frame + 20) != p->seq || get_u16(frame + 24) != 0u || get_u32(frame + 28) != fragment ||
        length != AGILENN_FRAME_HEADER_SIZE + (size_t)fragment + mac) {
        return AGILENN_ERR_BAD_REPLY;
    }
    if (agilenn_crc32(agilenn_crc32(0u, frame, 32u), frame + AGILENN_FRAME_HEADER_SIZE, fragment) !=
        get_u32(frame + 32)) {
        return AGILENN_ERR_BAD_REPLY;
    }
    if (mac != 0u) {
        agilenn_siphash_t state;
        agilenn_siphash_init(&state, p->key);
        agilenn_siphash_update(&state, frame, AGILENN_FRAME_HEADER_SIZE + (size_t)fragment);
        agilenn_siphash_update(&state, p->request_tag, AGILENN_FRAME_MAC_SIZE);
        if (!tag_equal(frame + AGILENN_FRAME_HEADER_SIZE + fragment, agilenn_siphash_final(&state))) {
            return AGILENN_ERR_BAD_REPLY;
        }
    }
    *kind = frame[5];
    *payload = frame + AGILENN_FRAME_HEADER_SIZE;
    *payload_len = fragment;
    return AGILENN_OK;
}
