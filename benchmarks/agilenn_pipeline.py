"""Benchmark of the AgileNN device pipeline: what the paper's Figure 16 and Table 3 measure, here.

    .venv/bin/python benchmarks/agilenn_pipeline.py examples/agilenn_fmnist --count 10000

Measures, and writes to docs/results/ (JSON + PNG) with the command that produced them:
- accuracy on the test set: final (generated C on the host + `agilenn serve` over UDP), local head
  only, remote network only, and the Python int8 pipeline's, plus the float PyTorch model's (from
  agilenn.json); predictions of the C path compared with the Python int8 pipeline image by image;
- bytes per inference (mean, p95) with the default context coder, against LZW (W = 12, the same
  symbols coded by the Python reference), raw index packing and unquantized float32 features;
- the server's decoder: decodes per second on one core of this machine, over the payloads the
  generated C sent (decode_request: header checks, the C context decoder, the model checks);
- device work on the emulated Cortex-M7 (qemu mps2-an500), for the context coder and for LZW: guest
  instructions of one inference, split into the network, the payload coding and the frames (CRC),
  counted by qemu (startup and I/O excluded by differencing builds), and the coder's instructions per
  symbol; the stack high-water mark (painted stack); flash and static RAM of the library
  (arm-none-eabi-size of its objects);
- a latency model for the paper's setting: device time = instructions x CPI / 216 MHz (CPI is an
  assumption, reported for 1.0 and 1.5), radio time at 6 Mbps (WiFi) and 270 kbps (the paper's
  low-power radio), server time measured (the server's own receive-to-reply latency, p50).
"""

from __future__ import annotations

import argparse
import json
import shlex
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agilenn_codegen.cli import main as cli_main  # noqa: E402
from agilenn_codegen.offload import HEADER_SIZE, lzw_encode  # noqa: E402
from agilenn_codegen.pipeline.device_model import dataset_images  # noqa: E402
from agilenn_codegen.pipeline.device_run import library_build_inputs, load_library, run_device  # noqa: E402
from agilenn_codegen.server.thread import ServerThread  # noqa: E402
from agilenn_codegen.targets import build_program, instructions_executed, load_target, run_program  # noqa: E402

CLOCK_HZ = 216e6
LINKS = {"WiFi 6 Mbps": 6e6, "radio 270 kbps": 270e3}

