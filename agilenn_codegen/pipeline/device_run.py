"""`agilenn device`: test images through the generated C pipeline (host build) and the real server.

The host runner (templates/device_main.c.j2) sends its frames over UDP, waits for the reply with a
timeout and falls back to the local head. This module prepares its images, runs it, and compares
every frame it sent with the Python reference pipeline, and its predictions with the Python int8
pipeline's.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.pipeline.exported import ExportedModel, load_exported
from agilenn_codegen.pipeline.reference import ReferencePipeline, argmax_first, combine
from agilenn_codegen.targets import build_program, load_target


@dataclass(frozen=True)
class LibraryInfo:
    folder: Path
    name: str
    manifest: dict
    exported: ExportedModel
    table: np.ndarray

    @property
    def num_classes(self) -> int:
        return self.exported.num_classes

    @property
    def auth(self) -> bool:
        """Whether the library tags its requests (codegen --auth) and needs a provisioned key."""
        return bool(self.manifest["agilenn"].get("auth", False))


@dataclass(frozen=True)
class DeviceIdentity:
    """What a runner provisions into an authenticated library: its device id and key (from a key file)."""

    device_id: int
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class RunSettings:
    """How a run's requests are framed: the deadline (the timeout), the first sequence number, the identity."""

    timeout_ms: int
    first_seq: int = 1
    identity: DeviceIdentity | None = None

    @property
    def device_id(self) -> int:
        return self.identity.device_id if self.identity else 0

    @property
    def key(self) -> bytes | None:
        return self.identity.key if self.identity else None


def check_identity(lib: LibraryInfo, identity: DeviceIdentity | None) -> None:
    """An authenticated library needs an identity, and only it takes one (UserError naming the fix)."""
    if lib.auth and identity is None:
        raise UserError(
            f"{lib.folder}: the library authenticates its requests (codegen --auth); give the device its key with "
            "--keys KEYS.json --device-id N"
        )
    if identity is not None and not lib.auth:
        raise UserError(f"{lib.folder}: --keys/--device-id: the library was generated without --auth")


