"""Replies fuzzed into the generated device C (`<name>_finish`), built with ASan/UBSan on the host.

Every reply gets the decision of the Python reference (:func:`check_reply`): accepted replies must give
the combined logits bit for bit, refused ones must leave the outputs untouched, return
AGILENN_ERR_BAD_REPLY and add one to `<name>_rejected_replies()`. The cases cover non-finite logits
(NaN, signalling NaN, +-inf, in every position, with a valid CRC), every header field rewritten with a
valid CRC, wrong class counts, bit flips, truncations, extensions and random bytes. A forging relay in
front of the real server then checks that `agilenn device`'s runner agrees end to end.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import pytest

from agilenn_codegen.offload import KIND_REPLY, ProtocolError, decode_frame, encode_frames, encode_reply
from agilenn_codegen.pipeline.device_run import LibraryInfo, library_build_inputs, run_device
from agilenn_codegen.pipeline.reference import argmax_first, check_reply, combine
from agilenn_codegen.server.thread import ServerThread
from agilenn_codegen.targets import build_program, load_target, run_program

ERR_BAD_REPLY = 4
SENTINEL = np.float32(-12345.5)
HEADER = struct.Struct("<4sBBHHIIHI")
NON_FINITE_BITS = (0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF, 0x7F800000, 0xFF800000)

DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "{name}_agilenn.h"
/* cases.bin: u32 count, then per case: u32 begin (1: run _begin on the next image first), i32 length
   (negative: passed as is with a NULL reply), then the reply's bytes, copied into a buffer of exactly that
   size so that ASan sees any read past the end.
   out.bin per case: i32 status, i32 predicted, u32 rejected_replies(), u32 sequence(), f32 logits[N],
   f32 local logits[N] */
static float image[{NAME}_IMAGE_SIZE];
int main(void)
{{
    FILE *images = fopen("images.bin", "rb"), *cases = fopen("cases.bin", "rb"), *out = fopen("out.bin", "wb");
    uint32_t count, floats, n, i;
    if (images == NULL || cases == NULL || out == NULL || fread(&count, 4, 1, images) != 1 ||
        fread(&floats, 4, 1, images) != 1 || floats != {NAME}_IMAGE_SIZE || fread(&n, 4, 1, cases) != 1) {{
        return 3;
    }}
    for (i = 0; i < n; i++) {{
        uint32_t begin, rejected, seq;
        int32_t length, predicted = -1, status, k;
        float logits[{NAME}_NUM_CLASSES], local[{NAME}_NUM_CLASSES];
        uint8_t *reply = NULL;
        if (fread(&begin, 4, 1, cases) != 1 || fread(&length, 4, 1, cases) != 1) return 4;
        if (begin && (fread(image, sizeof image, 1, images) != 1 || {name}_begin(image) != AGILENN_OK)) return 5;
        if (length > 0) {{
            reply = (uint8_t *)malloc((size_t)length);
            if (reply == NULL || fread(reply, 1, (size_t)length, cases) != (size_t)length) return 6;
        }}
        for (k = 0; k < {NAME}_NUM_CLASSES; k++) logits[k] = {sentinel}f;
        status = (int32_t){name}_finish(reply, length, &predicted, logits);
        free(reply);
        rejected = {name}_rejected_replies();
        seq = {name}_sequence();
        (void){name}_local_only(local);
        fwrite(&status, 4, 1, out);
        fwrite(&predicted, 4, 1, out);
        fwrite(&rejected, 4, 1, out);
        fwrite(&seq, 4, 1, out);
        fwrite(logits, sizeof logits, 1, out);
        fwrite(local, sizeof local, 1, out);
    }}
    fclose(images);
    fclose(cases);
    return fclose(out) == 0 ? 0 : 7;
}}
"""


def _reframe(frame: bytes, **fields: int | bytes) -> bytes:
    """Rewrite header fields of a frame and fix its CRC (a well-formed lie)."""
    names = ("magic", "version", "kind", "index", "count", "model", "seq", "frag_len", "total")
    values = dict(zip(names, HEADER.unpack_from(frame), strict=True))
    values.update(fields)
    header = HEADER.pack(*(values[n] for n in names))
    body = frame[28:]
    return header + struct.pack("<I", zlib.crc32(body, zlib.crc32(header))) + body


def _reply_frame(model: int, seq: int, payload: bytes) -> bytes:
    (frame,) = encode_frames(KIND_REPLY, model, seq, payload, 0xFFFF)
    return frame


def _with_bits(logits: np.ndarray, index: int, bits: int) -> bytes:
    raw = bytearray(encode_reply(logits))
    raw[2 + 4 * index : 6 + 4 * index] = struct.pack("<I", bits)
    return bytes(raw)


