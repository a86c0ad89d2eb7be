"""Running MicroPython code on a built firmware: the unix port natively, the qemu port on an
emulated board through its UART.

Code goes in as *chunks*, executed one after another in one interpreter (state carries over),
each giving its own stdout and error text, the way MicroPython's raw REPL runs pasted code:

- qemu: the board's UART is a TCP connection to this process; the raw REPL (Ctrl-A) receives the
  chunks, each ended by Ctrl-D, then ``machine.reset()`` ends qemu. Its replies, ``OK`` + output +
  Ctrl-D + error + Ctrl-D + ``>``, are split per chunk.
- unix: a small driver script exec()s the chunks (read from a file) with the same framing.

The same transcript can run under the instruction counter (:func:`count_windows`), which is how
the binding's overhead is measured (benchmarks/micropython_module.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import ToolError
from agilenn_codegen.targets import Target, count_instructions, load_target, run_program

RAW_REPL = b"\x01"
END = b"\x04"
BANNER = b"raw REPL; CTRL-B to exit\r\n>"
RESET = "import machine\nmachine.reset()\n"

UNIX_DRIVER = """\
import sys
with open(sys.argv[1]) as f:
    chunks = f.read().split('\\x00')
g = {'__name__': '__main__'}
for code in chunks:
    sys.stdout.write('OK')
    err = ''
    try:
        exec(code, g)
    except BaseException as e:
        import io
        buf = io.StringIO()
        sys.print_exception(e, buf)
        err = buf.getvalue()
    sys.stdout.write('\\x04' + err + '\\x04>')
"""


@dataclass(frozen=True)
class ChunkResult:
    output: str  # what the chunk printed
    error: str  # the traceback of an uncaught exception, or ""

    def check(self) -> str:
        """The output, or ToolError with the traceback when the chunk raised."""
        if self.error:
            raise ToolError(f"MicroPython raised:\n{self.error}")
        return self.output


def parse_transcript(data: bytes, count: int) -> list[ChunkResult]:
    """Split raw-REPL replies (``OK`` out ``\\x04`` err ``\\x04>``) into `count` chunk results."""
    results = []
    pos = 0
    for index in range(count):
        start = data.find(b"OK", pos)
        if start < 0:
            tail = data[-800:].decode(errors="replace")
            raise ToolError(f"MicroPython stopped before chunk {index + 1} of {count}; its output ended:\n{tail}")
        out_end = data.find(END, start + 2)
        err_end = data.find(END, out_end + 1) if out_end >= 0 else -1
        if err_end < 0:
            tail = data[start:][-800:].decode(errors="replace")
            raise ToolError(f"MicroPython stopped inside chunk {index + 1} of {count}; its output ended:\n{tail}")
        output = data[start + 2 : out_end].decode(errors="replace").replace("\r\n", "\n")
        error = data[out_end + 1 : err_end].decode(errors="replace").replace("\r\n", "\n")
        results.append(ChunkResult(output, error))
        pos = err_end + 1
    return results


def run_unix(binary: Path, chunks: Sequence[str], *, timeout_s: float = 300.0, heap: str = "8M") -> list[ChunkResult]:
    """Run `chunks` in the unix port `binary`."""
    with tempfile.TemporaryDirectory(prefix="agilenn-mpy-") as tmp:
        driver = Path(tmp) / "driver.py"
        driver.write_text(UNIX_DRIVER)
        source = Path(tmp) / "chunks.txt"
        source.write_text("\x00".join(chunks))
        try:
            proc = subprocess.run(
                [str(binary), "-X", f"heapsize={heap}", str(driver), str(source)],
                cwd=tmp,
                capture_output=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"the unix port did not finish within {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        raise ToolError(f"the unix port exited with {proc.returncode}: {(proc.stdout + proc.stderr)[-1500:]!r}")
    return parse_transcript(proc.stdout, len(chunks))


class SerialLink:
    """A TCP endpoint for qemu's ``-serial tcp:...``: once qemu connects, it writes `transcript`
    (the board reads it at its own pace) and records everything the board sends until qemu exits."""

    def __init__(self, transcript: bytes) -> None:
        self.transcript = transcript
        self.received = bytearray()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(60.0)
        self._thread = threading.Thread(target=self._serve, name="agilenn-mpy-serial", daemon=True)
        self.error: BaseException | None = None

    def qemu_args(self) -> tuple[str, ...]:
        host, port = self._listener.getsockname()[:2]
        return ("-serial", f"tcp:{host}:{port},nodelay=on")

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError as exc:
            self.error = exc
            return
        with conn:
            writer = threading.Thread(target=self._write, args=(conn,), daemon=True)
            writer.start()
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                self.received += data

    def _write(self, conn: socket.socket) -> None:
        # the board may reset before reading everything: the transcript parse reports it
        with contextlib.suppress(OSError):
            conn.sendall(self.transcript)

    def __enter__(self) -> SerialLink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=10.0)
        self._listener.close()


def qemu_transcript(chunks: Sequence[str]) -> bytes:
    """What the UART receives: raw REPL, each chunk ended by Ctrl-D, then the reset that ends qemu."""
    for code in chunks:
        if any(ord(c) < 32 and c not in "\n\t" for c in code):
            raise ValueError("chunks must not hold control characters (they steer the raw REPL)")
    return RAW_REPL + b"".join(code.encode() + END for code in (*chunks, RESET))


def _board(target: Target, link: SerialLink) -> Target:
    assert target.emulator is not None
    emulator = dataclasses.replace(target.emulator, extra_args=(*target.emulator.extra_args, *link.qemu_args()))
    return dataclasses.replace(target, emulator=emulator)


def run_qemu(firmware: Path, target_name: str, chunks: Sequence[str], *, timeout_s: float = 300.0) -> list[ChunkResult]:
    """Run `chunks` on `firmware` (the qemu port) on the emulated board of agilenn target `target_name`."""
    target = load_target(target_name)
    with tempfile.TemporaryDirectory(prefix="agilenn-mpy-") as tmp, SerialLink(qemu_transcript(chunks)) as link:
        result = run_program(_board(target, link), firmware, Path(tmp), timeout_s=timeout_s)
    if result.timed_out:
        raise ToolError(f"qemu did not finish within {timeout_s:.0f} s; the board sent:\n{link.received[-800:]!r}")
    if result.returncode != 0:
        board = bytes(link.received[-800:])
        raise ToolError(f"qemu exited with {result.returncode}: {result.stderr[-800:]}\nthe board sent: {board!r}")
    return parse_transcript(bytes(link.received), len(chunks))


def run_chunks(which: str, program: Path, chunks: Sequence[str], *, timeout_s: float = 300.0) -> list[ChunkResult]:
    """Run `chunks` on a firmware of port `which` (see firmware.PORTS)."""
    from agilenn_codegen.micropython.firmware import port

    spec = port(which)
    if spec.emulated:
        return run_qemu(program, spec.target, chunks, timeout_s=timeout_s)
    return run_unix(program, chunks, timeout_s=timeout_s)


def hex_literal(data: bytes) -> str:
    """A MicroPython expression for `data` (bytes.fromhex, compact and control-character free)."""
    return f"bytes.fromhex('{data.hex()}')"


RAM_FS = """\
import io, sys, vfs
class _RamFS:
    def __init__(self, files):
        self.files = files
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def chdir(self, path):
        pass
    def stat(self, path):
        data = self.files.get(path.lstrip('/'))
        if data is None:
            raise OSError(2)
        return (0x8000, 0, 0, 0, 0, 0, len(data), 0, 0, 0)
    def open(self, path, mode):
        data = self.files.get(path.lstrip('/'))
        if data is None or 'w' in mode:
            raise OSError(2)
        return io.BytesIO(data)
