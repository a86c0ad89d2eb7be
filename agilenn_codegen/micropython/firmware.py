"""Building MicroPython with generated modules: the unix port, the qemu port for emulated Cortex-M
boards, and native .mpy modules, from the Debian source in build/micropython/ (see source.py).

Every build runs make in its own folder under build/micropython/, so an unchanged firmware is not
rebuilt, and takes a file lock there, so that test workers running in parallel share one build.
"""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.micropython.source import CACHE_DIR, source_dir
from agilenn_codegen.paths import TARGETS_DIR

BOARDS_DIR = TARGETS_DIR / "micropython"
BUILD_TIMEOUT_S = 900.0
# The unix port without the parts whose sources Debian's repacked tarball leaves out (and no
# frozen micropython-lib: that submodule is empty in the tarball).
UNIX_OPTIONS = (
    "VARIANT=standard",
    "FROZEN_MANIFEST=",
    "MICROPY_PY_BTREE=0",
    "MICROPY_PY_FFI=0",
    "MICROPY_SSL_MBEDTLS=0",
    "MICROPY_SSL_AXTLS=0",
    "MICROPY_PY_SSL=0",
)


@dataclass(frozen=True)
class Port:
    """A MicroPython firmware the tests build: which port and board, which agilenn target its
    libraries are generated for, and which native-module architecture it loads."""

    name: str
    port: str  # ports/<port>
    board: str | None  # qemu board, None for unix
    board_dir: Path | None  # out-of-tree board folder, None for in-tree boards
    target: str  # agilenn target of the libraries built into it (and of its emulator)
    native_arch: str  # dynruntime ARCH of the .mpy modules it loads
    description: str

    @property
    def emulated(self) -> bool:
        return self.port == "qemu"


PORTS: dict[str, Port] = {
    "unix": Port("unix", "unix", None, None, "host", "x64", "unix port (x86-64 host)"),
    "qemu-m3": Port(
        "qemu-m3", "qemu", "MPS2_AN385", None, "lpc1768", "armv7m", "qemu port, mps2-an385 (Cortex-M3, no FPU)"
    ),
    "qemu-m7": Port(
        "qemu-m7",
        "qemu",
        "MPS2_AN500",
        BOARDS_DIR / "qemu-mps2-an500",
        "stm32f746",
        "armv7emsp",
        "qemu port, out-of-tree board mps2-an500 (Cortex-M7, single-precision FPU)",
    ),
}


def port(name: str) -> Port:
    if name not in PORTS:
        raise UserError(f"unknown MicroPython port {name!r}; known: {', '.join(PORTS)}")
    return PORTS[name]


@contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` (created), held while a build or a generation runs in it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sync_tree(source: Path, dest: Path) -> None:
    """Make `dest` a copy of `source`, rewriting only files whose content changed (make then
    rebuilds only what changed) and removing files that are gone."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.is_file()}
    for rel in sorted(wanted):
        src, dst = source / rel, dest / rel
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest)
        if path.is_file() and rel not in wanted and path.name != ".lock":
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def bundle_modules(module_dirs: Sequence[Path], bundle: Path) -> Path:
    """A USER_C_MODULES folder holding only the given module folders (as symbolic links)."""
    bundle.mkdir(parents=True, exist_ok=True)
    wanted = {d.name: d.resolve() for d in module_dirs}
    for entry in bundle.iterdir():
        if entry.name not in wanted or not entry.is_symlink() or entry.resolve() != wanted[entry.name]:
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            elif entry.is_dir():
                shutil.rmtree(entry)
    for name, target in wanted.items():
        link = bundle / name
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    return bundle


def _make(args: Sequence[str], cwd: Path, log: Path) -> None:
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    # MicroPython's version header asks git; the source lives inside this work tree, whose commits
    # would otherwise become the firmware's version (and rebuild it at every commit).
    env["GIT_CEILING_DIRECTORIES"] = str(source_dir().parent)
    cmd = ["make", f"-j{min(os.cpu_count() or 1, 4)}", *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w") as out:
            proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"make in {cwd} did not finish within {BUILD_TIMEOUT_S:.0f} s (log: {log})") from None
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise ToolError(f"make in {cwd} failed (exit {proc.returncode}); log {log}:\n{tail}\ncommand: {' '.join(cmd)}")


def build_firmware(which: Port, modules_dir: Path | None, build_dir: Path, *, heap_bytes: int | None = None) -> Path:
    """Build `which` with the user C modules in `modules_dir` into `build_dir`; returns the
    executable (unix) or firmware.elf (qemu)."""
    src = source_dir()
    args = [f"BUILD={build_dir.resolve()}"]
    if modules_dir is not None:
        args.append(f"USER_C_MODULES={modules_dir.resolve()}")
    if which.port == "unix":
        args += UNIX_OPTIONS
        product = build_dir / "micropython"
    else:
        args += [f"BOARD={which.board}", "FROZEN_MANIFEST="]
        if which.board_dir is not None:
            args.append(f"BOARD_DIR={which.board_dir}")
        if heap_bytes is not None:
            args.append(f"MICROPY_HEAP_SIZE={heap_bytes}")
        product = build_dir / "firmware.elf"
    with build_lock(build_dir):
        _make(args, src / "ports" / which.port, build_dir / "make.log")
    if not product.is_file():
        raise ToolError(f"make finished but {product} is missing")
    return product


def build_native(native_dir: Path, arch: str, out: Path) -> Path:
    """Build the native .mpy of a generated module (its micropython_native/ folder) for `arch`
    and copy it to `out` (a .mpy path)."""
    src = source_dir()
    with build_lock(native_dir / f"build-{arch}"):
        args = [f"MPY_DIR={src}", f"ARCH={arch}", f"PYTHON={sys.executable}"]
        _make(args, native_dir, native_dir / f"make-{arch}.log")
        built = next(iter(sorted((native_dir / arch).glob("*.mpy"))), None)
        if built is None:
            raise ToolError(f"the native module build in {native_dir} made no .mpy for {arch}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, out)
    return out


def firmware_dir(name: str) -> Path:
    return CACHE_DIR / "firmware" / name


def generate_libraries(which: Port, models: Sequence[tuple[Path, Sequence[str]]], dest: Path) -> dict[str, Path]:
    """`agilenn codegen MODEL --target <the port's target> --micropython [extra...]` for each
    (MODEL, extra) into dest/<library name>/, rewriting only changed files; returns name -> folder."""
    import json

    from agilenn_codegen.cli import main

    libraries: dict[str, Path] = {}
    # a fixed staging folder: the command line (with --out) in the generated banners stays the same
    staging = dest / ".staging"
    with build_lock(dest):
        shutil.rmtree(staging, ignore_errors=True)
        for index, (model, extra) in enumerate(models):
            out = staging / str(index)
            args = ["codegen", str(model), "--target", which.target, "--out", str(out), "--micropython", *extra]
            report = io.StringIO()
            with contextlib.redirect_stdout(report), contextlib.redirect_stderr(report):
                status = main(args)
            if status != 0:
                raise ToolError(f"agilenn {' '.join(args)} failed:\n{report.getvalue()}")
            name = json.loads((out / "manifest.json").read_text())["library"]
            sync_tree(out, dest / name)
            libraries[name] = dest / name
        shutil.rmtree(staging, ignore_errors=True)
    return libraries


def build_with_modules(
    which: Port,
    libraries: Sequence[Path],
    build_dir: Path,
    *,
    extra_modules: Sequence[Path] = (),
    heap_bytes: int | None = None,
) -> Path:
    """Build `which` with the user C modules of the generated `libraries` (and any `extra_modules`
    folders) in build_dir; the USER_C_MODULES folder is build_dir/modules."""
    module_dirs = [lib / "micropython" / lib.name for lib in libraries] + list(extra_modules)
    modules = bundle_modules(module_dirs, build_dir.parent / f"{build_dir.name}-modules") if module_dirs else None
    return build_firmware(which, modules, build_dir, heap_bytes=heap_bytes)
