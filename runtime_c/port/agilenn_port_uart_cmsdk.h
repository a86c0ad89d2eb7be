/* agilenn_port_uart_cmsdk.h - extras of agilenn_port_uart_cmsdk.c (agilenn_port.h over the CMSDK APB UART). */
#ifndef AGILENN_PORT_UART_CMSDK_H
#define AGILENN_PORT_UART_CMSDK_H

#include <stdint.h>

/** Counters of the UART link since agilenn_port_uart_init(). */
typedef struct {
    uint32_t frames_sent;
    uint32_t bytes_sent;
    uint32_t frames_received;  /**< whole frames handed to the caller */
    uint32_t frames_oversize;  /**< frames longer than the caller's buffer, read and dropped */
    uint32_t resyncs;          /**< bytes skipped while looking for the magic "AGNN" */
    uint32_t timeouts;         /**< agilenn_port_receive calls that returned 0 */
    uint32_t first_send_ms;    /**< agilenn_port_millis() at the first send after agilenn_port_uart_mark() */
} agilenn_port_uart_stats_t;

/** Set up the UART (baud divisor, TX and RX enabled) and SysTick (free-running, no interrupt).
 * The other functions call it on first use; calling it again resets the counters. */
void agilenn_port_uart_init(void);

/** Re-arm `first_send_ms`: the next agilenn_port_send records the time it started. */
void agilenn_port_uart_mark(void);

const agilenn_port_uart_stats_t *agilenn_port_uart_stats(void);

#endif /* AGILENN_PORT_UART_CMSDK_H */
