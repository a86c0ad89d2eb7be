"""Hatchling build hook: compile the server's fast context decoder (agilenn_codegen/offload/native_build.py)
into the package at install time. Without a C compiler the package still installs, and `agilenn serve`
says what is missing (it then decodes context-coded payloads with the slow Python reference)."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _native_build(root: Path) -> Any:
    """agilenn_codegen/offload/native_build.py, loaded by path (standard library only, no package import)."""
    path = root / "agilenn_codegen" / "offload" / "native_build.py"
    spec = importlib.util.spec_from_file_location("_agilenn_native_build", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class NativeDecoderHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        native = _native_build(Path(self.root))
        name = native.library_name()
        try:
            if version == "editable":  # the package is imported from the source tree: build it there
                native.build(native.LIBRARY_DIR / name)
                return
            out = Path(tempfile.mkdtemp(prefix="agilenn-native-")) / name
            native.build(out)
        except native.BuildError as exc:
            self.app.display_warning(
                f"agilenn-codegen: the server's fast context decoder was not built ({exc}); `agilenn serve` will "
                "use the slow Python decoder. Install a C compiler and reinstall to build it."
            )
            return
        build_data["force_include"][str(out)] = f"agilenn_codegen/_native/{name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
