"""The one policy for the paths a command writes, checked before any work so that a bad one fails fast.

Output folders (`agilenn codegen --out`, `agilenn export --out`) follow these rules:

- A missing or empty folder is created and written.
- A folder that holds a previous output of the same command, recognised by its manifest
  (`manifest.json` of `agilenn codegen`, `agilenn.json` of `agilenn export`), is regenerated in
  place. The new output's files replace the old ones, and files the previous run wrote that the
  new one does not (listed in `.agilenn-output.json`) are removed. Anything else in the folder is
  kept.
- Any other non-empty folder is refused, unless `--force` is given. Then the output's files
  replace same-named ones and everything else is kept.
- `--out` may not be the command's input folder, and the output may not replace an input.

The output is written to a staging folder inside `--out` and moved into place only when it is
complete. A failure or an interrupt leaves `--out` as it was; a folder that did not exist is not
left behind. Nothing is written outside `--out`.

A training run folder (`agilenn train[-reference] --out`) is written while training runs, so it is
not staged: it must be missing, empty or a run folder (config.json), and the trainer refuses a
finished run unless --resume. Output files (`--report`, `quantize --out`) need an existing folder
and may not be an input.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from agilenn_codegen.errors import UserError

MARKER = ".agilenn-output.json"
STAGING_PREFIX = ".agilenn-staging-"


def check_output_dir(path: Path, option: str) -> None:
    """`path` must be a folder or creatable as one: neither it nor an existing parent may be a file."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                what = "it" if candidate == path else f"its parent {candidate}"
                raise UserError(f"{option} {path}: {what} is a file, not a directory")
            return


def check_output_file(path: Path, option: str, *, inputs: Sequence[Path] = (), create_folder: bool = False) -> None:
    """`path` will be written as a file: it may not be a folder or an input, and its folder must exist (or,
    with `create_folder`, be creatable)."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory, expected a file name")
    if create_folder:
        check_output_dir(path.parent, option)
    elif not path.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {path.parent} does not exist")
    for source in inputs:
        if path.resolve() == source.resolve():
            raise UserError(f"{option} {path}: is the input file; writing it would destroy the input")


def check_reusable_dir(path: Path, option: str, recognise: Callable[[Path], bool], what: str) -> None:
    """A folder a command fills without staging (`verify --work-dir`, `--save-outputs`): missing, empty, or
    one that `recognise` says this command wrote before. Anything else is refused before any work."""
    check_output_dir(path, option)
    if not path.is_dir() or recognise(path):
        return
    entries = sorted(p.name for p in path.iterdir())
    if entries:
        raise UserError(
            f"{option} {path}: the folder is not empty ({_shown(entries)}) and is not {what}; files there "
            "would be overwritten; nothing was written",
            hint="choose a new or empty folder",
        )


def check_run_folder(path: Path, option: str = "--out") -> None:
    """A training run folder: missing, empty, or a run folder already (config.json; the trainer then refuses a
    finished run unless --resume). Any other non-empty folder is refused before training starts."""
    check_output_dir(path, option)
    if not path.is_dir() or (path / "config.json").is_file():
        return
    entries = sorted(p.name for p in path.iterdir())
    if entries:
        raise UserError(
            f"{option} {path}: the folder is not empty ({_shown(entries)}) and is not a run folder (no "
            "config.json); training would overwrite files there; nothing was written",
            hint="choose a new or empty folder for the run",
        )


@dataclass(frozen=True)
class OutputKind:
    """What one command writes into its output folder, and how a previous output of it is recognised."""

    command: str  # e.g. "agilenn codegen"
    manifest: str  # the file that identifies the output
    recognise: Callable[[dict[str, Any]], bool]


def _is_codegen_manifest(meta: dict[str, Any]) -> bool:
    generator = meta.get("generator")
    return isinstance(generator, dict) and generator.get("name") == "agilenn-codegen" and "library" in meta


CODEGEN = OutputKind("agilenn codegen", "manifest.json", _is_codegen_manifest)
EXPORT = OutputKind("agilenn export", "agilenn.json", lambda meta: meta.get("format") == "agilenn-export")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _shown(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class OutputFolder:
    """An output folder checked against the policy above; `with folder as stage:` writes into `stage`.

    On a clean exit the staged entries are moved into the folder; on an exception nothing changes.
    """

    def __init__(
        self, path: Path, kind: OutputKind, *, option: str = "--out", force: bool = False, inputs: Sequence[Path] = ()
    ) -> None:
        self.path = path
        self.kind = kind
        self.option = option
        self.force = force
        self.inputs = tuple(p.resolve() for p in inputs)
        self.previous: tuple[str, ...] = ()  # entries a previous output of the same command wrote
        self._created: list[Path] = []
        self._stage: Path | None = None
        self._check()

    def _check(self) -> None:
        path, option = self.path, self.option
        check_output_dir(path, option)
        if path.resolve() in self.inputs:
            raise UserError(
                f"{option} {path}: is the input of `{self.kind.command}`; writing there would mix the output "
                "with its input",
                hint="choose another folder for the output",
            )
        if not path.is_dir():
            return
        entries = sorted(p.name for p in path.iterdir() if not p.name.startswith(STAGING_PREFIX))
        if not entries:
            return
        meta = _read_json(path / self.kind.manifest) if (path / self.kind.manifest).is_file() else None
        if meta is not None and self.kind.recognise(meta):
            marker = _read_json(path / MARKER) or {}
            listed = marker.get("entries") if marker.get("command") == self.kind.command else None
            if isinstance(listed, list):  # plain names only: a hand-edited marker must not reach outside --out
                self.previous = tuple(
                    n
                    for n in listed
                    if isinstance(n, str) and n not in ("", ".", "..", MARKER) and not {"/", "\\"} & set(n)
                )
            return
        if not self.force:
            raise UserError(
                f"{option} {path}: the folder is not empty ({_shown(entries)}) and does not hold a previous "
                f"`{self.kind.command}` output (no {self.kind.manifest} of it); nothing was written",
                hint="choose a new or empty folder, or pass --force to write into it (same-named files are "
                "replaced, other files are kept)",
            )

    # ---- staging ------------------------------------------------------------------------------
    def __enter__(self) -> Path:
        missing = [p for p in (self.path, *self.path.parents) if not p.exists()]
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
            self._stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.path))
        except OSError as exc:
            self._rollback()
            raise UserError(f"{self.option} {self.path}: cannot create the folder ({exc.strerror or exc})") from None
        return self._stage

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._rollback()
            return
        try:
            self._commit()
        except OSError as error:
            self._rollback()
            raise UserError(f"{self.option} {self.path}: cannot write the output ({error.strerror or error})") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None
        for folder in reversed(self._created):  # innermost first; only folders this run created, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    def _commit(self) -> None:
        assert self._stage is not None
        stage, out = self._stage, self.path
        entries = sorted(p.name for p in stage.iterdir())
        stale = [name for name in self.previous if name not in entries]
        for name in (*entries, *stale):
            target = (out / name).resolve() if (out / name).exists() else (out.resolve() / name)
            for source in self.inputs:
                if _inside(source, target):
                    raise UserError(
                        f"{self.option} {out}: writing the output would replace or remove '{name}', which holds "
                        f"the input {source}; nothing was written",
                        hint="choose another folder for the output",
                    )
        for name in stale:
            _remove(out / name)
        for name in entries:
            _remove(out / name)
            os.replace(stage / name, out / name)
        marker = {"command": self.kind.command, "entries": entries}
        (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        stage.rmdir()
        self._stage = None
        self._created = []


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
