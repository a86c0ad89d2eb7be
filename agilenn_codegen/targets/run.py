"""Running a built program natively or under qemu-system-arm with semihosting."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import UserError
from agilenn_codegen.targets.build import QEMU, check_toolchain
from agilenn_codegen.targets.model import Target

TIMEOUT_RETURNCODE = 124


@dataclass(frozen=True)
class RunResult:
    """Outcome of one run. On timeout the process is killed, ``timed_out`` is set and
    ``returncode`` is 124 (like coreutils ``timeout``)."""

    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool = False


def qemu_command(target: Target, executable: Path, *extra: str) -> list[str]:
    """The qemu-system-arm command line that runs `executable` with semihosting file I/O."""
    emulator = target.emulator
    if emulator is None:
        raise UserError(f"target {target.name!r} has no emulator")
    return [
        QEMU,
        "-M",
        emulator.machine,
        "-cpu",
        emulator.cpu,
        "-nographic",
        "-monitor",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        *emulator.extra_args,
        *extra,
        "-kernel",
        str(executable),
    ]


def _command(target: Target, executable: Path) -> list[str]:
    return [str(executable)] if target.is_host else qemu_command(target, executable)


def run_command(cmd: list[str], cwd: Path, timeout_s: float) -> RunResult:
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        note = f"\n[agilenn] killed after the {timeout_s:g} s timeout: {' '.join(cmd)}\n"
        return RunResult(
            returncode=TIMEOUT_RETURNCODE,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace") + note,
            elapsed_s=time.monotonic() - start,
            timed_out=True,
        )
    return RunResult(
        returncode=proc.returncode,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        elapsed_s=time.monotonic() - start,
    )


def run_program(target: Target, executable: Path, cwd: Path, timeout_s: float = 120.0) -> RunResult:
    """Run `executable` in `cwd` (natively or under qemu); relative file paths resolve in `cwd`.

    Under qemu, stdio and files go through semihosting and main's return value becomes qemu's
    exit status; a fault prints a ``fault:`` line on stderr and exits with status 70.
    """
    check_toolchain(target)
    return run_command(_command(target, Path(executable).resolve()), Path(cwd), timeout_s)
