/*
 * Data movement: one strided 4-D copy serves Transpose, relayout (NCHW <-> NHWC), Slice and each
 * input of Concat. An optional 256-entry table requantizes int8 values on the way (QLinearConcat).
 */
#ifndef AGILENN_DATA_MOVEMENT_H
#define AGILENN_DATA_MOVEMENT_H

#include "agilenn_types.h"

typedef struct {
    agilenn_strided_t geometry;
    int32_t element_size;  /**< 1 (int8) or 4 (float32/int32) */
    const int8_t *table;   /**< int8 only: table[v + 128] replaces v; NULL copies */
} agilenn_copy_params_t;

agilenn_status_t agilenn_copy_strided(const agilenn_copy_params_t *p, const void *input, void *output);

#endif /* AGILENN_DATA_MOVEMENT_H */
