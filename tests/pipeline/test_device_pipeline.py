"""The AgileNN device pipeline end to end: generated C (host and emulated Cortex-M7) against the Python
reference, with the real server over UDP, a lossy link, and no server at all."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

from agilenn_codegen.cli import main
from agilenn_codegen.lossy_proxy import LossyProxy
from agilenn_codegen.offload import DEFAULT_MAX_FRAGMENT, HEADER_SIZE
from agilenn_codegen.pipeline.device_model import dataset_images
from agilenn_codegen.pipeline.device_run import (
    DeviceIdentity,
    library_build_inputs,
    load_library,
    reference_pipeline,
    run_device,
)
from agilenn_codegen.pipeline.symbols import nearest_centroid, symbol_table, symbol_values
from agilenn_codegen.server import ServerOptions
from agilenn_codegen.server.thread import ServerThread
from agilenn_codegen.targets import build_program, load_target, run_program
from tests.pipeline.conftest import COUNT, generated_library


@pytest.fixture(scope="module")
def lzw_library(exported_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("lib") / "agilenn_lzw"
    return generated_library(exported_folder, "host", out, COUNT, extra=["--coder", "lzw"])


@pytest.mark.parametrize("library", ["host_library", "lzw_library"])
def test_server_round_trip_is_exact(library, exported_folder, request):
    lib, images, labels = request.getfixturevalue(library)
    with ServerThread(exported_folder[0]) as server:
        report, results = run_device(lib, images, labels, server.address, timeout_ms=2000, sanitize=True)
    assert report.coder == ("context" if library == "host_library" else "lzw")
    assert report.answered_remote == COUNT
    assert report.frames_equal_reference == COUNT  # every byte sent equals the Python reference
    assert report.predictions_equal_python == COUNT
    assert report.logits_equal_python == COUNT  # alpha * local + (1 - alpha) * remote, bit for bit
    assert report.accuracy_final == report.accuracy_python_int8
    assert report.bytes_mean < report.raw_bytes  # a coded payload only when shorter than raw packing
    assert set(results.fragments.tolist()) >= {1}
    encodings = {frames[0][HEADER_SIZE] for frames in results.frames}  # the first payload byte of every request
    assert encodings == {2 if library == "host_library" else 1}


def test_authenticated_round_trip_is_exact(auth_library, exported_folder, device_keys):
    lib, images, labels = auth_library
    identity = DeviceIdentity(2, device_keys[2])
    with ServerThread(exported_folder[0], keys=device_keys) as server:
        report, results = run_device(lib, images, labels, server.address, timeout_ms=2000, identity=identity)
        again, _ = run_device(lib, images, labels, server.address, timeout_ms=2000, identity=identity)
    stats = server.stats.snapshot()  # after the server stopped: every counter is in
    assert lib.manifest["agilenn"]["auth"] is True and report.authenticated
    assert report.answered_remote == again.answered_remote == COUNT  # a later run's numbers are new to the window
    assert report.frames_equal_reference == COUNT  # device id, deadline and the tag, byte for byte
    assert report.predictions_equal_python == COUNT and report.logits_equal_python == COUNT
    assert all(len(frame) == HEADER_SIZE + frame[26] + 256 * frame[27] + 8 for f in results.frames for frame in f)
    assert stats["drops"] == {} and stats["replies"] == 2 * COUNT


def test_authenticated_library_and_server_refuse_each_other_s_strangers(auth_library, exported_folder, device_keys):
    """A device with a key the server does not list, and an unauthenticated device, get no answer: the server
    refuses them before any work; the devices answer locally."""
    lib, images, labels = auth_library
    stranger = DeviceIdentity(99, bytes(range(16)))
    impostor = DeviceIdentity(1, device_keys[2])  # device 1's id with device 2's key
    with ServerThread(exported_folder[0], keys=device_keys) as server:
        for identity in (stranger, impostor):
            report, _ = run_device(lib, images[:3], labels[:3], server.address, timeout_ms=100, identity=identity)
            assert report.answered_remote == 0 and report.predictions_equal_python == 3
    stats = server.stats.snapshot()  # after the server stopped: every counter is in
    assert stats["replies"] == 0 and stats["requests"] == 0
    assert stats["drops"] == {"unknown_device": 3, "bad_tag": 3}


def test_busy_server_makes_the_device_answer_locally_at_once(host_library, exported_folder):
    """A server that answers nothing it cannot answer within 1 us (`--max-wait-ms 0.001`): a busy reply comes at
    once, and the device answers with its local head without waiting out its timeout."""
    lib, images, labels = host_library
    options = ServerOptions(max_wait_ms=0.001)
    with ServerThread(exported_folder[0], options=options) as server:
        report, results = run_device(lib, images, labels, server.address, timeout_ms=1000, first_seq=1)
    stats = server.stats.snapshot()  # after the server stopped: every counter is in
    assert report.answered_remote == 0 and report.busy_replies == COUNT and results.busy.tolist() == [1] * COUNT
    assert report.predictions_equal_python == COUNT and report.rejected_replies == 0
    assert float(np.max(results.wait_ms)) < 500  # it did not wait for its 1000 ms timeout
    assert stats["busy"] == COUNT and stats["replies"] == 0


NO_KEY_MAIN = r"""
#include <stdio.h>
#include "{name}_agilenn.h"
#include "agilenn_port.h"
/* a port that counts what the pipeline does with it */
static int sends, receives;
static uint32_t clock_ms;
int32_t agilenn_port_send(const uint8_t *frame, int32_t length) {{ (void)frame; (void)length; sends++; return 0; }}
int32_t agilenn_port_receive(uint8_t *buffer, int32_t capacity, uint32_t timeout_ms)
{{ (void)buffer; (void)capacity; receives++; clock_ms += timeout_ms; return 0; }}
uint32_t agilenn_port_millis(void) {{ return clock_ms; }}
static float image[{NAME}_IMAGE_SIZE];
static uint8_t frame[{NAME}_FRAME_MAX_BYTES];
int main(void)
{{
    int32_t cls = -1, used = -1;
    float logits[{NAME}_NUM_CLASSES];
    const uint8_t key[16] = {{1, 2, 3}};
    if ({name}_begin(image) != AGILENN_OK || {name}_fragment(0, frame, (int32_t)sizeof frame) != -3) return 3;
    if ({name}_infer(image, 500u, &cls, logits, &used) != AGILENN_OK || used != 0) return 4;
    if (cls != {name}_local_only(NULL) || sends != 0 || receives != 0) return 5;  /* nothing sent, no waiting */
    if ({name}_provision(0u, key) != AGILENN_ERR_ARGUMENT) return 6;
    if ({name}_provision(5u, NULL) != AGILENN_ERR_ARGUMENT) return 6;
    if ({name}_provision(5u, key) != AGILENN_OK || {name}_device_id() != 5u) return 7;
    if ({name}_infer(image, 500u, &cls, logits, &used) != AGILENN_OK || used != 0) return 8;
    if (sends != {name}_fragment_count() || receives != 1) return 9;  /* provisioned: it sends, it waits */
    puts("ok");
    return 0;
}}
"""


def test_an_unprovisioned_device_sends_nothing_and_answers_locally(auth_library, tmp_path):
    lib, _, _ = auth_library
    source = tmp_path / "no_key.c"
    source.write_text(NO_KEY_MAIN.format(name=lib.name, NAME=lib.name.upper()))
    sources, includes = library_build_inputs(lib)
    sources += [lib.folder / f"{lib.name}_agilenn_infer.c", source]
    exe = build_program(load_target("host"), sources, includes, tmp_path / "build", sanitize=True)
    result = run_program(load_target("host"), exe, tmp_path, timeout_s=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


def test_no_server_falls_back_to_local(host_library):
    lib, images, labels = host_library
    report, _ = run_device(lib, images, labels, ("127.0.0.1", 9), timeout_ms=30)
    assert report.answered_remote == 0
    assert report.predictions_equal_python == COUNT  # the local head's answers
    assert report.frames_equal_reference == COUNT


@pytest.mark.parametrize("loss", [0.2, 0.5])
def test_lossy_link_always_answers(host_library, exported_folder, loss):
    lib, images, labels = host_library
    with (
        ServerThread(exported_folder[0]) as server,
        LossyProxy(server.address, loss=loss, duplicate=0.1, reorder=0.2, seed=7) as proxy,
    ):
        report, _ = run_device(lib, images, labels, proxy.address, timeout_ms=150)
    assert report.count == COUNT  # every inference answered (remote or local), none hung
    assert report.predictions_equal_python == COUNT
    assert report.logits_equal_python == COUNT
    assert 0 <= report.answered_remote <= COUNT


def test_symbol_table_is_nearest_centroid_with_lower_ties():
    centroids = (0.0, 1.0, 2.0, 4.0)
    values = np.array([0.5, 1.5, 3.0, -1.0, 9.0, 0.49, 0.51], np.float32)
    assert nearest_centroid(values, centroids).tolist() == [0, 1, 2, 0, 3, 0, 1]
    table = symbol_table(6 / 255, -128, centroids)
    dq = (np.arange(-128, 128) + 128).astype(np.float32) * np.float32(6 / 255)
    assert np.array_equal(table, nearest_centroid(dq, centroids))


def test_symbols_index_the_distinct_centroid_values():
    centroids = (0.5, 2.0, 2.0, 2.0, 3.0)  # the trainer's k-means can leave centroids equal
    assert symbol_values(centroids).tolist() == [0.5, 2.0, 3.0]
    values = np.array([0.0, 1.2, 1.3, 2.0, 2.6, 9.0], np.float32)
    assert nearest_centroid(values, centroids).tolist() == [0, 0, 1, 1, 2, 2]
    trainer = np.argmin(np.abs(values[:, None] - np.asarray(centroids, np.float32)), axis=1)  # argmin over all 5
    assert np.array_equal(symbol_values(centroids)[nearest_centroid(values, centroids)], np.float32(centroids)[trainer])


def test_manifest_records_the_pipeline(host_library):
    lib, _, _ = host_library
    info = lib.manifest["agilenn"]
    coder = lib.exported.coder
    assert info["coder"] == "context" and info["lzw_bits"] == 0 and info["buffers"]["lzw_state"] == 0
    assert info["buffers"]["context_line"] == lib.exported.feature_shape[2] * len(coder.live_channels)
    assert info["context_tables_bytes"] == coder.table_bytes()
    assert info["ram_bytes_total"] > lib.manifest["totals"]["arena_bytes"]
    # streamed: the remote features go row by row into the coder; no map, no symbol buffer, no frame buffer
    assert info["streamed"] and info["buffers"]["symbols"] == 0 and info["network_ram_bytes"] < 2048
    assert info["ram_bytes_total"] == info["network_ram_bytes"] + sum(info["buffers"].values())
    assert len(info["symbol_table"]) == 256 and max(info["symbol_table"]) < len(info["symbol_values"])


def test_lzw_library_sizes_its_dictionary(lzw_library):
    info = lzw_library[0].manifest["agilenn"]
    assert info["coder"] == "lzw" and info["lzw_bits"] == 12 and info["buffers"]["lzw_state"] == 5 << 12
    assert info["buffers"]["context_line"] == 0
    # LZW codes channel by channel: the symbols wait in a buffer, though the network itself streams
    assert not info["streamed"] and "LZW" in info["not_streamed_because"]
    assert info["buffers"]["symbols"] == lzw_library[0].exported.feature_size and "stream" in lzw_library[0].manifest


def test_coder_options_are_checked(exported_folder, tmp_path, capsys):
    folder, root = exported_folder
    bare = tmp_path / "no_tables"
    shutil.copytree(folder, bare)
    meta = json.loads((bare / "agilenn.json").read_text())
    del meta["coder"]
    (bare / "agilenn.json").write_text(json.dumps(meta))
    out = str(tmp_path / "out")
    assert main(["codegen", str(bare), "--out", out, "--data-root", str(root)]) == 2
    assert "agilenn fit-coder" in capsys.readouterr().err
    assert main(["codegen", str(folder), "--out", out, "--coder", "zip"]) == 2
    assert main(["codegen", str(folder), "--out", out, "--lzw-bits", "10"]) == 2  # LZW bits without --coder lzw
    assert "--coder lzw" in capsys.readouterr().err


FRAMES_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "{name}_agilenn.h"
static float image[{NAME}_IMAGE_SIZE];
static uint8_t frame[{NAME}_FRAME_MAX_BYTES];
static uint8_t sent[4 * {NAME}_FRAME_MAX_BYTES]; /* what _send sent in place, frame after frame */
static size_t sent_len;
static int32_t keep(const uint8_t *data, int32_t length)
{{
    if (sent_len + (size_t)length > sizeof sent) return -1;
    memcpy(sent + sent_len, data, (size_t)length);
    sent_len += (size_t)length;
    return 0;
}}
int main(void)
{{
    FILE *in = fopen("images.bin", "rb"), *out = fopen("frames.bin", "wb");
    uint32_t count, floats, i;
    if (in == NULL || out == NULL || fread(&count, 4, 1, in) != 1 || fread(&floats, 4, 1, in) != 1) return 3;
    {setup}
    for (i = 0; i < count; i++) {{
        int32_t f, n;
        float logits[{NAME}_NUM_CLASSES];
        int32_t local;
        if (fread(image, sizeof image, 1, in) != 1 || {name}_begin(image) != AGILENN_OK) return 4;
        local = {name}_local_only(logits);
        fwrite(&local, 4, 1, out);
        fwrite(logits, sizeof logits, 1, out);
        n = {name}_fragment_count();
        fwrite(&n, 4, 1, out);
        sent_len = 0;
        if ({name}_send(keep) != n) return 7;
        for (f = 0; f < n; f++) {{
            const int32_t len = {name}_fragment(f, frame, (int32_t)sizeof frame); /* after _send: payload intact */
            if (len < 0) return 5;
            fwrite(&len, 4, 1, out);
            fwrite(frame, 1, (size_t)len, out);
        }}
        {{ const uint32_t total = (uint32_t)sent_len; fwrite(&total, 4, 1, out); }}
        fwrite(sent, 1, sent_len, out);
    }}
    fclose(in);
    return fclose(out) == 0 ? 0 : 6;
}}
"""


