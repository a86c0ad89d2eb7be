"""The context coder (payload encoding 2): tables, fitting, the reference encoder/decoder, the C decoder the
server uses, and the payload header around them (docs/offload-protocol.md, section 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agilenn_codegen.offload import (
    ContextCodec,
    ContextCounts,
    ContextModel,
    ProtocolError,
    context_decode,
    context_encode,
    decode_payload,
    encode_payload,
    fit_context_model,
)
from agilenn_codegen.offload import context_coder as coder
from agilenn_codegen.offload.context_model import PRECISION, count_contexts, quantize_frequencies
from agilenn_codegen.offload.native import NativeContextCoder, native_status
from tests.offload.context_cases import random_model, random_symbols

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REASONS = {"context_symbol", "context_escape", "context_noncanonical"}


def corpus(seed: int, count: int) -> list[tuple[ContextModel, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        model = random_model(rng)
        h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
        out.append((model, random_symbols(rng, model, h, w, escapes=float(rng.choice([0.0, 0.1, 0.6])))))
    return out


def native(model: ContextModel, symbols: np.ndarray) -> NativeContextCoder:
    return NativeContextCoder(model, symbols.shape[1], symbols.shape[2])


def sparse_maps(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 4, 6, 6) maps with K = 5: channels 0 and 2 sparse blobs, 1 and 3 always 0."""
    maps = np.zeros((count, 4, 6, 6), np.uint8)
    blobs = rng.random((count, 2, 6, 6)) < 0.15
    maps[:, [0, 2]] = np.where(blobs, rng.integers(1, 5, (count, 2, 6, 6)), 0)
    return maps


@pytest.fixture(scope="module")
def tiny() -> tuple[ContextModel, np.ndarray]:
    """Tables fitted on sparse 4x6x6 maps (K=5, channels 1 and 3 rare) and one more such map."""
    rng = np.random.default_rng(7)
    model = fit_context_model(count_contexts(sparse_maps(rng, 50), 5))
    assert model.rare_channels == (1, 3)
    return model, sparse_maps(rng, 1)[0]


def outcome(decode, body: bytes) -> object:
    """The decoded symbols (channel-major bytes) or the rejection reason; nothing else may escape."""
    try:
        return np.asarray(decode(body)).reshape(-1).tobytes()
    except ProtocolError as exc:
        assert exc.reason in REASONS, exc.reason
        return exc.reason


# ---------------------------------------------------------------- tables


def test_native_decoder_is_built():
    status = native_status()
    assert status.available, status.reason


@given(p=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=16).filter(lambda v: sum(v) > 0))
def test_quantized_rows_have_a_floor_and_the_exact_total(p):
    freq = quantize_frequencies(np.asarray(p), PRECISION)
    assert len(freq) == len(p) and min(freq) >= 1 and sum(freq) == 1 << PRECISION


def test_fitting_finds_live_channels_and_follows_the_contexts():
    rng = np.random.default_rng(0)
    maps = np.zeros((20, 3, 8, 8), np.uint8)
    maps[:, 0] = rng.integers(0, 3, (20, 8, 8))
    maps[:, 2, :, 1:] = 1  # channel 2: 1 everywhere except column 0
    counts = count_contexts(maps, 3)
    model = fit_context_model(counts, fitted={"images": 20})
    assert model.live_channels == (0, 2) and model.rare_channels == (1,)
    freq = model.freq_array()
    border, k1 = model.alphabet, model.alphabet + 1

    def row(j: int, nz: int, left: int, up: int) -> np.ndarray:  # nz: the previous live channel is non-zero
        return freq[model.context_map[j][(left * k1 + up) * 2 + nz]]

    # channel 2 (j = 1): with a non-zero left neighbour the 1 is nearly certain; in column 0 the 0 is
    assert row(1, 1, 1, 1)[1] > 0.99 * (1 << PRECISION) and row(1, 0, 1, 1)[1] > 0.99 * (1 << PRECISION)
    assert row(1, 0, border, 0)[0] > 0.9 * (1 << PRECISION)  # column 0 below a 0
    assert freq.min() >= 1 and set(freq.sum(axis=1)) == {1 << PRECISION}
    # unseen contexts of a live channel use the channel's own distribution; the first live channel never sees nz = 1
    assert model.context_map[1][0] == model.context_map[1][(2 * k1 + 2) * 2]
    assert len(set(model.context_map[0][1::2])) == 1
    assert fit_context_model(counts, fitted={"images": 20}).to_json() == model.to_json()  # deterministic
    with pytest.raises(ValueError, match="rare"):  # a map with a non-zero symbol in a channel counted as rare
        bad = ContextCounts(3, 3, [0, 2])
        bad.add(np.ones((1, 3, 2, 2), np.uint8))
        fit_context_model(bad)


