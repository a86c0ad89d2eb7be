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
- device work on the emulated Cortex-M7 (qemu mps2-an500), for the context coder and for LZW, and on the
  emulated Cortex-M3 (stm32f103, qemu mps2-an385): guest instructions of one inference (`agilenn
  profile`: the network, the symbols and their coding, the frames with their CRC, the combiner),
  counted by qemu, and the coder's instructions per symbol; the stack high-water mark (painted stack);
  flash and static RAM of the library (arm-none-eabi-size of its objects); peak RAM = static + stack;
- a latency model for the paper's setting: device time = instructions x CPI / 216 MHz (CPI is an
  assumption, reported for 1.0 and 1.5), radio time at 6 Mbps (WiFi) and 270 kbps (the paper's
  low-power radio), server time measured (the server's own receive-to-reply latency, p50).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
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
from agilenn_codegen.pipeline.exported import load_exported  # noqa: E402
from agilenn_codegen.server.thread import ServerThread  # noqa: E402
from agilenn_codegen.targets import load_target  # noqa: E402

CLOCK_HZ = 216e6
LINKS = {"WiFi 6 Mbps": 6e6, "radio 270 kbps": 270e3}


def measure_device(export: Path, data_root: Path | None, work: Path, target_name: str, coder: str = "context") -> dict:
    """One inference on the target's emulated core (`agilenn profile`: instructions per stage, counted by qemu; the
    stack high-water mark of begin + send + finish, painted), and the library's flash and static RAM (its
    objects, compiled as for the firmware, infer.c's reply buffer included)."""
    from agilenn_codegen.profiling import profile_pipeline

    target = load_target(target_name)
    work = work / f"{target_name}-{coder}"
    exported = load_exported(export)
    images, _ = dataset_images(exported, "test", 1, data_root)
    report = profile_pipeline(export, target, image=images[0], data_root=data_root, work_dir=work, coder=coder)
    lib = load_library(work / "lib")
    sources, includes = library_build_inputs(lib)
    sources.append(lib.folder / f"{lib.name}_agilenn_infer.c")
    objects = []
    for src in sources:
        obj = work / "objects" / (src.stem + ".o")
        obj.parent.mkdir(exist_ok=True)
        cmd = [target.compiler, *target.cflags, "-std=c99", "-O2", "-c", *(f"-I{i}" for i in includes), str(src)]
        subprocess.run([*cmd, "-o", str(obj)], check=True)
        objects.append(str(obj))
    size = subprocess.run(["arm-none-eabi-size", "-t", *objects], capture_output=True, text=True, check=True).stdout
    _, data, bss = (int(v) for v in size.strip().splitlines()[-1].split()[:3])
    flash = linked_flash(target, objects, work / "profile_main.c", includes, work / "linked")
    stages = {stage.name: stage.instructions for stage in report.stages}
    symbols = lib.manifest["agilenn"]["symbols"]
    coding = stages["centroid table"] + stages["coding"]  # symbols in coding order + the coder
    return {
        "target": target_name,
        "cpu": target.cpu,
        "clock_hz": target.clock_hz,
        "ram_bytes": target.ram_bytes,
        "coder": coder,
        "instructions": {
            "network": stages["network"],
            "payload": coding,
            "frames": stages["framing"],
            "combine": stages["combine"],
            "total": report.total,
            "payload_per_symbol": coding / symbols,
            "symbols": stages["centroid table"],  # int8 features -> symbols, in coding order
            "coder": stages["coding"],  # the entropy coder (or LZW) and the payload header
            "coder_per_symbol": stages["coding"] / symbols,
            "stages": stages,
        },
        "payload_bytes": report.extra["payload_bytes"],
        "stack_high_water_bytes": report.stack_bytes,
        "library_flash_bytes": flash,
        "library_object_text_bytes": int(size.strip().splitlines()[-1].split()[0]),
        "library_static_ram_bytes": data + bss,
        "peak_ram_bytes": data + bss + report.stack_bytes,
        "manifest": lib.manifest["agilenn"] | {"arena_bytes": lib.manifest["totals"]["arena_bytes"]},
    }


_MAP_ENTRY = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+\.o)$")
_MAP_SECTION = re.compile(r"^ (\.(?:text|rodata|data)\S*)(.*)$")


