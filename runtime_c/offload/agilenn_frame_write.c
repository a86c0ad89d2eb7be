/* agilenn_frame_write, agilenn_frame_header - one fragment of a payload as a datagram: 28-byte header with
 * CRC-32, then the data; or the header alone, for a fragment sent from where it lies. */
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

static agilenn_status_t fragment_length(const agilenn_frame_params_t *p, const uint8_t *payload, uint32_t payload_len,
                                        uint16_t index, uint32_t *count, uint32_t *length)
{
    if (p == NULL || (payload_len > 0u && payload == NULL)) {
        return AGILENN_ERR_ARGUMENT;
    }
    if ((p->kind != AGILENN_OFFLOAD_KIND_REQUEST && p->kind != AGILENN_OFFLOAD_KIND_REPLY) || p->max_fragment == 0u) {
        return AGILENN_ERR_ARGUMENT;
    }
    *count = AGILENN_FRAGMENT_COUNT(payload_len, (uint32_t)p->max_fragment);
    if (*count > 0xFFFFu || (uint32_t)index >= *count) {
        return AGILENN_ERR_ARGUMENT;
    }
    *length = payload_len - (uint32_t)index * p->max_fragment;
    if (*length > p->max_fragment) {
        *length = p->max_fragment;
    }
    return AGILENN_OK;
}

agilenn_status_t agilenn_frame_header(const agilenn_frame_params_t *p, const uint8_t *payload, uint32_t payload_len,
                                      uint16_t index, uint8_t *header, uint32_t *fragment_len)
{
    uint32_t count, length;
    uint32_t crc;
    const agilenn_status_t status = fragment_length(p, payload, payload_len, index, &count, &length);
    if (status != AGILENN_OK || header == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    header[0] = 'A';
    header[1] = 'G';
    header[2] = 'N';
    header[3] = 'N';
    header[4] = AGILENN_OFFLOAD_VERSION;
    header[5] = p->kind;
    put_u16(header + 6, index);
    put_u16(header + 8, count);
    put_u32(header + 10, p->model_id);
    put_u32(header + 14, p->seq);
    put_u16(header + 18, length);
    put_u32(header + 20, payload_len);
    crc = agilenn_crc32(0u, header, 24u);
    if (length > 0u) {
        crc = agilenn_crc32(crc, payload + (uint32_t)index * p->max_fragment, length);
    }
    put_u32(header + 24, crc);
    if (fragment_len != NULL) {
        *fragment_len = length;
    }
    return AGILENN_OK;
}

agilenn_status_t agilenn_frame_write(const agilenn_frame_params_t *p, const uint8_t *payload, uint32_t payload_len,
                                     uint16_t index, uint8_t *out, size_t capacity, size_t *out_len)
{
    uint32_t count, length;
    agilenn_status_t status;
    if (out == NULL || out_len == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    status = fragment_length(p, payload, payload_len, index, &count, &length);
    if (status != AGILENN_OK) {
        return status;
    }
    if (capacity < AGILENN_FRAME_HEADER_SIZE || capacity - AGILENN_FRAME_HEADER_SIZE < (size_t)length) {
        return AGILENN_ERR_NO_SPACE;
    }
    if (length > 0u) {
        memcpy(out + AGILENN_FRAME_HEADER_SIZE, payload + (uint32_t)index * p->max_fragment, length);
    }
    (void)agilenn_frame_header(p, payload, payload_len, index, out, NULL);
    *out_len = AGILENN_FRAME_HEADER_SIZE + (size_t)length;
    return AGILENN_OK;
}
