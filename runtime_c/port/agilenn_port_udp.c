/*
 * agilenn_port_udp.c - agilenn_port.h over POSIX UDP sockets (host builds: Linux, macOS).
 * Call agilenn_port_udp_open("127.0.0.1", 9000) once before the first inference.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agilenn_port.h"
#include "agilenn_port_udp.h"

static int agilenn_udp_socket = -1;
static struct sockaddr_in agilenn_udp_server;

int32_t agilenn_port_udp_open(const char *host, uint16_t port)
{
    memset(&agilenn_udp_server, 0, sizeof agilenn_udp_server);
    agilenn_udp_server.sin_family = AF_INET;
    agilenn_udp_server.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &agilenn_udp_server.sin_addr) != 1) {
        return -1;
    }
    agilenn_udp_socket = socket(AF_INET, SOCK_DGRAM, 0);
    if (agilenn_udp_socket < 0) {
        return -2;
    }
    if (connect(agilenn_udp_socket, (const struct sockaddr *)&agilenn_udp_server, sizeof agilenn_udp_server) != 0) {
        close(agilenn_udp_socket);
        agilenn_udp_socket = -1;
        return -3;
    }
    return 0;
}

void agilenn_port_udp_close(void)
{
    if (agilenn_udp_socket >= 0) {
        close(agilenn_udp_socket);
        agilenn_udp_socket = -1;
    }
}

int32_t agilenn_port_send(const uint8_t *frame, int32_t length)
{
    if (agilenn_udp_socket < 0 || length < 0) {
        return -1;
    }
    return send(agilenn_udp_socket, frame, (size_t)length, 0) == (ssize_t)length ? 0 : -2;
}

int32_t agilenn_port_receive(uint8_t *buffer, int32_t capacity, uint32_t timeout_ms)
{
    struct pollfd pfd;
    ssize_t n;
    int ready;
    if (agilenn_udp_socket < 0 || capacity <= 0) {
        return -1;
    }
    pfd.fd = agilenn_udp_socket;
    pfd.events = POLLIN;
    pfd.revents = 0;
    ready = poll(&pfd, 1, (int)timeout_ms);
    if (ready == 0) {
        return 0;
    }
    if (ready < 0) {
        return -2;
    }
    n = recv(agilenn_udp_socket, buffer, (size_t)capacity, MSG_TRUNC);
    if (n < 0) {
        return 0; /* e.g. ICMP port unreachable while the server starts: treat as nothing received */
    }
    return n > (ssize_t)capacity ? -3 : (int32_t)n;
}

uint32_t agilenn_port_millis(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}
