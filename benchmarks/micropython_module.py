"""Measured cost of the generated MicroPython modules on the emulated Cortex-M7 (qemu mps2-an500).

    .venv/bin/python benchmarks/micropython_module.py

Builds MicroPython 1.25's qemu port for the out-of-tree board targets/micropython/qemu-mps2-an500
with the modules of the tiny example and of the shipped AgileNN model (target stm32f746), and writes
docs/results/micropython.md and .json with:

- the binding's overhead: guest instructions of a call through the module from MicroPython, minus
  the same C call made directly from C, in the same firmware on the same input. Both are counted by
  qemu between marker functions of a probe module (benchmarks/micropython_probe/; counting
  agilenn_codegen.targets.count_instructions with marks), each minus its empty bracket, and repeated to
  show they are exact;
- the modules' flash: text + data of the firmware with each module minus the firmware without any
  (arm-none-eabi-size), and the binding's own object;
- the native .mpy files' sizes for x64, armv7m and armv7emsp.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agilenn_codegen.micropython import firmware  # noqa: E402
from agilenn_codegen.micropython.session import count_windows, hex_literal  # noqa: E402
from agilenn_codegen.micropython.source import CACHE_DIR, UPSTREAM_VERSION  # noqa: E402
from agilenn_codegen.pipeline.device_model import dataset_images  # noqa: E402
from agilenn_codegen.pipeline.exported import load_exported  # noqa: E402

TINY_MODEL = ROOT / "examples" / "models" / "tiny_cnn_int8.onnx"
AGILENN_EXAMPLE = ROOT / "examples" / "agilenn_fmnist"
PROBE = ROOT / "benchmarks" / "micropython_probe" / "agilenn_probe"
TINY, AGILENN = "tiny_cnn_int8", "agilenn_fashion_mnist"
REPEATS = 10  # measured repetitions, after one that fills the interpreter's lookup caches
# the windows of one repetition, in the order the measuring chunk opens them
WINDOWS = ("py_empty", "py_run", "c_empty", "c_run", "py_begin", "c_begin", "py_local", "c_local")
MEASURE = """\
for _ in range({repeats}):
    p.start(); p.stop()
    p.start(); t.run(x); p.stop()
    p.empty_direct()
    p.tiny_direct()
    p.start(); nn.begin(x); p.stop()
    p.begin_direct()
    p.start(); nn.local_only(); p.stop()
    p.local_direct()
