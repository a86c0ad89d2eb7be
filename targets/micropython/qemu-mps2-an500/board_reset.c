/*
 * Reset entry of the MPS2 AN500 (Cortex-M7) board for MicroPython's qemu port.
 *
 * The port's startup (mcu/arm/startup.c) never enables the floating-point unit, and on a core
 * with an FPU any VFP instruction then raises a UsageFault. This vector table is linked in front
 * of the port's own (see mps2-an500.ld): its reset entry grants full access to CP10 and CP11 in
 * CPACR, waits for the write to take effect, and continues with the port's Reset_Handler. The
 * function itself uses no floating point.
 */
#include <stdint.h>

#define CPACR (*(volatile uint32_t *)0xE000ED88u)
#define CPACR_CP10_CP11_FULL (0xFu << 20)

extern uint32_t _estack;
void Reset_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SVC_Handler(void);
void DebugMon_Handler(void);
void PendSV_Handler(void);
void SysTick_Handler(void);

void board_reset(void);

void board_reset(void) {
    CPACR |= CPACR_CP10_CP11_FULL;
    __asm volatile ("dsb\n\tisb" ::: "memory");
    Reset_Handler();
}

const uint32_t board_vector_table[] __attribute__((section(".board_vector_table"), used)) = {
    (uint32_t)&_estack,
    (uint32_t)&board_reset,
    (uint32_t)&NMI_Handler,
    (uint32_t)&HardFault_Handler,
    (uint32_t)&MemManage_Handler,
    (uint32_t)&BusFault_Handler,
    (uint32_t)&UsageFault_Handler,
    0,
    0,
    0,
    0,
    (uint32_t)&SVC_Handler,
    (uint32_t)&DebugMon_Handler,
    0,
    (uint32_t)&PendSV_Handler,
    (uint32_t)&SysTick_Handler,
};
