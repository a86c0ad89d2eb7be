"""Checks of the paths a command will write, made before any work so that a bad one fails fast."""

from __future__ import annotations

from pathlib import Path

from agilenn_codegen.errors import UserError


def check_output_dir(path: Path, option: str) -> None:
    """`path` must be a folder or creatable as one: neither it nor an existing parent may be a file."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                what = "it" if candidate == path else f"its parent {candidate}"
                raise UserError(f"{option} {path}: {what} is a file, not a directory")
            return


def check_output_file(path: Path, option: str) -> None:
    """`path` will be written as a file: it may not be a folder and its folder must exist."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory, expected a file name")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {path.parent} does not exist")