def _cases_for(rng: np.random.Generator, model: int, seq: int, classes: int) -> Iterator[bytes | None]:
    """Replies for one request (sequence `seq`): mostly hostile, some valid, the last one valid."""
    logits = (rng.standard_normal(classes) * 8).astype(np.float32)
    valid = _reply_frame(model, seq, encode_reply(logits))
    yield valid
    f32 = np.finfo(np.float32)
    for extreme in (f32.max, -f32.max, f32.smallest_subnormal, -0.0):
        yield _reply_frame(model, seq, encode_reply(np.full(classes, extreme, np.float32)))
    for index in range(classes):  # non-finite logits, in every position, with a valid CRC
        for bits in NON_FINITE_BITS:
            yield _reply_frame(model, seq, _with_bits(logits, index, bits))
    all_nan = np.full(classes, np.nan, np.float32)
    yield _reply_frame(model, seq, struct.pack("<H", classes) + all_nan.astype("<f4").tobytes())
    for fields in (
        {"version": 0},
        {"version": 2},
        {"version": 255},
        {"kind": 1},
        {"kind": 0},
        {"kind": 3},
        {"index": 1},
        {"count": 0},
        {"count": 2},
        {"index": 1, "count": 2},
        {"model": model ^ 1},
        {"model": 0},
        {"seq": seq - 1},
        {"seq": seq + 1},
        {"seq": 0},
        {"frag_len": 2 + 4 * classes - 1},
        {"frag_len": 2 + 4 * classes + 1},
        {"total": 2 + 4 * classes + 1},
        {"total": 2 + 4 * classes - 1},
        {"magic": b"AGNM"},
    ):
        yield _reframe(valid, **fields)
    for count in (0, classes - 1, classes + 1, 0xFFFF):  # a consistent frame with the wrong number of logits
        values = rng.standard_normal(min(count, 64)).astype(np.float32)
        payload = struct.pack("<H", count) + values.astype("<f4").tobytes()
        yield _reply_frame(model, seq, payload)
    for _ in range(40):  # bit flips (the CRC no longer matches, unless the flips cancel out)
        raw = bytearray(valid)
        for bit in rng.choice(len(raw) * 8, size=int(rng.integers(1, 4)), replace=False):
            raw[bit // 8] ^= 1 << (bit % 8)
        yield bytes(raw)
    for length in sorted({0, 1, 27, 28, 29, len(valid) - 1, *rng.integers(0, len(valid), 8).tolist()}):
        yield valid[:length]
    yield valid + b"\0"
    yield valid + rng.bytes(int(rng.integers(1, 64)))
    for _ in range(20):
        yield rng.bytes(int(rng.integers(0, 200)))
        yield b"AGNN\x01\x02" + rng.bytes(int(rng.integers(0, 100)))
    yield None  # a NULL reply
    yield _reply_frame(model, seq - 1, encode_reply(logits))  # a late answer to the previous request
    yield valid


def _write_cases(path: Path, per_image: list[list[bytes | None]]) -> list[tuple[int, bytes | None]]:
    flat = [(i, reply) for i, replies in enumerate(per_image) for reply in replies]
    chunks = [struct.pack("<I", len(flat))]
    previous = -1
    for image, reply in flat:
        begin = int(image != previous)
        previous = image
        if reply is None:
            chunks.append(struct.pack("<Ii", begin, 0))
        else:
            chunks.append(struct.pack("<Ii", begin, len(reply)) + reply)
    path.write_bytes(b"".join(chunks))
    return flat


@pytest.fixture(scope="module")
def reply_driver(host_library, tmp_path_factory) -> tuple[LibraryInfo, Path, np.ndarray]:
    lib, images, _ = host_library
    folder = tmp_path_factory.mktemp("reply_driver")
    source = folder / "reply_driver.c"
    source.write_text(DRIVER.format(name=lib.name, NAME=lib.name.upper(), sentinel=repr(float(SENTINEL))))
    sources, includes = library_build_inputs(lib)
    exe = build_program(
        load_target("host"), [*sources, source], includes, folder / "build", sanitize=True, output_name="driver"
    )
    return lib, exe, images


def test_fuzzed_replies_are_decided_as_the_reference_decides(reply_driver, tmp_path):
    lib, exe, images = reply_driver
    classes, model = lib.num_classes, lib.exported.model_id
    rng = np.random.default_rng(11)
    per_image = [list(_cases_for(rng, model, seq, classes)) for seq in range(1, len(images) + 1)]
    (tmp_path / "images.bin").write_bytes(
        struct.pack("<II", len(images), images[0].size) + np.ascontiguousarray(images, np.float32).tobytes()
    )
    flat = _write_cases(tmp_path / "cases.bin", per_image)
    result = run_program(load_target("host"), exe, tmp_path, timeout_s=300)
    assert result.returncode == 0, result.stdout + result.stderr  # ASan/UBSan abort on any error
    record = struct.Struct(f"<iiII{classes}f{classes}f")
    data = (tmp_path / "out.bin").read_bytes()
    assert len(data) == record.size * len(flat)

    rejected = accepted = 0
    reasons: dict[str, int] = {}
    for n, (image, reply) in enumerate(flat):
        status, predicted, counter, seq, *floats = record.unpack_from(data, n * record.size)
        logits = np.asarray(floats[:classes], np.float32)
        local = np.asarray(floats[classes:], np.float32)
        assert seq == image + 1
        try:
            if reply is None:
                raise ProtocolError("null", "no reply")
            remote = check_reply(reply, model, seq, classes)
        except ProtocolError as exc:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            rejected += 1
            assert status == ERR_BAD_REPLY, (n, exc.reason, reply)
            assert predicted == -1 and np.all(logits == SENTINEL), "a refused reply must leave the outputs untouched"
        else:
            accepted += 1
            assert status == 0, (n, reply)
            expected = combine(local, remote, lib.exported.alpha)
            assert logits.tobytes() == expected.tobytes()
            assert predicted == argmax_first(expected)
        assert counter == rejected, "rejected_replies() counts every refusal and nothing else"
    assert reasons["non_finite"] >= len(images) * classes * len(NON_FINITE_BITS)
    assert {"crc", "stale", "wrong_model", "wrong_kind", "bad_version", "wrong_classes", "truncated"} <= set(reasons)
    assert accepted >= len(images) * 6  # valid and extreme-but-finite replies were taken


def test_a_nan_in_logit_0_does_not_decide_the_class(reply_driver, tmp_path):
    """The reported attack: NaN in logit 0 made every comparison false, so class 0 won."""
    lib, exe, images = reply_driver
    classes, model = lib.num_classes, lib.exported.model_id
    logits = np.zeros(classes, np.float32)
    forged = _reply_frame(model, 1, _with_bits(logits, 0, 0x7FC00000))
    (tmp_path / "images.bin").write_bytes(struct.pack("<II", 1, images[0].size) + images[0].tobytes())
    _write_cases(tmp_path / "cases.bin", [[forged]])
    result = run_program(load_target("host"), exe, tmp_path, timeout_s=60)
    assert result.returncode == 0, result.stdout + result.stderr
    status, predicted, counter, _ = struct.unpack_from("<iiII", (tmp_path / "out.bin").read_bytes())
    assert (status, predicted, counter) == (ERR_BAD_REPLY, -1, 1)
    with pytest.raises(ProtocolError, match="NaN"):
        check_reply(forged, model, 1, classes)


class ForgingRelay:
    """Between the device and the real server: for each reply, first a copy with a NaN logit (valid CRC), then,
    for even sequence numbers only, the genuine reply."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect(upstream)
        self.device: tuple[str, int] | None = None
        self.forged = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.front.getsockname()[:2]
        return str(host), int(port)

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.front, selectors.EVENT_READ)
            selector.register(self.back, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    if key.fileobj is self.front:
                        data, self.device = self.front.recvfrom(65536)
                        self.back.send(data)
                    elif self.device is not None:
                        self._answer(self.back.recv(65536))

    def _answer(self, reply: bytes) -> None:
        assert self.device is not None
        frame = decode_frame(reply, max_fragment=0xFFFF)
        payload = bytearray(frame.payload)
        payload[2:6] = struct.pack("<I", 0x7FC00000)  # NaN in logit 0
        self.front.sendto(_reply_frame(frame.model_id, frame.seq, bytes(payload)), self.device)
        self.forged += 1
        if frame.seq % 2 == 0:
            self.front.sendto(reply, self.device)

    def __enter__(self) -> ForgingRelay:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.front.close()
        self.back.close()


def test_device_runner_refuses_forged_nan_replies_and_agrees_with_python(host_library, exported_folder):
    lib, images, labels = host_library
    with ServerThread(exported_folder[0]) as server, ForgingRelay(server.address) as relay:
        report, results = run_device(lib, images, labels, relay.address, timeout_ms=300, sanitize=True)
    count = len(images)
    seqs = np.arange(1, count + 1)
    assert relay.forged == count
    assert results.used_remote.tolist() == (seqs % 2 == 0).astype(int).tolist()  # genuine replies only
    assert results.rejected.tolist() == [1] * count  # one forged reply refused per image
    assert report.rejected_replies == count
    assert report.predictions_equal_python == count
    assert report.logits_equal_python == count  # combined with the genuine reply, or the local answer
    assert report.frames_equal_reference == count
