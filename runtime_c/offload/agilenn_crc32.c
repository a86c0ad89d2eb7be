/*
 * agilenn_crc32 - CRC-32 (IEEE 802.3), bitwise and table-free.
 *
 * Why no table: a 1 KiB const table costs flash on the small parts (128 KiB on the STM32F103) to
 * speed up a step that is small here: about 46 instructions per byte (67 k instructions for a full
 * 1444-byte fragment, counted under qemu: ~0.3 ms at 216 MHz), less than sending it over any radio.
 */
#include "agilenn_offload.h"

uint32_t agilenn_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    int k;
    crc = ~crc;
    if (data == NULL) {
        return ~crc;
    }
    for (i = 0u; i < len; i++) {
        crc ^= data[i];
        for (k = 0; k < 8; k++) {
            /* branch-free: subtract the low bit to get an all-ones mask */
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}