BENCH_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include "{name}_agilenn.h"
#include "{name}.h"
extern uint32_t __stack_limit__[];
static float image[{NAME}_IMAGE_SIZE];
static float logits[{NAME}_NUM_CLASSES];
static uint8_t symbols[{NAME}_REMOTE_SYMBOLS];
static uint8_t frame[{NAME}_FRAME_MAX_BYTES];
int main(void)
{{
    FILE *f = fopen("images.bin", "rb");
    uint32_t header[2], stack_used = 0, sent = 0;
    volatile uint32_t *p;
    uint32_t here = 0;
    int32_t i;
    if (f == NULL || fread(header, sizeof header, 1, f) != 1 || fread(image, sizeof image, 1, f) != 1) return 3;
    fclose(f);
    for (p = __stack_limit__; (uintptr_t)p < (uintptr_t)&here - 64u; p++) *p = 0xA5A5A5A5u;
#if STAGE == 1
    if ({name}_run(image, logits, symbols) != AGILENN_OK) return 4;
#elif STAGE == 2
    if ({name}_begin(image) != AGILENN_OK) return 4;
#elif STAGE == 3
    if ({name}_begin(image) != AGILENN_OK) return 4;
    for (i = 0; i < {name}_fragment_count(); i++) sent += (uint32_t){name}_fragment(i, frame, (int32_t)sizeof frame);
#endif
    for (p = __stack_limit__; *p == 0xA5A5A5A5u; p++) {{ }}
    stack_used = (uint32_t)((uintptr_t)&here - (uintptr_t)p);
    (void)i; (void)sent; (void)logits; (void)symbols; (void)frame;
    f = fopen("bench.txt", "w");
    fprintf(f, "%lu %lu\n", (unsigned long)stack_used, (unsigned long)sent);
    fclose(f);
    return 0;
}}
"""


def measure_device(export: Path, data_root: Path | None, work: Path, coder: str = "context") -> dict:
    """Instructions, stack, flash and RAM of one inference on the emulated Cortex-M7 (averaged over
    IMAGES test images), with the given payload coder."""
    work = work / coder
    lib_dir = work / "m7"
    assert (
        cli_main(
            ["codegen", str(export), "--target", "stm32f746", "--out", str(lib_dir), "--coder", coder]
            + (["--data-root", str(data_root)] if data_root else [])
        )
        == 0
    )
    lib = load_library(lib_dir)
    target = load_target("stm32f746")
    sources, includes = library_build_inputs(lib)
    images, _ = dataset_images(lib.exported, "test", 1, data_root)
    run_dir = work / "run"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "images.bin").write_bytes(struct.pack("<II", 1, images[0].size) + images.tobytes())
    harness = work / "bench_main.c"
    harness.write_text(BENCH_MAIN.format(name=lib.name, NAME=lib.name.upper()))
    counts, stacks = {}, {}
    for stage in (0, 1, 2, 3):
        elf = build_program(
            target,
            [*sources, harness],
            includes,
            work / f"build{stage}",
            defines={"STAGE": str(stage)},
            output_name=f"bench{stage}",
        )
        result = run_program(target, elf, run_dir, timeout_s=600)
        if result.returncode != 0:
            raise RuntimeError(result.stdout + result.stderr)
        stacks[stage] = int((run_dir / "bench.txt").read_text().split()[0])
        counts[stage] = instructions_executed(target, elf, run_dir)
    # flash and RAM of the library itself: its objects, compiled as for the firmware
    objects = []
    for src in sources:
        obj = work / "objects" / (src.stem + ".o")
        obj.parent.mkdir(exist_ok=True)
        subprocess.run(
            [
                "arm-none-eabi-gcc",
                *target.cflags,
                "-std=c99",
                "-O2",
                "-c",
                *(f"-I{i}" for i in includes),
                str(src),
                "-o",
                str(obj),
            ],
            check=True,
        )
        objects.append(str(obj))
    size = subprocess.run(["arm-none-eabi-size", "-t", *objects], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in size.strip().splitlines()[-1].split()[:3])
    network = counts[1] - counts[0]
    payload = counts[2] - counts[1]
    frames = counts[3] - counts[2]
    symbols = lib.manifest["agilenn"]["symbols"]
    return {
        "coder": coder,
        "instructions": {
            "network": network,
            "payload": payload,
            "frames": frames,
            "total": network + payload + frames,
            "payload_per_symbol": payload / symbols,
        },
        "stack_high_water_bytes": stacks[3],
        "library_flash_bytes": text + data,
        "library_static_ram_bytes": data + bss,
        "peak_ram_bytes": data + bss + stacks[3],
        "manifest": lib.manifest["agilenn"] | {"arena_bytes": lib.manifest["totals"]["arena_bytes"]},
    }


def measure_test_set(export: Path, data_root: Path | None, count: int, work: Path) -> dict:
    lib_dir = work / "host"
    assert (
        cli_main(
            ["codegen", str(export), "--target", "host", "--out", str(lib_dir)]
            + (["--data-root", str(data_root)] if data_root else [])
        )
        == 0
    )
    lib = load_library(lib_dir)
    images, labels = dataset_images(lib.exported, "test", count, data_root)
    with ServerThread(export) as server:
        report, results = run_device(lib, images, labels, server.address, timeout_ms=2000)
        stats = server.stats.snapshot()
        spec = server.handle.model.spec
    payloads = [b"".join(frame[HEADER_SIZE:] for frame in frames) for frames in results.frames]
    return {
        "report": report.to_json(),
        "server_stats": stats,
        "bytes_sent": results.bytes_sent.tolist(),
        "encodings": {str(e): sum(p[0] == e for p in payloads) for e in (0, 1, 2)},
        "decoder": measure_decoder(spec, payloads),
        "lzw": lzw_bytes(lib, images),
    }


def measure_decoder(spec: object, payloads: list[bytes], seconds: float = 10.0) -> dict:
    """decode_request (header checks, the C context decoder, model checks) over the payloads the device
    sent, round robin, on this thread (one core)."""
    from agilenn_codegen.server.decoder import decode_request

    assert spec.context is not None and spec.context.uses_native  # type: ignore[attr-defined]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        decode_request(spec, payloads[count % len(payloads)])  # type: ignore[arg-type]
        count += 1
    elapsed = time.perf_counter() - start
    return {"decodes": count, "seconds": elapsed, "decodes_per_s": count / elapsed, "payloads": len(payloads)}


def lzw_bytes(lib: object, images: np.ndarray) -> dict:
    """Bytes per inference had the device sent LZW (W = 12, raw when not shorter): the same symbols, coded by
    the Python reference, + the frame header (one fragment)."""
    from agilenn_codegen.pipeline.reference import ReferencePipeline

    exported = lib.exported  # type: ignore[attr-defined]
    reference = ReferencePipeline(exported, exported.device_onnx, lib.table, 12, 1444, coder="lzw")  # type: ignore[attr-defined]
    raw = 7 + (exported.feature_size * exported.bits_per_index + 7) // 8
    sizes = []
    for image in images:
        symbols = reference.device(image).symbols
        sizes.append(HEADER_SIZE + min(raw, 7 + len(lzw_encode(symbols, exported.alphabet, 12))))
    return {"bytes_mean": float(np.mean(sizes)), "bytes_p95": float(np.percentile(sizes, 95))}


def latency_model(device: dict, lzw_device: dict, test: dict) -> dict:
    """Rows of the latency model: AgileNN as sent (context coder) for two CPI assumptions, and, for
    comparison at CPI 1.0, the same features sent with LZW, as raw 3-bit indices and as unquantized
    float32 values."""
    report = test["report"]
    network = device["instructions"]["network"]
    total = device["instructions"]["total"]
    server_ms = _server_p50_ms(test["server_stats"])
    rows = {}
    variants = [(f"context coder, CPI {cpi}", total, cpi, report["bytes_mean"]) for cpi in (1.0, 1.5)]
    variants += [
        ("LZW W=12, CPI 1.0", lzw_device["instructions"]["total"], 1.0, test["lzw"]["bytes_mean"]),
        ("raw 3-bit, CPI 1.0", network, 1.0, report["raw_bytes"] + HEADER_SIZE),
        ("float32 features, CPI 1.0", network, 1.0, report["float_bytes"]),
    ]
    for label, instructions, cpi, size in variants:
        device_ms = instructions * cpi / CLOCK_HZ * 1e3
        for link, bps in LINKS.items():
            radio_ms = size * 8 / bps * 1e3
            rows[f"{label}, {link}"] = {
                "device_ms": device_ms,
                "radio_ms": radio_ms,
                "server_ms": server_ms,
                "total_ms": device_ms + radio_ms + server_ms,
                "bytes": size,
            }
    return rows


def _server_p50_ms(stats: dict) -> float:
    """The server's receive-to-reply latency, p50 (ServerStats.snapshot()["latency"]["p50_ms"])."""
    value = stats["latency"]["p50_ms"]
    if value is None:
        raise RuntimeError("the server answered no request: no latency to report")
    return float(value)


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    parts = ("device_ms", "radio_ms", "server_ms")
    fig, ax = plt.subplots(figsize=(9, 4.8))
    totals = np.array([rows[label]["total_ms"] for label in labels])
    limit = 1.25 * max(t for label, t in zip(labels, totals, strict=True) if not label.startswith("float32"))
    left = np.zeros(len(labels))
    for part, color in zip(parts, ("#4C72B0", "#DD8452", "#55A868"), strict=True):
        values = np.array([rows[label][part] for label in labels])
        ax.barh(labels, values, left=left, color=color, label=part.replace("_ms", ""))
        left += values
    for y, total in enumerate(totals):
        if total > limit:
            ax.text(limit * 0.98, y, f"{total:,.0f} ms →", ha="right", va="center", color="white", fontsize=9)
    ax.set_xlim(0, limit)
    ax.set_xlabel("latency per inference (ms)")
    ax.set_title("AgileNN on the STM32F746 (216 MHz): device + radio + server")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result: dict) -> str:
    """The recorded figures as a page (written by this script; nothing is copied by hand)."""
    test, device, lzw = result["test_set"]["report"], result["device"], result["device_lzw"]
    metrics = result.get("float_model_metrics") or {}
    float_acc = metrics.get("acc_final")  # the trainer's evaluation of the float PyTorch model (agilenn export)
    n = test["count"]
    lines = [
        "# AgileNN pipeline: measured figures",
        "",
        f"Produced by `{result['command']}` (machine: 2-core x86-64 host; emulated core: qemu mps2-an500).",
        "",
        "## Accuracy and exactness on the test set",
        "| measure | value |",
        "|---|---|",
        f"| test images | {n} |",
        f"| accuracy, final (generated C + `agilenn serve` over UDP) | {test['accuracy_final']:.2%} |",
        f"| accuracy, Python int8 pipeline | {test['accuracy_python_int8']:.2%} |",
        "| accuracy, PyTorch float model (agilenn.json `metrics.acc_final`) | "
        + (f"{float_acc:.2%} |" if isinstance(float_acc, float) else "not recorded |"),
        "| difference, generated C minus float model | "
        + (f"{(test['accuracy_final'] - float_acc) * 100:+.2f} points |" if isinstance(float_acc, float) else "n/a |"),
        f"| accuracy, local head only (fallback) | {test['accuracy_local']:.2%} |",
        f"| accuracy, remote network only | {test['accuracy_remote']:.2%} |",
        f"| predictions equal to the Python int8 pipeline | {test['predictions_equal_python']}/{n} |",
        f"| combined logits equal (bit for bit) | {test['logits_equal_python']}/{n} |",
        f"| frames byte-equal to the Python reference | {test['frames_equal_reference']}/{n} |",
        "",
        "## Bytes per inference (frame headers included)",
        "| encoding | mean | p95 |",
        "|---|---|---|",
        f"| sent: context coder (payload encoding 2, raw fallback) | {test['bytes_mean']:,.1f} | "
        f"{test['bytes_p95']:,.0f} |",
        f"| LZW, W = 12, raw fallback (the same symbols, Python reference) | "
        f"{result['test_set']['lzw']['bytes_mean']:,.1f} | {result['test_set']['lzw']['bytes_p95']:,.0f} |",
        f"| raw 3-bit index packing (+ 7-byte header) | {test['raw_bytes'] + HEADER_SIZE:,} | "
        f"{test['raw_bytes'] + HEADER_SIZE:,} |",
        f"| unquantized float32 features (no header) | {test['float_bytes']:,} | {test['float_bytes']:,} |",
        "",
        f"Payload encodings sent: {result['test_set']['encodings']} (0 raw, 1 LZW, 2 context).",
        "",
        "## The server's decoder (one core of this machine)",
        f"`decode_request` (payload header checks, the C context decoder, model checks) over the "
        f"{result['test_set']['decoder']['payloads']:,} payloads the device sent: "
        f"**{result['test_set']['decoder']['decodes_per_s']:,.0f} decodes per second**.",
        "",
        "## One inference on the Cortex-M7 (emulated; instructions counted by qemu)",
        "| measure | context coder (default) | LZW, W = 12 |",
        "|---|---|---|",
        f"| instructions, network (extractor, local head, symbol table) | {device['instructions']['network']:,} | "
        f"{lzw['instructions']['network']:,} |",
        f"| instructions, payload coding | {device['instructions']['payload']:,} | "
        f"{lzw['instructions']['payload']:,} |",
        f"| instructions per symbol, payload coding | {device['instructions']['payload_per_symbol']:.2f} | "
        f"{lzw['instructions']['payload_per_symbol']:.2f} |",
        f"| instructions, frames (CRC-32) | {device['instructions']['frames']:,} | {lzw['instructions']['frames']:,} |",
        f"| instructions, total | {device['instructions']['total']:,} | {lzw['instructions']['total']:,} |",
        f"| stack high-water mark | {device['stack_high_water_bytes']:,} B | {lzw['stack_high_water_bytes']:,} B |",
        f"| library flash (text + data, arm-none-eabi-size, -O2) | {device['library_flash_bytes']:,} B | "
        f"{lzw['library_flash_bytes']:,} B |",
        f"| library static RAM (arena, coder state, buffers) | {device['library_static_ram_bytes']:,} B | "
        f"{lzw['library_static_ram_bytes']:,} B |",
        f"| peak RAM (static + stack) | {device['peak_ram_bytes']:,} B of 320 KB | {lzw['peak_ram_bytes']:,} B |",
        "",
        "The payload instructions are measured on one test image (the first); "
        "[offload-coder.md](offload-coder.md) averages the coders over more images and counts the "
        "streaming (pixel by pixel) encoder and the Cortex-M3 too.",
        "",
        "## Latency model (STM32F746 at 216 MHz)",
        "Device time = instructions x CPI / 216 MHz, with CPI an **assumption** (1.0 and 1.5 shown; the M7",
        "is dual-issue but waits on flash and memory). Radio time = mean bytes x 8 / link rate. Server time is",
        "measured: the server's own receive-to-reply latency (p50) on this machine.",
        "",
        "The LZW, raw and float32 rows send the same features otherwise (LZW: its own library's instructions and",
        f"bytes; raw: the network's instructions only, + {HEADER_SIZE} bytes of frame header; float32: 4 bytes per "
        "feature,",
        "no header counted), for comparison.",
        "",
        "| setting | bytes | device ms | radio ms | server ms | total ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["latency_model"].items():
        lines.append(
            f"| {name} | {row['bytes']:,.0f} | {row['device_ms']:.2f} | {row['radio_ms']:.2f} | "
            f"{row['server_ms']:.2f} | {row['total_ms']:.2f} |"
        )
    lines += ["", "![latency breakdown](agilenn_latency.png)", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="an `agilenn export` folder")
    parser.add_argument("--count", type=int, default=1000, help="test images for accuracy and bytes")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agilenn-bench-") as tmp:
        work = Path(tmp)
        device = measure_device(args.export, args.data_root, work)
        lzw_device = measure_device(args.export, args.data_root, work, "lzw")
        test = measure_test_set(args.export, args.data_root, args.count, work)
    rows = latency_model(device, lzw_device, test)
    meta = json.loads((args.export / "agilenn.json").read_text())
    result = {
        "command": "python benchmarks/agilenn_pipeline.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "export": str(args.export),
        "float_model_metrics": meta.get("metrics"),
        "device": device,
        "device_lzw": lzw_device,
        "test_set": {k: v for k, v in test.items() if k != "bytes_sent"},
        "latency_model": rows,
    }
    (args.out / "agilenn_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, args.out / "agilenn_latency.png")
    (args.out / "agilenn-pipeline.md").write_text(markdown(result))
    print(
        json.dumps(
            {
                "device": {k: v for k, v in device.items() if k != "manifest"},
                "device_lzw": {k: v for k, v in lzw_device.items() if k != "manifest"},
                "test": test["report"],
                "decoder": test["decoder"],
                "latency": rows,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
