"""Offloading through a lossy link: every inference gets an answer in bounded time.

A :class:`LossyProxy` between client and server drops, duplicates and reorders datagrams in both
directions. Each classification must come back within the client's timeout (plus slack): the combined
logits when the reply made it, the local logits otherwise, and never anything else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from agilenn_codegen.lossy_proxy import LossyProxy
from agilenn_codegen.offload_client import OffloadClient
from agilenn_codegen.pipeline.reference import combine
from agilenn_codegen.pipeline.symbols import features_to_symbols, symbol_table
from agilenn_codegen.server import ServerOptions, ServerThread
from tests.offload.fixtures import TinyModel, build_model_dir, random_symbols, reference_logits, request_payload

ALPHA = 0.5
SLACK_S = 0.5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_model_dir(tmp_path_factory.mktemp("lossy") / "export")


@pytest.fixture(scope="module")
def server(tiny: TinyModel) -> Iterator[ServerThread]:
    # A partial request is useless once the device has given up on it: keep them briefly.
    with ServerThread(tiny.folder, options=ServerOptions(reassembly_timeout_s=0.25)) as running:
        yield running


@pytest.mark.parametrize("loss", [0.0, 0.2, 0.5])
def test_every_inference_answers_through_a_lossy_link(tiny: TinyModel, server: ServerThread, loss: float):
    rng = np.random.default_rng(int(loss * 100))
    table = symbol_table(6.0 / 255, -128, tiny.centroids)
    timeout_s = 0.5 if loss == 0 else 0.06
    count = 30
    sources = []
    drops_before = server.stats.snapshot()["drops"]
    started = time.monotonic()
    with (
        LossyProxy(server.address, loss=loss, duplicate=0.2, reorder=0.3, max_delay_ms=10, seed=7) as proxy,
        OffloadClient(proxy.address, tiny.model_id, timeout_s, max_fragment=24, num_classes=tiny.num_classes) as client,
    ):
        for _ in range(count):
            features = rng.integers(-128, 128, size=(tiny.channels, tiny.height, tiny.width), dtype=np.int8)
            local = rng.standard_normal(tiny.num_classes).astype(np.float32)
            result = client.classify(local, features, table, alphabet=len(tiny.centroids), alpha=ALPHA)
            assert result.elapsed_s < timeout_s + SLACK_S
            assert result.datagrams > 1  # multi-fragment requests: reassembly under loss and reordering
            if result.source == "remote":
                want = combine(local, reference_logits(tiny, features_to_symbols(features, table)), ALPHA)
                assert np.array_equal(result.logits, want)
            else:
                assert np.array_equal(result.logits, local)
            sources.append(result.source)
        proxy_stats = proxy.stats()
    elapsed = time.monotonic() - started
    assert elapsed < count * (timeout_s + SLACK_S)
    remote = sources.count("remote")
    drops = {k: v - drops_before.get(k, 0) for k, v in server.stats.snapshot()["drops"].items()}
    print(
        f"\nloss={loss:.0%}: {remote}/{count} remote, {count - remote} local fallbacks in {elapsed:.2f}s; "
        f"proxy {proxy_stats}; client {client.stats.as_dict()}; server drops {drops}"
    )
    assert len(sources) == count
    if loss == 0:
        assert remote == count
        assert proxy_stats["up"]["dropped"] == proxy_stats["down"]["dropped"] == 0  # type: ignore[index]
    else:
        assert proxy_stats["up"]["dropped"] > 0  # type: ignore[index]
    if loss == 0.5:
        assert remote < count


def test_reordered_and_duplicated_fragments_reassemble(tiny: TinyModel, server: ServerThread):
    rng = np.random.default_rng(1)
    with (
        LossyProxy(server.address, duplicate=0.5, reorder=1.0, max_delay_ms=5, seed=3) as proxy,
        OffloadClient(proxy.address, tiny.model_id, 1.0, max_fragment=8) as client,
    ):
        for seq in range(5):
            symbols = random_symbols(tiny, rng, runs=False)
            got = client.infer(seq, request_payload(tiny, symbols))
            assert got is not None and np.array_equal(got, reference_logits(tiny, symbols))
        stats = proxy.stats()
    assert stats["up"]["reordered"] > 0 and stats["up"]["duplicated"] > 0  # type: ignore[index]


def test_stale_duplicate_replies_are_ignored(tiny: TinyModel, server: ServerThread):
    rng = np.random.default_rng(2)
    with (
        LossyProxy(server.address, duplicate=1.0, seed=0) as proxy,
        OffloadClient(proxy.address, tiny.model_id, 1.0) as client,
    ):
        for seq in range(4):
            symbols = random_symbols(tiny, rng)
            got = client.infer(seq, request_payload(tiny, symbols))
            assert got is not None and np.array_equal(got, reference_logits(tiny, symbols))
    # each request reached the server twice and each reply came back twice: the extras were stale
    assert client.stats.ignored["stale"] >= 3


def test_proxy_counts_and_total_loss(tiny: TinyModel, server: ServerThread):
    with LossyProxy(server.address, loss=1.0, seed=0) as proxy, OffloadClient(proxy.address, tiny.model_id, 0.05) as c:
        assert c.infer(0, request_payload(tiny, random_symbols(tiny, np.random.default_rng(0)))) is None
        stats = proxy.stats()
    assert stats["up"] == {"received": 1, "forwarded": 0, "dropped": 1, "duplicated": 0, "reordered": 0}
    assert c.stats.timeouts == 1
    with pytest.raises(ValueError, match="loss"):
        LossyProxy(server.address, loss=1.5)
