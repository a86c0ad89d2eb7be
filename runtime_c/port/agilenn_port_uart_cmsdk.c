/*
 * agilenn_port_uart_cmsdk.c - agilenn_port.h over the CMSDK APB UART of Arm's MPS2 boards (and qemu's
 * mps2-an385/an386/an500 models), the way an MCU talks to a WiFi module over a serial line.
 *
 * Frames go out as their bytes, back to back; the other end (agilenn_codegen/pipeline/uart_bridge.py,
 * or a WiFi module's firmware) cuts the stream into frames and sends each as one UDP datagram.
 * agilenn_port_receive() cuts the incoming stream the same way (docs/offload-protocol.md, section 3):
 * find the magic "AGNN" (skipping anything else), read the rest of the 36-byte header, take the
 * fragment length from bytes 26..27 (plus the 8-byte tag when flag MAC, bit 0 of byte 6, is set) and
 * read that many bytes. It does not check the CRC, the tag or the other fields: the pipeline's
 * _finish() does, and rejects a false frame.
 *
 * The clock is SysTick, free-running with no interrupt (the startup code installs no SysTick
 * handler): agilenn_port_millis() adds up the 24-bit down-counter's progress since its last call,
 * so it must be called at least once per counter period (2^24 ticks: 16.8 s at the default 1 MHz
 * reference clock). The port's own loops call it continuously while they wait.
 *
 * Compile-time settings (defaults for qemu's mps2 boards):
 *   AGILENN_UART_BASE          UART base address (0x40004000, UART0 on AN385/AN386/AN500)
 *   AGILENN_UART_BAUDDIV       baud divisor, >= 16 (217: 115200 baud from the 25 MHz APB clock)
 *   AGILENN_SYSTICK_CLKSOURCE  1: processor clock, 0: the reference clock (default 0)
 *   AGILENN_SYSTICK_HZ         the frequency of that clock (default 1000000: qemu's mps2 REFCLK)
 *   AGILENN_UART_TX_TIMEOUT_MS give up a send when the transmitter stays busy this long (default 100)
 */
#include <stddef.h>
#include <stdint.h>

#include "agilenn_offload.h"
#include "agilenn_port.h"
#include "agilenn_port_uart_cmsdk.h"

#ifndef AGILENN_UART_BASE
#define AGILENN_UART_BASE 0x40004000u
#endif
#ifndef AGILENN_UART_BAUDDIV
#define AGILENN_UART_BAUDDIV 217u
#endif
#ifndef AGILENN_SYSTICK_CLKSOURCE
#define AGILENN_SYSTICK_CLKSOURCE 0
#endif
#ifndef AGILENN_SYSTICK_HZ
#define AGILENN_SYSTICK_HZ 1000000u
#endif
#ifndef AGILENN_UART_TX_TIMEOUT_MS
#define AGILENN_UART_TX_TIMEOUT_MS 100u
#endif

#if AGILENN_UART_BAUDDIV < 16
#error "AGILENN_UART_BAUDDIV must be at least 16 (the CMSDK UART ignores smaller divisors)"
#endif
#if AGILENN_SYSTICK_HZ < 1000
#error "AGILENN_SYSTICK_HZ must be at least 1 kHz"
#endif

/* CMSDK APB UART registers (Arm DDI0479C, section 4.3) */
#define UART_REG(offset) (*(volatile uint32_t *)(uintptr_t)((uint32_t)(AGILENN_UART_BASE) + (offset)))
#define UART_DATA UART_REG(0x00u)
#define UART_STATE UART_REG(0x04u)
#define UART_CTRL UART_REG(0x08u)
#define UART_BAUDDIV UART_REG(0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_STATE_OVERRUNS 0xCu /* TX and RX overrun, write 1 to clear */
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u

/* SysTick (ARMv7-M B3.3) */
#define SYST_CSR (*(volatile uint32_t *)(uintptr_t)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)(uintptr_t)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)(uintptr_t)0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_CLKSOURCE 0x4u
#define SYST_MASK 0x00FFFFFFu

#define TICKS_PER_MS ((uint32_t)(AGILENN_SYSTICK_HZ) / 1000u)
#define HEADER_SIZE AGILENN_FRAME_HEADER_SIZE
#define FLAGS_OFFSET 6
#define LENGTH_OFFSET 26

static const uint8_t agilenn_uart_magic[4] = {'A', 'G', 'N', 'N'};

static int agilenn_uart_ready;
static uint32_t agilenn_uart_last_count; /* SysTick's counter at the last agilenn_port_millis() */
static uint32_t agilenn_uart_ms;
static uint32_t agilenn_uart_sub_ticks;  /* ticks not yet counted as a whole millisecond */
static int agilenn_uart_marked;
static agilenn_port_uart_stats_t agilenn_uart_stats;

void agilenn_port_uart_init(void)
{
    agilenn_port_uart_stats_t zero = {0, 0, 0, 0, 0, 0, 0};
    UART_CTRL = 0u;
    UART_BAUDDIV = AGILENN_UART_BAUDDIV;
    UART_STATE = UART_STATE_OVERRUNS;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;

    SYST_CSR = 0u;
    SYST_RVR = SYST_MASK;
    SYST_CVR = 0u; /* any write clears the counter; it reloads from RVR on the next tick */
    SYST_CSR = SYST_CSR_ENABLE | (AGILENN_SYSTICK_CLKSOURCE ? SYST_CSR_CLKSOURCE : 0u);
    agilenn_uart_last_count = SYST_CVR & SYST_MASK;
    agilenn_uart_ms = 0u;
    agilenn_uart_sub_ticks = 0u;
    agilenn_uart_marked = 0;
    agilenn_uart_stats = zero;
    agilenn_uart_ready = 1;
}

