/*
 * Minimal C99 startup for Cortex-M cores running under an emulator with semihosting
 * (newlib + librdimon, linked with --specs=rdimon.specs -nostartfiles).
 *
 * Reset_Handler: copy .data from its load address, zero .bss, enable the FPU (CPACR) when the
 * build uses one, set up newlib's semihosting file handles, run static constructors, call main()
 * and exit with its return value. Faults print the stacked PC/LR and fault status registers on
 * stderr through semihosting and exit with AGILENN_FAULT_EXIT_CODE, so a crash never hangs.
 */
#include <stdint.h>
#include <stdlib.h>

#define AGILENN_FAULT_EXIT_CODE 70

/* Symbols from the linker script (sections.ld). */
extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __stack_top__;

extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Default_Handler(void);
void Fault_Handler(void);
void agilenn_fault_report(const uint32_t *frame, uint32_t exc_return);

/* __libc_init_array/__libc_fini_array call _init/_fini, normally from crti.o (not linked here). */
__attribute__((weak)) void _init(void) {}
__attribute__((weak)) void _fini(void) {}

typedef void (*vector_fn)(void);

/* Core exception vectors. No interrupt is ever enabled, so the external IRQ entries are omitted. */
__attribute__((section(".isr_vector"), used)) static const vector_fn vector_table[16] = {
    (vector_fn)(uintptr_t)&__stack_top__, /* initial main stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    Fault_Handler, /* SecureFault (ARMv8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};

/* Raw semihosting call (BKPT 0xAB): r0 = operation, r1 = parameter. */
static uint32_t semihost_call(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void semihost_write0(const char *s) { (void)semihost_call(0x04u /* SYS_WRITE0 */, s); }

/* Exits the emulator with `code` (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit). */
static void semihost_exit(uint32_t code) {
    const uint32_t block[2] = {0x20026u, code};
    (void)semihost_call(0x20u /* SYS_EXIT_EXTENDED */, block);
    for (;;) {
    }
}

static void put_hex(char *dst, uint32_t value) {
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 7; i >= 0; --i) {
        dst[i] = digits[value & 0xFu];
        value >>= 4;
    }
}

void agilenn_fault_report(const uint32_t *frame, uint32_t exc_return) {
    /* "fault: ipsr=XXXXXXXX pc=XXXXXXXX lr=XXXXXXXX cfsr=XXXXXXXX hfsr=XXXXXXXX\n" */
    char line[] = "fault: ipsr=00000000 pc=00000000 lr=00000000 cfsr=00000000 hfsr=00000000\n";
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    put_hex(&line[12], ipsr);
    put_hex(&line[24], frame[6]);
    put_hex(&line[36], frame[5]);
    put_hex(&line[50], *(volatile const uint32_t *)0xE000ED28u);
    put_hex(&line[64], *(volatile const uint32_t *)0xE000ED2Cu);
    (void)exc_return;
    semihost_write0(line);
    semihost_exit(AGILENN_FAULT_EXIT_CODE);
}

/* Picks the stack the exception frame was pushed on (MSP or PSP) and reports the fault. */
__attribute__((naked)) void Fault_Handler(void) {
    __asm__ volatile(
        "mov r1, lr\n"
        "movs r0, #4\n"
        "tst r1, r0\n"
        "bne 1f\n"
        "mrs r0, msp\n"
        "b agilenn_fault_report\n"
        "1: mrs r0, psp\n"
        "b agilenn_fault_report\n");
}

void Default_Handler(void) {
    semihost_write0("fault: unexpected interrupt\n");
    semihost_exit(AGILENN_FAULT_EXIT_CODE);
}

void Reset_Handler(void) {
    uint32_t *src = &__data_load__;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__; ++dst) {
        *dst = 0u;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors CP10 and CP11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    /* UsageFault on division by zero; enable the separate MemManage/Bus/Usage fault handlers. */
    *(volatile uint32_t *)0xE000ED14u |= (1u << 4);
    *(volatile uint32_t *)0xE000ED24u |= (7u << 16);
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}
