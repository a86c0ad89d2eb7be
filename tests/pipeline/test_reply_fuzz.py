"""Replies fuzzed into the generated device C (`<name>_finish`), built with ASan/UBSan on the host.

Every reply gets the decision of the Python reference (:func:`check_reply`): accepted replies must give
the combined logits bit for bit, busy replies must return AGILENN_ERR_BUSY and add one to
`<name>_busy_replies()`, refused ones must leave the outputs untouched, return AGILENN_ERR_BAD_REPLY and add
one to `<name>_rejected_replies()`. The cases cover non-finite logits (NaN, signalling NaN, +-inf, in every
position, with a valid CRC), every header field rewritten with a valid CRC (and with a valid tag, for the
authenticated library), tags of another key or another request, stripped or random tags, wrong class
counts, malformed busy payloads, bit flips, truncations, extensions and random bytes
(:func:`~agilenn_codegen.offload.forgery.forged_replies`). The library is generated twice: plain and with
--auth (a provisioned key). Forging relays in front of the real server then check that `agilenn device`'s
runner agrees end to end.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import pytest

from agilenn_codegen.offload import KIND_BUSY, KIND_REPLY, ProtocolError, decode_frame, encode_frames, encode_reply
from agilenn_codegen.offload.forgery import forged_replies, reframe
from agilenn_codegen.pipeline.device_run import (
    DeviceIdentity,
    LibraryInfo,
    library_build_inputs,
    reference_pipeline,
    run_device,
)
from agilenn_codegen.pipeline.reference import argmax_first, check_reply, combine
from agilenn_codegen.server.thread import ServerThread
from agilenn_codegen.targets import build_program, load_target, run_program

ERR_BAD_REPLY, ERR_BUSY = 4, 5
SENTINEL = np.float32(-12345.5)
NON_FINITE_BITS = (0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF, 0x7F800000, 0xFF800000)
DEVICE = 3  # the id the authenticated library is provisioned with

DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "{name}_agilenn.h"
/* cases.bin: u32 count, then per case: u32 begin (1: run _begin on the next image and write fragment 0 first),
   i32 length (negative: passed as is with a NULL reply), then the reply's bytes, copied into a buffer of exactly
   that size so that ASan sees any read past the end. key.bin (authenticated library): u32 id, 16-byte key.
   out.bin per case: i32 status, i32 predicted, u32 rejected_replies(), u32 busy_replies(), u32 sequence(),
   f32 logits[N], f32 local logits[N] */
static float image[{NAME}_IMAGE_SIZE];
static uint8_t frame[{NAME}_FRAME_MAX_BYTES];
int main(void)
{{
    FILE *images = fopen("images.bin", "rb"), *cases = fopen("cases.bin", "rb"), *out = fopen("out.bin", "wb");
    uint32_t count, floats, n, i;
    if (images == NULL || cases == NULL || out == NULL || fread(&count, 4, 1, images) != 1 ||
        fread(&floats, 4, 1, images) != 1 || floats != {NAME}_IMAGE_SIZE || fread(&n, 4, 1, cases) != 1) {{
        return 3;
    }}
#if {NAME}_AUTH
    {{
        FILE *key_file = fopen("key.bin", "rb");
        uint32_t id = 0;
        uint8_t key[16];
        if (key_file == NULL || fread(&id, 4, 1, key_file) != 1 || fread(key, 1, 16, key_file) != 16 ||
            {name}_provision(id, key) != AGILENN_OK) return 8;
        fclose(key_file);
    }}
#endif
    for (i = 0; i < n; i++) {{
        uint32_t begin, rejected, busy, seq;
        int32_t length, predicted = -1, status, k;
        float logits[{NAME}_NUM_CLASSES], local[{NAME}_NUM_CLASSES];
        uint8_t *reply = NULL;
        if (fread(&begin, 4, 1, cases) != 1 || fread(&length, 4, 1, cases) != 1) return 4;
        if (begin && (fread(image, sizeof image, 1, images) != 1 || {name}_begin(image) != AGILENN_OK ||
                      {name}_fragment(0, frame, (int32_t)sizeof frame) < 0)) return 5;
        if (length > 0) {{
            reply = (uint8_t *)malloc((size_t)length);
            if (reply == NULL || fread(reply, 1, (size_t)length, cases) != (size_t)length) return 6;
        }}
        for (k = 0; k < {NAME}_NUM_CLASSES; k++) logits[k] = {sentinel}f;
        status = (int32_t){name}_finish(reply, length, &predicted, logits);
        free(reply);
        rejected = {name}_rejected_replies();
        busy = {name}_busy_replies();
        seq = {name}_sequence();
        (void){name}_local_only(local);
        fwrite(&status, 4, 1, out);
        fwrite(&predicted, 4, 1, out);
        fwrite(&rejected, 4, 1, out);
        fwrite(&busy, 4, 1, out);
        fwrite(&seq, 4, 1, out);
        fwrite(logits, sizeof logits, 1, out);
        fwrite(local, sizeof local, 1, out);
    }}
    fclose(images);
    fclose(cases);
    return fclose(out) == 0 ? 0 : 7;
}}
"""