_ram_files = {}
vfs.mount(_RamFS(_ram_files), '/ram')
sys.path.insert(0, '/ram')
"""


def ram_files_chunks(files: dict[str, bytes], *, piece: int = 8192) -> list[str]:
    """Chunks that mount an in-memory file system at /ram (first on sys.path) holding `files`, so
    that a board without storage can import a native module sent over its UART."""
    chunks = [RAM_FS]
    for name, data in files.items():
        parts = [data[i : i + piece] for i in range(0, len(data), piece)] or [b""]
        chunks.append(f"_parts = [{hex_literal(parts[0])}]")
        chunks += [f"_parts.append({hex_literal(part)})" for part in parts[1:]]
        chunks.append(f"_ram_files[{name!r}] = b''.join(_parts)\ndel _parts")
    return chunks


def count_windows(
    firmware: Path, target_name: str, chunks: Sequence[str], start_pc: int, stop_pc: int, *, timeout_s: float = 900.0
) -> list[int]:
    """Run `chunks` on the emulated board and return the instructions executed in every window from
    an entry of the function at `start_pc` to the next entry of the one at `stop_pc` (the qemu plugin
    of targets.count_instructions records the count at each): exact and repeatable, unlike a
    whole-run count, which includes the firmware spinning on its UART. The markers must be
    noinline, noipa functions with distinct bodies (the compiler folds identical ones)."""
    target = load_target(target_name)
    start, stop = start_pc & ~1, stop_pc & ~1  # without the Thumb bit
    with tempfile.TemporaryDirectory(prefix="agilenn-mpy-") as tmp, SerialLink(qemu_transcript(chunks)) as link:
        counts = count_instructions(_board(target, link), firmware, Path(tmp), marks=(start, stop), timeout_s=timeout_s)
    for result in parse_transcript(bytes(link.received), len(chunks)):
        result.check()
    windows, opened = [], None
    for address, count in counts.events:
        if address == start and opened is None:
            opened = count
        elif address == stop and opened is not None:
            windows.append(count - opened)
            opened = None
    return windows
