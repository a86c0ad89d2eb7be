"""Benchmark of the optimized kernels: executed instructions per layer on the emulated cores.

    .venv/bin/python benchmarks/fast_kernels.py          # writes docs/results/fast-kernels.md and .json

Counts come from `agilenn profile` (agilenn_codegen.profiling: a qemu plugin counts every executed
instruction; each layer is its call and everything the kernel executes). For each target it profiles
- the paper's on-device model ("anchor", benchmarks/anchor_model.py, random weights, fixed seed) with the
  optimized kernels and with the reference kernels (`--kernels reference`, the code before optimization),
  from the float input and from uint8 pixels (`<name>_run_u8`);
- the shipped AgileNN model (examples/agilenn_fmnist): one inference of its device library, by stage;
and measures the flash of the kernel code linked for the anchor model (the library's functions in the
linked program, weights and start-up code excluded).

The CMSIS-NN column is not measured here (this project builds no third-party code): it is the count
issue 8 reports for CMSIS-NN built with the same compiler and flags on the same emulated Cortex-M7.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agilenn_codegen.compiler.pixels import PixelNormalisation  # noqa: E402
from agilenn_codegen.profiling import ProfileReport, profile_model, profile_pipeline  # noqa: E402
from agilenn_codegen.targets import load_target  # noqa: E402
from benchmarks.anchor_model import NORMALISATION, write_anchor  # noqa: E402

TARGETS = {  # name -> core
    "stm32f746": "Cortex-M7",
    "nrf52840": "Cortex-M4F",
    "stm32l552": "Cortex-M33",
    "stm32f103": "Cortex-M3 (no FPU, no DSP)",
}
LAYERS = {  # the anchor's layers as issue 8 names them -> its ONNX node
    "L1 dw 3x3 s3": "L1_dw3x3_s3_quant",
    "L2 pw 3->4": "L2_pw3to4_quant",
    "L3 dw 3x3 s1": "L3_dw3x3_s1_quant",
    "L4 pw 4->24": "L4_pw4to24_quant",
    "L5 slice + GAP": "L5_gap_quant",
    "L6 FC 5->10": "L6_fc_quant",
}
# Issue 8: CMSIS-NN on the emulated Cortex-M7 (qemu mps2-an500), arm-none-eabi-gcc -O2, the stm32f746 flags.
CMSIS_NN_M7 = {
    "L1 dw 3x3 s3": 446_898,
    "L2 pw 3->4": 198_002,
    "L3 dw 3x3 s1": 356_091,
    "L4 pw 4->24": 1_168_722,
    "L5 slice + GAP": 73_422,
    "L6 FC 5->10": 774,
}
GOALS = {"anchor L1-L6 on the M7": 600_000, "anchor pixel stage (uint8)": 40_000, "AgileNN device network": 700_000}
FLASH_GOAL = 12 * 1024
SHIPPED = ROOT / "examples" / "agilenn_fmnist"


def layer_counts(report: ProfileReport) -> dict[str, int]:
    """Issue 8's layer names -> instructions (L5 includes the channel slice, fused into the pooling or not)."""
    by_node = {layer.onnx_node: layer.instructions for layer in report.layers}
    out = {label: by_node.get(node, 0) for label, node in LAYERS.items()}
    out["L5 slice + GAP"] += by_node.get("L5_local_channels", 0)  # the slice, when it is a layer of its own
    return out