def _reply_frame(model: int, seq: int, payload: bytes, device: int = 0, key: bytes | None = None,
                 request_tag: bytes | None = None) -> bytes:  # fmt: skip
    tag = {"key": key, "request_tag": request_tag} if key is not None else {}
    (frame,) = encode_frames(KIND_REPLY, model, seq, payload, 0xFFFF, device_id=device, **tag)
    return frame


def _with_bits(logits: np.ndarray, index: int, bits: int) -> bytes:
    raw = bytearray(encode_reply(logits))
    raw[2 + 4 * index : 6 + 4 * index] = struct.pack("<I", bits)
    return bytes(raw)


def _cases_for(
    rng: np.random.Generator, model: int, seq: int, classes: int, device: int, key: bytes | None, tag: bytes
) -> Iterator[bytes | None]:
    """Replies for one request (sequence `seq`): mostly hostile, some valid, the last one valid."""
    logits = (rng.standard_normal(classes) * 8).astype(np.float32)
    valid = _reply_frame(model, seq, encode_reply(logits), device, key, tag)
    yield valid
    f32 = np.finfo(np.float32)
    for extreme in (f32.max, -f32.max, f32.smallest_subnormal, -0.0):
        yield _reply_frame(model, seq, encode_reply(np.full(classes, extreme, np.float32)), device, key, tag)
    for index in range(classes):  # non-finite logits, in every position, with a valid CRC (and tag)
        for bits in NON_FINITE_BITS:
            yield _reply_frame(model, seq, _with_bits(logits, index, bits), device, key, tag)
    all_nan = np.full(classes, np.nan, np.float32)
    yield _reply_frame(model, seq, struct.pack("<H", classes) + all_nan.astype("<f4").tobytes(), device, key, tag)
    yield from forged_replies(rng, model, seq, device, key, tag, classes=classes)
    yield None  # a NULL reply
    yield _reply_frame(model, seq - 1, encode_reply(logits), device, key, tag)  # a late answer to the previous one
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


def _driver(lib: LibraryInfo, folder: Path) -> Path:
    source = folder / "reply_driver.c"
    source.write_text(DRIVER.format(name=lib.name, NAME=lib.name.upper(), sentinel=repr(float(SENTINEL))))
    sources, includes = library_build_inputs(lib)
    target = load_target("host")
    return build_program(target, [*sources, source], includes, folder / "build", sanitize=True, output_name="driver")