def default_first_seq(lib: LibraryInfo) -> int:
    """1, or for an authenticated library the time in milliseconds (mod 2^32), so that a later run of the same
    device id never repeats an earlier run's sequence numbers (the server would refuse them as replays)."""
    if not lib.auth:
        return 1
    return max(1, (time.time_ns() // 1_000_000) & 0xFFFFFFFF)


def load_library(folder: Path) -> LibraryInfo:
    """A folder written by `agilenn codegen <export folder>`; a UserError names what is missing or wrong.

    The paths its manifest names must lie inside it (as agilenn.json's must lie in an export folder)."""
    from agilenn_codegen.server.model import confined_file, require_key

    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise UserError(
            f"{folder}: no manifest.json; generate it with `agilenn codegen <export folder> --out {folder}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(
            f"{manifest_path}: not valid JSON ({exc}); regenerate the library with `agilenn codegen`"
        ) from None
    if not isinstance(manifest, dict):
        raise UserError(f"{manifest_path}: expected a JSON object at the top level")
    info = manifest.get("agilenn")
    if not info:
        raise UserError(f"{folder}: not an AgileNN device library (codegen was given an .onnx file, not an export)")
    name = require_key(manifest, manifest_path, "library")
    if not isinstance(name, str) or not name.isidentifier() or not (folder / f"{name}_agilenn.c").is_file():
        raise UserError(f"{manifest_path}: 'library' is {name!r}, which names no generated library in {folder}")
    device = confined_file(manifest, manifest_path, "agilenn.int8_device_model")
    remote = confined_file(manifest, manifest_path, "agilenn.remote_model")
    exported = load_exported(folder, device=device, remote=remote)
    table = require_key(manifest, manifest_path, "agilenn.symbol_table")
    if (
        not isinstance(table, list)
        or len(table) != 256
        or not all(isinstance(v, int) and 0 <= v < exported.alphabet for v in table)
    ):
        raise UserError(f"{manifest_path}: 'agilenn.symbol_table' must be 256 centroid indices")
    for key, ok in (("lzw_bits", lambda v: v == 0 or 9 <= v <= 16), ("max_fragment", lambda v: 1 <= v <= 0xFFFF)):
        value = require_key(manifest, manifest_path, f"agilenn.{key}")
        if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
            raise UserError(f"{manifest_path}: 'agilenn.{key}' has the invalid value {value!r}")
    return LibraryInfo(folder, name, manifest, exported, np.asarray(table, np.uint8))


def library_build_inputs(lib: LibraryInfo) -> tuple[list[Path], list[Path]]:
    """The generated library's C sources (network, pipeline, runtime without ports) and include folders.

    `<name>_agilenn_infer.c` and the transport ports are left out: a program adds the port it links
    (and `_infer` only if it calls it)."""
    runtime = lib.folder / "runtime"
    sources = [lib.folder / f"{lib.name}.c", lib.folder / f"{lib.name}_agilenn.c"]
    sources += sorted(p for p in runtime.rglob("*.c") if "port" not in p.relative_to(runtime).parts)
    includes = [lib.folder, *sorted({p.parent for p in runtime.rglob("*.h")})]
    return sources, includes


def build_host_runner(lib: LibraryInfo, *, sanitize: bool = False) -> Path:
    sources, includes = library_build_inputs(lib)
    sources += [lib.folder / "runtime" / "port" / "agilenn_port_udp.c", lib.folder / "host_runner" / "device_main.c"]
    return build_program(
        load_target("host"),
        sources,
        includes,
        lib.folder / "host_runner" / "build",
        sanitize=sanitize,
        output_name="device_runner",
    )


def probe_server(
    lib: LibraryInfo, server: tuple[str, int], timeout_ms: int, identity: DeviceIdentity | None = None
) -> None:
    """Send one request (all symbols 0) and wait for a valid reply; a UserError when none comes.

    `agilenn device` runs this before its images, so that a missing or wrong server is reported
    at once instead of as a run in which every answer silently came from the local head."""
    from agilenn_codegen.offload import encode_payload
    from agilenn_codegen.offload_client import OffloadClient

    info = lib.manifest["agilenn"]
    wait_ms = max(timeout_ms, 1000)
    payload = encode_payload(np.zeros(lib.exported.feature_size, np.uint8), lib.exported.alphabet, 0)
    where = f"{server[0]}:{server[1]}"
    ignored: dict[str, int] = {}
    try:
        with OffloadClient(
            server,
            lib.exported.model_id,
            wait_ms / 1000,
            max_fragment=int(info["max_fragment"]),
            num_classes=lib.num_classes,
            device_id=identity.device_id if identity else 0,
            key=identity.key if identity else None,
        ) as client:
            try:
                probe_seq = (default_first_seq(lib) - 1) & 0xFFFFFFFF if identity else 0
                if client.infer(probe_seq, payload) is not None or client.stats.busy:
                    return
            finally:
                ignored = dict(client.stats.ignored)
    except ConnectionRefusedError:  # ICMP port unreachable on loopback, reported by a later send
        ignored["unreachable"] = ignored.get("unreachable", 0) + 1
    except OSError as exc:
        raise UserError(f"--server {where}: cannot send to it ({exc.strerror or exc})") from None
    if ignored.get("wrong_model"):
        why = "a server answered, but for another model"
    elif identity is not None and not ignored:
        why = "no reply at all (a server without --auth-keys, or without this device's key, answers nothing)"
    elif ignored.get("unreachable"):
        why = "nothing listens on that port"
    elif ignored:
        why = "only invalid replies came (" + ", ".join(f"{k} x{v}" for k, v in sorted(ignored.items())) + ")"
    else:
        why = "no reply at all (nothing answers, or a server that authenticates devices refuses untagged requests)"
    raise UserError(
        f"no AgileNN server answered at {where} within {wait_ms} ms: {why} (probe request for model id "
        f"0x{lib.exported.model_id:08x}, from {lib.folder})",
        hint=f"start the server for this model first: agilenn serve {info.get('export_folder', '<export folder>')} "
        f"--port {server[1]}",
    )


@dataclass
class DeviceResults:
    predicted: np.ndarray
    used_remote: np.ndarray
    payload_bytes: np.ndarray
    fragments: np.ndarray
    bytes_sent: np.ndarray
    device_ms: np.ndarray
    wait_ms: np.ndarray
    logits: np.ndarray
    rejected: np.ndarray  # replies the C refused while waiting for this image's answer
    busy: np.ndarray  # valid busy replies it took (then it answered locally at once)
    frames: list[list[bytes]] = field(default_factory=list)
    settings: RunSettings | None = None


def read_records(path: Path, count: int, classes: int) -> DeviceResults:
    """The per-image records a runner writes (host runner and firmware share the format)."""
    record = struct.Struct(f"<iiIIIff{classes}fII")
    raw = path.read_bytes()
    if len(raw) != record.size * count:
        raise ToolError(f"{path.name}: {len(raw)} bytes of results, expected {record.size * count}")
    table = np.asarray([record.unpack_from(raw, i * record.size) for i in range(count)], np.float64)
    table = table.reshape(count, 9 + classes)
    ints = table[:, :5].astype(np.int64)
    return DeviceResults(
        predicted=ints[:, 0],
        used_remote=ints[:, 1],
        payload_bytes=ints[:, 2],
        fragments=ints[:, 3],
        bytes_sent=ints[:, 4],
        device_ms=table[:, 5].astype(np.float32),
        wait_ms=table[:, 6].astype(np.float32),
        logits=np.frombuffer(
            b"".join(raw[i * record.size + 28 : (i + 1) * record.size - 8] for i in range(count)), np.float32
        ).reshape(count, classes),
        rejected=table[:, -2].astype(np.int64),
        busy=table[:, -1].astype(np.int64),
    )


def _read_results(folder: Path, count: int, classes: int) -> DeviceResults:
    res = read_records(folder / "results.bin", count, classes)
    frames_raw = (folder / "frames.bin").read_bytes()
    offset, per_image = 0, []
    for n_frag in res.fragments:
        image_frames = []
        for _ in range(int(n_frag)):
            (length,) = struct.unpack_from("<I", frames_raw, offset)
            image_frames.append(frames_raw[offset + 4 : offset + 4 + length])
            offset += 4 + length
        per_image.append(image_frames)
    res.frames = per_image
    return res


@dataclass(frozen=True)
class DeviceReport:
    count: int
    accuracy_final: float
    accuracy_local: float
    accuracy_remote: float
    accuracy_python_int8: float
    answered_remote: int
    predictions_equal_python: int
    logits_equal_python: int
    frames_equal_reference: int
    bytes_mean: float
    bytes_p95: float
    raw_bytes: int
    float_bytes: int
    device_ms_mean: float
    wait_ms_mean: float
    wait_ms_p95: float
    coder: str
    lzw_bits: int
    rejected_replies: int  # replies the generated C refused (malformed, forged, stale, non-finite logits)
    busy_replies: int = 0  # valid busy replies (the server was overloaded; answered locally at once)
    authenticated: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)


def run_device(
    lib: LibraryInfo,
    images: np.ndarray,
    labels: np.ndarray,
    server: tuple[str, int],
    *,
    timeout_ms: int = 500,
    sanitize: bool = False,
    identity: DeviceIdentity | None = None,
    first_seq: int | None = None,
) -> tuple[DeviceReport, DeviceResults]:
    """Run `images` through the host build of the library against `server`; with `identity` (an authenticated
    library) the runner provisions that device id and key. Sequence numbers start at `first_seq`
    (default: :func:`default_first_seq`)."""
    check_identity(lib, identity)
    settings = RunSettings(timeout_ms, default_first_seq(lib) if first_seq is None else first_seq, identity)
    if tuple(images.shape[1:]) != tuple(lib.exported.input_shape):
        raise UserError(
            f"the test images have shape {list(images.shape[1:])} but {lib.name} takes "
            f"{list(lib.exported.input_shape)} (C, H, W); use the data set the model was trained on"
        )
    exe = build_host_runner(lib, sanitize=sanitize)
    work = lib.folder / "host_runner" / "run"
    work.mkdir(parents=True, exist_ok=True)
    count = images.shape[0]
    with (work / "images.bin").open("wb") as f:
        f.write(struct.pack("<II", count, int(np.prod(lib.exported.input_shape))))
        f.write(np.ascontiguousarray(images, np.float32).tobytes())
    key_file = work / "key.bin"
    key_file.unlink(missing_ok=True)
    if identity is not None:  # the runner reads it at start; removed again after the run
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<I", identity.device_id) + identity.key)
    limit = 60 + count * (timeout_ms / 1000 + 0.5)
    try:
        result = subprocess.run(
            [str(exe), server[0], str(server[1]), str(timeout_ms), str(settings.first_seq)],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"the device runner did not finish within {limit:.0f} s") from None
    finally:
        key_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ToolError(
            f"the device runner failed (exit {result.returncode}): {(result.stdout + result.stderr)[-2000:]}"
        )
    res = _read_results(work, count, lib.num_classes)
    res.settings = settings
    return compare_results(lib, images, labels, res), res


def reference_pipeline(lib: LibraryInfo) -> ReferencePipeline:
    """The Python reference of a generated library: its device model, symbol table, coder and fragments."""
    info = lib.manifest["agilenn"]
    return ReferencePipeline(
        lib.exported,
        lib.exported.device_onnx,
        lib.table,
        info["lzw_bits"],
        info["max_fragment"],
        coder=info.get("coder", "lzw"),
    )


def compare_results(lib: LibraryInfo, images: np.ndarray, labels: np.ndarray, res: DeviceResults) -> DeviceReport:
    """The device's frames and predictions against the Python reference pipeline, image by image."""
    count = images.shape[0]
    info = lib.manifest["agilenn"]
    reference = reference_pipeline(lib)
    settings = res.settings or RunSettings(0)
    from agilenn_codegen.reference import ort_session

    remote = ort_session(lib.exported.remote_onnx)
    remote_input = remote.get_inputs()[0].name
    frames_equal = predictions_equal = logits_equal = correct_local = correct_remote = correct_python = 0
    for i in range(count):
        step = reference.device(images[i])
        seq = (settings.first_seq + i) & 0xFFFFFFFF
        expected_frames = reference.frames(
            seq,
            step.payload,
            deadline_ms=min(settings.timeout_ms, 0xFFFF),
            device_id=settings.device_id,
            key=settings.key,
        )
        frames_equal += int(expected_frames == res.frames[i])
        remote_logits = remote.run(None, {remote_input: reference.remote_input(step.symbols)})[0].reshape(-1)
        combined = combine(step.local_logits, remote_logits, lib.exported.alpha)
        python_final = argmax_first(combined)
        expected_logits = combined if res.used_remote[i] else step.local_logits
        logits_equal += int(expected_logits.tobytes() == res.logits[i].tobytes())
        correct_python += int(python_final == labels[i])
        correct_local += int(argmax_first(step.local_logits) == labels[i])
        correct_remote += int(argmax_first(remote_logits) == labels[i])
        expected = python_final if res.used_remote[i] else argmax_first(step.local_logits)
        predictions_equal += int(expected == res.predicted[i])
    symbols = lib.exported.feature_size
    return DeviceReport(
        count=count,
        accuracy_final=float(np.mean(res.predicted == labels)),
        accuracy_local=correct_local / count,
        accuracy_remote=correct_remote / count,
        accuracy_python_int8=correct_python / count,
        answered_remote=int(res.used_remote.sum()),
        predictions_equal_python=predictions_equal,
        logits_equal_python=logits_equal,
        frames_equal_reference=frames_equal,
        bytes_mean=float(res.bytes_sent.mean()),
        bytes_p95=float(np.percentile(res.bytes_sent, 95)),
        raw_bytes=7 + (symbols * lib.exported.bits_per_index + 7) // 8,
        float_bytes=4 * symbols,
        device_ms_mean=float(res.device_ms.mean()),
        wait_ms_mean=float(res.wait_ms.mean()),
        wait_ms_p95=float(np.percentile(res.wait_ms, 95)),
        coder=str(info.get("coder", "lzw")),
        lzw_bits=int(info["lzw_bits"]),
        rejected_replies=int(res.rejected.sum()),
        busy_replies=int(res.busy.sum()),
        authenticated=settings.identity is not None,
    )
