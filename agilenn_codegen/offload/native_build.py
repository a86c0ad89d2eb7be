"""How the server's fast decoder is built: one C compiler call, from the package's own C sources.

The shared library holds the context decoder (``agilenn_codegen/offload/native/``), the device's
context encoder (``runtime_c/offload/agilenn_context_encode*.c``, which the decoder uses to check that
a body is canonical) and the device's SipHash-2-4 (``runtime_c/offload/agilenn_siphash.c``, the MAC of
authenticated frames). Its file name carries a digest of those sources, so a library built from other
sources is never loaded. It is built at install time by the hatchling hook (``hatch_build.py``), or
on first use into the user's cache folder; ``python -m agilenn_codegen.offload.native_build`` builds it
by hand.

Standard library only: the build hook loads this file by path, before the package's dependencies exist.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
NATIVE_SOURCE_DIR = Path(__file__).resolve().parent / "native"
LIBRARY_DIR = PACKAGE_DIR / "_native"  # where the install-time build puts it
CFLAGS = ("-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-fvisibility=default")


class BuildError(Exception):
    """The library cannot be built here (no compiler, or the compiler failed); the message says which."""


def runtime_dir() -> Path:
    """runtime_c/ of a source checkout, or the copy inside an installed wheel."""
    for candidate in (PACKAGE_DIR.parent / "runtime_c", PACKAGE_DIR / "_data" / "runtime_c"):
        if (candidate / "offload" / "agilenn_offload.h").is_file():
            return candidate
    raise BuildError(f"runtime_c/ not found next to {PACKAGE_DIR} or in its _data folder")


def source_files(runtime: Path | None = None) -> list[Path]:
    """The C files the library is compiled from, and the headers they include (for the digest)."""
    runtime = runtime or runtime_dir()
    offload = runtime / "offload"
    files = [*sorted(offload.glob("agilenn_context_encode*.c")), offload / "agilenn_siphash.c"]
    files += [offload / "agilenn_context_internal.h", offload / "agilenn_offload.h"]
    files += [runtime / "common" / "agilenn_types.h"]
    files += sorted(NATIVE_SOURCE_DIR.glob("*.[ch]"))
    return files


def digest(files: list[Path]) -> str:
    """16 hex digits of the SHA-256 over the files' names and contents."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def library_name(files: list[Path] | None = None) -> str:
    suffix = ".dylib" if sys.platform == "darwin" else ".dll" if os.name == "nt" else ".so"
    return f"libagilenn_offload_{digest(files or source_files())}{suffix}"


def find_compiler() -> str | None:
    """$CC if set, else the first of cc, gcc, clang on PATH."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    return None


def build(out: Path, *, compiler: str | None = None) -> Path:
    """Compile the library to ``out`` (written atomically); BuildError with the reason if impossible."""
    runtime = runtime_dir()
    files = source_files(runtime)
    cc = compiler or find_compiler()
    if cc is None:
        raise BuildError("no C compiler found (set CC, or install gcc or clang)")
    sources = [str(p) for p in files if p.suffix == ".c"]
    includes = [f"-I{d}" for d in (NATIVE_SOURCE_DIR, runtime / "offload", runtime / "common")]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        partial = Path(tmp) / out.name
        command = [*shlex.split(cc), *CFLAGS, *includes, *sources, "-o", str(partial)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"cannot run the C compiler {cc!r}: {exc}") from exc
        if result.returncode != 0:
            raise BuildError(f"{cc} failed (exit {result.returncode}):\n{result.stderr.strip()}")
        os.replace(partial, out)
    return out


def main() -> int:
    try:
        path = build(LIBRARY_DIR / library_name())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
