/*
 * agilenn_context_decode.h - the server's decoder of context-coded bodies (payload encoding 2).
 *
 * Built for the host only, into the shared library that agilenn_codegen.offload.native loads (with the
 * device encoder of runtime_c/offload/, which it uses to check that a body is canonical). The Python
 * reference, agilenn_codegen/offload/context_coder.py, is the specification; the tests check that the
 * two accept and reject the same bodies and decode the same symbols.
 */
#ifndef AGILENN_CONTEXT_DECODE_H
#define AGILENN_CONTEXT_DECODE_H

#include "agilenn_offload.h"

/* Results of agilenn_context_decode (the ProtocolError reasons of the Python reference). */
#define AGILENN_CONTEXT_DECODED 0
#define AGILENN_CONTEXT_BAD_SYMBOL 1    /**< "context_symbol": a code value outside every interval */
#define AGILENN_CONTEXT_BAD_ESCAPE 2    /**< "context_escape": escape bit 1 but every rare symbol 0 */
#define AGILENN_CONTEXT_NONCANONICAL 3  /**< "context_noncanonical": not the encoder's bytes for them */
#define AGILENN_CONTEXT_BAD_ARGUMENT -1 /**< a NULL pointer, bad tables or small buffers */

/**
 * Decode the C_r * H * W symbols of `body` into `symbols` (channel-major, S[c][y][x]); `line` holds
 * AGILENN_CONTEXT_LINE_BYTES(model) bytes and `scratch` at least `len` bytes (the re-encoding that
 * checks the body is canonical). Time O(C_r * H * W + len), no allocation. `*where` (may be NULL)
 * receives the pixel index (y * W + x) where decoding stopped.
 */
int agilenn_context_decode(const agilenn_context_model_t *model, const uint8_t *body, size_t len, uint8_t *symbols,
                           uint8_t *line, size_t line_bytes, uint8_t *scratch, size_t scratch_bytes, uint32_t *where);

#endif /* AGILENN_CONTEXT_DECODE_H */
