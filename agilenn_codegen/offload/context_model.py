"""The probability tables of the context coder (payload encoding 2, docs/offload-protocol.md §2): what they
are, how they are fitted on training symbols, and how they are stored in agilenn.json under ``coder``.

A symbol ``s = S[c][y][x]`` of a *live* channel c is coded with the row of frequencies chosen by its
channel, its two causal neighbours in the same channel, ``left = S[c][y][x-1]`` and
``up = S[c][y-1][x]`` (the value K, "border", outside the feature map), and whether the previous live
channel of the same pixel holds a non-zero symbol (``nz``, 0 for the first live channel)::

    row = context_map[j][(left * (K + 1) + up) * 2 + nz]     j = position of c among the live channels
    freq = rows[row]                                                 K integers >= 1 that sum to 2**15

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
MAX_ALPHABET = 16  # 2 * (K + 1)**2 contexts per channel; larger alphabets use LZW
PRECISION = 15  # fixed: every row sums to 2**15; cum and freq fit u16, range >> 15 >= 2**9 after renormalisation
ESCAPE_BITS = 16  # fixed: P(escape) = 2**-16 per pixel


@dataclass(frozen=True)
class ContextModel:
    """Fitted tables of the context coder for a feature map of ``channels`` channels and alphabet K."""

    alphabet: int
    channels: int
    live_channels: tuple[int, ...]
    context_map: tuple[tuple[int, ...], ...]  # per live channel: 2*(K+1)**2 row ids, [left][up][nz]
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
            if len(ids) != contexts_per_channel(k) or min(ids) < 0 or max(ids) >= len(self.rows):
                return (
                    f"context_map[{j}] must hold 2*(K+1)**2 = {contexts_per_channel(k)} row ids below {len(self.rows)}"
                )
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
        """(live, 2*(K+1)**2) uint16 row ids, [j][(left * (K+1) + up) * 2 + nz]."""
        return np.asarray(self.context_map, dtype=np.uint16).reshape(len(self.live_channels), -1)

    def cum_freq_array(self) -> np.ndarray:
        """(rows, K) uint32, the C tables' form of a row entry: cum | freq << 16."""
        return self.cum_array().astype(np.uint32) | self.freq_array().astype(np.uint32) << 16

    def offset_map_array(self) -> np.ndarray:
        """(live, (K+1) * (K+1) * K) uint16, the C tables' form of the map: [j][left][up][prev] holds the first
        entry (row * K) of the row for (left, up, nz = prev != 0), so the C code indexes it with the previous
        live channel's symbol itself (prev = 0 for the first live channel)."""
        k = self.alphabet
        ids = self.map_array().astype(np.int64).reshape(len(self.live_channels), k + 1, k + 1, 2)
        nz = (np.arange(k) != 0).astype(np.int64)  # prev = 0..K-1
        return (ids[..., nz] * k).reshape(len(self.live_channels), -1).astype(np.uint16)

    def table_bytes(self) -> int:
        """Flash the C tables take (templates/context_tables.c.j2): u32 cum | freq per row entry, u16 map
        entries (the offset_map_array form), u16 live and rare channel numbers and the u8 border row."""
        live, rare = len(self.live_channels), len(self.rare_channels)
        k = self.alphabet
        return 4 * len(self.rows) * k + 2 * live * (k + 1) ** 2 * k + 3 * live + 2 * rare

    def to_json(self) -> dict[str, Any]:
        """The ``coder`` entry of agilenn.json."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "alphabet": self.alphabet,
            "channels": self.channels,
            "precision_bits": PRECISION,
            "escape_bits": ESCAPE_BITS,
            "context": "row = context_map[j][(left * (K+1) + up) * 2 + nz]; left/up: same channel, K outside the "
            "map; nz: 1 if the previous live channel's symbol of the pixel is non-zero",
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


def contexts_per_channel(alphabet: int) -> int:
    """Context-map entries of one live channel: left (K+1) x up (K+1) x nz (2)."""
    return 2 * (alphabet + 1) ** 2


def nonzero_channels(symbols: np.ndarray) -> np.ndarray:
    """(C,) bool: which channels of a (B, C, H, W) batch hold a non-zero symbol (the first counting pass)."""
    s = np.asarray(symbols)
    return s.reshape(s.shape[0], s.shape[1], -1).any(axis=(0, 2))


class ContextCounts:
    """Symbol counts per context (live channel, left, up, nz), accumulated over batches of training maps.

    The live channels are fixed first (the channels that hold a non-zero symbol anywhere in the training
    data: :func:`nonzero_channels` over all batches), because ``nz`` refers to the previous live channel."""

    def __init__(self, alphabet: int, channels: int, live_channels: Sequence[int]) -> None:
        if not 2 <= alphabet <= MAX_ALPHABET:
            raise ValueError(f"the context coder needs 2 <= K <= {MAX_ALPHABET}, got K={alphabet}")
        live = tuple(int(c) for c in live_channels) or (0,)  # all zero in training: keep channel 0 live
        if list(live) != sorted(set(live)) or live[0] < 0 or live[-1] >= channels:
            raise ValueError(f"live channels must be distinct and ascending in 0..{channels - 1}, got {live}")
        self.alphabet = alphabet
        self.channels = channels
        self.live_channels = live
        self.images = 0
        self.nonzero_rare = 0  # non-zero symbols seen in rare channels (0 when the live set is right)
        self.counts = np.zeros((len(live), alphabet + 1, alphabet + 1, 2, alphabet), dtype=np.int64)

    def add(self, symbols: np.ndarray) -> None:
        """Count a batch of symbol maps, shape (B, C, H, W), values in [0, K)."""
        s = np.asarray(symbols)
        if s.ndim != 4 or s.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, H, W) symbols, got {s.shape}")
        k = self.alphabet
        if s.size and int(s.max()) >= k:
            raise ValueError(f"symbols must be below K={k}")
        live = list(self.live_channels)
        rare = [c for c in range(self.channels) if c not in set(live)]
        self.nonzero_rare += int(np.count_nonzero(s[:, rare])) if rare else 0
        s = s[:, live].astype(np.int64)
        left = np.full_like(s, k)
        left[..., 1:] = s[..., :-1]
        up = np.full_like(s, k)
        up[..., 1:, :] = s[..., :-1, :]
        nz = np.zeros_like(s)
        nz[:, 1:] = s[:, :-1] != 0
        j = np.arange(len(live), dtype=np.int64).reshape(1, -1, 1, 1)
        index = (((j * (k + 1) + left) * (k + 1) + up) * 2 + nz) * k + s
        self.counts += np.bincount(index.reshape(-1), minlength=self.counts.size).reshape(self.counts.shape)
        self.images += s.shape[0]


def count_contexts(maps: np.ndarray, alphabet: int) -> ContextCounts:
    """Both counting passes over an in-memory (B, C, H, W) batch."""
    counts = ContextCounts(alphabet, maps.shape[1], np.flatnonzero(nonzero_channels(maps)).tolist())
    counts.add(maps)
    return counts


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

    Each live channel's contexts get ``(n + w * p_c) / (n_total + w)`` with ``p_c`` the channel's own
    (add-1/2) distribution and ``w = prior_weight``, so a context seen rarely leans on its channel;
    contexts never seen use ``p_c`` itself. Rows are quantized to 15 bits with a floor of 1 (no symbol is
    ever uncodable), and identical rows are stored once.
    """
    if counts.images == 0:
        raise ValueError("no training images were counted")
    if counts.nonzero_rare:
        raise ValueError(f"{counts.nonzero_rare} non-zero symbols in channels counted as rare")
    k = counts.alphabet
    rows: dict[tuple[int, ...], int] = {}
    context_map = []
    for j in range(len(counts.live_channels)):
        per_channel = counts.counts[j].sum(axis=(0, 1, 2))
        marginal = (per_channel + 0.5) / (per_channel.sum() + 0.5 * k)
        ids = []
        for n in counts.counts[j].reshape(-1, k).astype(np.float64):  # [left][up][nz] order
            p = (n + prior_weight * marginal) / (n.sum() + prior_weight) if n.sum() > 0 else marginal
            ids.append(rows.setdefault(quantize_frequencies(p, PRECISION), len(rows)))
        context_map.append(tuple(ids))
    return ContextModel(
        alphabet=k,
        channels=counts.channels,
        live_channels=counts.live_channels,
        context_map=tuple(context_map),
        rows=tuple(rows),
        fitted=dict(fitted or {}),
    )


def estimated_body_bytes(counts: ContextCounts, model: ContextModel) -> float:
    """Mean context-coded body bytes per image of the counted maps, from the ideal code lengths of the
    model's quantized rows (the range coder adds about 1 byte per body, the payload header 7)."""
    if counts.live_channels != model.live_channels:
        raise ValueError("the counts and the tables have different live channels")
    freq = model.freq_array().astype(np.float64) / (1 << PRECISION)
    bits = 0.0
    for j in range(len(model.live_channels)):
        rows = np.asarray(model.context_map[j])
        bits -= float((counts.counts[j].reshape(len(rows), -1) * np.log2(freq[rows])).sum())
    if model.rare_channels:  # one escape bit 0 per pixel
        pixels = counts.counts[0].sum()
        bits -= float(pixels * np.log2(1 - 2.0**-ESCAPE_BITS))
    return bits / 8 / max(1, counts.images)
