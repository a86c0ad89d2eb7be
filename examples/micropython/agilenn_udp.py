"""AgileNN on MicroPython: classify images with the generated module against `agilenn serve` over UDP.

    micropython agilenn_udp.py HOST PORT IMAGES [TIMEOUT_MS]

IMAGES holds float32 images back to back, agilenn_fashion_mnist.INPUT_BYTES each, normalised as
agilenn_fashion_mnist.NORMALISATION says (make_images.py writes some from Fashion-MNIST). For each
image the device loop of the paper: begin() runs the device network and gives the frames of the
remote features (they carry the timeout as their deadline); they go to the server; its reply is
combined with the local logits by finish(), or, when the server answers busy (finish() gives None)
or no valid reply comes within the timeout, local_only() answers. One line per image: index, class,
where the answer came from (remote, busy or local), class name.
"""

import select
import socket
import sys
import time

import agilenn_fashion_mnist as nn


def classify(sock, poller, image, timeout_ms):
    for frame in nn.begin(image):
        sock.send(frame)
    deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
    while True:
        left = time.ticks_diff(deadline, time.ticks_ms())
        if left <= 0:
            return nn.local_only()[0], "local"
        if not poller.poll(left):
            continue
        try:
            reply = sock.recv(512)
        except OSError:  # ICMP port unreachable: nobody listens; wait out the timeout
            time.sleep_ms(min(left, 10))
            continue
        try:
            answer = nn.finish(reply)
        except ValueError:  # a late reply to an earlier request, or a damaged one
            continue
        if answer is None:  # the server is busy: it will not answer this request
            return nn.local_only()[0], "busy"
        return answer[0], "remote"


def main(argv):
    if len(argv) < 4:
        print("usage: micropython agilenn_udp.py HOST PORT IMAGES [TIMEOUT_MS]")
        sys.exit(2)
    host, port, path = argv[1], int(argv[2]), argv[3]
    timeout_ms = int(argv[4]) if len(argv) > 4 else 500
    nn.set_timeout(timeout_ms)  # the deadline every request carries: the server never answers after it
    address = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(address)
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    image = bytearray(nn.INPUT_BYTES)  # one buffer for every image
    count = remote = 0
    with open(path, "rb") as images:
        while images.readinto(image) == len(image):
            cls, source = classify(sock, poller, image, timeout_ms)
            print(count, cls, source, nn.CLASSES[cls])
            remote += source == "remote"
            count += 1
    sock.close()
    print("answered remotely:", remote, "of", count)


main(sys.argv)