FRAMES_KEY = bytes(range(0x40, 0x50))  # the key check_frames provisions into an --auth library, as device 7
FRAMES_DEADLINE_MS = 250


def check_frames(lib, target_name: str, images: np.ndarray, tmp_path) -> list[bytes]:
    """Build FRAMES_MAIN for the target, run it on `images`; every frame (from _fragment, and as _send sent it in
    place) must equal the reference's. Returns the reference payloads."""
    target = load_target(target_name)
    harness = tmp_path / "frames_main.c"
    setup = f"{lib.name}_set_timeout({FRAMES_DEADLINE_MS}u);"
    if lib.auth:
        key = ", ".join(str(b) for b in FRAMES_KEY)
        setup += f" {{ static const uint8_t key[16] = {{{key}}};"
        setup += f" if ({lib.name}_provision(7u, key) != AGILENN_OK) return 8; }}"
    harness.write_text(FRAMES_MAIN.format(name=lib.name, NAME=lib.name.upper(), setup=setup))
    sources, includes = library_build_inputs(lib)
    sources.append(harness)
    elf = build_program(target, sources, includes, tmp_path / "build")
    payloads: list[bytes] = []
    run = tmp_path / "run"
    run.mkdir()
    (run / "images.bin").write_bytes(struct.pack("<II", len(images), images[0].size) + images.tobytes())
    result = run_program(target, elf, run, timeout_s=300)
    assert result.returncode == 0, result.stdout + result.stderr
    reference = reference_pipeline(lib)
    data, offset = (run / "frames.bin").read_bytes(), 0
    classes = lib.exported.num_classes
    for i, image in enumerate(images):
        step = reference.device(image)
        (local,) = struct.unpack_from("<i", data, offset)
        logits = np.frombuffer(data, np.float32, classes, offset + 4)
        offset += 4 + 4 * classes
        assert logits.tobytes() == step.local_logits.tobytes()
        assert local == int(np.argmax(step.local_logits))
        (n,) = struct.unpack_from("<i", data, offset)
        offset += 4
        frames = []
        for _ in range(n):
            (length,) = struct.unpack_from("<i", data, offset)
            frames.append(data[offset + 4 : offset + 4 + length])
            offset += 4 + length
        expected = reference.frames(
            i + 1,
            step.payload,
            deadline_ms=FRAMES_DEADLINE_MS,
            device_id=7 if lib.auth else 0,
            key=FRAMES_KEY if lib.auth else None,
        )
        assert frames == expected, f"image {i}: the frames differ"
        (sent_len,) = struct.unpack_from("<I", data, offset)
        offset += 4
        assert data[offset : offset + sent_len] == b"".join(frames), f"image {i}: _send sent other bytes"
        offset += sent_len
        payloads.append(step.payload)
    assert offset == len(data)
    shutil.rmtree(run)
    return payloads


