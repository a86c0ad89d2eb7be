"""Target descriptions: the :class:`Target` and :class:`Emulator` records and their JSON parser.

A target file (``targets/<name>.json``) is validated field by field; every problem raises
:class:`~agilenn_codegen.errors.UserError` naming the file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agilenn_codegen.errors import UserError

TOOLCHAINS: tuple[str, ...] = ("host-gcc", "arm-none-eabi-gcc")

# Flags that would break bit-exactness with onnxruntime (reassociation, contraction, FTZ tricks).
FORBIDDEN_CFLAGS: tuple[str, ...] = (
    "-ffast-math",
    "-Ofast",
    "-funsafe-math-optimizations",
    "-ffp-contract=fast",
    "-ffp-contract=on",
    "-fassociative-math",
    "-freciprocal-math",
)
REQUIRED_CFLAGS: tuple[str, ...] = ("-ffp-contract=off",)


@dataclass(frozen=True)
class MemoryMap:
    """The emulated board's memory regions the linker script places the image in."""

    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int


@dataclass(frozen=True)
class Emulator:
    """How to run a target's firmware under qemu-system-arm."""

    machine: str
    cpu: str
    memory: MemoryMap
    extra_args: tuple[str, ...] = ()
    kind: str = "qemu"


@dataclass(frozen=True)
class Target:
    """One build target: a host toolchain or a microcontroller verified on an emulated board.

    ``ram_bytes``/``flash_bytes``/``clock_hz`` are the real MCU's figures (the code generator checks
    them); the emulated board may have more memory. Paths are absolute.
    """

    name: str
    description: str
    cpu: str
    arch: str
    fpu: bool
    dsp: bool
    clock_hz: int
    ram_bytes: int
    flash_bytes: int
    toolchain: str
    cflags: tuple[str, ...]
    emulator: Emulator | None
    ldflags: tuple[str, ...] = ()
    libs: tuple[str, ...] = ()
    startup_sources: tuple[Path, ...] = ()
    linker_script: Path | None = None
    source_file: Path | None = None

    @property
    def is_host(self) -> bool:
        """True for the native toolchain (no emulator, no startup code)."""
        return self.toolchain == "host-gcc"

    @property
    def compiler(self) -> str:
        """The C compiler executable for this target."""
        return "gcc" if self.is_host else "arm-none-eabi-gcc"


