"""Targets as data: the JSON files, building and running a probe program natively and under qemu."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.paths import TARGETS_DIR
from agilenn_codegen.targets import (
    Target,
    build_program,
    check_toolchain,
    instructions_executed,
    list_targets,
    load_target,
    run_program,
)
from agilenn_codegen.targets.model import read_target_file

DATA = Path(__file__).parent / "targets"
TARGET_NAMES = sorted(p.stem for p in TARGETS_DIR.glob("*.json"))
EMULATED = [name for name in TARGET_NAMES if name != "host"]
EXIT_CODE = 3


def _require_tools(target: Target) -> None:
    try:
        check_toolchain(target)
    except UserError as exc:
        pytest.skip(f"toolchain for {target.name} not installed: {exc}")


def _probe_input() -> bytes:
    return bytes(range(256))  # every int8 value: odd values give .5 ties after halving


def _probe_expected(data: bytes) -> bytes:
    x = np.frombuffer(data, dtype=np.int8).astype(np.int64)
    half = x.astype(np.float32) / np.float32(2)
    lrint = np.rint(half).astype("<i4")  # round half to even, like lrintf/rintf
    rint = np.rint(half).astype("<f4")
    fma = (x.astype(np.float64) * 0.75 + 0.125).astype("<f4")  # exact in float64: one rounding
    prod = ((x * 1000003) * ((x - 7) * 65537)).astype("<i8")
    v = (x & 0xFF) | 1
    clz = np.array([32 - int(i).bit_length() for i in v], dtype="<i4")
    return b"".join(a.tobytes() for a in (lrint, rint, fma, prod, clz))


def _build_and_run_probe(target: Target, tmp_path: Path, *, sanitize: bool = False) -> None:
    _require_tools(target)
    (tmp_path / "probe_in.bin").write_bytes(_probe_input())
    exe = build_program(
        target,
        [DATA / "probe.c"],
        [],
        tmp_path / "build",
        defines={"PROBE_EXIT_CODE": str(EXIT_CODE)},
        sanitize=sanitize,
    )
    result = run_program(target, exe, tmp_path, timeout_s=60)
    assert result.returncode == EXIT_CODE, result
    assert "probe: 256 bytes in" in result.stdout
    assert (tmp_path / "probe_out.bin").read_bytes() == _probe_expected(_probe_input())


def test_expected_values_have_ties() -> None:
    out = np.frombuffer(_probe_expected(bytes([1, 3, 5, 0xFF, 0xFD])), dtype="<i4", count=5)
    assert out.tolist() == [0, 2, 2, 0, -2]


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_every_target_loads(name: str) -> None:
    target = load_target(name)
    assert target.name == name
    assert "-ffp-contract=off" in target.cflags
    assert target.is_host == (target.emulator is None)
    assert target.clock_hz > 0 and target.ram_bytes > 0 and target.flash_bytes > 0
    if not target.is_host:
        assert target.linker_script is not None and target.linker_script.is_file()
        assert all(p.is_file() for p in target.startup_sources)
        float_abi = "-mfloat-abi=hard" if target.fpu else "-mfloat-abi=soft"
        assert float_abi in target.cflags
        assert f"-mcpu={target.cpu}" in target.cflags


def test_expected_targets_present() -> None:
    names = {t.name for t in list_targets()}
    assert {"host", "stm32f746", "nrf52840", "stm32l552", "stm32f103", "lpc1768"} <= names
    assert list_targets()[0].is_host
    assert not load_target("stm32f103").fpu


@pytest.mark.parametrize("name", EMULATED)
def test_linker_script_matches_emulator_memory(name: str) -> None:
    target = load_target(name)
    assert target.emulator is not None and target.linker_script is not None
    text = target.linker_script.read_text()
    memory = target.emulator.memory
    origins = [int(v, 16) for v in re.findall(r"ORIGIN\s*=\s*(0x[0-9a-fA-F]+)", text)]
    assert origins == [memory.flash_origin, memory.ram_origin]


def test_unknown_target_lists_names() -> None:
    with pytest.raises(UserError) as info:
        load_target("no-such-board")
    for name in TARGET_NAMES:
        assert name in str(info.value)


def _write_variant(tmp_path: Path, change: dict[str, object]) -> Path:
    data = json.loads((TARGETS_DIR / "stm32f746.json").read_text())
    data.update(change)
    path = tmp_path / "stm32f746.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cflags": ["-mcpu=cortex-m7", "-mthumb"]}, "cflags"),
        ({"cflags": ["-ffp-contract=off", "-ffast-math"]}, "cflags"),
        ({"clock_hz": "fast"}, "clock_hz"),
        ({"fpu": "yes"}, "fpu"),
        ({"toolchain": "clang"}, "toolchain"),
        ({"emulator": None}, "emulator"),
        ({"linker_script": "cortex-m/missing.ld"}, "linker_script"),
        ({"name": "other"}, "name"),
    ],
)
def test_invalid_target_names_file_and_field(tmp_path: Path, change: dict[str, object], field: str) -> None:
    path = _write_variant(tmp_path, change)
    with pytest.raises(UserError) as info:
        read_target_file(path, TARGETS_DIR)
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value)


def test_missing_field_is_named(tmp_path: Path) -> None:
    data = json.loads((TARGETS_DIR / "host.json").read_text())
    del data["ram_bytes"]
    path = tmp_path / "host.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="'ram_bytes': missing"):
        read_target_file(path, TARGETS_DIR)


def test_probe_host(tmp_path: Path) -> None:
    _build_and_run_probe(load_target("host"), tmp_path)


def test_probe_host_sanitized(tmp_path: Path) -> None:
    _build_and_run_probe(load_target("host"), tmp_path, sanitize=True)


def test_sanitize_needs_host(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="host"):
        build_program(load_target("stm32f746"), [DATA / "probe.c"], [], tmp_path, sanitize=True)


def test_compiler_error_is_tool_error(tmp_path: Path) -> None:
    source = tmp_path / "bad.c"
    source.write_text("int main(void) { int unused; return 0; }\n")  # -Werror: unused variable
    with pytest.raises(ToolError, match="unused"):
        build_program(load_target("host"), [source], [], tmp_path / "build")


def test_timeout_kills_program(tmp_path: Path) -> None:
    source = tmp_path / "spin.c"
    source.write_text("int main(void) { volatile int x = 1; while (x) { } return 0; }\n")
    target = load_target("host")
    exe = build_program(target, [source], [], tmp_path / "build")
    result = run_program(target, exe, tmp_path, timeout_s=0.5)
    assert result.timed_out and result.returncode == 124
    assert "timeout" in result.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("name", EMULATED)
def test_probe_emulated(name: str, tmp_path: Path) -> None:
    _build_and_run_probe(load_target(name), tmp_path)


@pytest.mark.qemu
def test_fault_exits_instead_of_hanging(tmp_path: Path) -> None:
    target = load_target("stm32f746")
    _require_tools(target)
    exe = build_program(target, [DATA / "fault.c"], [], tmp_path / "build")
    result = run_program(target, exe, tmp_path, timeout_s=30)
    assert not result.timed_out
    assert result.returncode == 70
    assert "about to fault" in result.stdout
    assert "fault: ipsr=" in result.stderr


@pytest.mark.qemu
def test_instructions_executed_is_linear_in_work(tmp_path: Path) -> None:
    target = load_target("stm32f103")
    _require_tools(target)
    counts = []
    for n in (1000, 2000, 3000):
        exe = build_program(target, [DATA / "loop.c"], [], tmp_path / f"b{n}", defines={"LOOP_COUNT": str(n)})
        count = instructions_executed(target, exe, tmp_path)
        assert count is not None
        counts.append(count)
    step = counts[1] - counts[0]
    assert step > 1000
    assert counts[2] - counts[1] == step
    assert instructions_executed(load_target("host"), Path("unused"), tmp_path) is None


def test_cmake_toolchain_file_present() -> None:
    text = (TARGETS_DIR / "cmake" / "arm-none-eabi.cmake").read_text()
    assert "CMAKE_SYSTEM_NAME Generic" in text
    assert "CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY" in text


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_toolchain_configures(tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    import subprocess

    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(probe C)\nadd_library(probe STATIC probe.c)\n"
    )
    (tmp_path / "probe.c").write_text("int probe(int x) { return x + 1; }\n")
    toolchain = TARGETS_DIR / "cmake" / "arm-none-eabi.cmake"
    build = tmp_path / "build"
    cfg = subprocess.run(
        [
            "cmake",
            "-S",
            str(tmp_path),
            "-B",
            str(build),
            f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
            "-DCMAKE_C_FLAGS=-mcpu=cortex-m4 -mthumb",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    out = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.qemu
def test_chip_memory_links_into_the_chips_own_ram(tmp_path: Path) -> None:
    """chip_memory: the program is linked into the MCU's flash and RAM (not the board's 4 MiB): one that fits
    runs; one whose data does not fit the STM32F103's 20 KB is refused with the numbers."""
    target = load_target("stm32f103")
    source = tmp_path / "main.c"
    program = "#include <stdint.h>\nstatic uint8_t big[{n}];\nint main(void) {{ big[{n} - 1] = 1; return big[0]; }}\n"
    source.write_text(program.format(n=8 * 1024))
    elf = build_program(target, [source], [], tmp_path / "fits", chip_memory=4096)
    assert run_program(target, elf, tmp_path, timeout_s=60).returncode == 0
    script = (tmp_path / "fits" / "chip_memory.ld").read_text()
    assert "LENGTH = 20480" in script and "LENGTH = 131072" in script
    source.write_text(program.format(n=18 * 1024))
    with pytest.raises(UserError, match=r"does not fit stm32f103 \(131,072 B flash, 20,480 B RAM"):
        build_program(target, [source], [], tmp_path / "too_big", chip_memory=4096)
