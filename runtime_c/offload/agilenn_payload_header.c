/* agilenn_payload_header - the payload's 7-byte header (docs/offload-protocol.md, section 2). */
#include "agilenn_offload.h"

void agilenn_payload_header(uint8_t *out, uint8_t encoding, uint32_t count, uint32_t alphabet, uint8_t width)
{
    out[0] = encoding;
    out[1] = (uint8_t)count;
    out[2] = (uint8_t)(count >> 8);
    out[3] = (uint8_t)(count >> 16);
    out[4] = (uint8_t)(count >> 24);
    out[5] = (uint8_t)alphabet; /* K = 256 is written as 0 */
    out[6] = width;
}
