"""Generate the AgileNN device library from an export folder.

The network part goes through the ordinary compiler, with one change made on the IR: the remote
output's DequantizeLinear becomes the symbol table, so the network writes symbols (indices of the
distinct centroid values). When the network streams row by row (compiler/streaming.py; the exported
extractors do), the remote features never exist as a map: `<name>_run_stream` hands each row to the
pipeline's `_code_row`, which maps it to symbols in coding order and feeds the context coder (or raw
packing), so the device keeps no feature map, no symbol buffer and no frame buffer (frames are sent in
place, in front of each fragment). The pipeline (payload coder, framing, alpha combiner, the begin/finish API
and `_infer` over agilenn_port.h) comes from templates/pipeline*.j2; the context coder's tables (from
agilenn.json `coder`) from templates/context_tables.c.j2. A host runner for `agilenn device` is
written beside it.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agilenn_codegen.compiler import compile_model, ir
from agilenn_codegen.compiler.codegen import GeneratedLibrary, TargetLike, banner, environment, generate
from agilenn_codegen.compiler.emit.context import c_float
from agilenn_codegen.compiler.library_name import choose_library_name
from agilenn_codegen.compiler.manifest import check_fit
from agilenn_codegen.compiler.pixels import from_agilenn_meta
from agilenn_codegen.compiler.streaming import NotStreamable, plan_streaming
from agilenn_codegen.errors import UserError
from agilenn_codegen.offload import DEFAULT_MAX_FRAGMENT, HEADER_SIZE, KEY_SIZE, MAC_SIZE, lzw_dictionary_bytes
from agilenn_codegen.offload.packing import raw_bits
from agilenn_codegen.pipeline.coder_tables import context_tables_c
from agilenn_codegen.pipeline.device_model import int8_device_model
from agilenn_codegen.pipeline.exported import ExportedModel
from agilenn_codegen.pipeline.reference import REMOTE_OUTPUT
from agilenn_codegen.pipeline.symbols import attach_symbol_output

STACK_RESERVE = 8 * 1024  # bytes left for the application's stack when sizing the LZW dictionary
LZW_BITS_CHOICES = (12, 11, 10, 9)
CODERS = ("context", "lzw", "raw")  # payload coding: context coder (default), LZW, raw packing only
ENCODER_STATE_BYTES = 64  # agilenn_context_encoder_t on a 32-bit MCU (60 B, rounded up for the 8-byte alignment)


@dataclass(frozen=True)
class PipelineLibrary:
    network: GeneratedLibrary
    graph: ir.Graph  # the compiled device network (remote output = centroid indices)
    why_not_streamed: str  # "" when the pipeline codes the remote features row by row as they come, else why not
    exported: ExportedModel
    int8_model: Path
    table: np.ndarray
    coder: str  # one of CODERS
    lzw_bits: int
    max_fragment: int
    manifest: dict
    runner_source: Path
    auth: bool = False  # requests and replies carry SipHash-2-4 tags (codegen --auth)

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def streamed(self) -> bool:
        """The remote features go row by row into the coder: no feature map, no symbol buffer."""
        return not self.why_not_streamed


def payload_max_bytes(symbols: int, centroids: int) -> int:
    return 7 + (symbols * raw_bits(centroids) + 7) // 8


def stream_reason(graph: ir.Graph, coder: str) -> str:
    """ "" when the pipeline streams the remote features into the coder, else why it keeps a symbol buffer."""
    if coder == "lzw":
        return "LZW codes the symbols channel by channel: they are kept in a buffer (the network itself streams)"
    try:
        plan_streaming(graph, frozenset({REMOTE_OUTPUT}))
    except NotStreamable as exc:
        return f"the network does not stream row by row: {exc}"
    return ""


def check_lzw_bits(requested: int | None) -> int | None:
    """--lzw-bits as given (None: choose by RAM); a UserError unless it is 0 or 9..16."""
    if requested is not None and requested != 0 and not 9 <= requested <= 16:
        raise UserError(f"--lzw-bits {requested}: must be 0 (raw packing only) or 9..16")
    return requested


def pipeline_library_name(exported: ExportedModel, name: str | None) -> str:
    """--name, or agilenn_<data set> (the export folder's name without one), checked against the runtime's names."""
    if exported.dataset:
        return choose_library_name(name, f"agilenn_{exported.dataset}", "from the data set in agilenn.json")
    return choose_library_name(name, exported.folder.resolve().name, "the export folder's name")


def choose_lzw_bits(target: TargetLike, fixed_ram: int, requested: int | None) -> int:
    """The largest dictionary that fits the target's RAM next to everything else (0: raw only)."""
    checked = check_lzw_bits(requested)
    if checked is not None:
        return checked
    for bits in LZW_BITS_CHOICES:
        if fixed_ram + lzw_dictionary_bytes(bits) + STACK_RESERVE <= target.ram_bytes:
            return bits
    return 0


def check_coder(exported: ExportedModel, coder: str, lzw_bits: int | None) -> None:
    """Refuse a coder the export cannot use, naming the fix (before any work)."""
    check_lzw_bits(lzw_bits)
    if coder not in CODERS:
        raise UserError(f"--coder {coder}: must be one of {', '.join(CODERS)}")
    if coder == "context":
        if exported.coder is None:
            raise UserError(
                f"{exported.folder / 'agilenn.json'} has no context-coder tables (key 'coder')",
                hint=f"fit them with `agilenn fit-coder {exported.folder}`, or pass --coder lzw",
            )
        if lzw_bits is not None:
            raise UserError("--lzw-bits applies to --coder lzw only")
    if coder == "raw" and lzw_bits not in (None, 0):
        raise UserError("--lzw-bits applies to --coder lzw only")


def generate_pipeline(
    exported: ExportedModel,
    target: TargetLike,
    out_dir: Path,
    *,
    command: str,
    name: str | None = None,
    calibration: Path | None = None,
    data_root: Path | None = None,
    coder: str = "context",
    lzw_bits: int | None = None,
    max_fragment: int = DEFAULT_MAX_FRAGMENT,
    allow_overflow: bool = False,
    kernels: str = "fast",
    auth: bool = False,
) -> PipelineLibrary:
    lib_name = pipeline_library_name(exported, name)
    check_coder(exported, coder, lzw_bits)
    work = out_dir / "model"
    int8 = int8_device_model(exported, work, calibration=calibration, data_root=data_root)
    tables: list[np.ndarray] = []

    def attach(graph: ir.Graph) -> ir.Graph:
        new, table = attach_symbol_output(graph, REMOTE_OUTPUT, exported.centroids)
        tables.append(table)
        return new

    graph = compile_model(int8, prepare=attach)
    try:
        plan_streaming(graph, frozenset({REMOTE_OUTPUT}))
        network_streams = True
    except NotStreamable:
        network_streams = False
    why_not = stream_reason(graph, coder)
    streamed = not why_not
    image_size = int(np.prod(exported.input_shape))
    feature_size = exported.feature_size
    payload_max = payload_max_bytes(feature_size, exported.alphabet)
    tag = MAC_SIZE if auth else 0
    frame_max = HEADER_SIZE + min(max_fragment, max(payload_max, 2 + 4 * exported.num_classes)) + tag
    reply_bytes = HEADER_SIZE + 2 + 4 * exported.num_classes + tag
    assert graph.memory is not None
    height, width = exported.feature_shape[1:]
    context = context_tables_c(exported.coder, height, width) if coder == "context" and exported.coder else None
    line_bytes = width * len(context["live"]) if context else 0
    symbols_bytes = 0 if streamed else feature_size
    fixed_ram = symbols_bytes + HEADER_SIZE + payload_max + reply_bytes + 4 * exported.num_classes + 4 * image_size
    bits = choose_lzw_bits(target, graph.memory.arena_bytes + fixed_ram, lzw_bits) if coder == "lzw" else 0
    pipeline_files = [f"{lib_name}_agilenn.c", f"{lib_name}_agilenn_infer.c"]

    buffers = {
        "symbols": symbols_bytes,
        "payload (frame area)": HEADER_SIZE + payload_max + tag,
        "lzw_state": lzw_dictionary_bytes(bits) if bits else 0,
        "context_line": line_bytes,
        "context_encoder": ENCODER_STATE_BYTES if streamed and context else 0,
        "reply (infer)": reply_bytes,
        "auth (key, request tag)": KEY_SIZE + MAC_SIZE if auth else 0,
        "local_logits": 4 * exported.num_classes,
    }
    pipeline_ram = sum(buffers.values())

    def network_ram(manifest: dict) -> int:
        """The network's own RAM: its arena (or windows) and scratch; the caller's buffers are not its own here."""
        return int(manifest["totals"]["arena_bytes"] + manifest["totals"]["scratch_bytes"])

    def check(manifest: dict) -> None:
        with_pipeline = copy.deepcopy(manifest)
        totals = with_pipeline["totals"]
        totals["io_buffer_bytes"] = 4 * image_size  # the caller's image; the outputs are the pipeline's buffers
        totals["ram_bytes_needed"] = network_ram(manifest) + pipeline_ram + 4 * image_size
        check_fit(with_pipeline, allow_overflow=allow_overflow)

    pixels = from_agilenn_meta(exported.meta)  # the trainer's normalisation: a uint8 entry point too
    network = generate(
        graph,
        target,
        out_dir,
        command=command,
        name=lib_name,
        check=check,
        extra_sources=pipeline_files,
        kernels=kernels,
        pixels=pixels,
        stream="run" if network_streams else "off",
        stream_callbacks=frozenset({REMOTE_OUTPUT}) if network_streams else frozenset(),
    )
    channels_r = exported.feature_shape[0]
    coding_order = [*context["live"], *context["rare"]] if context else list(range(channels_r))
    callback = (network.manifest.get("stream", {}).get("callbacks") or [{}])[0]
    values = {
        "banner": banner(graph, target, command),
        "name": lib_name,
        "NAME": lib_name.upper(),
        "model_folder": exported.folder.name,
        "k": int(exported.meta.get("split", {}).get("k", 0)),
        "channels": int(exported.meta.get("split", {}).get("channels", exported.feature_shape[0])),
        "input_shape": list(exported.input_shape),
        "normalisation": exported.meta.get("input", {}).get("normalisation", {}).get("formula", "see agilenn.json"),
        "num_classes": exported.num_classes,
        "image_size": image_size,
        "feature_size": feature_size,
        "num_centroids": exported.num_centroids,
        "alphabet": exported.alphabet,
        "coder": coder,
        "context": context,
        "context_line_bytes": line_bytes,
        "lzw_bits": bits,
        "payload_max": payload_max,
        "max_fragment": max_fragment,
        "frame_max": frame_max,
        "model_id_hex": f"0x{exported.model_id:08x}",
        "alpha": exported.alpha,
        "alpha_literal": c_float(exported.alpha),
        "pixels": "pixel_entry" in network.manifest,
        "auth": auth,
        "streamed": streamed,
        "symbol_table": [int(v) for v in tables[0]],
        "remote_channels": channels_r,
        "coding_order": coding_order,
        "plane": height * width,
        "raw_bits": raw_bits(exported.alphabet),
        "raw_bytes": payload_max - 7,
        "row": {"pixels": callback.get("row_pixels", width), "pixel_stride": callback.get("pixel_stride", channels_r)},
        "gather": [c * int(callback.get("channel_step", 1)) for c in coding_order],
    }
    env = environment()
    for template, filename in (
        ("pipeline.h.j2", f"{lib_name}_agilenn.h"),
        ("pipeline.c.j2", pipeline_files[0]),
        ("pipeline_infer.c.j2", pipeline_files[1]),
    ):
        (out_dir / filename).write_text(env.get_template(template).render(**values))
    runner = out_dir / "host_runner" / "device_main.c"
    runner.parent.mkdir(exist_ok=True)
    runner.write_text(env.get_template("device_main.c.j2").render(**values))
    shutil.copyfile(exported.folder / "agilenn.json", out_dir / "agilenn.json")
    # the library folder is self-contained for `agilenn device`: int8 device model and remote model
    if int8.resolve() != (work / "device_int8.onnx").resolve():
        shutil.copyfile(int8, work / "device_int8.onnx")
    shutil.copyfile(exported.remote_onnx, work / "remote.onnx")

    manifest = dict(network.manifest)
    manifest["agilenn"] = {
        "export_folder": str(exported.folder),
        "model_id": values["model_id_hex"],
        "dataset": exported.dataset,
        "num_classes": exported.num_classes,
        "feature_shape": list(exported.feature_shape),
        "symbols": feature_size,
        "centroids": list(exported.centroids),
        "symbol_values": list(exported.symbol_values),
        "symbol_table": [int(v) for v in tables[0]],
        "alpha": exported.alpha,
        "coder": coder,
        "context_tables_bytes": exported.coder.table_bytes() if context and exported.coder else 0,
        "lzw_bits": bits,
        "max_fragment": max_fragment,
        "auth": auth,
        "streamed": streamed,
        "not_streamed_because": why_not,
        "network_ram_bytes": network_ram(network.manifest),
        "buffers": buffers,
        "ram_bytes_total": network_ram(network.manifest) + pipeline_ram,
        "caller_image_bytes": 4 * image_size,
        "int8_device_model": "model/device_int8.onnx",
        "remote_model": "model/remote.onnx",
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return PipelineLibrary(
        network, graph, why_not, exported, int8, tables[0], coder, bits, max_fragment, manifest, runner, auth=auth
    )
