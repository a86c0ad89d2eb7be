"""The CMake examples: examples/firmware (STM32F746, run on qemu) and examples/host_app (native).

Each test generates the example model's library into a temporary folder with `agilenn codegen`,
configures and builds the example project with cmake exactly as a user would (add_subdirectory +
target_link_libraries, the project's toolchain file for the firmware), runs it, and checks that
the printed logits are bit for bit onnxruntime's for the embedded sample. The firmware's size is
checked against the manifest's flash estimate.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from agilenn_codegen.cli import main as agilenn_main
from agilenn_codegen.compiler.manifest import CODE_BYTES_ESTIMATE
from agilenn_codegen.errors import UserError
from agilenn_codegen.reference import ort_session
from agilenn_codegen.targets import check_toolchain, load_target, run_program

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "models" / "tiny_cnn_int8.onnx"
SAMPLES = ROOT / "examples" / "models" / "tiny_cnn_samples.npy"
FIRMWARE = ROOT / "examples" / "firmware"
HOST_APP = ROOT / "examples" / "host_app"
TOOLCHAIN_FILE = ROOT / "targets" / "cmake" / "arm-none-eabi.cmake"
NAME = "tiny_cnn_int8"
BUILD_TIMEOUT_S = 600
FIRMWARE_TARGET = "stm32f746"

LOGIT_LINE = re.compile(r"^logit (\d+): 0x([0-9a-f]{8}) (\S+)$", re.M)
CLASS_LINE = re.compile(r"^class: (\d+)$", re.M)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _cmake_generator() -> list[str]:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (apt-get install cmake)")
    if shutil.which("ninja") is not None:
        return ["-G", "Ninja"]
    if shutil.which("make") is not None:
        return ["-G", "Unix Makefiles"]
    pytest.skip("neither ninja nor make is installed: cmake has no build tool")


def _require_arm_tools() -> None:
    try:
        check_toolchain(load_target(FIRMWARE_TARGET))
    except UserError as exc:
        pytest.skip(f"arm-none-eabi toolchain or qemu not installed: {exc}")
    if shutil.which("arm-none-eabi-size") is None:
        pytest.skip("arm-none-eabi-size is not installed (binutils-arm-none-eabi)")


def _generate(target: str, out: Path) -> dict:
    """`agilenn codegen` for the example model; returns the manifest."""
    code = agilenn_main(["codegen", str(MODEL), "--target", target, "--out", str(out)])
    assert code == 0, f"agilenn codegen --target {target} failed with exit code {code}"
    return json.loads((out / "manifest.json").read_text())


def _cmake(source: Path, build: Path, *defines: str, cwd: Path | None = None) -> str:
    """Configure and build `source` into `build` (running in `cwd`); returns the build's output.

    A failing step fails the test with cmake's output."""
    configure = ["cmake", *_cmake_generator(), "-S", str(source), "-B", str(build), *defines]
    compile_ = ["cmake", "--build", str(build), "-j", "2"]
    output = ""
    for cmd in (configure, compile_):
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
        output += proc.stdout + proc.stderr
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{output}")
    return output


def _sample_index() -> int:
    header = (FIRMWARE / "sample_image.h").read_text()
    match = re.search(r"#define SAMPLE_IMAGE_INDEX (\d+)", header)
    assert match, "sample_image.h has no SAMPLE_IMAGE_INDEX"
    return int(match.group(1))


def _parse_output(stdout: str) -> tuple[np.ndarray, int]:
    """The logits printed by main.c (as float32, from their bits) and the printed class."""
    found = LOGIT_LINE.findall(stdout)
    assert found, f"no logits in the output:\n{stdout}"
    assert [int(i) for i, _, _ in found] == list(range(len(found))), stdout
    bits = np.array([int(b, 16) for _, b, _ in found], dtype=np.uint32)
    decimals = np.array([float(d) for _, _, d in found])
    logits = bits.view(np.float32)
    # The decimal column is the same number, printed for people.
    np.testing.assert_allclose(decimals, logits, rtol=0, atol=1e-6)
    best = CLASS_LINE.findall(stdout)
    assert len(best) == 1, stdout
    return logits, int(best[0])


def _check_against_reference(stdout: str, expected: np.ndarray) -> None:
    logits, best = _parse_output(stdout)
    assert logits.shape == expected.shape, (logits, expected)
    mismatch = np.flatnonzero(logits.view(np.uint32) != expected.view(np.uint32))
    assert mismatch.size == 0, (
        f"logits differ from onnxruntime at {mismatch.tolist()}:\n"
        f"  got      {[hex(v) for v in logits.view(np.uint32)]}\n"
        f"  expected {[hex(v) for v in expected.view(np.uint32)]}"
    )
    assert best == int(np.argmax(expected)), stdout