static void agilenn_uart_ensure_init(void)
{
    if (!agilenn_uart_ready) {
        agilenn_port_uart_init();
    }
}

void agilenn_port_uart_mark(void)
{
    agilenn_uart_ensure_init();
    agilenn_uart_marked = 1;
}

const agilenn_port_uart_stats_t *agilenn_port_uart_stats(void)
{
    return &agilenn_uart_stats;
}

uint32_t agilenn_port_millis(void)
{
    uint32_t count;
    agilenn_uart_ensure_init();
    count = SYST_CVR & SYST_MASK;
    /* a down-counter with period 2^24: the ticks since the last call, modulo the period */
    agilenn_uart_sub_ticks += (agilenn_uart_last_count - count) & SYST_MASK;
    agilenn_uart_last_count = count;
    agilenn_uart_ms += agilenn_uart_sub_ticks / TICKS_PER_MS;
    agilenn_uart_sub_ticks %= TICKS_PER_MS;
    return agilenn_uart_ms;
}

int32_t agilenn_port_send(const uint8_t *frame, int32_t length)
{
    int32_t i;
    agilenn_uart_ensure_init();
    if (frame == NULL || length < 0) {
        return -1;
    }
    if (agilenn_uart_marked) {
        agilenn_uart_stats.first_send_ms = agilenn_port_millis();
        agilenn_uart_marked = 0;
    }
    for (i = 0; i < length; i++) {
        if ((UART_STATE & UART_STATE_TX_FULL) != 0u) {
            const uint32_t start = agilenn_port_millis();
            while ((UART_STATE & UART_STATE_TX_FULL) != 0u) {
                if (agilenn_port_millis() - start >= AGILENN_UART_TX_TIMEOUT_MS) {
                    return -2;
                }
            }
        }
        UART_DATA = frame[i];
    }
    agilenn_uart_stats.frames_sent++;
    agilenn_uart_stats.bytes_sent += (uint32_t)length;
    return 0;
}

/* One received byte into *out: 1, or 0 when the deadline (timeout_ms after start) passes first. */
static int agilenn_uart_read_byte(uint8_t *out, uint32_t start, uint32_t timeout_ms)
{
    while ((UART_STATE & UART_STATE_RX_FULL) == 0u) {
        if (agilenn_port_millis() - start >= timeout_ms) {
            return 0;
        }
    }
    *out = (uint8_t)(UART_DATA & 0xFFu);
    return 1;
}

int32_t agilenn_port_receive(uint8_t *buffer, int32_t capacity, uint32_t timeout_ms)
{
    uint8_t header[HEADER_SIZE];
    uint32_t matched = 0u, i, length;
    uint8_t byte;
    uint32_t start;
    agilenn_uart_ensure_init();
    if (buffer == NULL || capacity <= 0) {
        return -1;
    }
    start = agilenn_port_millis();
    /* the magic; "AGNN" has no proper prefix that is also a suffix, so a mismatch restarts at 0 or 1 */
    while (matched < 4u) {
        if (!agilenn_uart_read_byte(&byte, start, timeout_ms)) {
            agilenn_uart_stats.timeouts++;
            return 0;
        }
        if (byte == agilenn_uart_magic[matched]) {
            header[matched++] = byte;
        } else {
            const uint32_t restart = byte == agilenn_uart_magic[0] ? 1u : 0u;
            agilenn_uart_stats.resyncs += matched + 1u - restart;
            matched = restart;
            header[0] = agilenn_uart_magic[0];
        }
    }
    for (i = 4u; i < (uint32_t)HEADER_SIZE; i++) {
        if (!agilenn_uart_read_byte(&header[i], start, timeout_ms)) {
            agilenn_uart_stats.timeouts++;
            return 0;
        }
    }
    length = (uint32_t)header[LENGTH_OFFSET] | ((uint32_t)header[LENGTH_OFFSET + 1] << 8);
    if ((header[FLAGS_OFFSET] & AGILENN_FRAME_FLAG_MAC) != 0u) {
        length += AGILENN_FRAME_MAC_SIZE;
    }
    if ((uint32_t)HEADER_SIZE + length > (uint32_t)capacity) {
        /* too large for the caller: read past it, so that the stream stays in step */
        for (i = 0u; i < length; i++) {
            if (!agilenn_uart_read_byte(&byte, start, timeout_ms)) {
                agilenn_uart_stats.timeouts++;
                return 0;
            }
        }
        agilenn_uart_stats.frames_oversize++;
        return -3;
    }
    for (i = 0u; i < (uint32_t)HEADER_SIZE; i++) {
        buffer[i] = header[i];
    }
    for (i = 0u; i < length; i++) {
        if (!agilenn_uart_read_byte(&buffer[HEADER_SIZE + i], start, timeout_ms)) {
            agilenn_uart_stats.timeouts++;
            return 0;
        }
    }
    agilenn_uart_stats.frames_received++;
    return (int32_t)(HEADER_SIZE + length);
}
