"""The probability tables of the context coder (payload encoding 2, docs/offload-protocol.md §2): what they
are, how they are fitted on training symbols, and how they are stored in agilenn.json under ``coder``.

A symbol ``s = S[c][y][x]`` of a *live* channel c is coded with the row of frequencies chosen by its
channel and its two causal neighbours in the same channel, ``left = S[c][y][x-1]`` and
``up = S[c][y-1][x]`` (the value K, "border", outside the feature map)::

    row = context_map[j][left * (K + 1) + up]      j = position of c among the live channels
    freq = rows[row]                               K integers >= 1 that sum to 2**precision

Channels that never hold a non-zero symbol in the training data are *rare*: they get no table; one
escape bit per pixel says whether any of them is non-zero there (practically never), so that every
symbol stays codable. Everything is integers, so the C encoder, the C decoder and the Python reference
use exactly the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "agilenn-context-coder"
FORMAT_VERSION = 1
MAX_ALPHABET = 16  # (K + 1)**2 contexts per channel; larger alphabets use LZW
PRECISION = 15  # fixed: every row sums to 2**15; cum and freq fit u16, range >> 15 >= 2**9 after renormalisation
ESCAPE_BITS = 16  # fixed: P(escape) = 2**-16 per pixel


@dataclass(frozen=True)
class ContextModel:
    """Fitted tables of the context coder for a feature map of ``channels`` channels and alphabet K."""

    alphabet: int
    channels: int
    live_channels: tuple[int, ...]
    context_map: tuple[tuple[int, ...], ...]  # per live channel: (K+1)**2 row ids, index left*(K+1)+up
    rows: tuple[tuple[int, ...], ...]  # K frequencies each, >= 1, summing to 2**precision
    fitted: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(problem)

    def _problem(self) -> str | None:
        k, c = self.alphabet, self.channels
        if not 2 <= k <= MAX_ALPHABET:
            return f"alphabet K={k} is outside 2..{MAX_ALPHABET}"
        if not 1 <= c <= 65535:
            return f"channels={c} is outside 1..65535"
        live = self.live_channels
        if not live or list(live) != sorted(set(live)) or live[0] < 0 or live[-1] >= c:
            return f"live_channels must be a non-empty ascending list of distinct channels in 0..{c - 1}"
        if not self.rows or len(self.rows) * k > 0xFFFF:
            return f"{len(self.rows)} rows of K={k}; the C tables index rows * K in 16 bits"
        total = 1 << PRECISION
        for i, row in enumerate(self.rows):
            if len(row) != k or min(row) < 1 or sum(row) != total:
                return f"row {i} must hold {k} frequencies >= 1 that sum to 2**{PRECISION} = {total}"
        if len(self.context_map) != len(live):
            return f"context_map has {len(self.context_map)} channels, live_channels {len(live)}"
        for j, ids in enumerate(self.context_map):
            if len(ids) != (k + 1) ** 2 or min(ids) < 0 or max(ids) >= len(self.rows):
                return f"context_map[{j}] must hold (K+1)**2 = {(k + 1) ** 2} row ids below {len(self.rows)}"
        return None

    @property
    def rare_channels(self) -> tuple[int, ...]:
        """Channels without a table, covered by the per-pixel escape bit (ascending)."""
        live = set(self.live_channels)
        return tuple(c for c in range(self.channels) if c not in live)

    @property
    def border(self) -> int:
        """The context value of a neighbour outside the feature map: K."""
        return self.alphabet

    def freq_array(self) -> np.ndarray:
        """(rows, K) uint16 frequencies."""
        return np.asarray(self.rows, dtype=np.uint16).reshape(len(self.rows), self.alphabet)

    def cum_array(self) -> np.ndarray:
        """(rows, K) uint16 cumulative frequencies: cum[r][s] = sum(freq[r][:s])."""
        freq = self.freq_array().astype(np.int64)
        return (np.cumsum(freq, axis=1) - freq).astype(np.uint16)

    @property
    def precision(self) -> int:
        """P: every row's frequencies sum to 2**P (fixed)."""
        return PRECISION

    def map_array(self) -> np.ndarray:
        """(live, (K+1)**2) uint16 row ids."""
        return np.asarray(self.context_map, dtype=np.uint16).reshape(len(self.live_channels), -1)

    def cum_freq_array(self) -> np.ndarray:
        """(rows, K) uint32, the C tables' form of a row entry: cum | freq << 16."""
        return self.cum_array().astype(np.uint32) | self.freq_array().astype(np.uint32) << 16

    def offset_map_array(self) -> np.ndarray:
        """(live, (K+1)**2) uint16 row * K: the C tables' form of the map (the row's first entry)."""
        return (self.map_array().astype(np.int64) * self.alphabet).astype(np.uint16)

    def table_bytes(self) -> int:
        """Flash the C tables take (templates/context_tables.c.j2): u32 cum | freq per row entry, u16 map
        entries, u16 live and rare channel numbers and the u8 border row."""
        live, rare = len(self.live_channels), len(self.rare_channels)
        return 4 * len(self.rows) * self.alphabet + 2 * live * (self.alphabet + 1) ** 2 + 3 * live + 2 * rare

    def to_json(self) -> dict[str, Any]:
        """The ``coder`` entry of agilenn.json."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "alphabet": self.alphabet,
            "channels": self.channels,
            "precision_bits": PRECISION,
            "escape_bits": ESCAPE_BITS,
            "context": "row = context_map[j][left * (K + 1) + up]; left/up: same channel, K outside the map",
            "live_channels": list(self.live_channels),
            "context_map": [list(ids) for ids in self.context_map],
            "rows": [list(row) for row in self.rows],
            "fitted": dict(self.fitted),
        }

    @classmethod
    def from_json(cls, entry: Any) -> ContextModel:
        """Parse the ``coder`` entry of agilenn.json; ValueError names what is wrong."""
        if not isinstance(entry, Mapping):
            raise ValueError("must be an object")
        if entry.get("format") != FORMAT or entry.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format must be {FORMAT!r} version {FORMAT_VERSION}")

        def integer(key: str) -> int:
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"key {key!r} must be an integer, got {value!r}")
            return value

        def int_lists(key: str) -> tuple[tuple[int, ...], ...]:
            value = entry.get(key)
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise ValueError(f"key {key!r} must be a list of lists of integers")
            out = []
            for item in value:
                if not isinstance(item, Sequence) or isinstance(item, str):
                    raise ValueError(f"key {key!r} must be a list of lists of integers")
                if any(isinstance(v, bool) or not isinstance(v, int) for v in item):
                    raise ValueError(f"key {key!r} must hold integers only")
                out.append(tuple(item))
            return tuple(out)

        for key, fixed in (("precision_bits", PRECISION), ("escape_bits", ESCAPE_BITS)):
            if integer(key) != fixed:
                raise ValueError(f"key {key!r} must be {fixed}, got {entry.get(key)!r}")
        live = entry.get("live_channels")
        if not isinstance(live, Sequence) or any(isinstance(v, bool) or not isinstance(v, int) for v in live):
            raise ValueError("key 'live_channels' must be a list of integers")
        fitted = entry.get("fitted", {})
        return cls(
            alphabet=integer("alphabet"),
            channels=integer("channels"),
            live_channels=tuple(live),
            context_map=int_lists("context_map"),
            rows=int_lists("rows"),
            fitted=dict(fitted) if isinstance(fitted, Mapping) else {},
        )


class ContextCounts:
    """Symbol counts per (channel, left, up) context, accumulated over batches of training feature maps."""

    def __init__(self, alphabet: int, channels: int) -> None:
        if not 2 <= alphabet <= MAX_ALPHABET:
            raise ValueError(f"the context coder needs 2 <= K <= {MAX_ALPHABET}, got K={alphabet}")
        self.alphabet = alphabet
        self.channels = channels
        self.images = 0
        self.counts = np.zeros((channels, alphabet + 1, alphabet + 1, alphabet), dtype=np.int64)

    def add(self, symbols: np.ndarray) -> None:
        """Count a batch of symbol maps, shape (B, C, H, W), values in [0, K)."""
        s = np.asarray(symbols)
        if s.ndim != 4 or s.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, H, W) symbols, got {s.shape}")
        k = self.alphabet
        if s.size and int(s.max()) >= k:
            raise ValueError(f"symbols must be below K={k}")
        s = s.astype(np.int64)
        left = np.full_like(s, k)
        left[..., 1:] = s[..., :-1]
        up = np.full_like(s, k)
        up[..., 1:, :] = s[..., :-1, :]
        channel = np.arange(self.channels, dtype=np.int64).reshape(1, -1, 1, 1)
        index = ((channel * (k + 1) + left) * (k + 1) + up) * k + s
        self.counts += np.bincount(index.reshape(-1), minlength=self.counts.size).reshape(self.counts.shape)
        self.images += s.shape[0]


def quantize_frequencies(probabilities: np.ndarray, precision: int) -> tuple[int, ...]:
    """Integer frequencies >= 1 summing to 2**precision, close to ``probabilities`` (deterministic)."""
    total = 1 << precision
    p = np.asarray(probabilities, dtype=np.float64)
    freq = np.maximum(1, np.round(p / p.sum() * total)).astype(np.int64)
    excess = int(freq.sum()) - total
    while excess != 0:  # rounding error: add to / take from the largest entry, never below the floor of 1
        i = int(np.argmax(freq))
        change = excess if excess < 0 else min(excess, int(freq[i]) - 1)
        freq[i] -= change
        excess -= change
    return tuple(int(v) for v in freq)


def fit_context_model(
    counts: ContextCounts,
    *,
    prior_weight: float = 1.0,
    fitted: Mapping[str, Any] | None = None,
) -> ContextModel:
    """Tables from training counts.

    A channel is live when it holds a non-zero symbol somewhere in the training data. Each live channel's
    contexts get ``(n + w * p_c) / (n_total + w)`` with ``p_c`` the channel's own (add-1/2) distribution
    and ``w = prior_weight``, so a context seen rarely leans on its channel; contexts never seen use
    ``p_c`` itself. Rows are quantized to ``precision`` bits with a floor of 1 (no symbol is ever
    uncodable), and identical rows are stored once.
    """
    if counts.images == 0:
        raise ValueError("no training images were counted")
    k = counts.alphabet
    per_channel = counts.counts.sum(axis=(1, 2))  # (C, K)
    live = tuple(int(c) for c in np.flatnonzero(per_channel[:, 1:].sum(axis=1) > 0))
    if not live:  # every training symbol was 0: keep channel 0 live so that the model is well-formed
        live = (0,)
    rows: dict[tuple[int, ...], int] = {}
    context_map = []
    for c in live:
        marginal = (per_channel[c] + 0.5) / (per_channel[c].sum() + 0.5 * k)
        ids = []
        for left in range(k + 1):
            for up in range(k + 1):
                n = counts.counts[c, left, up].astype(np.float64)
                p = (n + prior_weight * marginal) / (n.sum() + prior_weight) if n.sum() > 0 else marginal
                row = quantize_frequencies(p, PRECISION)
                ids.append(rows.setdefault(row, len(rows)))
        context_map.append(tuple(ids))
    return ContextModel(
        alphabet=k,
        channels=counts.channels,
        live_channels=live,
        context_map=tuple(context_map),
        rows=tuple(rows),
        fitted=dict(fitted or {}),
    )


def estimated_body_bytes(counts: ContextCounts, model: ContextModel) -> float:
    """Mean context-coded body bytes per image of the counted maps, from the ideal code lengths of the
    model's quantized rows (the range coder adds about 1 byte per body, the payload header 7)."""
    k = model.alphabet
    freq = model.freq_array().astype(np.float64) / (1 << PRECISION)
    bits = 0.0
    for j, c in enumerate(model.live_channels):
        rows = np.asarray(model.context_map[j]).reshape(k + 1, k + 1)
        bits -= float((counts.counts[c] * np.log2(freq[rows])).sum())
    rare = list(model.rare_channels)
    if rare:  # the escape bits of pixels without a non-zero rare symbol (escapes do not occur in the counts)
        pixels = counts.counts[0].sum()
        bits -= float(pixels * np.log2(1 - 2.0**-ESCAPE_BITS))
    return bits / 8 / max(1, counts.images)
