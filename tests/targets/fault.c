/* Crashes on purpose (store to an unmapped address) to check that a fault exits instead of hanging. */
#include <stdint.h>
#include <stdio.h>

int main(void) {
    volatile uint32_t *bad = (volatile uint32_t *)0xF0000000u;
    printf("about to fault\n");
    fflush(stdout);
    *bad = 1u;
    return 0;
}
