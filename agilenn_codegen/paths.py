"""Where the project's data folders live, in a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE_DIR.parent


def _data_dir(name: str) -> Path:
    """Return the folder `name` (templates, runtime_c, targets) from the checkout or the wheel."""
    in_checkout = _REPO_ROOT / name
    if in_checkout.is_dir():
        return in_checkout
    return _PACKAGE_DIR / "_data" / name


TEMPLATES_DIR = _data_dir("templates")
RUNTIME_C_DIR = _data_dir("runtime_c")
TARGETS_DIR = _data_dir("targets")
# Heavy, re-creatable build outputs (MicroPython source and firmware); gitignored.
BUILD_DIR = _REPO_ROOT / "build"
