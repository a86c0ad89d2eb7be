/*
 * agilenn_window.h - the window of a row-streamed tensor: its last `capacity` rows, contiguous in memory,
 * so that a convolution reads its input rows as one small map (agilenn_codegen/compiler/streaming.py).
 * A new row goes after the others; when the window is full the rows move up by one first.
 */
#ifndef AGILENN_WINDOW_H
#define AGILENN_WINDOW_H

#include "agilenn_arch.h"

typedef struct {
    int8_t *rows;      /**< capacity * row_bytes bytes */
    int32_t capacity;  /**< rows kept */
    int32_t row_bytes;
    int32_t produced;  /**< rows appended since the start of the inference (the next row's number) */
} agilenn_window_t;

/** The storage of the next row (its number is w->produced before the call). */
AGILENN_INLINE int8_t *agilenn_window_append(agilenn_window_t *w)
{
    int32_t slot = w->produced;
    if (slot >= w->capacity) {
        memmove(w->rows, w->rows + w->row_bytes, (size_t)(w->capacity - 1) * (size_t)w->row_bytes);
        slot = w->capacity - 1;
    }
    w->produced++;
    return w->rows + (size_t)slot * (size_t)w->row_bytes;
}

/** Row `row`, which must be one of the last `capacity` rows appended. */
AGILENN_INLINE const int8_t *agilenn_window_row(const agilenn_window_t *w, int32_t row)
{
    const int32_t first = w->produced > w->capacity ? w->produced - w->capacity : 0;
    return w->rows + (size_t)(row - first) * (size_t)w->row_bytes;
}

#endif /* AGILENN_WINDOW_H */