@pytest.mark.qemu
def test_emulated_cortex_m7_sends_the_reference_bytes(exported_folder, tmp_path):
    folder, root = exported_folder
    out = tmp_path / "m7"
    assert main(["codegen", str(folder), "--target", "stm32f746", "--out", str(out), "--data-root", str(root)]) == 0
    lib = load_library(out)
    assert lib.manifest["agilenn"]["streamed"]
    images, _ = dataset_images(lib.exported, "test", 4, root)
    payloads = check_frames(lib, "stm32f746", images, tmp_path)
    assert {p[0] for p in payloads} == {2}


def hostile_tables(folder, tmp_path):
    """A copy of the export whose context tables give symbol 0 (nearly every symbol) the least probability:
    coding then never beats raw packing, so the device must fall back to raw (running its network again)."""
    from agilenn_codegen.pipeline.coder_tables import dumps_metadata

    copy = tmp_path / "hostile"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "agilenn.json").read_text())
    k = meta["coder"]["alphabet"]
    rest = (1 << 15) - 1
    row = [1] + [rest // (k - 1) + (1 if i < rest % (k - 1) else 0) for i in range(k - 1)]
    coder = meta["coder"]
    channels = coder["channels"]  # every channel live, every context on that one row
    coder["live_channels"] = list(range(channels))
    coder["context_map"] = [[0] * (2 * (k + 1) ** 2) for _ in range(channels)]
    coder["rows"] = [row]
    (copy / "agilenn.json").write_text(dumps_metadata(meta))
    return copy


@pytest.mark.parametrize("case", ["raw coder", "fallback to raw", "raw coder, authenticated"])
def test_streamed_raw_packing_is_exact(case, exported_folder, device_keys, tmp_path):
    """Raw packing from the streamed rows (every symbol at its channel-major bit position), chosen (--coder raw) or
    as the fallback when coding is not shorter; 4 fragments, each frame sealed in place (with --auth its tag goes
    over the next fragment's first bytes, which _send keeps aside and puts back)."""
    folder, root = exported_folder
    source = hostile_tables(folder, tmp_path) if case == "fallback to raw" else folder
    out = tmp_path / "lib"
    extra = ["--coder", "raw"] if case.startswith("raw coder") else []
    extra += ["--auth"] if case.endswith("authenticated") else []
    assert main(["codegen", str(source), "--out", str(out), "--data-root", str(root), *extra]) == 0
    lib = load_library(out)
    assert lib.manifest["agilenn"]["streamed"] and lib.manifest["agilenn"]["buffers"]["symbols"] == 0
    images, labels = dataset_images(lib.exported, "test", 3, root)
    payloads = check_frames(lib, "host", images, tmp_path)
    assert {p[0] for p in payloads} == {0} and all(len(p) > 3 * DEFAULT_MAX_FRAGMENT for p in payloads)
    keys = device_keys if lib.auth else None
    identity = DeviceIdentity(3, device_keys[3]) if lib.auth else None
    with ServerThread(source, keys=keys) as server:
        report, _ = run_device(
            lib, images, labels, server.address, timeout_ms=2000, sanitize=True, identity=identity, first_seq=1
        )
    assert report.answered_remote == report.frames_equal_reference == report.logits_equal_python == 3


def test_wrong_image_size_is_a_clear_error(host_library):
    from agilenn_codegen.errors import UserError

    lib, images, labels = host_library
    with pytest.raises(UserError, match="takes"):
        run_device(lib, images[:, :, :20, :20], labels, ("127.0.0.1", 9), timeout_ms=10)


def test_device_command_on_a_non_pipeline_folder(tmp_path, capsys):
    assert main(["device", str(tmp_path), "--server", "127.0.0.1:9"]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["device", str(tmp_path), "--server", "nonsense"]) == 2


# ---- issue 11: `agilenn device` and `agilenn export` bad input ---------------------------------


def _device_error(capsys, argv: list[str], *fragments: str) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code == 2, captured.out + captured.err
    assert len([line for line in captured.err.splitlines() if line.startswith("error:")]) == 1, captured.err
    for fragment in fragments:
        assert fragment in captured.err, captured.err
    return captured.err


def test_device_command_without_a_server_exits_2(host_library, exported_folder, capsys):
    """It used to exit 0 with every answer from the local head and no word about the missing server."""
    lib, _, _ = host_library
    argv = ["device", str(lib.folder), "--count", "2", "--data-root", str(exported_folder[1])]
    _device_error(capsys, [*argv, "--server", "127.0.0.1:9"], "no AgileNN server answered at 127.0.0.1:9", "serve")


def test_device_command_with_a_server_of_another_model_exits_2(host_library, exported_folder, tmp_path, capsys):
    from tests.offload.fixtures import build_model_dir

    lib, _, _ = host_library
    other = build_model_dir(tmp_path / "other").folder
    argv = ["device", str(lib.folder), "--count", "2", "--data-root", str(exported_folder[1])]
    with ServerThread(other) as server:
        host, port = server.address
        _device_error(capsys, [*argv, "--server", f"{host}:{port}", "--timeout-ms", "200"], "no AgileNN server")


def test_device_command_reports_refused_replies(host_library, exported_folder, capsys):
    lib, _, _ = host_library
    with ServerThread(exported_folder[0]) as server:
        host, port = server.address
        argv = ["device", str(lib.folder), "--count", "3", "--data-root", str(exported_folder[1])]
        assert main([*argv, "--server", f"{host}:{port}", "--timeout-ms", "2000"]) == 0
    out = capsys.readouterr().out
    assert "replies refused by the device" in out and "3/3" in out


def test_device_library_manifest_is_checked(host_library, tmp_path, capsys):
    lib, _, _ = host_library
    copy = tmp_path / "lib"
    shutil.copytree(lib.folder, copy, ignore=shutil.ignore_patterns("build", "run"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["agilenn"]["remote_model"] = "../../remote.onnx"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _device_error(capsys, ["device", str(copy), "--server", "127.0.0.1:9"], "agilenn.remote_model", "inside")
    (copy / "manifest.json").write_text('{"library": ')
    _device_error(capsys, ["device", str(copy), "--server", "127.0.0.1:9"], "not valid JSON")


def test_export_out_policy(exported_folder, tmp_path, capsys):
    folder, _ = exported_folder
    run = folder.parent / "run"
    _device_error(capsys, ["export", str(run), "--out", str(run)], "is the input")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "device.onnx").write_text("not mine to overwrite")
    _device_error(capsys, ["export", str(run), "--out", str(foreign)], "not empty", "--force")
    assert (foreign / "device.onnx").read_text() == "not mine to overwrite"
    again = tmp_path / "again"
    shutil.copytree(folder, again)
    (again / "notes.txt").write_text("mine")
    assert main(["export", str(run), "--out", str(again)]) == 0  # a previous export is replaced in place
    assert (again / "notes.txt").read_text() == "mine"
    assert (again / "agilenn.json").read_bytes() == (folder / "agilenn.json").read_bytes()
    assert main(["export", str(run), "--out", str(foreign), "--force"]) == 0
    assert (foreign / "device.onnx").read_bytes() == (folder / "device.onnx").read_bytes()


def test_inspect_an_export_folder(exported_folder, tmp_path, capsys):
    """`agilenn inspect FOLDER`: the library's RAM buffer by buffer, streamed and with whole maps; nothing written."""
    folder, root = exported_folder
    before = sorted(p.name for p in folder.rglob("*"))
    assert main(["inspect", str(folder), "--data-root", str(root), "--target", "stm32f103", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["streamed"] and info["fits"] and not info["problems"]
    assert info["ram_bytes_total"] == info["network_ram_bytes"] + sum(info["buffers"].values())
    assert info["whole_maps_ram_bytes"] > info["ram_bytes_total"] + info["symbols"]  # arena + symbol buffer
    assert main(["inspect", str(folder), "--data-root", str(root), "--target", "stm32f103"]) == 0
    out = capsys.readouterr().out
    assert "row window of" in out and "with whole" in out and "fits stm32f103" in out
    assert sorted(p.name for p in folder.rglob("*")) == before
