"""Benchmark of the payload coding: bytes, device instructions, server decoding speed.

    .venv/bin/python benchmarks/offload_coder.py examples/agilenn_fmnist

Measures, and writes to docs/results/offload-coder.{md,json} with the command that produced them:
- bytes per inference over the test set (default: all of it): the context coder (payload encoding 2,
  the tables in agilenn.json), LZW (W = 12) and raw packing, each with its 7-byte payload header;
  symbols computed as the device computes them (the int8 device model in onnxruntime + the symbol
  table), payloads by the Python reference (context: the C encoder built for the host, checked equal
  to the reference on a sample);
- device instructions on emulated cores (qemu: mps2-an500 = Cortex-M7 for stm32f746, mps2-an385 =
  Cortex-M3 for stm32f103), counted by qemu and isolated by differencing builds of one harness
  (stage 0 reads the data only; the other stages add one coder): the context encoder over a whole
  channel-major buffer and pixel by pixel (the streaming API), LZW, and CRC-32;
- the server's decoder: decodes per second on one core of this machine (the C decoder through
  ctypes, and decode_payload with its header checks), and the pure-Python reference's.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agilenn_codegen.compiler.codegen import environment  # noqa: E402
from agilenn_codegen.offload import HEADER_SIZE, ContextCodec, decode_payload, encode_payload, lzw_encode  # noqa: E402
from agilenn_codegen.offload.context_coder import context_decode, context_encode  # noqa: E402
from agilenn_codegen.offload.native import native_status  # noqa: E402
from agilenn_codegen.paths import RUNTIME_C_DIR  # noqa: E402
from agilenn_codegen.pipeline.coder_tables import context_tables_c  # noqa: E402
from agilenn_codegen.pipeline.exported import ExportedModel, load_exported  # noqa: E402
from agilenn_codegen.targets import build_program, instructions_executed, load_target, run_program  # noqa: E402

LZW_BITS = 12
CRC_BYTES = 1444  # one full fragment
CRC_REPEAT = 8

HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "agilenn_offload.h"
{tables}
#define COUNT {count}u
#define N {n}u
#define C {c}u
static uint8_t symbols[COUNT * N];  /* channel-major, image after image */
static uint8_t pixels[COUNT * N];   /* the same symbols pixel by pixel, in coding order (a streamed network) */
static uint8_t crc_data[{crc_bytes}u];
static uint8_t out[N];
static uint8_t line[{line_bytes}u];
static uint16_t lzw_state[7u << ({lzw_bits} - 1)]; /* the trie (5 * 2^W B) or --baseline's hash (7 * 2^W B) */
static const void *volatile keep[4];
int main(void)
{{
    FILE *f = fopen("data.bin", "rb");
    uint32_t total = 0u, i, p;
    size_t len = 0u;
    agilenn_context_encoder_t enc;
    if (f == NULL || fread(symbols, 1, sizeof symbols, f) != sizeof symbols ||
        fread(pixels, 1, sizeof pixels, f) != sizeof pixels ||
        fread(crc_data, 1, sizeof crc_data, f) != sizeof crc_data)
        return 3;
    fclose(f);
    (void)enc; (void)i; (void)p; (void)len;
    /* every stage keeps every buffer (the same .bss for the startup code to clear) */
    keep[0] = out; keep[1] = line; keep[2] = (const void *)lzw_state; keep[3] = &bench_context_model;
#if STAGE == 1
    for (i = 0u; i < COUNT; i++) {{
        if (agilenn_context_encode(&bench_context_model, symbols + i * N, line, sizeof line, out, sizeof out,
                                   &len) != AGILENN_OK) return 4;
        total += (uint32_t)len;
    }}
#elif STAGE == 2
    for (i = 0u; i < COUNT; i++) {{
        if (agilenn_context_encode_begin(&enc, &bench_context_model, line, sizeof line, out,
                                         sizeof out) != AGILENN_OK) return 4;
        for (p = 0u; p < N; p += C) {{
            if (agilenn_context_encode_pixel(&enc, pixels + i * N + p) != AGILENN_OK) return 5;
        }}
        if (agilenn_context_encode_end(&enc, &len) != AGILENN_OK) return 6;
        total += (uint32_t)len;
    }}
#elif STAGE == 3
    for (i = 0u; i < COUNT; i++) {{
        const agilenn_lzw_params_t lp = {{N, {k}u, {lzw_bits}u}};
        if (agilenn_lzw_encode(&lp, symbols + i * N, lzw_state, sizeof lzw_state, out, sizeof out,
                               &len) != AGILENN_OK) return 4;
        total += (uint32_t)len;
    }}
#elif STAGE == 4
    for (i = 0u; i < {crc_repeat}u; i++) {{
        total += agilenn_crc32(0u, crc_data, sizeof crc_data);
    }}
#endif
    f = fopen("result.txt", "w");
    fprintf(f, "%lu\n", (unsigned long)total);
    fclose(f);
    return 0;
}}
"""