class _Fields:
    """Typed accessors over one JSON object that report errors as ``<file>: field <name>: ...``."""

    def __init__(self, data: Mapping[str, Any], file: Path, prefix: str = "") -> None:
        self.data = data
        self.file = file
        self.prefix = prefix

    def error(self, field: str, problem: str) -> UserError:
        """Build the UserError for `field` of this object."""
        return UserError(f"{self.file}: field '{self.prefix}{field}': {problem}")

    def raw(self, field: str) -> Any:
        """Return the value of a required field."""
        if field not in self.data:
            raise self.error(field, "missing")
        return self.data[field]

    def string(self, field: str) -> str:
        """A required non-empty string."""
        value = self.raw(field)
        if not isinstance(value, str) or not value:
            raise self.error(field, f"expected a non-empty string, got {value!r}")
        return value

    def boolean(self, field: str) -> bool:
        """A required boolean."""
        value = self.raw(field)
        if not isinstance(value, bool):
            raise self.error(field, f"expected true or false, got {value!r}")
        return value

    def integer(self, field: str, *, positive: bool = True) -> int:
        """A required integer; strings such as ``"0x20000000"`` are accepted for addresses."""
        value = self.raw(field)
        if isinstance(value, str):
            try:
                value = int(value, 0)
            except ValueError:
                raise self.error(field, f"expected an integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, f"expected an integer, got {value!r}")
        if value < 0 or (positive and value == 0):
            raise self.error(field, f"expected a {'positive' if positive else 'non-negative'} integer")
        return value

    def strings(self, field: str, *, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list of strings (optional when `default` is given)."""
        if field not in self.data and default is not None:
            return default
        value = self.raw(field)
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise self.error(field, f"expected a list of non-empty strings, got {value!r}")
        return tuple(value)

    def obj(self, field: str) -> _Fields | None:
        """A nested object, or None when the value is null."""
        value = self.raw(field)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(field, f"expected an object or null, got {value!r}")
        return _Fields(value, self.file, f"{self.prefix}{field}.")


def _parse_emulator(fields: _Fields) -> Emulator:
    memory = fields.obj("memory")
    if memory is None:
        raise fields.error("memory", "expected an object")
    kind = fields.string("kind")
    if kind != "qemu":
        raise fields.error("kind", f"only 'qemu' is supported, got {kind!r}")
    return Emulator(
        machine=fields.string("machine"),
        cpu=fields.string("cpu"),
        memory=MemoryMap(
            flash_origin=memory.integer("flash_origin", positive=False),
            flash_bytes=memory.integer("flash_bytes"),
            ram_origin=memory.integer("ram_origin", positive=False),
            ram_bytes=memory.integer("ram_bytes"),
        ),
        extra_args=fields.strings("extra_args", default=()),
        kind=kind,
    )


def _support_file(fields: _Fields, field: str, relative: str, root: Path) -> Path:
    path = (root / relative).resolve()
    if not path.is_file():
        raise fields.error(field, f"file {relative!r} does not exist under {root}")
    return path


def parse_target(data: object, file: Path, root: Path) -> Target:
    """Validate one decoded target JSON object; support file names are resolved under `root`."""
    if not isinstance(data, dict):
        raise UserError(f"{file}: expected a JSON object at the top level")
    fields = _Fields(data, file)
    name = fields.string("name")
    if name != file.stem:
        raise fields.error("name", f"{name!r} must match the file name {file.stem!r}")
    toolchain = fields.string("toolchain")
    if toolchain not in TOOLCHAINS:
        raise fields.error("toolchain", f"expected one of {', '.join(TOOLCHAINS)}, got {toolchain!r}")
    cflags = fields.strings("cflags")
    for flag in REQUIRED_CFLAGS:
        if flag not in cflags:
            raise fields.error("cflags", f"must contain {flag} (bit-exact float math)")
    for flag in cflags:
        if flag in FORBIDDEN_CFLAGS:
            raise fields.error("cflags", f"{flag} is not allowed: it breaks bit-exactness")
    emulator_fields = fields.obj("emulator")
    emulator = None if emulator_fields is None else _parse_emulator(emulator_fields)
    is_host = toolchain == "host-gcc"
    if is_host != (emulator is None):
        raise fields.error("emulator", "must be null for host-gcc and an object for cross targets")
    startup = tuple(_support_file(fields, "startup", rel, root) for rel in fields.strings("startup", default=()))
    script_value = data.get("linker_script")
    linker_script = None
    if script_value is not None:
        if not isinstance(script_value, str) or not script_value:
            raise fields.error("linker_script", f"expected a file name or null, got {script_value!r}")
        linker_script = _support_file(fields, "linker_script", script_value, root)
    if not is_host and (linker_script is None or not startup):
        raise fields.error("linker_script", "cross targets need a linker script and startup sources")
    return Target(
        name=name,
        description=fields.string("description"),
        cpu=fields.string("cpu"),
        arch=fields.string("arch"),
        fpu=fields.boolean("fpu"),
        dsp=fields.boolean("dsp"),
        clock_hz=fields.integer("clock_hz"),
        ram_bytes=fields.integer("ram_bytes"),
        flash_bytes=fields.integer("flash_bytes"),
        toolchain=toolchain,
        cflags=cflags,
        emulator=emulator,
        ldflags=fields.strings("ldflags", default=()),
        libs=fields.strings("libs", default=("-lm",)),
        startup_sources=startup,
        linker_script=linker_script,
        source_file=file,
    )


def read_target_file(file: Path, root: Path) -> Target:
    """Read and validate ``file``; JSON syntax errors are reported with their line and column."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except OSError as exc:
        raise UserError(f"{file}: cannot read target file: {exc.strerror}") from None
    return parse_target(data, file, root)
