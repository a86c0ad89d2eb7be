"""The device encoder (runtime_c/offload/) produces the same bytes as the Python reference: payloads
(context-coded, LZW or raw), frames (with device ids, deadlines and SipHash-2-4 tags, written and sealed in
place), raw packing, LZW bodies with bounded output, context-coded bodies (whole buffer and pixel by pixel,
bounded output, misuse), CRC-32, SipHash-2-4 (its published test vectors, in one piece and in two), and
the device's check of reply and busy frames (valid, forged, damaged) decides as the reference's
``read_reply``. Built with ASan/UBSan on the host, and run on emulated Cortex-M7 (stm32f746) and Cortex-M3
(lpc1768) cores."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_protocol_payload import relu6_features, stream_cases

from agilenn_codegen.offload import (
    KIND_BUSY,
    KIND_REQUEST,
    ContextCodec,
    ContextModel,
    ProtocolError,
    context_encode,
    encode_frames,
    encode_payload,
    fit_context_model,
    lzw_encode,
    pack_indices,
    raw_bits,
    read_reply,
    siphash24_reference,
)
from agilenn_codegen.offload.context_model import count_contexts
from agilenn_codegen.offload.forgery import forged_replies
from agilenn_codegen.targets import build_program, load_target, run_program
from tests.offload.context_cases import model_blob, random_model, random_symbols
from tests.offload.test_siphash import PUBLISHED_VECTORS, VECTOR_KEY

REPO = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((REPO / "runtime_c" / "offload").glob("*.c")), REPO / "tests" / "offload" / "c" / "offload_driver.c"]
OK, ERR_ARGUMENT, ERR_NO_SPACE, ERR_BAD_REPLY = 0, 1, 3, 4
CASE = struct.Struct("<BBHIIIIHH")
OPTIONS = struct.Struct("<IHBB16s8s")  # device id, deadline ms, has key, 0, key, request tag


@dataclass
class Case:
    op: int  # 0 payload + frames, 1 LZW body, 2 raw packing, 3 CRC, 4..6 context (payload, body, pixels),
    # 7 SipHash-2-4 of the bytes, 8 the device's check of a reply datagram (the bytes)
    symbols: np.ndarray
    k: int = 1
    w: int = 0  # W (0: raw only), or b for op 2
    cap: int = 0
    model: int = 0
    seq: int = 0  # op 6: the number of pixels pushed
    max_fragment: int = 1444
    context: ContextModel | None = None  # ops 4..6, with `shape`
    shape: tuple[int, int] = (0, 0)
    device_id: int = 0  # frame options (ops 0, 7, 8)
    deadline_ms: int = 0
    key: bytes | None = None
    request_tag: bytes = bytes(8)

    def encode(self) -> bytes:
        data = np.asarray(self.symbols, dtype=np.uint8).tobytes()
        blob = b"" if self.context is None else model_blob(self.context, *self.shape)
        model = len(blob) if self.context is not None else self.model
        options = bool(self.device_id or self.deadline_ms or self.key is not None or self.op in (7, 8))
        head = CASE.pack(self.op, self.w, self.k, len(data), self.cap, model, self.seq, self.max_fragment, int(options))
        extra = b""
        if options:
            key = self.key if self.key is not None else bytes(16)
            extra = OPTIONS.pack(self.device_id, self.deadline_ms, int(self.key is not None), 0, key, self.request_tag)
        return head + data + extra + blob


def build(tmp_path: Path, target_name: str) -> tuple[object, Path]:
    target = load_target(target_name)
    include = tmp_path / "include"
    include.mkdir(parents=True, exist_ok=True)
    no_fpu = 0 if target.is_host or target.fpu else 1
    (include / "agilenn_config.h").write_text(f"#define AGILENN_NO_FPU {no_fpu}\n#define AGILENN_USE_DSP 0\n")
    elf = build_program(
        target,
        SOURCES,
        [include, REPO / "runtime_c" / "common", REPO / "runtime_c" / "offload"],
        tmp_path / "build",
        sanitize=target.is_host,
        extra_cflags=["-pedantic"],
        output_name="offload_driver",
    )
    return target, elf


def run_cases(target: object, elf: Path, work: Path, cases: list[Case], timeout_s: float) -> bytes:
    work.mkdir(parents=True, exist_ok=True)
    (work / "cases.bin").write_bytes(b"".join(case.encode() for case in cases))
    result = run_program(target, elf, cwd=work, timeout_s=timeout_s)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return (work / "out.bin").read_bytes()


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u32(self) -> int:
        (value,) = struct.unpack_from("<I", self.data, self.pos)
        self.pos += 4
        return value

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        assert len(chunk) == n
        self.pos += n
        return chunk


def check(cases: list[Case], out: bytes) -> dict[str, int]:
    """Compare every result with the Python reference; return counts by outcome."""
    reader = Reader(out)
    counts = {"payload_lzw": 0, "payload_raw": 0, "no_space": 0, "argument": 0, "frames": 0, "other": 0}
    counts |= {"context_payload": 0, "context_body": 0, "tagged_frames": 0, "siphash": 0}
    counts |= {"reply_taken": 0, "busy_taken": 0, "reply_refused": 0}
    for number, case in enumerate(cases):
        where = f"case {number}: op {case.op} K={case.k} W={case.w} N={len(case.symbols)} cap={case.cap}"
        if case.op == 7:
            data = case.symbols.tobytes()
            assert case.key is not None
            expected = siphash24_reference(case.key, data)
            assert struct.unpack("<QQ", reader.take(16)) == (expected, expected), where
            counts["siphash"] += 1
            continue
        if case.op == 8:
            counts[check_reply_case(case, reader, where)] += 1
            continue
        if case.op == 3:
            split = min(case.cap, len(case.symbols))
            assert reader.u32() == zlib.crc32(case.symbols.tobytes()), where
            assert split <= len(case.symbols)
            counts["other"] += 1
            continue
        status, length = reader.u32(), reader.u32()
        body = reader.take(length)
        assert reader.u32() == 1, f"{where}: wrote past its capacity"
        if case.op >= 4:
            assert reader.u32() == 1, f"{where}: wrote past its line buffer"
            counts[check_context(case, status, body, where)] += 1
            continue
        valid = len(case.symbols) == 0 or int(case.symbols.max()) < (case.k if case.op < 2 else 1 << case.w)
        if case.op == 0:
            frames = []
            for _ in range(reader.u32()):
                frames.append(reader.take(reader.u32()))
                assert reader.u32() == 1, f"{where}: agilenn_frame_seal wrote other bytes than agilenn_frame_write"
            if not valid:
                assert status == ERR_ARGUMENT and not frames, where
                counts["argument"] += 1
                continue
            expected = encode_payload(case.symbols, case.k, case.w)
            capacity = case.cap or 7 + (len(case.symbols) * raw_bits(case.k) + 7) // 8
            if capacity < len(expected):
                assert status == ERR_NO_SPACE and not frames, where
                counts["no_space"] += 1
                continue
            assert status == OK and body == expected, where
            reference = encode_frames(
                KIND_REQUEST,
                case.model,
                case.seq,
                expected,
                case.max_fragment,
                device_id=case.device_id,
                deadline_ms=case.deadline_ms,
                key=case.key,
            )
            assert frames == reference, where
            counts["payload_lzw" if expected[0] == 1 else "payload_raw"] += 1
            counts["frames"] += len(frames)
            counts["tagged_frames"] += len(frames) if case.key is not None else 0
            continue
        if not valid:
            assert status == ERR_ARGUMENT, where
            counts["argument"] += 1
            continue
        expected = lzw_encode(case.symbols, case.k, case.w) if case.op == 1 else pack_indices(case.symbols, case.w)
        if case.cap < len(expected):
            assert status == ERR_NO_SPACE, where
            counts["no_space"] += 1
        else:
            assert status == OK and body == expected, where
            counts["other"] += 1
    assert reader.pos == len(out)
    return counts


def check_reply_case(case: Case, reader: Reader, where: str) -> str:
    """One op-8 case: agilenn_frame_read_reply decides as the reference's read_reply, and points at its payload."""
    status, kind, offset, length = reader.u32(), reader.u32(), reader.u32(), reader.u32()
    datagram = case.symbols.tobytes()
    try:
        frame = read_reply(
            datagram,
            model_id=case.model,
            seq=case.seq,
            device_id=case.device_id,
            key=case.key,
            request_tag=case.request_tag,
        )
    except ProtocolError as exc:
        assert status == ERR_BAD_REPLY, (where, exc.reason)
        return "reply_refused"
    assert status == OK and kind == frame.kind, where
    assert datagram[offset : offset + length] == frame.payload and offset == 36, where
    return "busy_taken" if frame.kind == KIND_BUSY else "reply_taken"


