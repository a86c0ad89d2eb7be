"""The C name of a generated library, checked so that it can never collide with the runtime's names.

A library called `name` defines the files `name.c`/`name.h` (and `name_agilenn*.c/.h` for an AgileNN
pipeline), identifiers `name_*`, macros `NAME_*` and the CMake target `name`. It lives next to the
runtime (`runtime_c/`, copied into every library), the fixed generated files (`agilenn_config.h`),
the C standard headers and the libraries the CMake file links. So a name is refused when:

- it equals a runtime or generated identifier, macro or file name, or one of those begins with
  `name_`: `agilenn_types` (the header `agilenn_types.h`), `agilenn` (every runtime name begins
  with `agilenn_`), `agilenn_conv` (`agilenn_conv_s8`);
- it is a C standard or POSIX header the runtime or the generated code includes (`string`, `time`);
  the folder is an include path, so `string.h` would shadow `<string.h>`;
- it is a CMake reserved target name (`all`, `test`, ...) or a system library it links (`m`, `c`);
- it begins with an underscore (reserved for the C implementation at file scope).

The runtime's names are read from the runtime and template sources, so new kernels are covered
without a list to keep up to date.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agilenn_codegen.compiler.emit.context import c_identifier
from agilenn_codegen.errors import UserError
from agilenn_codegen.paths import RUNTIME_C_DIR, TEMPLATES_DIR

# fmt: off
# C99/C11 headers and the POSIX ones the ports use (only a top-level file name can shadow one).
C_HEADERS = frozenset({
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits", "locale", "math",
    "setjmp", "signal", "stdalign", "stdarg", "stdatomic", "stdbool", "stddef", "stdint", "stdio", "stdlib",
    "stdnoreturn", "string", "tgmath", "threads", "time", "uchar", "wchar", "wctype",
    "unistd", "poll", "fcntl", "netdb", "strings",
})
# CMake's reserved target names (lower case, as library names are), and the libraries the CMake file links.
CMAKE_RESERVED = frozenset({
    "all", "all_build", "clean", "depend", "edit_cache", "help", "install", "install_local", "install_strip",
    "list_install_components", "package", "package_source", "preinstall", "rebuild_cache", "run_tests", "test",
    "zero_check", "m", "c",
})
# fmt: on
_RUNTIME_NAME = re.compile(r"\b(?:agilenn|AGILENN)_[A-Za-z0-9_]+")


@lru_cache(maxsize=1)
def runtime_names() -> frozenset[str]:
    """Every agilenn_* identifier, macro and file stem of the runtime and the templates, in lower case."""
    names: set[str] = set()
    for folder, patterns in ((RUNTIME_C_DIR, ("*.c", "*.h")), (TEMPLATES_DIR, ("*.j2",))):
        for pattern in patterns:
            for path in folder.rglob(pattern):
                stem = path.name.removesuffix(".j2").rsplit(".", 1)[0]
                if stem.startswith("agilenn_"):
                    names.add(stem)
                names.update(m.lower() for m in _RUNTIME_NAME.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


def library_name(requested: str, *, origin: str | None = None) -> str:
    """`requested` as the library's C name (lower case), or a UserError saying why it cannot be one.

    `origin` says where a default name came from (e.g. "the model file's name"); None: from --name."""
    name = c_identifier(requested).lower()
    shown = f"--name {requested!r}" if origin is None else f"library name {requested!r} ({origin})"
    if name != requested:
        shown += f", C name {name!r}"
    hint = "pass --name with another name, e.g. --name my_model"
    if name.startswith("_"):
        raise UserError(f"{shown}: a library name must begin with a letter", hint=hint)
    if name in C_HEADERS:
        raise UserError(f"{shown}: {name}.h would shadow the C header <{name}.h> the code includes", hint=hint)
    if name in CMAKE_RESERVED:
        raise UserError(f"{shown}: '{name}' is a name CMake reserves or a system library it links", hint=hint)
    names = runtime_names()
    if name in names:
        raise UserError(
            f"{shown}: is a name of the runtime ({name}); the library's files would clash with it", hint=hint
        )
    clashes = sorted(n for n in names if n.startswith(name + "_"))
    if clashes:
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise UserError(
            f"{shown}: runtime names begin with '{name}_' ({clashes[0]}{more}); the library's functions and "
            "macros could clash with them",
            hint=hint,
        )
    return name


def choose_library_name(name: str | None, default: str, origin: str) -> str:
    """--name when given, else `default` (which came from `origin`); checked by :func:`library_name`."""
    return library_name(name) if name else library_name(default, origin=origin)


def internal_library_name(default: str) -> tuple[str, str | None]:
    """For a library the user never links (`verify`'s build, `inspect`'s manifest): `default` when it is a
    valid name, else "model" and the reason `default` cannot be one (for a note to the user)."""
    try:
        return library_name(default, origin="the model file's name"), None
    except UserError as exc:
        return "model", exc.message