STAGES = {1: "context, whole buffer", 2: "context, pixel by pixel", 3: f"LZW W={LZW_BITS}", 4: "CRC-32"}


def dataset_symbols(exported: ExportedModel, count: int | None, data_root: Path | None) -> np.ndarray:
    """(n, C_r, H, W) symbols of the test split, as the device computes them."""
    from agilenn_codegen.pipeline.device_model import dataset_images, int8_device_model
    from agilenn_codegen.pipeline.reference import LOCAL_OUTPUT, int8_output_model, remote_quantization
    from agilenn_codegen.pipeline.symbols import symbol_table
    from agilenn_codegen.reference import ort_session

    with tempfile.TemporaryDirectory() as tmp:
        int8 = int8_device_model(exported, Path(tmp), data_root=data_root)
        session = ort_session(int8_output_model(int8))
        table = symbol_table(*remote_quantization(int8), exported.centroids)
    x, _ = dataset_images(exported, "test", count, data_root)
    names = [o.name for o in session.get_outputs()]
    parts = []
    for start in range(0, len(x), 500):
        outputs = dict(
            zip(names, session.run(None, {session.get_inputs()[0].name: x[start : start + 500]}), strict=True)
        )
        remote = next(v for k, v in outputs.items() if k != LOCAL_OUTPUT)
        parts.append(table[remote.astype(np.int16) + 128].reshape(-1, *exported.feature_shape))
    return np.concatenate(parts)


def measure_bytes(exported: ExportedModel, symbols: np.ndarray, codec: ContextCodec) -> dict:
    k = exported.alphabet
    sizes: dict[str, list[int]] = {"context": [], "lzw": [], "raw": []}
    native = codec._native  # the C encoder, for speed; checked against the reference on a sample below
    mismatches = 0
    for i, s in enumerate(symbols):
        flat = s.reshape(-1)
        body = native.encode(flat) if native is not None else codec.encode(flat)
        if i % 97 == 0 and body != context_encode(s, codec.model):
            mismatches += 1
        raw = 7 + (flat.size * exported.bits_per_index + 7) // 8
        sizes["context"].append(min(7 + len(body), raw))
        sizes["lzw"].append(min(7 + len(lzw_encode(flat, k, LZW_BITS)), raw))
        sizes["raw"].append(raw)
    if mismatches:
        raise RuntimeError(f"the C encoder differs from the reference on {mismatches} images")
    return {
        name: {"mean": float(np.mean(v)), "p95": float(np.percentile(v, 95)), "max": int(np.max(v))}
        for name, v in sizes.items()
    } | {
        "images": len(symbols),
        "context_raw_fallbacks": int(sum(a == b for a, b in zip(sizes["context"], sizes["raw"], strict=True))),
    }


