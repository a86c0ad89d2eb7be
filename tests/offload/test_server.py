"""The offloading server end to end on loopback: answers, batching, concurrency, counters, CLI errors.

Every answer is compared bit for bit with remote.onnx run by itself on one sample. The servers run in
background threads (:class:`ServerThread`) and every wait is bounded by a socket timeout.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from agilenn_codegen.cli import main
from agilenn_codegen.offload import KIND_REPLY, KIND_REQUEST, decode_frame, decode_reply, encode_frames, encode_payload
from agilenn_codegen.offload_client import OffloadClient
from agilenn_codegen.pipeline.reference import combine
from agilenn_codegen.pipeline.symbols import features_to_symbols, symbol_table
from agilenn_codegen.server import ServedModel, ServerOptions, ServerThread
from agilenn_codegen.server.run import serve
from tests.offload.fixtures import (
    TinyModel,
    build_model_dir,
    random_symbols,
    reference_logits,
    request_frames,
    request_payload,
    settle,
    sparse_symbols,
)

TIMEOUT_S = 2.0  # generous: only reached when something is broken


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_model_dir(tmp_path_factory.mktemp("tiny") / "export", coder=True)


@pytest.fixture(scope="module")
def server(tiny: TinyModel) -> Iterator[ServerThread]:
    with ServerThread(tiny.folder, options=ServerOptions(batch_max=8, batch_wait_ms=2.0)) as running:
        yield running


def _client(address: tuple[str, int], tiny: TinyModel, **kwargs: object) -> OffloadClient:
    return OffloadClient(address, tiny.model_id, TIMEOUT_S, num_classes=tiny.num_classes, **kwargs)  # type: ignore[arg-type]


def _sync(sock: socket.socket, tiny: TinyModel, seq: int = 0xFEED) -> None:
    """Send a valid request on `sock` and wait for its reply: everything sent before it was processed."""
    symbols = random_symbols(tiny, np.random.default_rng(seq))
    for frame in request_frames(tiny, seq, symbols):
        sock.send(frame)
    sock.settimeout(TIMEOUT_S)
    while True:
        frame = decode_frame(sock.recv(65536))
        if frame.seq == seq:
            assert np.array_equal(decode_reply(frame.payload), reference_logits(tiny, symbols))
            return


def _connected(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(address)
    return sock


# --------------------------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [0, 1, 2], ids=["raw", "lzw", "context"])
@pytest.mark.parametrize("max_fragment", [1444, 16, 1], ids=["one-fragment", "16B-fragments", "1B-fragments"])
def test_answer_is_remote_onnx_bit_for_bit(tiny: TinyModel, server: ServerThread, encoding: int, max_fragment: int):
    rng = np.random.default_rng(max_fragment + encoding)
    with _client(server.address, tiny, max_fragment=max_fragment) as client:
        for seq in range(3):
            if encoding == 2:
                symbols = sparse_symbols(tiny, rng)
                payload = request_payload(tiny, symbols, context=True)
            else:
                symbols = random_symbols(tiny, rng, runs=encoding == 1)
                payload = request_payload(tiny, symbols)
            assert payload[0] == encoding  # the encoder picked the encoding we meant to test
            got = client.infer(seq, payload)
            assert got is not None and got.dtype == np.float32
            assert np.array_equal(got, reference_logits(tiny, symbols))


@pytest.mark.parametrize("max_fragment", [1428, 16])
def test_a_replayed_request_is_dropped_and_a_new_number_answered(tiny: TinyModel, max_fragment: int):
    """Devices never resend a sequence number; a copy of an answered request is a replay (or a duplicate)."""
    symbols = random_symbols(tiny, np.random.default_rng(7))
    payload = request_payload(tiny, symbols)
    with ServerThread(tiny.folder) as srv, _client(srv.address, tiny, max_fragment=max_fragment) as client:
        client.timeout_s = 0.3
        first, second, third = client.infer(41, payload), client.infer(41, payload), client.infer(42, payload)
        snap = settle(srv.stats, lambda snap: snap["replies"] >= 2)
    assert first is not None and second is None and third is not None and np.array_equal(first, third)
    frames = len(encode_frames(KIND_REQUEST, tiny.model_id, 41, payload, max_fragment))
    assert snap["drops"] == {"replay": frames} and snap["replies"] == 2


def test_classify_combines_or_falls_back(tiny: TinyModel, server: ServerThread):
    rng = np.random.default_rng(3)
    table = symbol_table(6.0 / 255, -128, tiny.centroids)
    features = rng.integers(-128, 128, size=(tiny.channels, tiny.height, tiny.width), dtype=np.int8)
    local = rng.standard_normal(tiny.num_classes).astype(np.float32)
    symbols = features_to_symbols(features, table)
    with _client(server.address, tiny) as client:
        result = client.classify(local, features, table, alphabet=len(tiny.centroids), alpha=0.25)
    assert result.source == "remote"
    assert np.array_equal(result.logits, combine(local, reference_logits(tiny, symbols), 0.25))
    # Nobody listens on a fresh port: the answer is the local one, after the timeout.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dead:
        dead.bind(("127.0.0.1", 0))
        address = dead.getsockname()
    with OffloadClient(address, tiny.model_id, 0.05) as client:
        result = client.classify(local, features, table, alphabet=len(tiny.centroids), alpha=0.25)
    assert result.source == "local" and np.array_equal(result.logits, local) and result.elapsed_s < 1.0


def test_index_table_ties_go_to_lower_index():
    table = symbol_table(0.5, 0, np.array([0.0, 1.0, 2.0], dtype=np.float32))
    # v = 1 -> 0.5 is halfway between 0 and 1; v = 3 -> 1.5 halfway between 1 and 2
    assert table[128 + 1] == 0 and table[128 + 3] == 1
    assert table[0] == 0 and table[255] == 2


# --------------------------------------------------------------------------------------------
# batching
# --------------------------------------------------------------------------------------------


def test_batched_run_equals_unbatched_bit_for_bit(tiny: TinyModel):
    model = ServedModel(tiny.folder)
    assert model.dynamic_batch and model.check_batching(8)
    rng = np.random.default_rng(11)
    batch = np.stack([tiny.centroids[random_symbols(tiny, rng, runs=False)] for _ in range(8)])
    batch = batch.reshape(8, tiny.channels, tiny.height, tiny.width)
    together = model.run(batch)
    for i in range(8):
        assert np.array_equal(together[i], model.run(batch[i : i + 1])[0])


def test_simultaneous_requests_run_as_one_batch_with_unbatched_answers(tiny: TinyModel):
    options = ServerOptions(batch_max=8, batch_wait_ms=200.0)
    rng = np.random.default_rng(5)
    symbols = [random_symbols(tiny, rng, runs=False) for _ in range(8)]
    with ServerThread(tiny.folder, options=options) as srv:
        socks = [_connected(srv.address) for _ in symbols]
        try:
            for seq, (sock, sym) in enumerate(zip(socks, symbols, strict=True)):
                for frame in request_frames(tiny, seq, sym):
                    sock.send(frame)
            for seq, (sock, sym) in enumerate(zip(socks, symbols, strict=True)):
                sock.settimeout(TIMEOUT_S)
                frame = decode_frame(sock.recv(65536))
                assert (frame.kind, frame.seq, frame.model_id) == (KIND_REPLY, seq, tiny.model_id)
                assert np.array_equal(decode_reply(frame.payload), reference_logits(tiny, sym))
        finally:
            for sock in socks:
                sock.close()
        snap = settle(srv.stats, lambda snap: snap["replies"] >= 8)
    assert snap["replies"] == 8
    assert snap["batches"]["count"] < 8  # at least two requests shared an onnxruntime call


def test_static_batch_model_is_served_one_by_one(tmp_path: Path):
    tiny = build_model_dir(tmp_path / "static", dynamic_batch=False)
    rng = np.random.default_rng(2)
    with ServerThread(tiny.folder) as srv, _client(srv.address, tiny) as client:
        assert srv.handle.batch_max == 1
        for seq in range(3):
            symbols = random_symbols(tiny, rng)
            assert np.array_equal(client.infer(seq, request_payload(tiny, symbols)), reference_logits(tiny, symbols))


def test_batching_is_turned_off_when_results_would_differ(tiny: TinyModel, monkeypatch: pytest.MonkeyPatch):
    model = ServedModel(tiny.folder)
    real = model._session.run

    def skewed(names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = real(names, feeds)
        batch = next(iter(feeds.values())).shape[0]
        return [out[0] + np.float32(1e-6) * (batch > 1)]

    monkeypatch.setattr(model._session, "run", skewed, raising=False)
    assert not model.check_batching(4)
    assert not model.batch_ok


# --------------------------------------------------------------------------------------------
# many clients, counters, resilience
# --------------------------------------------------------------------------------------------


def test_many_clients_at_once_get_their_own_answers(tiny: TinyModel, server: ServerThread):
    errors: list[str] = []

    def worker(index: int) -> None:
        rng = np.random.default_rng(100 + index)
        with _client(server.address, tiny, max_fragment=24 if index % 2 else 1444) as client:
            for seq in range(6):
                symbols = random_symbols(tiny, rng, runs=bool(seq % 2))
                got = client.infer(seq, request_payload(tiny, symbols))
                if got is None or not np.array_equal(got, reference_logits(tiny, symbols)):
                    errors.append(f"client {index} seq {seq}: {got}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_counters_name_each_refusal(tiny: TinyModel):
    k = len(tiny.centroids)
    symbols = random_symbols(tiny, np.random.default_rng(9), runs=False)
    context = request_payload(tiny, sparse_symbols(tiny, np.random.default_rng(9)), context=True)
    assert context[0] == 2
    cases: dict[str, list[bytes]] = {
        "context_noncanonical": encode_frames(KIND_REQUEST, tiny.model_id, 6, context + b"\x07"),
        "context_symbol": encode_frames(KIND_REQUEST, tiny.model_id, 7, context[:7] + b"\xff" * 8),
        "wrong_model": encode_frames(KIND_REQUEST, tiny.model_id ^ 1, 1, request_payload(tiny, symbols)),
        "wrong_kind": encode_frames(KIND_REPLY, tiny.model_id, 2, request_payload(tiny, symbols)),
        "wrong_size": encode_frames(KIND_REQUEST, tiny.model_id, 3, encode_payload(symbols[:-1], k, 9)),
        "wrong_alphabet": encode_frames(KIND_REQUEST, tiny.model_id, 4, encode_payload(symbols % 4, 4, 9)),
        "oversize": [b"\0" * 1473],
        "too_large": encode_frames(KIND_REQUEST, tiny.model_id, 5, encode_payload(np.zeros(4000, np.uint8), k, 0)),
        "truncated": [b"AGNN"],
    }
    with ServerThread(tiny.folder) as srv, _connected(srv.address) as sock:
        for frames in cases.values():
            for frame in frames[:1]:
                sock.send(frame)
        _sync(sock, tiny)
        snap = settle(srv.stats, lambda snap: snap["replies"] >= 1)
    for reason in cases:
        assert snap["drops"].get(reason) == 1, (reason, snap["drops"])
    assert snap["replies"] == 1 and "internal" not in snap["drops"]
    assert snap["latency"]["p50_ms"] is not None and snap["latency"]["max_ms"] >= snap["latency"]["p50_ms"]


def test_a_model_without_coder_tables_refuses_context_payloads(tiny: TinyModel, tmp_path: Path):
    plain = build_model_dir(tmp_path / "plain")  # same network, no `coder` in agilenn.json
    payload = request_payload(tiny, sparse_symbols(tiny, np.random.default_rng(3)), context=True)
    with ServerThread(plain.folder) as srv, _connected(srv.address) as sock:
        for frame in encode_frames(KIND_REQUEST, plain.model_id, 1, payload):
            sock.send(frame)
        _sync(sock, plain)
        snap = settle(srv.stats, lambda snap: snap["replies"] >= 1)
    assert snap["drops"] == {"bad_encoding": 1} and snap["replies"] == 1


def test_unexpected_exception_is_counted_logged_once_and_serving_goes_on(
    tiny: TinyModel, caplog: pytest.LogCaptureFixture
):
    with ServerThread(tiny.folder) as srv, _connected(srv.address) as sock:
        model = srv.handle.model
        real = model.run
        calls = {"n": 0}

        def flaky(features: np.ndarray) -> np.ndarray:
            calls["n"] += 1
            if calls["n"] <= 2:
                raise RuntimeError("boom")
            return real(features)

        model.run = flaky  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="agilenn.server"):
            for seq in (1, 2):
                for frame in request_frames(tiny, seq, random_symbols(tiny, np.random.default_rng(seq))):
                    sock.send(frame)
                    # wait until the worker took it, so that the two requests fail in two separate batches
                    for _ in range(200):
                        if calls["n"] >= seq:
                            break
                        threading.Event().wait(0.005)
            _sync(sock, tiny)
        snap = settle(srv.stats, lambda snap: snap["replies"] >= 1)
    assert snap["drops"]["internal"] == 2
    assert len([r for r in caplog.records if "RuntimeError" in r.getMessage()]) == 1
    assert snap["replies"] == 1


def test_serve_reports_and_writes_json_then_stops(tiny: TinyModel, tmp_path: Path):
    out = io.StringIO()
    json_path = tmp_path / "stats.json"

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(
                tiny.folder,
                "127.0.0.1",
                0,
                ServerOptions(),
                stats_every_s=0.05,
                json_path=json_path,
                console=Console(file=out, width=120),
                stop=stop,
            )
        )
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_S)

    asyncio.run(scenario())
    text = out.getvalue()
    assert f"0x{tiny.model_id:08x}" in text and "final counters" in text and "latency" in text
    assert "context-coded (C decoder)" in text
    data = json.loads(json_path.read_text())
    assert data["model_id"] == tiny.model_id and data["requests"] == 0 and "drops" in data


# --------------------------------------------------------------------------------------------
# CLI: bad input exits 2 with one clear message
# --------------------------------------------------------------------------------------------


def _expect_error(capsys: pytest.CaptureFixture[str], argv: Sequence[str], *fragments: str) -> None:
    code = main(list(argv))
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    assert code == 2, text
    assert len([line for line in captured.err.splitlines() if line.startswith("error:")]) == 1, text
    for fragment in fragments:
        assert fragment.lower() in text.lower(), (fragment, text)


def _edit_meta(folder: Path, edit: str) -> None:
    meta = json.loads((folder / "agilenn.json").read_text())
    if edit == "no-centroids":
        del meta["quantizer"]["centroids"]
    elif edit == "no-feature-map":
        del meta["feature_map"]
    elif edit == "bad-alpha":
        meta["combiner"]["alpha"] = "half"
    elif edit == "wrong-channels":
        meta["feature_map"]["channels"] += 1
    elif edit == "missing-remote":
        meta["files"]["remote"] = "gone.onnx"
    elif edit == "bad-coder":
        meta["coder"] = {"format": "agilenn-context-coder", "format_version": 1, "alphabet": 5}
    (folder / "agilenn.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        ("no-centroids", ("agilenn.json", "quantizer.centroids")),
        ("no-feature-map", ("agilenn.json", "feature_map.channels")),
        ("bad-alpha", ("agilenn.json", "combiner.alpha")),
        ("wrong-channels", ("remote.onnx", "feature_map")),
        ("missing-remote", ("gone.onnx", "files.remote")),
        ("bad-coder", ("agilenn.json", "coder", "fit-coder")),
    ],
)
def test_cli_bad_metadata_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, edit: str, fragments: tuple):
    folder = build_model_dir(tmp_path / "m").folder
    _edit_meta(folder, edit)
    _expect_error(capsys, ["serve", str(folder), "--port", "0"], *fragments)


def test_cli_bad_folders_and_options_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    _expect_error(capsys, ["serve", str(tmp_path / "nope")], "does not exist")
    (tmp_path / "empty").mkdir()
    _expect_error(capsys, ["serve", str(tmp_path / "empty")], "agilenn.json", "not found")
    folder = build_model_dir(tmp_path / "m").folder
    (folder / "agilenn.json").write_text("{not json")
    _expect_error(capsys, ["serve", str(folder)], "agilenn.json", "not valid json")
    folder = build_model_dir(tmp_path / "m2").folder
    (folder / "remote.onnx").write_bytes(b"garbage")
    _expect_error(capsys, ["serve", str(folder)], "remote.onnx", "cannot load")
    folder = build_model_dir(tmp_path / "m3").folder
    _expect_error(capsys, ["serve", str(folder), "--batch-max", "0"], "--batch-max")
    _expect_error(capsys, ["serve", str(folder), "--max-datagram", "10"], "--max-datagram")
    _expect_error(capsys, ["serve", str(folder), "--json-stats", str(tmp_path / "no" / "s.json")], "--json-stats")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        _expect_error(capsys, ["serve", str(folder), "--port", str(port)], f"127.0.0.1:{port}")


def test_serve_command_defaults_are_the_server_options_defaults():
    """`agilenn serve`'s option defaults and ServerOptions' (the Python API's) are one set of values."""
    import inspect

    from agilenn_codegen.commands.serve import command

    renamed = {"deadline_ms": "default_deadline_ms", "reassembly_timeout": "reassembly_timeout_s"}
    defaults = ServerOptions()
    checked = 0
    for name, parameter in inspect.signature(command).parameters.items():
        field = renamed.get(name, name)
        if hasattr(defaults, field):
            assert parameter.default.default == getattr(defaults, field), name
            checked += 1
    assert checked == 13
