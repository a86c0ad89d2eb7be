/* Two marker functions around LOOP_COUNT iterations of a fixed loop, entered WINDOWS times; used to
   check that the instruction counter's windows see only the code between the markers. */
#include <stdint.h>

#ifndef LOOP_COUNT
#define LOOP_COUNT 1000
#endif
#define WINDOWS 3

/* distinct bodies and noipa: identical functions may be folded into one by the compiler */
volatile uint32_t window_state;

__attribute__((noinline, noipa, used)) void window_start(void) {
    window_state = 1u;
}

__attribute__((noinline, noipa, used)) void window_stop(void) {
    window_state = 2u;
}

int main(void) {
    volatile uint32_t acc = 0u;
    uint32_t i, w;
    for (i = 0u; i < 5000u; ++i) { /* outside every window */
        acc += i;
    }
    for (w = 0u; w < WINDOWS; ++w) {
        window_start();
        for (i = 0u; i < (uint32_t)LOOP_COUNT; ++i) {
            acc += i * 3u;
        }
        window_stop();
    }
    return (int)(acc & 1u);
}