def test_tables_round_trip_through_json():
    model = random_model(np.random.default_rng(1))
    entry = json.loads(json.dumps(model.to_json()))
    assert ContextModel.from_json(entry) == model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update(format="other"), "format"),
        (lambda e: e.update(precision_bits=14), "precision_bits"),
        (lambda e: e.update(alphabet=1), "alphabet"),
        (lambda e: e.update(alphabet="5"), "alphabet"),
        (lambda e: e.update(live_channels=[]), "live_channels"),
        (lambda e: e.update(live_channels=[3, 1]), "live_channels"),
        (lambda e: e["rows"][0].__setitem__(0, e["rows"][0][0] + 1), "sum"),
        (lambda e: e["rows"][0].__setitem__(0, 0), "row 0"),
        (lambda e: e["context_map"][0].__setitem__(0, 999), "row ids"),
        (lambda e: e["context_map"].append([0]), "context_map"),
        (lambda e: e.update(rows="x"), "rows"),
    ],
)
def test_bad_tables_are_refused_with_a_reason(change, message):
    model = random_model(np.random.default_rng(2), alphabet=4, channels=4, rare=True)
    entry = json.loads(json.dumps(model.to_json()))
    change(entry)
    with pytest.raises(ValueError, match=message):
        ContextModel.from_json(entry)


# ---------------------------------------------------------------- encoder and decoders


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_reference_and_c(seed):
    for model, symbols in corpus(seed, 40):
        body = context_encode(symbols, model)
        assert not body.endswith(b"\x00")
        assert np.array_equal(context_decode(body, model, *symbols.shape[1:]), symbols)
        c = native(model, symbols)
        assert c.encode(symbols.reshape(-1)) == body
        assert np.array_equal(c.decode(body), symbols.reshape(-1))


def test_the_body_is_the_shortest():
    for model, symbols in corpus(10, 60):
        body = context_encode(symbols, model)
        if body:
            shorter = outcome(lambda b, m=model, s=symbols: context_decode(b, m, *s.shape[1:]), body[:-1])
            assert shorter != symbols.reshape(-1).tobytes()


def test_carries_and_pending_bytes_are_exercised(monkeypatch):
    seen = {"carry": 0, "pending": 0}
    original = coder._RangeEncoder._shift_low

    def counting(self: coder._RangeEncoder) -> None:
        seen["carry"] += self.low >> 32
        seen["pending"] += self.pending > 1
        original(self)

    monkeypatch.setattr(coder._RangeEncoder, "_shift_low", counting)
    for model, symbols in corpus(11, 80):
        body = context_encode(symbols, model)
        assert np.array_equal(native(model, symbols).decode(body), symbols.reshape(-1))
    assert seen["carry"] > 10 and seen["pending"] > 10, seen


def test_the_decoders_reject_what_the_encoder_never_writes(tiny):
    model, symbols = tiny
    h, w = symbols.shape[1:]
    body = context_encode(symbols, model)
    c = native(model, symbols)
    for decode in (lambda b: context_decode(b, model, h, w), c.decode):
        assert outcome(decode, b"\xff\xff\xff\xff") == "context_symbol"  # above every interval
        assert outcome(decode, body + b"\x00") == "context_noncanonical"  # trailing zero
        assert outcome(decode, body + b"\x01") == "context_noncanonical"  # trailing byte
        assert outcome(decode, body) == symbols.reshape(-1).tobytes()


