/*
 * agilenn_port.h - the transport the AgileNN device pipeline sends its frames over.
 *
 * The generated `<model>_infer()` calls these three functions; the application provides them for
 * its link (UART to a WiFi module, UDP, BLE, ...). Two implementations ship with the generated
 * code in port/: agilenn_port_udp.c (POSIX UDP, for host builds) and agilenn_port_uart_cmsdk.c
 * (the CMSDK UART of Arm's MPS2 boards, as emulated by qemu, framing on a byte stream).
 */
#ifndef AGILENN_PORT_H
#define AGILENN_PORT_H

#include <stdint.h>

/** Send one frame (a whole datagram). Returns 0 on success, a negative value on error. */
int32_t agilenn_port_send(const uint8_t *frame, int32_t length);

/**
 * Receive one frame into `buffer`, waiting at most `timeout_ms`. Returns its length (> 0), 0 on
 * timeout, or a negative value on error. A frame longer than `capacity` is dropped (negative).
 */
int32_t agilenn_port_receive(uint8_t *buffer, int32_t capacity, uint32_t timeout_ms);

/** A millisecond clock (any epoch, wrapping), for the reply deadline. */
uint32_t agilenn_port_millis(void);

#endif /* AGILENN_PORT_H */