def linked_flash(target: object, objects: list[str], harness: Path, includes: list[Path], out: Path) -> int:
    """Flash the library takes in a linked program (with --gc-sections, as firmware links it): the code, read-only
    data and initial values of the library's objects in the linker map of the profile harness's program."""
    from agilenn_codegen.targets import build_program

    out.mkdir(parents=True, exist_ok=True)
    map_file = out / "program.map"
    sources = [*map(Path, objects), harness]
    build_program(target, sources, includes, out, extra_cflags=[f"-Wl,-Map={map_file}"])  # type: ignore[arg-type]
    mine = {str(Path(o).resolve()) for o in objects}
    total, pending = 0, False
    text = map_file.read_text()
    kept = text[text.index("Linker script and memory map") :]  # not the "Discarded input sections" before it
    for line in kept.splitlines():
        section = _MAP_SECTION.match(line)
        if section:
            pending = True
            line = " " + section.group(2) if section.group(2).strip() else ""
            if not line:
                continue
        entry = _MAP_ENTRY.match(line)
        if pending and entry and str(Path(entry.group(3)).resolve()) in mine:
            total += int(entry.group(2), 16)
        pending = False
    if total == 0:
        raise RuntimeError(f"no section of the library's objects in {map_file}")
    return total


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
    weak = result["device_stm32f103"]
    metrics = result.get("float_model_metrics") or {}
    float_acc = metrics.get("acc_final")  # the trainer's evaluation of the float PyTorch model (agilenn export)
    n = test["count"]
    lines = [
        "# AgileNN pipeline: measured figures",
        "",
        f"Produced by `{result['command']}` (machine: 2-core x86-64 host; emulated cores: qemu mps2-an500 "
        "(Cortex-M7) and mps2-an385 (Cortex-M3)).",
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
        "## One inference on the device (emulated; instructions counted by qemu)",
        "Measured by `agilenn profile` on the first test image: `_begin` (network, symbols, coding), `_send`",
        "(frames written in place, CRC-32) and `_finish` (reply checks, alpha combiner).",
        "",
        "| measure | STM32F746 (M7), context coder (default) | STM32F746, LZW W = 12 | STM32F103 (M3), context coder |",
        "|---|---|---|---|",
        *(
            f"| {label} | " + " | ".join(fmt(d) for d in (device, lzw, weak)) + " |"
            for label, fmt in (
                ("instructions, network (extractor, local head)", lambda d: f"{d['instructions']['network']:,}"),
                (
                    "instructions, features -> symbols (table, coding order)",
                    lambda d: f"{d['instructions']['symbols']:,}",
                ),
                ("instructions, coder (and payload header)", lambda d: f"{d['instructions']['coder']:,}"),
                ("instructions per symbol, coder", lambda d: f"{d['instructions']['coder_per_symbol']:.2f}"),
                (
                    "instructions per symbol, symbols + coding",
                    lambda d: f"{d['instructions']['payload_per_symbol']:.2f}",
                ),
                ("instructions, frames (headers, CRC-32)", lambda d: f"{d['instructions']['frames']:,}"),
                ("instructions, combiner", lambda d: f"{d['instructions']['combine']:,}"),
                ("**instructions, total**", lambda d: f"**{d['instructions']['total']:,}**"),
                ("payload bytes of this image", lambda d: f"{d['payload_bytes']:,}"),
                ("stack high-water mark", lambda d: f"{d['stack_high_water_bytes']:,} B"),
                (
                    "library flash (linked, --gc-sections: code, constants, tables)",
                    lambda d: f"{d['library_flash_bytes']:,} B",
                ),
                (
                    "library static RAM (windows, coder state, payload, buffers)",
                    lambda d: f"{d['library_static_ram_bytes']:,} B",
                ),
                (
                    "**peak RAM (static + stack; the caller's image not counted)**",
                    lambda d: f"**{d['peak_ram_bytes']:,} B** of {d['ram_bytes'] // 1024} KB",
                ),
            )
        ),
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
        device = measure_device(args.export, args.data_root, work, "stm32f746")
        lzw_device = measure_device(args.export, args.data_root, work, "stm32f746", "lzw")
        weak_device = measure_device(args.export, args.data_root, work, "stm32f103")
        test = measure_test_set(args.export, args.data_root, args.count, work)
    rows = latency_model(device, lzw_device, test)
    meta = json.loads((args.export / "agilenn.json").read_text())
    result = {
        "command": "python benchmarks/agilenn_pipeline.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "export": str(args.export),
        "float_model_metrics": meta.get("metrics"),
        "device": device,
        "device_lzw": lzw_device,
        "device_stm32f103": weak_device,
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
                "device_stm32f103": {k: v for k, v in weak_device.items() if k != "manifest"},
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