def reply_corpus(rng: np.random.Generator, count: int) -> list[Case]:
    """Reply and busy frames for a device, with and without a key: valid ones, every header field rewritten
    (with a valid CRC and, with a key, a valid tag: the field checks alone must refuse it), wrong tags,
    a wrong request tag, bit flips, truncations and extensions, random bytes."""
    cases = []
    for number in range(count):
        keyed = number % 2 == 1
        key = rng.bytes(16) if keyed else None
        request_tag = rng.bytes(8)
        device = int(rng.integers(1, 1 << 32)) if keyed else int(rng.choice([0, 0, 7]))
        model, seq = (int(v) for v in rng.integers(0, 1 << 32, 2, dtype=np.uint64))
        common = {"model": model, "seq": seq, "device_id": device, "key": key, "request_tag": request_tag}
        for datagram in forged_replies(rng, model, seq, device, key, request_tag, classes=int(rng.integers(1, 12))):
            cases.append(Case(8, np.frombuffer(datagram, np.uint8), **common))
    return cases


def siphash_corpus(rng: np.random.Generator) -> list[Case]:
    """The published test vectors (key 00..0f, messages 00, 00 01, ... of 0..63 bytes), then random keys and
    messages, each also fed in two pieces."""
    cases = [Case(7, np.arange(n, dtype=np.uint8), cap=n // 2, key=VECTOR_KEY) for n in range(len(PUBLISHED_VECTORS))]
    for _ in range(60):
        n = int(rng.integers(0, 300))
        data = rng.integers(0, 256, n).astype(np.uint8)
        cases.append(Case(7, data, cap=int(rng.integers(0, n + 1)), key=rng.bytes(16)))
    return cases


def check_context(case: Case, status: int, body: bytes, where: str) -> str:
    """One context case (ops 4..6) against the reference; returns its outcome's counter key."""
    assert case.context is not None
    model, (h, w) = case.context, case.shape
    valid = int(case.symbols.max()) < model.alphabet
    pixels = h * w
    if case.op == 6 and case.seq != pixels:  # too few or too many pixels pushed
        assert status == ERR_ARGUMENT, where
        return "argument"
    if not valid:
        assert status == ERR_ARGUMENT, where
        return "argument"
    reference = context_encode(case.symbols.reshape(model.channels, h, w), model)
    if case.op == 4:
        expected = encode_payload(case.symbols, model.alphabet, context=ContextCodec(model, h, w, native=False))
        capacity = case.cap or 7 + (len(case.symbols) * raw_bits(model.alphabet) + 7) // 8
        if capacity < len(expected):
            assert status == ERR_NO_SPACE, where
            return "no_space"
        assert status == OK and body == expected, where
        return "context_payload" if expected[0] == 2 else "payload_raw"
    if case.cap < len(reference):
        assert status == ERR_NO_SPACE, where
        return "no_space"
    assert status == OK and body == reference, where
    return "context_body"


def fitted_cases(rng: np.random.Generator) -> list[Case]:
    """Tables fitted on feature-like maps (8 channels, 3 never non-zero), coding 28x28 maps of the same kind:
    long bodies with many renormalisations and carries."""

    def maps(n: int) -> np.ndarray:
        out = np.stack([relu6_features(rng, (8, 28, 28), 0.8, 5).reshape(8, 28, 28) for _ in range(n)])
        out[:, [1, 4, 6]] = 0
        return out

    model = fit_context_model(count_contexts(maps(6), 5))
    assert model.rare_channels == (1, 4, 6)
    cases = []
    for symbols in maps(3):
        flat = symbols.reshape(-1)
        common = {"k": 5, "context": model, "shape": (28, 28)}
        cases += [Case(4, flat, **common), Case(5, flat, cap=len(flat), **common)]
        cases.append(Case(6, flat, cap=len(flat), seq=28 * 28, **common))
    return cases


def context_corpus(rng: np.random.Generator, count: int) -> list[Case]:
    """Random tables and maps; every op; capacities around the needed size; invalid symbols; misuse."""
    cases: list[Case] = fitted_cases(rng)
    for number in range(count):
        model = random_model(rng)
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        escapes = float(rng.choice([0.0, 0.0, 0.05, 0.5]))
        symbols = random_symbols(rng, model, h, w, escapes=escapes).reshape(-1)
        common = {"k": model.alphabet, "context": model, "shape": (h, w)}
        body = len(context_encode(symbols.reshape(model.channels, h, w), model))
        cases.append(Case(4, symbols, **common))
        cases.append(Case(5, symbols, cap=body + int(rng.integers(0, 3)), **common))
        cases.append(Case(6, symbols, cap=body + 40, seq=h * w, **common))
        if number % 3 == 0:
            for cap in sorted({0, max(0, body - 1), body}):
                cases.append(Case(5, symbols, cap=cap, **common))
                cases.append(Case(6, symbols, cap=cap, seq=h * w, **common))
            need = 7 + body
            cases += [Case(4, symbols, cap=c, **common) for c in sorted({1, 7, max(1, need - 1), need})]
        if number % 5 == 0:
            cases.append(Case(6, symbols, cap=body + 40, seq=h * w + 1, **common))  # one pixel too many
            cases.append(Case(6, symbols, cap=body + 40, seq=max(0, h * w - 1), **common))  # end too early
            bad = symbols.copy()
            bad[int(rng.integers(0, bad.size))] = model.alphabet + int(rng.integers(0, 256 - model.alphabet))
            cases += [Case(op, bad, cap=10 * bad.size + 16, seq=h * w, **common) for op in (4, 5, 6)]
    return cases


def corpus(seed: int, *, scale: int, random_streams: int, widths: tuple[int, ...]) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    fragments = (1444, 100, 7, 1)
    streams = stream_cases(rng, scale)
    for _ in range(random_streams):  # random mixtures of runs and noise
        k = int(rng.choice([1, 2, 3, 5, 8, 16, 100, 256]))
        runs = rng.integers(1, int(rng.integers(2, 40)), int(rng.integers(0, 200)))
        stream = np.repeat(rng.integers(0, k, len(runs)), runs).astype(np.uint8)
        streams.append(("mixed", stream, k))
    for number, (_, symbols, k) in enumerate(streams):
        for w in widths:
            frag = fragments[(number + w) % len(fragments)]
            if len(symbols) > 4000 and frag == 1:
                frag = 7
            model, seq = (int(v) for v in rng.integers(0, 1 << 32, 2, dtype=np.uint64))
            options: dict = {}
            if number % 3 == 1:  # a device id and a deadline, and every other time a key: tagged frames
                options = {"device_id": int(rng.integers(0, 1 << 32)), "deadline_ms": int(rng.integers(0, 1 << 16))}
                options["key"] = rng.bytes(16) if number % 2 else None
            cases.append(Case(0, symbols, k, w, model=model, seq=seq, max_fragment=frag, **options))
    # bounded output: payload capacities around the needed size, LZW bodies with small capacities
    for _, symbols, k in streams[:: max(1, len(streams) // 12)]:
        need = len(encode_payload(symbols, k, 12))
        for cap in sorted({1, 6, 7, max(1, need - 1), need, need + 1}):
            cases.append(Case(0, symbols, k, 12, cap=cap))
        body = len(lzw_encode(symbols, k, 10))
        for cap in sorted({0, max(0, body - 1), body, body + 5}):
            cases.append(Case(1, symbols, k, 10, cap=cap))
    for bits in range(1, 9):
        symbols = rng.integers(0, 1 << bits, int(rng.integers(0, 300))).astype(np.uint8)
        need = (len(symbols) * bits + 7) // 8
        cases += [Case(2, symbols, w=bits, cap=need), Case(2, symbols, w=bits, cap=max(0, need - 1))]
    # invalid input: a symbol >= K (payload, LZW) or >= 2^b (packing)
    bad = np.array([0, 1, 2, 5, 1], dtype=np.uint8)
    cases += [Case(0, bad, 5, 0), Case(0, bad, 5, 9), Case(0, bad[:4], 3, 16), Case(1, bad, 4, 9, cap=100)]
    cases += [Case(2, bad, w=2, cap=100)]
    for n in (0, 1, 3, 4, 5, 100, 1500):
        cases.append(Case(3, rng.integers(0, 256, n).astype(np.uint8), cap=int(rng.integers(0, n + 1))))
    return cases + context_corpus(rng, 60 * scale) + siphash_corpus(rng) + reply_corpus(rng, 8 * scale)


def test_c_matches_python_on_host_with_sanitizers(tmp_path):
    target, elf = build(tmp_path, "host")
    cases = corpus(1, scale=2, random_streams=120, widths=(0, 9, 12, 16))
    counts = check(cases, run_cases(target, elf, tmp_path / "work", cases, timeout_s=300))
    print(f"\nhost (ASan/UBSan): {len(cases)} cases, {counts}")
    assert counts["payload_lzw"] > 50 and counts["payload_raw"] > 50 and counts["no_space"] > 10
    assert counts["context_payload"] > 20 and counts["context_body"] > 100 and counts["argument"] > 30
    assert counts["tagged_frames"] > 50 and counts["siphash"] >= 124
    assert counts["reply_taken"] >= 8 and counts["busy_taken"] >= 8 and counts["reply_refused"] > 500


@pytest.mark.qemu
@pytest.mark.parametrize("target_name", ["stm32f746", "lpc1768"])
def test_c_matches_python_on_cortex_m(target_name, tmp_path):
    target, elf = build(tmp_path, target_name)
    cases = corpus(2, scale=1, random_streams=30, widths=(9, 16))
    counts = check(cases, run_cases(target, elf, tmp_path / "work", cases, timeout_s=600))
    print(f"\n{target_name}: {len(cases)} cases, {counts}")
    assert counts["payload_lzw"] > 20 and counts["payload_raw"] > 20
    assert counts["context_payload"] > 5 and counts["context_body"] > 50
    assert counts["tagged_frames"] > 10 and counts["siphash"] >= 124 and counts["reply_refused"] > 200
