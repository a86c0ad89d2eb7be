"""Compiling and linking a C program for a target, and checking that its tools are installed."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.targets.model import Target

# Flags every build gets: strict C99 and warnings as errors (generated code must be clean).
BASE_CFLAGS: tuple[str, ...] = ("-std=c99", "-Wall", "-Wextra", "-Werror")
SANITIZE_FLAGS: tuple[str, ...] = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
)
QEMU = "qemu-system-arm"
SETUP_HINT = "run `bash scripts/setup.sh` (it installs the Debian packages), or: sudo apt-get install {pkg}"
COMPILE_TIMEOUT_S = 600.0


def _missing(tool: str, package: str) -> UserError:
    return UserError(f"{tool} was not found on PATH", hint=SETUP_HINT.format(pkg=package))


def check_toolchain(target: Target) -> None:
    """Raise UserError naming the missing tool and the package that provides it."""
    if target.is_host:
        if shutil.which("gcc") is None:
            raise _missing("gcc", "gcc")
        return
    if shutil.which(target.compiler) is None:
        raise _missing(target.compiler, "gcc-arm-none-eabi")
    specs = subprocess.run(
        [target.compiler, "-print-file-name=rdimon.specs"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not Path(specs).is_file():
        raise UserError(
            "newlib for arm-none-eabi (rdimon.specs) was not found",
            hint=SETUP_HINT.format(pkg="libnewlib-arm-none-eabi"),
        )
    if shutil.which(QEMU) is None:
        raise _missing(QEMU, "qemu-system-arm")


def compile_command(
    target: Target,
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    output: Path,
    *,
    defines: Mapping[str, str] = {},
    extra_cflags: Sequence[str] = (),
    sanitize: bool = False,
    opt: str = "-O2",
) -> list[str]:
    """The single compile-and-link command line for `target` (no side effects)."""
    cmd = [target.compiler, *target.cflags, *BASE_CFLAGS, opt]
    if sanitize:
        cmd += SANITIZE_FLAGS
    cmd += [f"-D{key}={value}" if value != "" else f"-D{key}" for key, value in defines.items()]
    cmd += [f"-I{path}" for path in include_dirs]
    cmd += list(extra_cflags)
    cmd += [str(path) for path in sources]
    cmd += [str(path) for path in target.startup_sources]
    cmd += list(target.ldflags)
    if target.linker_script is not None:
        # -L lets the board script INCLUDE the shared section layout next to it.
        cmd += [f"-L{target.linker_script.parent}", f"-T{target.linker_script}"]
    cmd += ["-o", str(output), *target.libs]
    return cmd


def build_program(
    target: Target,
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    out_dir: Path,
    *,
    defines: Mapping[str, str] = {},
    extra_cflags: Sequence[str] = (),
    sanitize: bool = False,
    opt: str = "-O2",
    output_name: str = "program",
    chip_memory: int | None = None,
) -> Path:
    """Compile and link `sources` for `target` into `out_dir`; return the executable (ELF) path.

    Bare-metal targets get the startup code and linker script; ``sanitize=True`` (host only) adds
    ASan/UBSan with no recovery. A compiler failure raises ToolError with the compiler's message.

    ``chip_memory`` (bare-metal targets): link into the real MCU's flash and RAM (target.flash_bytes,
    target.ram_bytes) instead of the emulated board's larger memories, with that many bytes of RAM kept for
    the stack and the heap: a program that would not fit the chip is refused (UserError with the numbers).
    """
    if sanitize and not target.is_host:
        raise UserError(f"sanitizer builds need the host target, not {target.name!r}")
    if not sources:
        raise UserError("build_program: no source files given")
    check_toolchain(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = (out_dir / (output_name if target.is_host else f"{output_name}.elf")).resolve()
    if chip_memory is not None:
        target = _on_chip_memory(target, out_dir, chip_memory)
    cmd = compile_command(
        target,
        [Path(s).resolve() for s in sources],
        [Path(d).resolve() for d in include_dirs],
        output,
        defines=defines,
        extra_cflags=extra_cflags,
        sanitize=sanitize,
        opt=opt,
    )
    try:
        proc = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True, check=False, timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{target.compiler} timed out after {COMPILE_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        message = (proc.stderr + proc.stdout).strip()
        if chip_memory is not None and ("overflowed by" in message or "RAM overflow" in message):
            lines = [line for line in message.splitlines() if "overflow" in line]
            raise UserError(
                f"the program does not fit {target.name} ({target.flash_bytes:,} B flash, {target.ram_bytes:,} B RAM "
                f"with {chip_memory:,} B of it for stack and heap): " + "; ".join(lines)
            )
        raise ToolError(
            f"{target.compiler} failed for target {target.name!r} (exit {proc.returncode}):\n"
            f"{message}\ncommand: {' '.join(cmd)}"
        )
    return output


def _on_chip_memory(target: Target, out_dir: Path, stack_and_heap: int) -> Target:
    """The target with a linker script of the chip's own flash and RAM (at the emulated board's origins)."""
    if target.emulator is None or target.linker_script is None:
        raise UserError(f"target {target.name!r} has no emulated board to link for")
    memory = target.emulator.memory
    script = out_dir / "chip_memory.ld"
    script.write_text(
        f"/* {target.name}: the chip's own memories (not the emulated board's), generated by agilenn */\n"
        "MEMORY\n{\n"
        f"    FLASH (rx)  : ORIGIN = 0x{memory.flash_origin:08x}, LENGTH = {target.flash_bytes}\n"
        f"    RAM   (rwx) : ORIGIN = 0x{memory.ram_origin:08x}, LENGTH = {target.ram_bytes}\n"
        "}\n"
        f"STACK_SIZE = {stack_and_heap};\n"
        f"INCLUDE {target.linker_script.parent / 'sections.ld'}\n"
    )
    return dataclasses.replace(target, linker_script=script.resolve())


@dataclass(frozen=True)
class ProgramMemory:
    """What a linked bare-metal program occupies (arm-none-eabi-size, Berkeley format)."""

    text: int  # code and read-only data (flash)
    data: int  # initialised data (flash and RAM)
    bss: int  # zero-initialised data (RAM)

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def static_ram(self) -> int:
        return self.data + self.bss


def program_memory(elf: Path) -> ProgramMemory:
    try:
        out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
        text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError) as exc:
        raise ToolError(f"arm-none-eabi-size failed on {elf}: {exc}") from None
    return ProgramMemory(text, data, bss)
