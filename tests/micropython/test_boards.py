"""The out-of-tree MPS2 AN500 (Cortex-M7) board: its reset entry turns the FPU on before MicroPython
starts, and the firmware really runs hard-float code (the exactness tests run it on the emulated core)."""

from __future__ import annotations

import struct
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from tests.micropython import harness

pytestmark = pytest.mark.micropython


def _symbols(elf: ELFFile) -> dict[str, int]:
    table = elf.get_section_by_name(".symtab")
    return {sym.name: sym["st_value"] for sym in table.iter_symbols() if sym.name}


def test_the_m7_reset_vector_enables_the_fpu_first():
    firmware = harness.prepared("qemu-m7").program
    with firmware.open("rb") as stream:
        elf = ELFFile(stream)
        symbols = _symbols(elf)
        entry = symbols["board_reset"] & ~1
        text = elf.get_section_by_name(".text")
        assert text["sh_addr"] == 0
        stack, reset = struct.unpack_from("<II", text.data(), 0)
        assert symbols["board_vector_table"] == 0
        assert reset == symbols["board_reset"] and reset & 1  # the board's handler, a Thumb entry
        assert stack == symbols["_estack"]
        assert elf.header["e_flags"] & 0x400  # EF_ARM_ABI_FLOAT_HARD
    listing = subprocess.run(
        ["arm-none-eabi-objdump", "-d", f"--start-address={entry}", f"--stop-address={entry + 32}", str(firmware)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dsb" in listing and "isb" in listing and "<Reset_Handler>" in listing
    kernels = subprocess.run(
        ["arm-none-eabi-objdump", "-d", str(firmware)], capture_output=True, text=True, check=True
    ).stdout
    assert "vmul.f32" in kernels or "vfma.f32" in kernels  # the generated library's requantization uses the FPU


def test_the_m3_firmware_is_soft_float():
    firmware = harness.prepared("qemu-m3").program
    with firmware.open("rb") as stream:
        assert not ELFFile(stream).header["e_flags"] & 0x400


def test_cpacr_grants_the_fpu_on_the_emulated_m7_and_the_m3_has_none():
    probe = ["import machine\nprint(hex(machine.mem32[0xE000ED88]))"]  # CPACR
    (m7,) = harness.prepared("qemu-m7").run(probe)
    assert int(m7.check(), 16) & (0xF << 20) == 0xF << 20  # CP10 and CP11: full access
    (m3,) = harness.prepared("qemu-m3").run(probe)
    assert int(m3.check(), 16) == 0
