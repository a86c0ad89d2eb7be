"""Running a built program natively or under qemu-system-arm with semihosting."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
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


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> RunResult:
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
    return _run(_command(target, Path(executable).resolve()), Path(cwd), timeout_s)


class _TraceCounter:
    """Counts guest instructions from qemu's ``-d in_asm,exec,nochain`` log.

    Each translated block is logged once (``IN:`` and one line per instruction) before it first
    runs; every execution logs a ``Trace`` line naming the block. Summing the block sizes over the
    ``Trace`` lines gives the executed instruction count.

    With `window` = (start_pc, stop_pc), it also records, in ``windows``, the instructions executed
    from each run of the block at start_pc up to (not including) the next run of the block at
    stop_pc: the cost of the code between two marker functions.
    """

    def __init__(self, window: tuple[int, int] | None = None) -> None:
        self.total = 0
        self.ok = True
        self.windows: list[int] = []
        self._sizes: dict[tuple[str, str], int] = {}
        self._window = None if window is None else tuple(f"{pc:x}" for pc in window)

    def consume(self, lines: Iterable[str]) -> None:
        """Read the whole log from an iterable of lines."""
        in_block = False
        block_pc: str | None = None
        block_len = 0
        pending: tuple[str, int] | None = None
        sizes = self._sizes
        total = 0
        start_pc, stop_pc = self._window or (None, None)
        opened: int | None = None
        for line in lines:
            if line.startswith("Trace"):
                parts = line.split()
                fields = parts[3].strip("[]").split("/")
                key = (parts[2], fields[1].lstrip("0") or "0")
                if pending is not None and pending[0] == key[1]:
                    sizes[key] = pending[1]
                    pending = None
                if key[1] == start_pc and opened is None:
                    opened = total
                elif key[1] == stop_pc and opened is not None:
                    self.windows.append(total - opened)
                    opened = None
                size = sizes.get(key)
                if size is None:
                    self.ok = False
                else:
                    total += size
            elif line.startswith("IN:"):
                in_block, block_pc, block_len = True, None, 0
            elif in_block:
                if line.startswith("0x"):
                    if block_pc is None:
                        block_pc = line[2 : line.index(":")].lstrip("0") or "0"
                    block_len += 1
                elif not line.strip():
                    in_block = False
                    if block_pc is not None:
                        pending = (block_pc, block_len)
        self.total = total


def instructions_executed(target: Target, executable: Path, cwd: Path, timeout_s: float = 600.0) -> int | None:
    """Count the guest instructions a bare-metal program executes (startup and libc included).

    Runs qemu with translation-block logging streamed through a FIFO (several times slower than a
    plain run). The count does not depend on the program's exit status. Returns None for the host
    target, on timeout, or when the log cannot be interpreted.
    """
    counter = _count(target, executable, cwd, timeout_s, None)
    return None if counter is None else counter.total


def instructions_between(
    target: Target, executable: Path, cwd: Path, start_pc: int, stop_pc: int, timeout_s: float = 600.0
) -> list[int] | None:
    """The instructions executed between marker functions, once per window: from each entry of the
    function at `start_pc` to the next entry of the function at `stop_pc` (addresses without the
    Thumb bit; the markers: small noinline, noipa functions with distinct bodies). Unlike a whole-program count this
    excludes start-up and any waiting on input. None as for :func:`instructions_executed`."""
    counter = _count(target, executable, cwd, timeout_s, (start_pc & ~1, stop_pc & ~1))
    return None if counter is None else counter.windows


def _count(
    target: Target, executable: Path, cwd: Path, timeout_s: float, window: tuple[int, int] | None
) -> _TraceCounter | None:
    if target.is_host:
        return None
    check_toolchain(target)
    with tempfile.TemporaryDirectory(prefix="agilenn-icount-") as tmp:
        fifo = Path(tmp) / "trace.log"
        os.mkfifo(fifo)
        counter = _TraceCounter(window)

        def reader() -> None:
            with open(fifo, encoding="ascii", errors="replace") as stream:
                counter.consume(stream)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        cmd = qemu_command(target, Path(executable).resolve(), "-d", "in_asm,exec,nochain", "-D", str(fifo))
        result = _run(cmd, Path(cwd), timeout_s)
        if thread.is_alive():
            # qemu never opened the log (e.g. it failed at start-up): unblock the reader.
            with open(fifo, "w", encoding="ascii"):
                pass
        thread.join(timeout=60)
    if result.timed_out or not counter.ok or thread.is_alive() or counter.total == 0:
        return None
    return counter
