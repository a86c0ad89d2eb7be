"""The server's fast context decoder and MAC: the C code built for the host, called through ctypes.

:func:`native_status` finds the library (installed with the package, or built on first use into the
user's cache folder when a C compiler is there) and says what is missing otherwise. The pure-Python
reference (:mod:`agilenn_codegen.offload.context_coder`) decodes the same bodies, about a
hundred times slower; the tests check that the two agree on valid and invalid bodies.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agilenn_codegen.offload import native_build
from agilenn_codegen.offload.context_model import ContextModel
from agilenn_codegen.offload.errors import ProtocolError

_REASONS = {
    1: ("context_symbol", "a code value outside every interval"),
    2: ("context_escape", "escape bit set but every rare symbol is 0"),
    3: ("context_noncanonical", "the body is not the canonical encoding of the symbols it holds"),
}


class _Model(ctypes.Structure):
    """agilenn_context_model_t (runtime_c/offload/agilenn_offload.h), field for field."""

    _fields_ = [
        ("alphabet", ctypes.c_uint16),
        ("channels", ctypes.c_uint16),
        ("height", ctypes.c_uint16),
        ("width", ctypes.c_uint16),
        ("live_count", ctypes.c_uint16),
        ("rare_count", ctypes.c_uint16),
        ("live", ctypes.c_void_p),
        ("rare", ctypes.c_void_p),
        ("border", ctypes.c_void_p),
        ("context_map", ctypes.c_void_p),
        ("cum_freq", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class NativeStatus:
    """Whether the fast decoder is usable; `reason` says why not (for the server's start-up message)."""

    library: Path | None
    reason: str

    @property
    def available(self) -> bool:
        return self.library is not None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agilenn-codegen"


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _load() -> tuple[ctypes.CDLL | None, NativeStatus]:
    with _lock:
        try:
            name = native_build.library_name()
        except (native_build.BuildError, OSError) as exc:
            return None, NativeStatus(None, f"the C sources of the decoder are missing ({exc})")
        candidates = [native_build.LIBRARY_DIR / name, _cache_dir() / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            try:
                path = native_build.build(candidates[1])
            except native_build.BuildError as exc:
                return None, NativeStatus(
                    None,
                    f"the fast decoder is not built and cannot be built here: {exc}. Install a C compiler "
                    "and reinstall agilenn-codegen (or run `python -m agilenn_codegen.offload.native_build`)",
                )
            except OSError as exc:
                return None, NativeStatus(None, f"cannot write the fast decoder to {candidates[1]}: {exc}")
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            return None, NativeStatus(None, f"cannot load {path}: {exc}")
        fn = lib.agilenn_context_decode
        fn.restype = ctypes.c_int
        fn.argtypes = [
            ctypes.POINTER(_Model),
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint32),
        ]
        enc = lib.agilenn_context_encode
        enc.restype = ctypes.c_int
        enc.argtypes = [
            ctypes.POINTER(_Model),
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t),
        ]
        mac = lib.agilenn_siphash24
        mac.restype = ctypes.c_uint64
        mac.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        return lib, NativeStatus(path, "")


def native_siphash24() -> Callable[[bytes, bytes], int] | None:
    """SipHash-2-4 from the compiled library (runtime_c/offload/agilenn_siphash.c), or None without it."""
    lib = _load()[0]
    if lib is None:
        return None
    fn = lib.agilenn_siphash24

    def siphash24(key: bytes, message: bytes) -> int:
        if len(key) != 16:
            raise ValueError(f"a SipHash key has 16 bytes, got {len(key)}")
        message = bytes(message)
        return int(fn(bytes(key), message, len(message)))

    return siphash24


def native_status() -> NativeStatus:
    """The fast decoder's library, or why there is none."""
    return _load()[1]


class NativeContextCoder:
    """The C context coder for one model and feature-map size (thread-safe: no shared scratch)."""

    def __init__(self, model: ContextModel, height: int, width: int) -> None:
        lib, status = _load()
        if lib is None:
            raise RuntimeError(status.reason)
        if not (1 <= height <= 0xFFFF and 1 <= width <= 0xFFFF):
            raise ValueError(f"feature map of {height}x{width} pixels is outside the coder's range")
        self._lib = lib
        self.model = model
        self.height, self.width = height, width
        self.num_symbols = model.channels * height * width
        rare = model.rare_channels
        # kept as attributes: the struct only points into them
        self._arrays = {
            "live": np.asarray(model.live_channels, np.uint16),
            "rare": np.asarray(rare or (0,), np.uint16),
            "border": np.full(len(model.live_channels), model.alphabet, np.uint8),
            "context_map": np.ascontiguousarray(model.offset_map_array().reshape(-1)),
            "cum_freq": model.cum_freq_array().reshape(-1),
        }
        self._struct = _Model(
            model.alphabet,
            model.channels,
            height,
            width,
            len(model.live_channels),
            len(rare),
            *(a.ctypes.data for a in self._arrays.values()),
        )
        self.line_bytes = width * len(model.live_channels)

    def decode(self, body: bytes) -> np.ndarray:
        """Channel-major symbols (N,) uint8 of a body; ProtocolError as the reference decoder raises it."""
        body = bytes(body)
        symbols = np.empty(self.num_symbols, np.uint8)
        line = np.empty(self.line_bytes, np.uint8)
        scratch = np.empty(max(1, len(body)), np.uint8)
        where = ctypes.c_uint32(0)
        result = self._lib.agilenn_context_decode(
            ctypes.byref(self._struct),
            body,
            len(body),
            symbols.ctypes.data,
            line.ctypes.data,
            self.line_bytes,
            scratch.ctypes.data,
            scratch.size,
            ctypes.byref(where),
        )
        if result == 0:
            return symbols
        if result in _REASONS:
            reason, text = _REASONS[result]
            y, x = divmod(where.value, self.width)
            raise ProtocolError(reason, f"{text} (pixel ({y}, {x}))" if result != 3 else text)
        raise RuntimeError(f"agilenn_context_decode: bad arguments (result {result})")

    def encode(self, symbols: np.ndarray, capacity: int | None = None) -> bytes | None:
        """The body of channel-major symbols (N,), or None if it needs more than `capacity` bytes."""
        flat = np.ascontiguousarray(np.asarray(symbols, np.uint8).reshape(-1))
        if flat.size != self.num_symbols:
            raise ValueError(f"expected {self.num_symbols} symbols, got {flat.size}")
        cap = 2 * self.num_symbols + 16 if capacity is None else capacity
        out = np.empty(max(1, cap), np.uint8)
        line = np.empty(self.line_bytes, np.uint8)
        length = ctypes.c_size_t(0)
        status = self._lib.agilenn_context_encode(
            ctypes.byref(self._struct), flat.ctypes.data, line.ctypes.data, self.line_bytes, out.ctypes.data, cap,
            ctypes.byref(length),
        )  # fmt: skip
        if status == 3:
            return None
        if status != 0:
            raise ValueError(f"agilenn_context_encode failed with status {status} (a symbol >= K?)")
        return out[: length.value].tobytes()
