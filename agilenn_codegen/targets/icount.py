"""Exact guest instruction counts on the emulated cores, through a qemu TCG plugin.

The plugin (``targets/qemu/agilenn_icount.c``) adds one to a counter for every executed instruction
and, at each execution of a *marked* address, records the count so far. It is compiled once with the
host's gcc into a cache folder (``$AGILENN_CACHE_DIR``, else ``$XDG_CACHE_HOME/agilenn-codegen``,
else ``~/.cache/agilenn-codegen``), keyed by the source's hash.

    counts = count_instructions(target, elf, cwd, marks=(0x1234, 0x1238))
    counts.total                        # every instruction of the run, start-up and libc included
    counts.events                       # ((address, count before it), ...) in execution order
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.paths import TARGETS_DIR
from agilenn_codegen.targets.build import SETUP_HINT, check_toolchain
from agilenn_codegen.targets.model import Target
from agilenn_codegen.targets.run import RunResult, qemu_command, run_command

PLUGIN_SOURCE = TARGETS_DIR / "qemu" / "agilenn_icount.c"


@dataclass(frozen=True)
class InstructionCounts:
    total: int
    events: tuple[tuple[int, int], ...]  # (marked address, instructions executed before it)
    run: RunResult

    def counts_at(self, address: int) -> list[int]:
        """The running count at every execution of `address`, in order."""
        return [count for addr, count in self.events if addr == address]


def cache_dir() -> Path:
    explicit = os.environ.get("AGILENN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agilenn-codegen"


def plugin_path() -> Path:
    """The compiled plugin, built on first use (host gcc) and cached by source hash."""
    source = PLUGIN_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    path = cache_dir() / f"libagilenn_icount-{digest}.so"
    if path.is_file():
        return path
    if shutil.which("gcc") is None:
        raise UserError("counting instructions needs gcc to build the qemu plugin", hint=SETUP_HINT.format(pkg="gcc"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        staged = Path(tmp) / path.name
        proc = subprocess.run(
            [
                "gcc",
                "-O2",
                "-shared",
                "-fPIC",
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-o",
                str(staged),
                str(PLUGIN_SOURCE),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ToolError(f"building the qemu instruction-count plugin failed:\n{proc.stderr.strip()}")
        os.replace(staged, path)  # atomic: concurrent builders all end with a complete file
    return path


def parse_counts(lines: Iterable[str]) -> tuple[int | None, tuple[tuple[int, int], ...]]:
    total: int | None = None
    events: list[tuple[int, int]] = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "mark":
            events.append((int(parts[1], 16), int(parts[2])))
        elif len(parts) == 2 and parts[0] == "total":
            total = int(parts[1])
    return total, tuple(events)


def count_instructions(
    target: Target, executable: Path, cwd: Path, *, marks: Sequence[int] = (), timeout_s: float = 600.0
) -> InstructionCounts:
    """Run `executable` on the target's emulated core and count its instructions exactly.

    Raises ToolError when the run times out or the plugin writes no total (qemu failed to start).
    The count does not depend on the program's exit status, which is in ``.run.returncode``.
    """
    if target.is_host:
        raise UserError("instruction counts need an emulated target, not the host")
    check_toolchain(target)
    plugin = plugin_path()
    with tempfile.TemporaryDirectory(prefix="agilenn-icount-") as tmp:
        out = Path(tmp) / "counts.txt"
        options = [f"out={out}"]
        if marks:
            marks_file = Path(tmp) / "marks.txt"
            marks_file.write_text("".join(f"{m:#x}\n" for m in sorted(set(marks))))
            options.append(f"marks={marks_file}")
        cmd = qemu_command(target, Path(executable).resolve(), "-plugin", ",".join([str(plugin), *options]))
        result = run_command(cmd, Path(cwd), timeout_s)
        if result.timed_out:
            raise ToolError(f"counting instructions timed out after {timeout_s:g} s: {' '.join(cmd)}")
        total, events = parse_counts(out.read_text().splitlines()) if out.is_file() else (None, ())
    if total is None:
        raise ToolError(f"qemu wrote no instruction count (exit {result.returncode}):\n{result.stderr.strip()[-2000:]}")
    return InstructionCounts(total, events, result)


def instructions_executed(target: Target, executable: Path, cwd: Path, timeout_s: float = 600.0) -> int | None:
    """Guest instructions a bare-metal program executes (start-up and libc included); None for the host."""
    if target.is_host:
        return None
    return count_instructions(target, executable, cwd, timeout_s=timeout_s).total
