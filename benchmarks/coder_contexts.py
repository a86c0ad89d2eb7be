"""How much each context buys: ideal code lengths of the remote symbols under several context models.

    .venv/bin/python benchmarks/coder_contexts.py examples/agilenn_fmnist

Symbols as the device computes them (int8 device model + symbol table) for the whole training and test
splits. Each model's counts come from the training split; its probabilities are smoothed towards the
channel's own distribution (as `agilenn fit-coder` does) and quantized to 15 bits with a floor of 1;
the figure is the ideal code length of the test split under them, in bytes per inference (a range coder
adds about 1 byte; the payload header 7 and the frame header 28 more). Writes
docs/results/coder-contexts.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agilenn_codegen.offload.context_model import PRECISION  # noqa: E402
from agilenn_codegen.pipeline.coder_tables import training_symbols  # noqa: E402
from agilenn_codegen.pipeline.exported import ExportedModel, load_exported  # noqa: E402
from benchmarks.offload_coder import dataset_symbols  # noqa: E402

Key = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, int]]  # (symbols, live mask, K) -> (key, keys)


def _neighbours(s: np.ndarray, k: int) -> dict[str, np.ndarray]:
    left = np.full_like(s, k)
    left[..., 1:] = s[..., :-1]
    up = np.full_like(s, k)
    up[..., 1:, :] = s[..., :-1, :]
    upright = np.full_like(s, k)
    upright[..., 1:, :-1] = s[..., :-1, 1:]
    return {"left": left, "up": up, "upright": upright}


def _previous_live(s: np.ndarray, live: np.ndarray) -> np.ndarray:
    """The previous live channel's symbol of the same pixel (0 for the first, and for rare channels)."""
    prev = np.zeros_like(s)
    channels = np.flatnonzero(live)
    prev[:, channels[1:]] = s[:, channels[:-1]]
    return prev


def _three(v: np.ndarray, k: int) -> np.ndarray:
    return np.where(v == k, 2, v != 0)  # zero, non-zero, outside the map


def models(k: int, channels: int) -> dict[str, Key]:
    c = np.arange(channels).reshape(1, -1, 1, 1)
    k1 = k + 1

    def order0(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        return np.zeros_like(s), 1

    def channel(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        return np.broadcast_to(c, s.shape), channels

    def zero_flags(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        n = _neighbours(s, k)
        return (c * 3 + _three(n["left"], k)) * 3 + _three(n["up"], k), channels * 9

    def left_up(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        n = _neighbours(s, k)
        return (c * k1 + n["left"]) * k1 + n["up"], channels * k1 * k1

    def with_prev_nz(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        base, size = left_up(s, live, k)
        return base * 2 + (_previous_live(s, live) != 0), size * 2

    def with_prev_value(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        base, size = left_up(s, live, k)
        return base * k + _previous_live(s, live), size * k

    def with_upright_and_prev_nz(s: np.ndarray, live: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        base, size = with_prev_nz(s, live, k)
        return base * 3 + _three(_neighbours(s, k)["upright"], k), size * 3

    return {
        "order 0 (one distribution)": order0,
        "channel": channel,
        "channel + left/upper neighbour zero, non-zero or outside": zero_flags,
        "channel + left and upper neighbour values": left_up,
        "... + previous live channel of the pixel non-zero (shipped)": with_prev_nz,
        "... + previous live channel's value": with_prev_value,
        "... + non-zero flags: previous live channel, upper-right neighbour": with_upright_and_prev_nz,
    }


def evaluate(exported: ExportedModel, test: np.ndarray, data_root: Path | None) -> list[dict]:
    k, channels = exported.alphabet, exported.feature_shape[0]
    _, batches = training_symbols(exported, data_root=data_root)
    live = np.zeros(channels, bool)
    for batch in batches(None):
        live |= batch.reshape(batch.shape[0], channels, -1).any(axis=(0, 2))
    channel = np.arange(channels).reshape(1, -1, 1, 1)
    results = []
    for name, key in models(k, channels).items():
        counts, by_channel = None, None
        for batch in batches(None):
            keys, size = key(batch.astype(np.int64), live, k)
            keys = np.broadcast_to(np.asarray(keys, np.int64), batch.shape)
            part = np.bincount((keys * k + batch).reshape(-1), minlength=size * k)
            mix = np.bincount((keys * channels + channel).reshape(-1), minlength=size * channels)
            counts = part if counts is None else counts + part
            by_channel = mix if by_channel is None else by_channel + mix
        assert counts is not None and by_channel is not None
        table = counts.reshape(size, k).astype(np.float64)
        mix = by_channel.reshape(size, channels).astype(np.float64)
        # each context leans on its channel's own distribution (a mixture when it spans channels), weight 1
        per_channel = np.stack([table[mix[:, c] > 0].sum(axis=0) for c in range(channels)]) + 0.5
        per_channel /= per_channel.sum(axis=1, keepdims=True)
        prior = (mix / np.maximum(mix.sum(axis=1, keepdims=True), 1)) @ per_channel
        prior[mix.sum(axis=1) == 0] = 1.0 / k
        p = (table + prior) / (table.sum(axis=1, keepdims=True) + 1.0)
        freq = np.maximum(1, np.round(p * (1 << PRECISION)))
        freq[np.arange(size), freq.argmax(axis=1)] += (1 << PRECISION) - freq.sum(axis=1)
        test_keys, _ = key(test.astype(np.int64), live, k)
        test_keys = np.broadcast_to(np.asarray(test_keys, np.int64), test.shape)
        bits = -np.log2(freq[test_keys.reshape(-1), test.reshape(-1)] / (1 << PRECISION)).sum()
        used = int((table.sum(axis=1) > 0).sum())
        results.append({"model": name, "contexts": size, "contexts_seen": used, "bytes": float(bits / 8 / len(test))})
        print(f"{name:70s} {results[-1]['bytes']:8.1f} B  ({used} of {size} contexts seen)", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    exported = load_exported(args.export, with_coder=False)
    test = dataset_symbols(exported, None, args.data_root)
    results = evaluate(exported, test, args.data_root)
    command = "python benchmarks/coder_contexts.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "coder-contexts.json").write_text(json.dumps({"command": command, "models": results}, indent=2))
    lines = [
        "# Context models for the remote symbols: ideal code lengths",
        "",
        f"Produced by `{command}`: counts from the {exported.dataset} training split, code lengths of the "
        f"{len(test):,} test maps ({test[0].size:,} symbols each, K = {exported.alphabet}) under the counted "
        "probabilities (smoothed towards the channel's own distribution, 15 bits, floor 1). A range coder adds "
        "about 1 byte; the payload header 7 bytes and the frame header 28 more.",
        "",
        "| context | contexts (seen in training) | bytes per inference |",
        "|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['model']} | {r['contexts']:,} ({r['contexts_seen']:,}) | {r['bytes']:,.1f} |")
    lines.append("")
    (args.out / "coder-contexts.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
