"""Finding targets: every ``*.json`` file in the targets folder is one target."""

from __future__ import annotations

from pathlib import Path

from agilenn_codegen.errors import UserError
from agilenn_codegen.paths import TARGETS_DIR
from agilenn_codegen.targets.model import Target, read_target_file


def target_files(targets_dir: Path = TARGETS_DIR) -> list[Path]:
    """The target JSON files, sorted by name."""
    return sorted(targets_dir.glob("*.json"))


def list_targets(targets_dir: Path = TARGETS_DIR) -> list[Target]:
    """Load and validate every target, host first, then by name."""
    targets = [read_target_file(path, targets_dir) for path in target_files(targets_dir)]
    return sorted(targets, key=lambda t: (not t.is_host, t.name))


def target_names(targets_dir: Path = TARGETS_DIR) -> list[str]:
    """The names of the available targets (file stems), sorted."""
    return [path.stem for path in target_files(targets_dir)]


def load_target(name: str, targets_dir: Path = TARGETS_DIR) -> Target:
    """Load the target called `name`; an unknown name raises UserError listing the known ones."""
    path = targets_dir / f"{name}.json"
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(target_names(targets_dir)) or "(none)"
        raise UserError(f"unknown target {name!r}; available targets: {known}")
    return read_target_file(path, targets_dir)