def _escape_with_zero_rare_symbols(model: ContextModel, h: int, w: int) -> bytes:
    """A body whose first pixel says 'escape' but then codes every rare symbol as 0."""
    enc = coder._RangeEncoder()
    cum, freq, cmap = model.cum_array(), model.freq_array(), model.map_array()
    k = model.alphabet
    for y in range(h):
        for x in range(w):
            enc.encode_escape(y == 0 and x == 0)
            if y == 0 and x == 0:
                for _ in model.rare_channels:
                    enc.encode(0, 1, coder.RARE_BITS)
            for j in range(len(model.live_channels)):  # all zero: nz = 0
                row = cmap[j][((0 if x else k) * (k + 1) + (0 if y else k)) * 2]
                enc.encode(int(cum[row][0]), int(freq[row][0]), PRECISION)
    return enc.finish()


def test_an_empty_escape_is_rejected(tiny):
    model, symbols = tiny
    body = _escape_with_zero_rare_symbols(model, 6, 6)
    assert outcome(lambda b: context_decode(b, model, 6, 6), body) == "context_escape"
    assert outcome(native(model, symbols).decode, body) == "context_escape"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=64))
def test_any_bytes_decode_or_are_refused_alike(tiny, data):
    model, symbols = tiny
    reference = outcome(lambda b: context_decode(b, model, 6, 6), data)
    assert outcome(native(model, symbols).decode, data) == reference
    if isinstance(reference, bytes):  # a decodable body is exactly what the encoder writes
        assert context_encode(np.frombuffer(reference, np.uint8).reshape(symbols.shape), model) == data


@FAST
@given(seed=st.integers(0, 2**16), edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3))
def test_edited_bodies_decode_or_are_refused_alike(seed, edits):
    ((model, symbols),) = corpus(seed, 1)
    body = bytearray(context_encode(symbols, model))
    for position, value in edits:
        if body:
            body[position % len(body)] = value
        else:
            body.append(value)
    h, w = symbols.shape[1:]
    reference = outcome(lambda b: context_decode(b, model, h, w), bytes(body))
    assert outcome(native(model, symbols).decode, bytes(body)) == reference


# ---------------------------------------------------------------- payload


def test_payload_header_and_raw_fallback(tiny):
    model, symbols = tiny
    codec = ContextCodec(model, 6, 6)
    flat = symbols.reshape(-1)
    payload = encode_payload(flat, 5, context=codec)
    assert payload[0] == 2 and payload[1:5] == flat.size.to_bytes(4, "little") and payload[5:7] == bytes([5, 15])
    assert payload[7:] == context_encode(symbols, model)
    decoded, k = decode_payload(payload, max_symbols=flat.size, context=codec)
    assert k == 5 and np.array_equal(decoded, flat)
    # noise: the context body is not shorter than raw packing, so raw is sent
    noise = np.random.default_rng(0).integers(0, 5, flat.size).astype(np.uint8)
    noise[[model.rare_channels[0] * 36 + i for i in range(36)]] = 4
    raw = encode_payload(noise, 5, context=codec)
    assert raw[0] == 0 and np.array_equal(decode_payload(raw, max_symbols=flat.size, context=codec)[0], noise)


def test_payload_refusals(tiny):
    model, symbols = tiny
    codec = ContextCodec(model, 6, 6)
    flat = symbols.reshape(-1)
    payload = encode_payload(flat, 5, context=codec)

    def reason(data: bytes, context: ContextCodec | None = codec) -> str:
        with pytest.raises(ProtocolError) as info:
            decode_payload(data, max_symbols=flat.size, context=context)
        return info.value.reason

    assert reason(payload, None) == "bad_encoding"  # a model without tables
    assert reason(payload[:5] + b"\x04" + payload[6:]) == "bad_header"  # K differs from the tables'
    assert reason(payload[:6] + b"\x0e" + payload[7:]) == "bad_header"  # P is 15
    shorter = ContextCodec(model, 6, 5)
    assert reason(payload[:1] + (flat.size - 6).to_bytes(4, "little") + payload[5:], shorter) == "bad_header"
    assert reason(payload[:1] + (flat.size - 1).to_bytes(4, "little") + payload[5:]) == "bad_header"
    assert reason(payload + b"\x00") == "context_noncanonical"
    raw_size = (flat.size * 3 + 7) // 8
    assert reason(payload[:7] + b"\x01" * raw_size) == "context_noncanonical"  # not shorter than raw
    with pytest.raises(ValueError):
        encode_payload(flat, 4, context=codec)