def _arm_size(elf: Path) -> dict[str, int]:
    """text/data/bss of an ELF from `arm-none-eabi-size` (Berkeley format)."""
    out = subprocess.run(
        ["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    header, values = out.strip().splitlines()[:2]
    assert header.split()[:3] == ["text", "data", "bss"], out
    text, data, bss = (int(v) for v in values.split()[:3])
    return {"text": text, "data": data, "bss": bss}


MAP_INPUT_SECTION = re.compile(r"^ (\.(?:text|rodata|data|bss)\S*)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(\S+)$", re.M)


def _library_bytes(map_file: Path, library: str) -> dict[str, int]:
    """Bytes the linker kept from lib<library>.a, per section kind, from a GNU ld map file."""
    text = map_file.read_text(errors="replace")
    text = text[text.index("Linker script and memory map") :]  # skip the discarded sections
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for section, size, obj in MAP_INPUT_SECTION.findall(text):
        if f"lib{library}.a(" in obj:
            sizes[section.split(".")[1]] += int(size, 16)
    return sizes


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expected_logits() -> np.ndarray:
    """onnxruntime's logits for the sample built into the examples."""
    pytest.importorskip("onnxruntime")
    sample = np.load(SAMPLES)[_sample_index()][None]
    session = ort_session(MODEL)
    (logits,) = session.run(["logits"], {"input": sample})
    return np.asarray(logits, dtype=np.float32).reshape(-1)


@pytest.fixture(scope="module")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    """The firmware, built with cmake and the arm-none-eabi toolchain file: (ELF, build output, manifest)."""
    _require_arm_tools()
    tmp = tmp_path_factory.mktemp("firmware")
    manifest = _generate(FIRMWARE_TARGET, tmp / "model")
    # As documented: run from the repository root with the toolchain file's relative path.
    output = _cmake(
        FIRMWARE,
        tmp / "build",
        f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE.relative_to(ROOT)}",
        f"-DAGILENN_MODEL_DIR={tmp / 'model'}",
        f"-DAGILENN_MODEL_NAME={NAME}",
        cwd=ROOT,
    )
    elf = tmp / "build" / "firmware.elf"
    assert elf.is_file(), output
    return elf, output, manifest


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


def test_sample_header_matches_samples() -> None:
    """sample_image.h is what make_sample_header.py writes today (exact float32 values)."""
    spec = importlib.util.spec_from_file_location("make_sample_header", FIRMWARE / "make_sample_header.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render(SAMPLES, _sample_index())
    assert (FIRMWARE / "sample_image.h").read_text() == text, "re-run examples/firmware/make_sample_header.py"
    literals = re.findall(r"(-?0x[0-9a-f.]+p[-+]\d+|-?0\.0)f", text)
    values = np.array([float.fromhex(v) for v in literals], dtype=np.float32)
    sample = np.load(SAMPLES)[_sample_index()].reshape(-1)
    assert values.view(np.uint32).tolist() == sample.view(np.uint32).tolist()


def test_host_app_cmake_bit_exact(tmp_path: Path, expected_logits: np.ndarray) -> None:
    """examples/host_app: add_subdirectory of a host-generated library, built with the native compiler."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no native C compiler")
    _generate("host", tmp_path / "model")
    _cmake(HOST_APP, tmp_path / "build", f"-DAGILENN_MODEL_DIR={tmp_path / 'model'}")
    exe = tmp_path / "build" / "host_app"
    result = run_program(load_target("host"), exe, cwd=tmp_path, timeout_s=60)
    assert result.returncode == 0, result.stdout + result.stderr
    _check_against_reference(result.stdout, expected_logits)


@pytest.mark.qemu
def test_firmware_cmake_qemu_bit_exact(
    firmware_build: tuple[Path, str, dict], expected_logits: np.ndarray, tmp_path: Path
) -> None:
    """examples/firmware: cross-compiled with the toolchain file, run on qemu mps2-an500."""
    elf, _, _ = firmware_build
    result = run_program(load_target(FIRMWARE_TARGET), elf, cwd=tmp_path, timeout_s=120)
    assert not result.timed_out, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    _check_against_reference(result.stdout, expected_logits)


def test_firmware_flash_within_manifest_estimate(firmware_build: tuple[Path, str, dict]) -> None:
    """The manifest's flash estimate (code allowance + constants) bounds what the model really costs.

    The whole firmware's .text also holds newlib (printf with float formatting, semihosting, soft
    double routines), the startup code and the 3 KB sample image, which the manifest does not
    claim to cover; the bound is checked on what the linker kept from the generated library (code,
    constants, initialised data), read from the linker map. The whole image must fit the real part.
    """
    elf, output, manifest = firmware_build
    totals = manifest["totals"]
    estimate = CODE_BYTES_ESTIMATE + totals["const_bytes"]
    assert totals["flash_bytes_estimate"] == estimate
    assert re.search(r"^\s*text\s+data\s+bss", output, re.M), f"the build did not print its size:\n{output}"

    size = _arm_size(elf)
    library = _library_bytes(elf.parent / "firmware.map", NAME)
    library_flash = library["text"] + library["rodata"] + library["data"]
    report = (
        f"firmware.elf: text {size['text']} data {size['data']} bss {size['bss']}; "
        f"lib{NAME}.a kept: text {library['text']} rodata {library['rodata']} data {library['data']} "
        f"bss {library['bss']}; manifest flash estimate {estimate} "
        f"(CODE_BYTES_ESTIMATE {CODE_BYTES_ESTIMATE} + const {totals['const_bytes']})"
    )
    print(report)
    assert library["text"] > 0 and library["rodata"] >= totals["const_bytes"], report
    assert library_flash <= estimate, f"the manifest's flash estimate is too low: {report}"
    # The arena is the library's only RAM.
    assert library["bss"] + library["data"] == totals["arena_bytes"] + totals["scratch_bytes"], report
    # The real STM32F746 (1 MB flash, 320 KB SRAM) holds the whole firmware.
    target = load_target(FIRMWARE_TARGET)
    assert size["text"] + size["data"] <= target.flash_bytes, report
    assert size["data"] + size["bss"] <= target.ram_bytes, report
