"""The server under overload and attack, on loopback, a few seconds each (what holds, not how fast: the measured
figures are the benchmark's, benchmarks/server_load.py).

The served network is made slow on purpose (a sleep in each inference), so that a few hundred requests per
second overload it on any machine: the server must answer busy at once instead of going silent, never answer a
request after its deadline, keep serving honest devices while one source floods it with valid requests,
replays, invalid payloads or first fragments that never complete, and `agilenn serve --workers 2` must spread
devices over two processes and stop cleanly with the counters of both.
"""

from __future__ import annotations

import re
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agilenn_codegen.offload import KIND_REQUEST, encode_frames
from agilenn_codegen.server import ServedModel, ServerOptions, ServerThread
from agilenn_codegen.server.loadgen import Attack, LoadGenerator, check_loopback
from tests.offload.fixtures import TinyModel, build_model_dir, random_symbols, request_payload, settle

INFERENCE_S = 0.004  # per request: capacity about 250 requests/s whatever the machine


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_model_dir(tmp_path_factory.mktemp("load") / "export", height=6, width=6)


def _slow_model(tiny: TinyModel) -> ServedModel:
    model = ServedModel(tiny.folder)
    real = model.run

    def slow(features: np.ndarray) -> np.ndarray:
        time.sleep(INFERENCE_S * features.shape[0])
        return real(features)

    model.run = slow  # type: ignore[method-assign]
    return model


@pytest.fixture
def slow_server(tiny: TinyModel) -> Iterator[ServerThread]:
    options = ServerOptions(batch_max=1, max_wait_ms=100.0)
    with ServerThread(tiny.folder, model=_slow_model(tiny), options=options) as server:
        yield server


def _payloads(tiny: TinyModel, count: int = 16) -> list[bytes]:
    rng = np.random.default_rng(0)
    return [request_payload(tiny, random_symbols(tiny, rng)) for _ in range(count)]


def test_overload_gets_busy_replies_at_once_and_no_late_answer(tiny: TinyModel, slow_server: ServerThread):
    with LoadGenerator(slow_server.address, tiny.model_id, _payloads(tiny), 20, timeout_s=0.3) as load:
        result = load.run_open(600.0, 2.0, drain_s=0.8)  # more than twice the capacity
    snap = settle(slow_server.stats, lambda s: s["busy"] >= result.busy and s["replies"] >= result.answered)
    assert result.sent > 800 and result.late == 0 and result.late_busy == 0  # nothing after a device gave up
    assert result.busy > result.sent * 0.3  # the overload is answered, not left to time out
    assert result.answered > 0.5 * 2.0 / INFERENCE_S * 0.3  # and the server still works at a good share of it
    assert result.answered + result.busy_fast >= 0.9 * result.sent  # (the benchmark's bar is 95 %, at 50 ms)
    assert result.invalid == 0
    assert snap["busy"] == result.busy and snap["busy_reasons"].keys() <= {"overloaded", "late"}
    assert "internal" not in snap["drops"]
    assert snap["queue"]["cost_ms"] > INFERENCE_S * 1e3 * 0.8  # the estimate learned the real inference time


def _attack_frames(tiny: TinyModel, kind: str) -> Attack:
    payloads = _payloads(tiny)
    if kind == "valid":
        frames = [encode_frames(KIND_REQUEST, tiny.model_id, 10**6 + i, payloads[i % 16])[0] for i in range(6000)]
    elif kind == "replay":
        frames = encode_frames(KIND_REQUEST, tiny.model_id, 7, payloads[0])  # one captured request, again and again
    elif kind == "invalid":  # a payload header for this model, then bytes that are no valid LZW body
        rng = np.random.default_rng(1)
        header = struct.pack("<BIBB", 1, tiny.num_symbols, len(tiny.centroids), 9)
        frames = [encode_frames(KIND_REQUEST, tiny.model_id, 10**6 + i, header + rng.bytes(12))[0] for i in range(6000)]
    else:  # first fragments of requests that never complete
        frames = [encode_frames(KIND_REQUEST, tiny.model_id, 10**6 + i, payloads[0], 8)[0] for i in range(6000)]
    return Attack(kind, 1500.0, lambda i: frames[i % len(frames)])


@pytest.mark.parametrize("kind", ["valid", "replay", "invalid", "fragments"])
def test_one_flooding_source_does_not_starve_honest_devices(tiny: TinyModel, slow_server: ServerThread, kind: str):
    honest_sizes = [1428, 8]  # half of the honest devices send multi-fragment requests
    with LoadGenerator(
        slow_server.address, tiny.model_id, _payloads(tiny), 10, timeout_s=0.5, max_fragment=honest_sizes
    ) as load:
        result = load.run_open(60.0, 2.0, attacks=[_attack_frames(tiny, kind)])  # honest: a quarter of capacity
    snap = slow_server.stats.snapshot()
    assert result.attack_datagrams > 2000
    assert result.answered >= 0.9 * result.sent, (result.summary(), snap)
    assert result.late == 0
    expected = {"valid": "evicted", "replay": "replay", "invalid": None, "fragments": "partial_evicted"}[kind]
    if expected == "evicted":  # the flood gets its turn, and busy replies or evictions for the rest
        assert snap["busy"] + snap["drops"].get("evicted", 0) > 1000
    elif expected is not None:
        assert snap["drops"][expected] > 1000
    else:  # refused by the payload checks, before queueing
        assert sum(v for r, v in snap["drops"].items() if r.startswith(("lzw_", "bad_padding", "trailing"))) > 1000


def test_the_load_generator_only_targets_loopback():
    for host in ("10.0.0.1", "8.8.8.8", "::2", "localhost"):
        with pytest.raises(ValueError):
            check_loopback(host)
    check_loopback("127.3.4.5")
    check_loopback("::1")
    with pytest.raises(ValueError):
        LoadGenerator(("192.168.1.1", 9), 1, [b""], 1)


def test_two_workers_share_the_port_and_stop_with_both_counters(tiny: TinyModel, tmp_path: Path):
    stats = tmp_path / "stats.json"
    command = [sys.executable, "-m", "agilenn_codegen.cli", "serve", str(tiny.folder), "--port", "0"]
    command += ["--workers", "2", "--stats-every", "0", "--json-stats", str(stats)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        address = None
        deadline = time.monotonic() + 120
        while address is None and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line:
                break
            lines.append(line)
            found = re.search(r"udp://([\d.]+):(\d+)", line)
            address = (found.group(1), int(found.group(2))) if found else None
        assert address is not None, "".join(lines)
        with LoadGenerator(address, tiny.model_id, _payloads(tiny), 24, timeout_s=1.0) as load:
            result = load.run_closed(1.5)
        assert result.answered > 50 and result.answered == result.sent
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(lines) + out
    assert process.returncode == 0, text
    words = " ".join(text.split())  # rich wraps lines at the pipe's width
    assert "2 worker processes share the port" in words and "final counters" in words, text
    import json

    final = json.loads(stats.read_text())
    assert final["workers"] == 2 and final["replies"] == result.answered
    assert all(w["replies"] > 0 for w in final["per_worker"])  # 24 source ports: both workers got devices
