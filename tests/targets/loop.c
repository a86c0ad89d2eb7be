/* Runs LOOP_COUNT iterations of a fixed loop body; used to check the instruction counter. */
#include <stdint.h>

#ifndef LOOP_COUNT
#define LOOP_COUNT 1000
#endif

int main(void) {
    volatile uint32_t acc = 0u;
    uint32_t i;
    for (i = 0u; i < (uint32_t)LOOP_COUNT; ++i) {
        acc += i * 3u;
    }
    return (int)(acc & 1u);
}
