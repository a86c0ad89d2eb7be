/* agilenn_context_encode_begin - start a context-coded body (docs/offload-protocol.md, section 2). */
#include "agilenn_context_internal.h"

agilenn_status_t agilenn_context_encode_begin(agilenn_context_encoder_t *enc, const agilenn_context_model_t *model,
                                              uint8_t *line, size_t line_bytes, uint8_t *out, size_t capacity)
{
    if (enc == NULL) {
        return AGILENN_ERR_ARGUMENT;
    }
    memset(enc, 0, sizeof *enc);
    enc->status = AGILENN_ERR_ARGUMENT;
    if (model == NULL || line == NULL || (out == NULL && capacity > 0u)) {
        return AGILENN_ERR_ARGUMENT;
    }
    if (model->alphabet < 2u || model->alphabet > AGILENN_CONTEXT_MAX_ALPHABET || model->live_count < 1u || model->width < 1u || model->height < 1u ||
        (uint32_t)model->live_count + model->rare_count != model->channels || model->live == NULL ||
        model->border == NULL || model->context_map == NULL || model->cum_freq == NULL ||
        (model->rare_count > 0u && model->rare == NULL) ||
        line_bytes < AGILENN_CONTEXT_LINE_BYTES(model)) {
        return AGILENN_ERR_ARGUMENT;
    }
    memset(line, (int)model->alphabet, AGILENN_CONTEXT_LINE_BYTES(model)); /* the row above row 0: border */
    enc->model = model;
    enc->line = line;
    enc->out = out;
    enc->capacity = capacity;
    enc->range = 0xFFFFFFFFu;
    enc->status = AGILENN_OK;
    return AGILENN_OK;
}
