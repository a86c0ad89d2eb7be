"""Random context-coder tables and symbol maps for the coder tests (Python, C on the host and on emulated cores)."""

from __future__ import annotations

import struct

import numpy as np

from agilenn_codegen.offload.context_model import PRECISION, ContextModel, quantize_frequencies


def random_model(
    rng: np.random.Generator, *, alphabet: int | None = None, channels: int | None = None, rare: bool | None = None
) -> ContextModel:
    """Tables of random shape: K in 2..16, 1..8 channels, some rare or none, 1..12 distinct rows (mostly
    skewed towards 0, some nearly uniform, some at the floor of 1)."""
    k = alphabet or int(rng.integers(2, 17))
    c = channels or int(rng.integers(1, 9))
    with_rare = bool(rng.integers(0, 2)) if rare is None else rare
    n_live = int(rng.integers(1, c)) if with_rare and c > 1 else c
    live = tuple(sorted(int(v) for v in rng.choice(c, n_live, replace=False)))
    rows = []
    for _ in range(int(rng.integers(1, 13))):
        kind = rng.integers(0, 3)
        if kind == 0:  # skewed: mostly zeros, as the real data
            p = rng.dirichlet(np.full(k, 0.3))
            p[0] += 20
        elif kind == 1:
            p = rng.dirichlet(np.ones(k))
        else:  # extreme: one symbol takes (almost) everything, the others sit at the floor
            p = np.full(k, 1e-9)
            p[int(rng.integers(0, k))] = 1.0
        rows.append(quantize_frequencies(p, PRECISION))
    rows = list(dict.fromkeys(rows))
    context_map = tuple(tuple(int(v) for v in rng.integers(0, len(rows), 2 * (k + 1) ** 2)) for _ in live)
    return ContextModel(alphabet=k, channels=c, live_channels=live, context_map=context_map, rows=tuple(rows))


def random_symbols(
    rng: np.random.Generator, model: ContextModel, height: int, width: int, *, escapes: float = 0.0
) -> np.ndarray:
    """(C, H, W) uint8 symbols: live channels with zero runs and blobs, rare channels zero except at a
    fraction `escapes` of the pixels (where at least one rare symbol is non-zero)."""
    k = model.alphabet
    s = np.zeros((model.channels, height, width), np.uint8)
    style = rng.integers(0, 3)
    for c in model.live_channels:
        if style == 0:  # noise
            s[c] = rng.integers(0, k, (height, width))
        elif style == 1:  # sparse blobs
            mask = rng.random((height, width)) < rng.random() * 0.5
            s[c] = np.where(mask, rng.integers(1, k, (height, width)), 0)
        else:  # all one value
            s[c] = int(rng.integers(0, k))
    rare = model.rare_channels
    if rare and escapes > 0:
        hits = rng.random((height, width)) < escapes
        for y, x in zip(*np.nonzero(hits), strict=True):
            values = rng.integers(0, k, len(rare))
            values[int(rng.integers(0, len(rare)))] = int(rng.integers(1, k))
            s[list(rare), y, x] = values
    return s


def model_blob(model: ContextModel, height: int, width: int) -> bytes:
    """The context model as tests/offload/c/offload_driver.c reads it (ops 4..6)."""
    k, live, rare = model.alphabet, model.live_channels, model.rare_channels
    head = struct.pack("<7H", k, model.channels, height, width, len(live), len(rare), len(model.rows))
    return (
        head
        + np.asarray(live, "<u2").tobytes()
        + np.asarray(rare, "<u2").tobytes()
        + model.offset_map_array().astype("<u2").tobytes()
        + model.cum_freq_array().astype("<u4").tobytes()
    )