"""


def _size(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data}


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise SystemExit(f"{elf}: no symbol {name}")


def measure(work: Path) -> dict:
    port = firmware.port("qemu-m7")
    libs = firmware.generate_libraries(port, [(TINY_MODEL, []), (AGILENN_EXAMPLE, [])], work / "libs")
    tiny, agilenn = libs[TINY], libs[AGILENN]
    builds = {
        "none": firmware.build_with_modules(port, [], work / "fw-none"),
        TINY: firmware.build_with_modules(port, [tiny], work / "fw-tiny"),
        AGILENN: firmware.build_with_modules(port, [agilenn], work / "fw-agilenn"),
        "both": firmware.build_with_modules(port, [tiny, agilenn], work / "fw-both"),
    }
    probe_elf = firmware.build_with_modules(
        port, [tiny, agilenn], work / "fw-probe", extra_modules=[PROBE], heap_bytes=1 << 20
    )
    sizes = {name: _size(elf) for name, elf in builds.items()}
    base = sizes["none"]["flash"]
    flash = {name: sizes[name]["flash"] - base for name in (TINY, AGILENN, "both")}
    bindings = {}
    for name in (TINY, AGILENN):
        (obj,) = (work / "fw-both").rglob(f"mod{name}.o")
        bindings[name] = _size(obj)["flash"]
    native = {}
    for other in firmware.PORTS.values():  # each architecture's .mpy from a library for that port's target
        extra = ["--allow-overflow"] if other.target == "lpc1768" else []
        own = firmware.generate_libraries(
            other, [(TINY_MODEL, []), (AGILENN_EXAMPLE, extra)], work / f"libs-{other.name}"
        )
        for name, lib in own.items():
            arch = other.native_arch
            mpy = firmware.build_native(lib / "micropython_native", arch, work / "native" / arch / f"{name}.mpy")
            native[f"{name}, {arch} (target {other.target})"] = mpy.stat().st_size

    images, _ = dataset_images(load_exported(AGILENN_EXAMPLE), "test", 1)
    image = np.ascontiguousarray(images[0], np.float32).tobytes()
    chunks = [
        f"import agilenn_probe as p, {TINY} as t, {AGILENN} as nn\nx = {hex_literal(image)}\np.load(x, x)",
        MEASURE.format(repeats=REPEATS + 1),
    ]
    start, stop = _symbol(probe_elf, "agilenn_probe_start"), _symbol(probe_elf, "agilenn_probe_stop")
    windows = count_windows(probe_elf, port.target, chunks, start, stop)
    if len(windows) != (REPEATS + 1) * len(WINDOWS):
        raise SystemExit(f"expected {(REPEATS + 1) * len(WINDOWS)} windows, got {windows}")
    per_repeat = windows[len(WINDOWS) :]  # the first repetition fills the lookup caches
    runs = {key: [per_repeat[r * len(WINDOWS) + i] for r in range(REPEATS)] for i, key in enumerate(WINDOWS)}
    calls = {}
    for call, py, c in (
        ("run", "py_run", "c_run"),
        ("begin", "py_begin", "c_begin"),
        ("local_only", "py_local", "c_local"),
    ):
        py_cost = [a - b for a, b in zip(runs[py], runs["py_empty"], strict=True)]
        c_cost = [a - b for a, b in zip(runs[c], runs["c_empty"], strict=True)]
        overhead = [a - b for a, b in zip(py_cost, c_cost, strict=True)]
        calls[call] = {
            "from_micropython": py_cost,
            "c_direct": c_cost,
            "overhead": overhead,
            "overhead_median": int(np.median(overhead)),
            "overhead_min": min(overhead),
            "overhead_max": max(overhead),
            "c_direct_median": int(np.median(c_cost)),
            "from_micropython_median": int(np.median(py_cost)),
        }
    return {
        "micropython": UPSTREAM_VERSION,
        "board": "qemu mps2-an500 (Cortex-M7, fpv5-sp-d16), out-of-tree board targets/micropython/qemu-mps2-an500",
        "windows": runs,
        "calls": calls,
        "flash": {"firmware_without_modules": sizes["none"], "modules": flash, "binding_objects": bindings},
        "native_mpy_bytes": native,
    }


def markdown(result: dict, command: str) -> str:
    calls = result["calls"]
    names = {
        "run": f"`{TINY}.run(x)` (tiny example, float32 1x28x28 in, 10 logits out)",
        "begin": f"`{AGILENN}.begin(x)` (device network, payload, frames as a list of bytes)",
        "local_only": f"`{AGILENN}.local_only()` (local head's class and logits)",
    }
    lines = [
        "# MicroPython modules: measured figures",
        "",
        f"Produced by `{command}` (machine: 2-core x86-64 host; MicroPython {result['micropython']} from "
        f"Debian's source package; emulated core: {result['board']}).",
        "",
        "## The binding's overhead (instructions on the emulated Cortex-M7)",
        "",
        "A call through the module from MicroPython, against the same C call made directly from C in the",
        "same firmware on the same input (a Fashion-MNIST test image). Both counted by qemu between marker",
        "functions, each minus its empty bracket; the overhead is the difference: the interpreter's call,",
        "the argument checks, and the result objects allocated on MicroPython's heap. Medians of",
        f"{len(calls['run']['overhead'])} repetitions, after one that fills the interpreter's lookup caches. The C",
        "calls count the same every time; the overhead varies with the heap's state (gc_alloc's search for",
        "free blocks), hence its range.",
        "",
        "| call | from MicroPython | C directly | binding overhead (min..max) | overhead / C |",
        "|---|---|---|---|---|",
    ]
    for key, label in names.items():
        call = calls[key]
        py, c, over = call["from_micropython_median"], call["c_direct_median"], call["overhead_median"]
        spread = f"{over:,} ({call['overhead_min']:,}..{call['overhead_max']:,})"
        lines.append(f"| {label} | {py:,} | {c:,} | {spread} | {100.0 * over / c:.2f} % |")
    flash = result["flash"]
    lines += [
        "",
        "## Flash (text + data, arm-none-eabi-size, the qemu port's -Os build)",
        "",
        "| firmware | bytes |",
        "|---|---|",
        f"| without modules | {flash['firmware_without_modules']['flash']:,} |",
        f"| added by `{TINY}` (binding + network + runtime) | {flash['modules'][TINY]:,} |",
        f"| added by `{AGILENN}` (binding + device network + pipeline + runtime) | {flash['modules'][AGILENN]:,} |",
        f"| added by both (one runtime copy) | {flash['modules']['both']:,} |",
        f"| `{TINY}`'s binding object alone (mod{TINY}.o, before --gc-sections) | {flash['binding_objects'][TINY]:,} |",
        f"| `{AGILENN}`'s binding object alone (mod{AGILENN}.o, before --gc-sections) | "
        f"{flash['binding_objects'][AGILENN]:,} |",
        "",
        "## Native .mpy files (dynruntime; code and constants are copied into the heap on import)",
        "",
        "| module and architecture | bytes |",
        "|---|---|",
    ]
    lines += [f"| {key} | {size:,} |" for key, size in result["native_mpy_bytes"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    command = "python benchmarks/micropython_module.py" + (
        f" --out {shlex.quote(str(args.out))}" if args.out != ROOT / "docs" / "results" else ""
    )
    result = measure(CACHE_DIR / "benchmark")
    for name, call in result["calls"].items():
        if len(set(call["c_direct"])) != 1:  # the library's own work is exactly repeatable
            raise SystemExit(f"{name}: the direct C calls counted differently: {call['c_direct']}")
        # a garbage collection of the 1 MiB heap inside a bracket would cost far more than this
        if call["overhead_max"] > call["overhead_median"] + 50_000:
            raise SystemExit(f"{name}: an outlier among the overheads: {call['overhead']}")
    result["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "micropython.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "micropython.md").write_text(markdown(result, command))
    print((args.out / "micropython.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
