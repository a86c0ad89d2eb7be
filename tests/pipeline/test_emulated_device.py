"""`agilenn device --emulated`: the generated pipeline as firmware on qemu mps2-an500, its frames going
out on the CMSDK UART, through the UART bridge (TCP <-> UDP) to the real server, and back."""

from __future__ import annotations

import socket
import struct

import pytest

from agilenn_codegen.offload import FLAG_MAC, HEADER_SIZE, MAC_SIZE
from agilenn_codegen.pipeline.emulated_run import run_emulated
from agilenn_codegen.pipeline.uart_bridge import FrameSplitter
from agilenn_codegen.server.thread import ServerThread
from tests.pipeline.conftest import generated_library

COUNT = 3


@pytest.fixture(scope="module")
def m7_library(exported_folder, tmp_path_factory):
    return generated_library(exported_folder, "stm32f746", tmp_path_factory.mktemp("m7lib") / "agilenn", COUNT)


def _dead_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame(length: int, body: bytes = b"", *, tagged: bool = False) -> bytes:
    header = b"AGNN" + bytes([2, 2, FLAG_MAC if tagged else 0, 0])
    header += struct.pack("<HHIIIHHII", 0, 1, 0, 0, 0, 0, length, length, 0)
    return header + (body or bytes(length)) + (b"T" * MAC_SIZE if tagged else b"")


def test_frame_splitter_resyncs_on_the_magic():
    a, b, c = _frame(3, b"abc"), _frame(0), _frame(2, b"AG", tagged=True)
    splitter = FrameSplitter()
    stream = b"xxAG" + a + b"\x00AGN" + b + c + b"AGNN"[:3]
    frames = []
    for i in range(0, len(stream), 5):  # arbitrary chunking, magic split across reads
        frames += splitter.feed(stream[i : i + 5])
    assert frames == [a, b, c]  # the tagged frame with its 8 tag bytes
    assert splitter.resyncs == 8
    assert len(a) == HEADER_SIZE + 3 and len(c) == HEADER_SIZE + 2 + MAC_SIZE


@pytest.mark.qemu
def test_emulated_device_is_answered_by_the_server(m7_library, exported_folder):
    lib, images, labels = m7_library
    with ServerThread(exported_folder[0]) as server:
        run = run_emulated(lib, images, labels, server.address, timeout_ms=5000)
    report, results = run.report, run.results
    assert run.machine == "mps2-an500"
    assert report.answered_remote == COUNT
    assert report.predictions_equal_python == COUNT
    assert report.logits_equal_python == COUNT
    assert report.frames_equal_reference == COUNT  # what the bridge saw on the UART, byte for byte
    assert run.bridge.frames_up == int(results.fragments.sum())
    assert run.bridge.frames_down == COUNT and run.bridge.resyncs == 0
    assert results.bytes_sent.tolist() == [sum(len(f) for f in frames) for frames in results.frames]


@pytest.mark.qemu
def test_emulated_device_skips_line_noise_and_oversize_frames(m7_library, exported_folder):
    lib, images, labels = m7_library
    too_large = lib.manifest["agilenn"]["buffers"]["reply (infer)"]  # a frame of this payload cannot fit
    noise = b"\x00AGN\xffAG" + _frame(too_large) + b"junk"
    with ServerThread(exported_folder[0]) as server:
        run = run_emulated(lib, images, labels, server.address, timeout_ms=5000, line_noise=noise)
    assert run.report.answered_remote == COUNT
    assert run.report.predictions_equal_python == COUNT
    assert run.report.logits_equal_python == COUNT


@pytest.mark.qemu
def test_emulated_device_without_server_answers_locally(m7_library):
    lib, images, labels = m7_library
    run = run_emulated(lib, images, labels, ("127.0.0.1", _dead_udp_port()), timeout_ms=100)
    report, results = run.report, run.results
    assert report.answered_remote == 0
    assert report.predictions_equal_python == COUNT  # the local head's answers
    assert report.logits_equal_python == COUNT
    assert report.frames_equal_reference == COUNT
    assert run.bridge.frames_down == 0
    assert all(95 <= w < 2000 for w in results.wait_ms.tolist())  # the timeout, measured by SysTick


@pytest.mark.qemu
def test_emulated_authenticated_device_is_answered_and_byte_exact(exported_folder, tmp_path, device_keys):
    """codegen --auth on the emulated Cortex-M7: the key comes in at run time (params.bin), every frame on the
    UART carries its tag, byte for byte the reference's, and the server (with the key file) answers them all."""
    from agilenn_codegen.pipeline.device_run import DeviceIdentity

    lib, images, labels = generated_library(exported_folder, "stm32f746", tmp_path / "auth", COUNT, ["--auth"])
    identity = DeviceIdentity(4, device_keys[4])
    with ServerThread(exported_folder[0], keys=device_keys) as server:
        run = run_emulated(lib, images, labels, server.address, timeout_ms=5000, identity=identity)
    assert run.report.answered_remote == COUNT and run.report.frames_equal_reference == COUNT
    assert run.report.predictions_equal_python == COUNT and run.report.logits_equal_python == COUNT
    assert all(len(f) == HEADER_SIZE + f[26] + 256 * f[27] + MAC_SIZE for fs in run.results.frames for f in fs)
    assert not (lib.folder / "firmware" / "run" / "params.bin").exists()  # the key does not stay on disk