# ---------------------------------------------------------------- the native library


def test_a_missing_compiler_is_named(tmp_path, monkeypatch):
    from agilenn_codegen.offload import native_build

    with pytest.raises(native_build.BuildError, match="cannot run the C compiler"):
        native_build.build(tmp_path / "lib.so", compiler=str(tmp_path / "no-such-cc"))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert native_build.find_compiler() is None
    with pytest.raises(native_build.BuildError, match="no C compiler found"):
        native_build.build(tmp_path / "lib.so")
    assert not (tmp_path / "lib.so").exists()


def test_without_the_library_the_reference_decodes_and_the_server_says_why(tiny, monkeypatch):
    from agilenn_codegen.offload import native
    from agilenn_codegen.server.model import ModelSpec
    from agilenn_codegen.server.run import encodings as _encodings

    missing = native.NativeStatus(None, "no C compiler found (set CC, or install gcc or clang)")
    monkeypatch.setattr(native, "_load", lambda: (None, missing))
    model, symbols = tiny
    codec = ContextCodec(model, 6, 6)
    assert not codec.uses_native
    assert np.array_equal(codec.decode(context_encode(symbols, model)), symbols.reshape(-1))
    spec = ModelSpec(1, 2, 4, 6, 6, np.arange(5, dtype=np.float32), 0.5, coder=model)
    assert "pure-Python reference decoder" in _encodings(spec) and "no C compiler" in _encodings(spec)


def test_the_library_name_follows_its_sources():
    from agilenn_codegen.offload import native_build

    files = native_build.source_files()
    assert {p.name for p in files} >= {"agilenn_context_decode.c", "agilenn_context_encode.c", "agilenn_offload.h"}
    assert native_status().library is not None and native_status().library.name == native_build.library_name(files)


def test_generated_tables_take_the_flash_table_bytes_says(tmp_path):
    """templates/context_tables.c.j2 compiled: its arrays' sizes add up to ContextModel.table_bytes()."""
    from agilenn_codegen.compiler.codegen import environment
    from agilenn_codegen.paths import RUNTIME_C_DIR
    from agilenn_codegen.pipeline.coder_tables import context_tables_c
    from agilenn_codegen.targets import build_program, load_target, run_program

    model = random_model(np.random.default_rng(5), alphabet=5, channels=6, rare=True)
    tables = environment().from_string(
        '{% from "context_tables.c.j2" import context_model %}{{ context_model("t", c) }}'
    )
    arrays = ["t_live", "t_border", "t_context_map", "t_cum_freq"] + (["t_rare"] if model.rare_channels else [])
    (tmp_path / "agilenn_config.h").write_text("#define AGILENN_NO_FPU 0\n#define AGILENN_USE_DSP 0\n")
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "agilenn_offload.h"\n'
        + tables.render(c=context_tables_c(model, 7, 9))
        + 'int main(void)\n{\n    printf("%lu %u\\n", (unsigned long)('
        + " + ".join(f"sizeof {a}" for a in arrays)
        + "), (unsigned)t_context_model.height);\n    return 0;\n}\n"
    )
    target = load_target("host")
    elf = build_program(
        target, [tmp_path / "main.c"], [tmp_path, RUNTIME_C_DIR / "offload", RUNTIME_C_DIR / "common"], tmp_path / "b"
    )
    result = run_program(target, elf, tmp_path)
    assert result.returncode == 0 and result.stdout.split() == [str(model.table_bytes()), "7"]