@pytest.fixture(scope="module", params=["plain", "auth"])
def reply_driver(request, tmp_path_factory, device_keys) -> tuple[LibraryInfo, Path, np.ndarray, bytes | None]:
    lib, images, _ = request.getfixturevalue("host_library" if request.param == "plain" else "auth_library")
    key = device_keys[DEVICE] if request.param == "auth" else None
    return lib, _driver(lib, tmp_path_factory.mktemp("reply_driver")), images, key


def _request_tags(lib: LibraryInfo, images: np.ndarray, key: bytes | None) -> list[bytes]:
    """The tag of each request's fragment 0 (sequence i + 1), as the device computes it: the reference's frames."""
    if key is None:
        return [bytes(8)] * len(images)
    reference = reference_pipeline(lib)
    tags = []
    for seq, image in enumerate(images, start=1):
        frames = reference.frames(seq, reference.device(image).payload, device_id=DEVICE, key=key)
        tags.append(frames[0][-8:])
    return tags


def _run(exe: Path, work: Path, images: np.ndarray, per_image: list, key: bytes | None) -> tuple[list, bytes]:
    (work / "images.bin").write_bytes(
        struct.pack("<II", len(images), images[0].size) + np.ascontiguousarray(images, np.float32).tobytes()
    )
    if key is not None:
        (work / "key.bin").write_bytes(struct.pack("<I", DEVICE) + key)
    flat = _write_cases(work / "cases.bin", per_image)
    result = run_program(load_target("host"), exe, work, timeout_s=300)
    assert result.returncode == 0, result.stdout + result.stderr  # ASan/UBSan abort on any error
    return flat, (work / "out.bin").read_bytes()


def test_fuzzed_replies_are_decided_as_the_reference_decides(reply_driver, tmp_path):
    lib, exe, images, key = reply_driver
    classes, model = lib.num_classes, lib.exported.model_id
    device = DEVICE if key is not None else 0
    rng = np.random.default_rng(11)
    tags = _request_tags(lib, images, key)
    per_image = [
        list(_cases_for(rng, model, seq, classes, device, key, tags[seq - 1])) for seq in range(1, len(images) + 1)
    ]
    flat, data = _run(exe, tmp_path, images, per_image, key)
    record = struct.Struct(f"<iiIII{classes}f{classes}f")
    assert len(data) == record.size * len(flat)

    rejected = accepted = busy = 0
    reasons: dict[str, int] = {}
    for n, (image, reply) in enumerate(flat):
        status, predicted, counter, busy_counter, seq, *floats = record.unpack_from(data, n * record.size)
        logits = np.asarray(floats[:classes], np.float32)
        local = np.asarray(floats[classes:], np.float32)
        assert seq == image + 1
        try:
            if reply is None:
                raise ProtocolError("null", "no reply")
            answer = check_reply(reply, model, seq, classes, device_id=device, key=key, request_tag=tags[image])
        except ProtocolError as exc:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            rejected += 1
            assert status == ERR_BAD_REPLY, (n, exc.reason, reply)
            assert predicted == -1 and np.all(logits == SENTINEL), "a refused reply must leave the outputs untouched"
        else:
            if answer.busy:
                busy += 1
                assert status == ERR_BUSY, (n, reply)
                assert predicted == -1 and np.all(logits == SENTINEL), "a busy reply leaves the outputs untouched"
            else:
                accepted += 1
                assert status == 0, (n, reply)
                expected = combine(local, answer.logits, lib.exported.alpha)
                assert logits.tobytes() == expected.tobytes()
                assert predicted == argmax_first(expected)
        assert counter == rejected, "rejected_replies() counts every refusal and nothing else"
        assert busy_counter == busy, "busy_replies() counts every valid busy reply and nothing else"
    assert reasons["non_finite"] >= len(images) * classes * len(NON_FINITE_BITS)
    assert {"crc", "stale", "wrong_model", "wrong_kind", "bad_version", "wrong_classes", "truncated"} <= set(reasons)
    assert {"wrong_device", "bad_busy", "bad_header", "bad_flags", "old_version"} <= set(reasons)
    if key is not None:
        assert reasons["bad_tag"] >= 6 * len(images) and reasons["tag_missing"] >= len(images)
    else:
        assert reasons["unexpected_tag"] >= len(images)
    assert accepted >= len(images) * 6  # valid and extreme-but-finite replies were taken
    assert busy == len(images)  # the one valid busy reply per request


