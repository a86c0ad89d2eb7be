/* agilenn_frame_write - one fragment of a payload as a datagram: 36-byte header with CRC-32, the data, and
 * with a key the SipHash-2-4 tag (docs/offload-protocol.md section 3). agilenn_frame_seal does the same
 * around a fragment that already lies after the header's room, copying nothing. */
#include <string.h>

#include "agilenn_offload.h"

static void put_u16(uint8_t *dst, uint32_t v)
{
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *dst, uint32_t v)
{
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
    dst[2] = (uint8_t)(v >> 16);
    dst[3] = (uint8_t)(v >> 24);
}

/* The fragment's offset and length, or AGILENN_ERR_ARGUMENT for bad parameters. */
static agilenn_status_t fragment_span(const agilenn_frame_params_t *p, uint32_t payload_len, uint16_t index,
                                      uint32_t *offset, uint32_t *length)
{
    uint32_t count;
    if ((p->kind != AGILENN_OFFLOAD_KIND_REQUEST && p->kind != AGILENN_OFFLOAD_KIND_REPLY &&
         p->kind != AGILENN_OFFLOAD_KIND_BUSY) ||
        p->max_fragment == 0u) {
        return AGILENN_ERR_ARGUMENT;
    }
    count = AGILENN_FRAGMENT_COUNT(payload_len, (uint32_t)p->max_fragment);
    if (count > 0xFFFFu || (uint32_t)index >= count) {
        return AGILENN_ERR_ARGUMENT;
    }
    *offset = (uint32_t)index * p->max_fragment;
    *length = payload_len - *offset;
    if (*length > p->max_fragment) {
        *length = p->max_fragment;
    }
    return AGILENN_OK;
}

static size_t frame_bytes(const agilenn_frame_params_t *p, uint32_t length)
{
    return AGILENN_FRAME_HEADER_SIZE + (size_t)length + (p->key != NULL ? AGILENN_FRAME_MAC_SIZE : 0u);
}

agilenn_status_t agilenn_frame_seal(const agilenn_frame_params_t *p, uint32_t payload_len, uint16_t index,
                                    uint8_t *frame, size_t capacity, size_t *out_len)
{
    uint32_t offset, length, crc;
    agilenn_status_t status;
    if (p == NULL || frame == NULL || out_len == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    status = fragment_span(p, payload_len, index, &offset, &length);
    if (status != AGILENN_OK) {
        return status;
    }
    if (capacity < frame_bytes(p, length)) {
        return AGILENN_ERR_NO_SPACE;
    }
    frame[0] = 'A';
    frame[1] = 'G';
    frame[2] = 'N';
    frame[3] = 'N';
    frame[4] = AGILENN_OFFLOAD_VERSION;
    frame[5] = p->kind;
    frame[6] = p->key != NULL ? (uint8_t)AGILENN_FRAME_FLAG_MAC : 0u;
    frame[7] = 0u;
    put_u16(frame + 8, index);
    put_u16(frame + 10, AGILENN_FRAGMENT_COUNT(payload_len, (uint32_t)p->max_fragment));
    put_u32(frame + 12, p->model_id);
    put_u32(frame + 16, p->device_id);
    put_u32(frame + 20, p->seq);
    put_u16(frame + 24, p->deadline_ms);
    put_u16(frame + 26, length);
    put_u32(frame + 28, payload_len);
    crc = agilenn_crc32(0u, frame, 32u);
    crc = agilenn_crc32(crc, frame + AGILENN_FRAME_HEADER_SIZE, length);
    put_u32(frame + 32, crc);
    if (p->key != NULL) {
        agilenn_siphash_t mac;
        uint64_t tag;
        agilenn_siphash_init(&mac, p->key);
        agilenn_siphash_update(&mac, frame, AGILENN_FRAME_HEADER_SIZE + (size_t)length);
        if (p->request_tag != NULL) {
            agilenn_siphash_update(&mac, p->request_tag, AGILENN_FRAME_MAC_SIZE);
        }
        tag = agilenn_siphash_final(&mac);
        put_u32(frame + AGILENN_FRAME_HEADER_SIZE + length, (uint32_t)tag);
        put_u32(frame + AGILENN_FRAME_HEADER_SIZE + length + 4u, (uint32_t)(tag >> 32));
    }
    *out_len = frame_bytes(p, length);
    return AGILENN_OK;
}

agilenn_status_t agilenn_frame_write(const agilenn_frame_params_t *p, const uint8_t *payload, uint32_t payload_len,
                                     uint16_t index, uint8_t *out, size_t capacity, size_t *out_len)
{
    uint32_t offset, length;
    agilenn_status_t status;
    if (p == NULL || out == NULL || out_len == NULL || (payload_len > 0u && payload == NULL)) {
        return AGILENN_ERR_ARGUMENT;
    }
    status = fragment_span(p, payload_len, index, &offset, &length);
    if (status != AGILENN_OK) {
        return status;
    }
    if (capacity < frame_bytes(p, length)) {
        return AGILENN_ERR_NO_SPACE;
    }
    if (length > 0u) {
        memcpy(out + AGILENN_FRAME_HEADER_SIZE, payload + offset, length);
    }
    return agilenn_frame_seal(p, payload_len, index, out, capacity, out_len);
}
