/* agilenn_port_udp.h - open/close the UDP transport of agilenn_port_udp.c. */
#ifndef AGILENN_PORT_UDP_H
#define AGILENN_PORT_UDP_H

#include <stdint.h>

/** Connect to the server at host (dotted IPv4) and port. 0 on success, negative on error. */
int32_t agilenn_port_udp_open(const char *host, uint16_t port);
void agilenn_port_udp_close(void);

#endif /* AGILENN_PORT_UDP_H */