def measure_decoder(exported: ExportedModel, symbols: np.ndarray, codec: ContextCodec, seconds: float) -> dict:
    payloads = [encode_payload(s.reshape(-1), exported.alphabet, context=codec) for s in symbols[:1000]]
    n_sym = symbols[0].size
    result: dict = {"payloads": len(payloads), "mean_bytes": float(np.mean([len(p) for p in payloads]))}
    for check in range(20):  # the fast decoder and the reference agree
        decoded, _ = decode_payload(payloads[check], max_symbols=n_sym, context=codec)
        assert np.array_equal(decoded, symbols[check].reshape(-1))
    if codec.uses_native:
        native = codec._native
        bodies = [p[7:] for p in payloads]
        for name, fn in (
            ("c_decoder_per_s", lambda i: native.decode(bodies[i % len(bodies)])),
            (
                "decode_payload_per_s",
                lambda i: decode_payload(payloads[i % len(payloads)], max_symbols=n_sym, context=codec),
            ),
        ):
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                fn(count)
                count += 1
            result[name] = count / (time.perf_counter() - start)
    h, w = exported.feature_shape[1:]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        context_decode(payloads[count % len(payloads)][7:], codec.model, h, w)
        count += 1
    result["python_reference_per_s"] = count / (time.perf_counter() - start)
    return result


def baseline_sources(revision: str, work: Path) -> dict[str, Path]:
    """LZW and CRC-32 as they were at a git revision (for the before/after figures)."""
    out = {}
    for name in ("agilenn_lzw_encode.c", "agilenn_crc32.c"):
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:runtime_c/offload/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        path = work / "baseline" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out[name] = path
    return out


def measure_device(
    exported: ExportedModel,
    symbols: np.ndarray,
    target_name: str,
    work: Path,
    baseline: dict[str, Path] | None = None,
) -> dict:
    """Instructions of the coders on an emulated core; with `baseline`, LZW and CRC-32 from those sources
    (stages 0, 3, 4 only)."""
    target = load_target(target_name)
    work.mkdir(parents=True, exist_ok=True)
    count = len(symbols)
    c, h, w = exported.feature_shape
    n = c * h * w
    coder = context_tables_c(exported.coder, h, w)
    env = environment()
    tables = env.from_string('{% from "context_tables.c.j2" import context_model %}{{ context_model("bench", coder) }}')
    source = work / "harness.c"
    source.write_text(
        HARNESS.format(
            tables=tables.render(coder=coder),
            count=count,
            n=n,
            c=c,
            k=exported.alphabet,
            line_bytes=w * len(exported.coder.live_channels),
            lzw_bits=LZW_BITS,
            crc_bytes=CRC_BYTES,
            crc_repeat=CRC_REPEAT,
        )
    )
    rng = np.random.default_rng(0)
    coding_order = [*exported.coder.live_channels, *exported.coder.rare_channels]
    pixel_major = symbols[:, coding_order].transpose(0, 2, 3, 1)  # pixel by pixel, channels in coding order
    (work / "data.bin").write_bytes(
        symbols.astype(np.uint8).tobytes() + pixel_major.astype(np.uint8).tobytes() + rng.bytes(CRC_BYTES)
    )
    (work / "agilenn_config.h").write_text(
        f"#define AGILENN_NO_FPU {0 if target.fpu else 1}\n#define AGILENN_USE_DSP {1 if target.dsp else 0}\n"
    )
    sources = [source, *sorted((RUNTIME_C_DIR / "offload").glob("*.c"))]
    if baseline:
        sources = [baseline.get(p.name, p) for p in sources]
    includes = [work, RUNTIME_C_DIR / "offload", RUNTIME_C_DIR / "common"]
    counts, totals = {}, {}
    for stage in (0, 3, 4) if baseline else (0, *STAGES):
        elf = build_program(
            target, sources, includes, work / f"build{stage}", defines={"STAGE": str(stage)}, output_name=f"h{stage}"
        )
        result = run_program(target, elf, work, timeout_s=600)
        if result.returncode != 0:
            raise RuntimeError(f"stage {stage} on {target_name}: exit {result.returncode} {result.stderr}")
        totals[stage] = int((work / "result.txt").read_text())
        counts[stage] = instructions_executed(target, elf, work)
        if counts[stage] is None:
            raise RuntimeError(f"qemu could not count instructions of stage {stage} on {target_name}")
    k = exported.alphabet
    expected_lzw = sum(len(lzw_encode(s.reshape(-1), k, LZW_BITS)) for s in symbols)
    if totals[3] != expected_lzw:
        raise RuntimeError(f"{target_name}: the harness's LZW bytes {totals[3]} differ from the reference's")
    per = {stage: counts[stage] - counts[0] for stage in counts if stage}
    if baseline:
        return {
            "target": target_name,
            "lzw_per_symbol": per[3] / (count * n),
            "lzw_per_image": per[3] / count,
            "crc_per_byte": per[4] / (CRC_REPEAT * CRC_BYTES),
        }
    expected_context = sum(len(context_encode(s, exported.coder)) for s in symbols)
    if totals[1] != expected_context or totals[2] != expected_context:
        raise RuntimeError(f"{target_name}: the harness's context bytes {totals} differ from the reference's")
    live = len(exported.coder.live_channels)
    return {
        "target": target_name,
        "cpu": target.cpu,
        "images": count,
        "symbols_per_image": n,
        "live_symbols_per_image": live * h * w,
        "instructions": per,
        "context_whole_per_symbol": per[1] / (count * n),
        "context_pixels_per_symbol": per[2] / (count * n),
        "context_whole_per_live_symbol": per[1] / (count * live * h * w),
        "context_whole_per_image": per[1] / count,
        "lzw_per_symbol": per[3] / (count * n),
        "lzw_per_image": per[3] / count,
        "crc_per_byte": per[4] / (CRC_REPEAT * CRC_BYTES),
    }


