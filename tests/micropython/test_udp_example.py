"""examples/micropython/agilenn_udp.py on the unix port against the real server (`agilenn serve`'s
ServerThread) over UDP: every image answered, with the Python reference's prediction; without a
server, every image falls back to the local head after the timeout."""

from __future__ import annotations

import importlib.util
import socket
import subprocess

import numpy as np
import pytest

from agilenn_codegen.pipeline.device_run import reference_pipeline
from agilenn_codegen.pipeline.reference import argmax_first, combine
from agilenn_codegen.reference import ort_session
from agilenn_codegen.server.thread import ServerThread
from tests.micropython import harness

pytestmark = pytest.mark.micropython

EXAMPLE_DIR = harness.ROOT / "examples" / "micropython"


def _write_images(path, count):
    spec = importlib.util.spec_from_file_location("make_images", EXAMPLE_DIR / "make_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    images, _ = module.write_images(harness.AGILENN_EXAMPLE, path, count)
    return images


def _run_example(address, images_file, timeout_ms):
    build = harness.prepared("unix")
    script = EXAMPLE_DIR / "agilenn_udp.py"
    cmd = [str(build.program), str(script), address[0], str(address[1]), str(images_file), str(timeout_ms)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    rows = [line.split(maxsplit=3) for line in lines[:-1]]
    return [(int(r[0]), int(r[1]), r[2]) for r in rows], lines[-1]


def _expected(images):
    lib = harness.prepared("unix").agilenn
    reference = reference_pipeline(lib)
    remote = ort_session(lib.exported.remote_onnx)
    final, local = [], []
    for image in images:
        step = reference.device(image)
        feed = {remote.get_inputs()[0].name: reference.remote_input(step.symbols)}
        logits = np.asarray(remote.run(None, feed)[0], np.float32).reshape(-1)
        final.append(argmax_first(combine(step.local_logits, logits, lib.exported.alpha)))
        local.append(argmax_first(step.local_logits))
    return final, local


def test_udp_example_answers_every_image_with_the_reference_prediction(tmp_path):
    images = _write_images(tmp_path / "images.bin", 24)
    with ServerThread(harness.AGILENN_EXAMPLE) as server:
        rows, summary = _run_example(server.address, tmp_path / "images.bin", 3000)
    served = server.stats.snapshot()  # after the server stopped: the counters of the last reply are in
    final, _ = _expected(images)
    assert [r[0] for r in rows] == list(range(24))
    assert [r[2] for r in rows] == ["remote"] * 24
    assert [r[1] for r in rows] == final
    assert summary == "answered remotely: 24 of 24"
    assert served["requests"] == 24 and served["replies"] == 24 and served["dropped"] == 0


def test_udp_example_falls_back_to_the_local_head_without_a_server(tmp_path):
    images = _write_images(tmp_path / "images.bin", 3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()
    rows, summary = _run_example(dead, tmp_path / "images.bin", 100)
    _, local = _expected(images)
    assert [r[2] for r in rows] == ["local"] * 3
    assert [r[1] for r in rows] == local
    assert summary == "answered remotely: 0 of 3"


def test_udp_example_answers_locally_at_once_when_the_server_is_busy(tmp_path):
    """A server that answers busy (it cannot answer anything within 1 us): every image gets the local head's
    answer at once, long before the example's 3 s timeout."""
    from agilenn_codegen.server import ServerOptions

    images = _write_images(tmp_path / "images.bin", 4)
    with ServerThread(harness.AGILENN_EXAMPLE, options=ServerOptions(max_wait_ms=0.001)) as server:
        rows, summary = _run_example(server.address, tmp_path / "images.bin", 3000)
    served = server.stats.snapshot()  # after the server stopped: the counters of the last reply are in
    _, local = _expected(images)
    assert [r[2] for r in rows] == ["busy"] * 4 and [r[1] for r in rows] == local
    assert summary == "answered remotely: 0 of 4" and served["busy"] == 4 and served["replies"] == 0
