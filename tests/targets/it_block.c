/* Nine instructions, three of them in IT blocks whose condition fails: the instruction counter must
   count all nine (a condition-failed instruction still issues). Used by tests/test_profile.py. */
#include <stdint.h>
__attribute__((naked, noinline)) void it_sequence(void)
{
    __asm__ volatile(
        "movs r0, #0\n"
        "cmp r0, #1\n"
        "ite eq\n"
        "moveq r1, #1\n"
        "movne r1, #2\n"
        "itt eq\n"
        "moveq r2, #1\n"
        "moveq r3, #1\n"
        "bx lr\n");
}
int main(void)
{
    it_sequence();
    it_sequence();
    return 0;
}