def kernel_flash(elf: Path, library: str) -> int:
    """Bytes of code of the library's functions in a linked program (layer functions, entry points, kernels)."""
    lines = subprocess.run(
        ["arm-none-eabi-nm", "-S", "--size-sort", str(elf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    total = 0
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            name = parts[3]
            if name.startswith(f"{library}_") or (name.startswith("agilenn_") and name != "agilenn_fault_report"):
                total += int(parts[1], 16)
    return total


def measure(work: Path) -> dict:
    _, anchor = write_anchor(work / "anchor")
    pixels = PixelNormalisation(tuple(NORMALISATION["mean"]), tuple(NORMALISATION["std"]), divisor=255.0)
    results: dict = {"targets": {}}
    for name in TARGETS:
        target = load_target(name)
        fast_dir = work / name / "fast"
        fast = profile_model(anchor, target, work_dir=fast_dir)
        reference = profile_model(anchor, target, kernels="reference", work_dir=work / name / "reference")
        u8 = profile_model(anchor, target, pixels=pixels, work_dir=work / name / "u8")
        # the shipped pipeline needs more RAM than the 20 KB Cortex-M3 has (issue 10 streams it); its
        # instructions are still counted on the emulated board, which has megabytes
        shipped = profile_pipeline(SHIPPED, target, work_dir=work / name / "shipped", allow_overflow=True)
        results["targets"][name] = {
            "core": TARGETS[name],
            "anchor_fast": fast.to_json(),
            "anchor_reference": reference.to_json(),
            "anchor_u8": u8.to_json(),
            "shipped": shipped.to_json(),
            "layers_fast": layer_counts(fast),
            "layers_reference": layer_counts(reference),
            "pixel_stage": u8.layers[0].instructions,
            "float_input_stage": fast.layers[0].instructions,
            "kernel_flash_bytes": kernel_flash(fast_dir / "build" / "program.elf", "anchor_int8"),
            "shipped_network": sum(s.instructions for s in shipped.stages if s.name in ("network", "centroid table")),
        }
    return results


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def markdown(result: dict) -> str:
    t = result["targets"]
    m7 = t["stm32f746"]
    lines = [
        "# Optimized kernels: measured instructions",
        "",
        f"Produced by `{result['command']}` on the emulated cores (qemu 7.2, `agilenn profile`: every executed",
        "instruction counted by a TCG plugin; a layer is its call and everything its kernel executes).",
        "Compiler: arm-none-eabi-gcc 12.2, -O2, each target's flags (targets/*.json).",
        "",
        "## The paper's on-device model on the Cortex-M7 (stm32f746)",
        "",
        "96x96x3 input, random weights with a fixed seed (benchmarks/anchor_model.py), quantized with",
        "`agilenn quantize`'s defaults. *Reference*: the same compiler with the portable reference kernels",
        "(`--kernels reference`; slices are fused in both, so L5 is cheaper than before this work: issue 8",
        "measured 4,310,291 for L1-L6 then). *CMSIS-NN*: issue 8's count for CMSIS-NN with the same compiler",
        "and flags (not re-measured here: the project builds no third-party code).",
        "",
        "| layer | MACs | reference | CMSIS-NN | optimized | optimized / CMSIS-NN | per output |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    fast_layers = {layer["onnx_node"]: layer for layer in m7["anchor_fast"]["layers"]}
    for label, node in LAYERS.items():
        layer = fast_layers[node]
        fast, cmsis = m7["layers_fast"][label], CMSIS_NN_M7[label]
        lines.append(
            f"| {label} | {_fmt(layer['macs'])} | {_fmt(m7['layers_reference'][label])} | {_fmt(cmsis)} | "
            f"**{_fmt(fast)}** | {fast / cmsis:.2f} | {layer['instructions_per_output']:.1f} |"
        )
    total_fast = sum(m7["layers_fast"].values())
    total_ref = sum(m7["layers_reference"].values())
    total_cmsis = sum(CMSIS_NN_M7.values())
    lines += [
        f"| **L1-L6** | | {_fmt(total_ref)} | {_fmt(total_cmsis)} | **{_fmt(total_fast)}** | "
        f"**{total_fast / total_cmsis:.2f}** | |",
        "",
        f"Input stage: float image through QuantizeLinear {_fmt(m7['float_input_stage'])} instructions "
        f"(reference kernels: {_fmt(m7['anchor_reference']['layers'][0]['instructions'])}); uint8 pixels through "
        f"`anchor_int8_run_u8` {_fmt(m7['pixel_stage'])} (27,648 pixel values: the input is quantized at scale "
        "1/255, so every channel's table is a byte offset, added four pixels at a time).",
        "",
        "## Every target",
        "",
        "| target | core | anchor L1-L6 | ratio to M7 | reference kernels | speed-up | pixel stage | "
        "kernel flash | AgileNN network | AgileNN inference |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in t.items():
        layers = sum(row["layers_fast"].values())
        ref = sum(row["layers_reference"].values())
        lines.append(
            f"| {name} | {row['core']} | {_fmt(layers)} | {layers / total_fast:.2f} | {_fmt(ref)} | "
            f"{ref / layers:.1f}x | {_fmt(row['pixel_stage'])} | {_fmt(row['kernel_flash_bytes'])} B | "
            f"{_fmt(row['shipped_network'])} | {_fmt(row['shipped']['instructions_total'])} |"
        )
    lines += [
        "",
        "*Kernel flash*: the code of the library's functions linked for the anchor model (layer functions, entry",
        "point, runtime kernels; weights and start-up code excluded), from `arm-none-eabi-nm -S` of the profiled",
        "program. *AgileNN network*: the shipped model's device network with its centroid table; *AgileNN",
        "inference*: the whole `begin` + frames + `finish` of one test image (stages below). The AgileNN",
        "library streams its network row by row (its RAM: docs/results/agilenn-pipeline.md); the per-row calls",
        "cost some instructions over whole feature maps, and the centroid table also gathers each pixel's",
        "symbols in the coder's order.",
        "",
        "## The shipped AgileNN model (examples/agilenn_fmnist), one inference, by stage",
        "",
        "| stage | " + " | ".join(t) + " |",
        "|---|" + "---:|" * len(t),
    ]
    stages = [s["name"] for s in m7["shipped"]["stages"]]
    for stage in stages:
        cells = []
        for row in t.values():
            value = next(s["instructions"] for s in row["shipped"]["stages"] if s["name"] == stage)
            cells.append(_fmt(value))
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Goals (issue 8)",
        "",
        "| goal | limit | measured | met |",
        "|---|---:|---:|---|",
    ]
    checks = [
        ("anchor L1-L6 on the M7", GOALS["anchor L1-L6 on the M7"], total_fast),
        ("anchor pixel stage (uint8)", GOALS["anchor pixel stage (uint8)"], m7["pixel_stage"]),
        ("AgileNN device network", GOALS["AgileNN device network"], m7["shipped_network"]),
        ("kernel flash for the anchor (M7)", FLASH_GOAL, m7["kernel_flash_bytes"]),
    ]
    for label, limit, value in checks:
        lines.append(f"| {label} | {_fmt(limit)} | {_fmt(value)} | {'yes' if value <= limit else 'NO'} |")
    below = all(m7["layers_fast"][k] < CMSIS_NN_M7[k] for k in LAYERS)
    lines += [f"| every anchor layer below CMSIS-NN (M7) | | | {'yes' if below else 'NO'} |", ""]
    lines += [
        "The cycle estimate of `agilenn profile` is instructions x CPI with an assumed CPI; these tables report",
        "instructions only.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agilenn-kernels-") as tmp:
        result = measure(Path(tmp))
    result["command"] = "python benchmarks/fast_kernels.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result["cmsis_nn_m7_from_issue_8"] = CMSIS_NN_M7
    (args.out / "fast_kernels.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "fast-kernels.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
