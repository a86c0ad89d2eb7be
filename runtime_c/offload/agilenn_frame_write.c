/* agilenn_frame_write - one fragment of a payload as a datagram: 28-byte header with CRC-32, then the data. */
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

agilenn_status_t agilenn_frame_write(const agilenn_frame_params_t *p, const uint8_t *payload, uint32_t payload_len,
                                     uint16_t index, uint8_t *out, size_t capacity, size_t *out_len)
{
    uint32_t count, offset, length;
    uint32_t crc;
    if (p == NULL || out == NULL || out_len == NULL || (payload_len > 0u && payload == NULL)) {
        return AGILENN_ERR_ARGUMENT;
    }
    if ((p->kind != AGILENN_OFFLOAD_KIND_REQUEST && p->kind != AGILENN_OFFLOAD_KIND_REPLY) || p->max_fragment == 0u) {
        return AGILENN_ERR_ARGUMENT;
    }
    count = AGILENN_FRAGMENT_COUNT(payload_len, (uint32_t)p->max_fragment);
    if (count > 0xFFFFu || (uint32_t)index >= count) {
        return AGILENN_ERR_ARGUMENT;
    }
    offset = (uint32_t)index * p->max_fragment;
    length = payload_len - offset;
    if (length > p->max_fragment) {
        length = p->max_fragment;
    }
    if (capacity < AGILENN_FRAME_HEADER_SIZE || capacity - AGILENN_FRAME_HEADER_SIZE < (size_t)length) {
        return AGILENN_ERR_NO_SPACE;
    }
    out[0] = 'A';
    out[1] = 'G';
    out[2] = 'N';
    out[3] = 'N';
    out[4] = AGILENN_OFFLOAD_VERSION;
    out[5] = p->kind;
    put_u16(out + 6, index);
    put_u16(out + 8, count);
    put_u32(out + 10, p->model_id);
    put_u32(out + 14, p->seq);
    put_u16(out + 18, length);
    put_u32(out + 20, payload_len);
    if (length > 0u) {
        memcpy(out + AGILENN_FRAME_HEADER_SIZE, payload + offset, length);
    }
    crc = agilenn_crc32(0u, out, 24u);
    crc = agilenn_crc32(crc, out + AGILENN_FRAME_HEADER_SIZE, length);
    put_u32(out + 24, crc);
    *out_len = AGILENN_FRAME_HEADER_SIZE + (size_t)length;
    return AGILENN_OK;
}