def test_a_nan_in_logit_0_does_not_decide_the_class(reply_driver, tmp_path):
    """The reported attack: NaN in logit 0 made every comparison false, so class 0 won."""
    lib, exe, images, key = reply_driver
    classes, model = lib.num_classes, lib.exported.model_id
    device = DEVICE if key is not None else 0
    tag = _request_tags(lib, images[:1], key)[0]
    forged = _reply_frame(model, 1, _with_bits(np.zeros(classes, np.float32), 0, 0x7FC00000), device, key, tag)
    _, data = _run(exe, tmp_path, images[:1], [[forged]], key)
    status, predicted, counter, busy, _ = struct.unpack_from("<iiIII", data)
    assert (status, predicted, counter, busy) == (ERR_BAD_REPLY, -1, 1, 0)
    with pytest.raises(ProtocolError, match="NaN"):
        check_reply(forged, model, 1, classes, device_id=device, key=key, request_tag=tag)


def test_without_a_provisioned_key_the_device_sends_nothing_and_answers_locally(auth_library, exported_folder):
    lib, images, labels = auth_library
    with pytest.raises(Exception, match="--keys"):
        run_device(lib, images, labels, ("127.0.0.1", 9), timeout_ms=30)


class ForgingRelay:
    """Between the device and the real server: for each reply, first a copy with a NaN logit (valid CRC), with a
    key also a busy reply under the old tag and a reply tagged for another request, then, for even sequence
    numbers only, the genuine reply."""

    def __init__(self, upstream: tuple[str, int], key: bytes | None = None) -> None:
        self.key = key  # the device's key: forge tags with it (for the wrong request) as an insider would
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
        payload[2:6] = struct.pack("<I", 0x7FC00000)  # NaN in logit 0 (the old tag, if any, no longer matches)
        self.front.sendto(reframe(reply, body=bytes(payload)), self.device)
        self.forged += 1
        if self.key is not None:  # an authenticated device: also a busy reply and a reply under another key
            self.front.sendto(reframe(reply, kind=KIND_BUSY, frag_len=3, total=3, body=b"\x01\x00\x00"), self.device)
            self.front.sendto(reframe(reply, key=self.key, request_tag=bytes(8)), self.device)
            self.forged += 2
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


@pytest.mark.parametrize("auth", [False, True], ids=["plain", "auth"])
def test_device_runner_refuses_forged_replies_and_agrees_with_python(auth, request, exported_folder, device_keys):
    lib, images, labels = request.getfixturevalue("auth_library" if auth else "host_library")
    key = device_keys[DEVICE] if auth else None
    identity = DeviceIdentity(DEVICE, key) if key is not None else None
    keys = device_keys if auth else None
    with ServerThread(exported_folder[0], keys=keys) as server, ForgingRelay(server.address, key) as relay:
        report, results = run_device(
            lib, images, labels, relay.address, timeout_ms=300, sanitize=True, identity=identity, first_seq=1
        )
    count = len(images)
    per_reply = 3 if auth else 1
    seqs = np.arange(1, count + 1)
    assert relay.forged == per_reply * count
    assert results.used_remote.tolist() == (seqs % 2 == 0).astype(int).tolist()  # genuine replies only
    assert results.rejected.tolist() == [per_reply] * count  # every forged reply refused
    assert report.rejected_replies == per_reply * count and report.busy_replies == 0
    assert report.predictions_equal_python == count
    assert report.logits_equal_python == count  # combined with the genuine reply, or the local answer
    assert report.frames_equal_reference == count