def markdown(result: dict) -> str:
    b = result["bytes"]
    lines = [
        "# Payload coding: measured figures",
        "",
        f"Produced by `{result['command']}` on {result['machine']} (emulated cores: qemu).",
        "",
        f"## Bytes per inference ({b['images']:,} test images)",
        f"The payload (7-byte header + body); on the wire each request also carries a {HEADER_SIZE}-byte frame header "
        "(one",
        "fragment).",
        "",
        "| coding | payload mean | payload p95 | payload max | on the wire, mean |",
        "|---|---|---|---|---|",
    ]
    for name, label in (
        ("context", "context coder (encoding 2)"),
        ("lzw", f"LZW, W = {LZW_BITS}"),
        ("raw", "raw 3-bit"),
    ):
        lines.append(
            f"| {label} | {b[name]['mean']:,.1f} | {b[name]['p95']:,.0f} | {b[name]['max']:,} | "
            f"{b[name]['mean'] + HEADER_SIZE:,.1f} |"
        )
    coder = result["coder"]
    lines += [
        "",
        f"Context coder tables: {coder['rows']} rows, {coder['live']} live channels of {coder['channels']}, "
        f"{coder['table_bytes']:,} bytes of flash; context payloads that fell back to raw: "
        f"{b['context_raw_fallbacks']}.",
        "",
        "## Device instructions (counted by qemu, differencing builds)",
        "| core | context, per symbol (whole buffer) | context, per symbol (pixel by pixel) | per live symbol | "
        "per image | LZW per symbol | LZW per image | CRC-32 per byte |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in result["device"]:
        lines.append(
            f"| {d['target']} ({d['cpu']}) | {d['context_whole_per_symbol']:.2f} | "
            f"{d['context_pixels_per_symbol']:.2f} | {d['context_whole_per_live_symbol']:.2f} | "
            f"{d['context_whole_per_image']:,.0f} | {d['lzw_per_symbol']:.2f} | {d['lzw_per_image']:,.0f} | "
            f"{d['crc_per_byte']:.2f} |"
        )
    befores = [d for d in result["device"] if "before" in d]
    if befores:
        revision = befores[0]["before"]["revision"]
        lines += [
            "",
            f"LZW and CRC-32 before this change (the sources of git revision `{revision}`: LZW with a hash table "
            "cleared every inference, CRC-32 bit by bit), on the same data:",
            "",
            "| core | LZW per symbol, before / after | LZW per image, before / after | "
            "CRC-32 per byte, before / after |",
            "|---|---|---|---|",
        ]
        for d in befores:
            b = d["before"]
            lines.append(
                f"| {d['target']} | {b['lzw_per_symbol']:.2f} / {d['lzw_per_symbol']:.2f} | "
                f"{b['lzw_per_image']:,.0f} / {d['lzw_per_image']:,.0f} | "
                f"{b['crc_per_byte']:.2f} / {d['crc_per_byte']:.2f} |"
            )
    dec = result["decoder"]
    lines += [
        "",
        f"Per symbol = instructions / ({result['device'][0]['symbols_per_image']:,} symbols x "
        f"{result['device'][0]['images']} images); live symbols are those of the channels with tables.",
        "",
        "## Server decoder (one core of this machine)",
        "| decoder | decodes per second |",
        "|---|---|",
        f"| C decoder (ctypes), body only | {dec.get('c_decoder_per_s', 0):,.0f} |",
        f"| `decode_payload` (header checks + C decoder) | {dec.get('decode_payload_per_s', 0):,.0f} |",
        f"| pure-Python reference | {dec['python_reference_per_s']:,.0f} |",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path)
    parser.add_argument("--count", type=int, default=None, help="test images for the byte figures (default: all)")
    parser.add_argument("--device-images", type=int, default=16, help="test images coded on the emulated cores")
    parser.add_argument("--targets", default="stm32f746,stm32f103")
    parser.add_argument("--decode-seconds", type=float, default=5.0)
    parser.add_argument(
        "--baseline", default=None, help="git revision whose LZW and CRC-32 to measure too (the before figures)"
    )
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the saved .json")
    args = parser.parse_args()
    if args.markdown_only:
        saved = json.loads((args.out / "offload-coder.json").read_text())
        (args.out / "offload-coder.md").write_text(markdown(saved))
        return 0
    exported = load_exported(args.export)
    if exported.coder is None:
        print(f"error: {args.export}/agilenn.json has no coder tables (agilenn fit-coder)", file=sys.stderr)
        return 2
    h, w = exported.feature_shape[1:]
    codec = ContextCodec(exported.coder, h, w)
    if not codec.uses_native:
        print(f"warning: {native_status().reason}", file=sys.stderr)
    symbols = dataset_symbols(exported, args.count, args.data_root)
    result = {
        "command": "python benchmarks/offload_coder.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": f"{platform.machine()} host, Python {platform.python_version()}",
        "coder": {
            "rows": len(exported.coder.rows),
            "live": len(exported.coder.live_channels),
            "channels": exported.coder.channels,
            "precision": exported.coder.precision,
            "table_bytes": exported.coder.table_bytes(),
        },
        "bytes": measure_bytes(exported, symbols, codec),
        "decoder": measure_decoder(exported, symbols, codec, args.decode_seconds),
        "device": [],
    }
    for name in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix="agilenn-coder-bench-") as tmp:
            result["device"].append(measure_device(exported, symbols[: args.device_images], name, Path(tmp)))
            if args.baseline:
                old = baseline_sources(args.baseline, Path(tmp))
                before = measure_device(exported, symbols[: args.device_images], name, Path(tmp) / "b", old)
                result["device"][-1]["before"] = before | {"revision": args.baseline}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "offload-coder.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "offload-coder.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
