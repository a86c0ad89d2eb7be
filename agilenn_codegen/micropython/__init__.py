"""MicroPython: every generated library is also a MicroPython module.

- spec.py      what a module wraps, described from the generated library's Python side
- generate.py  the user C module (``<out>/micropython/``) and the native .mpy Makefile
- source.py    MicroPython's source from Debian's source package, pinned, cached in build/
- firmware.py  building the unix and qemu ports with modules, and native .mpy files
- session.py   running MicroPython code on those builds (unix, emulated Cortex-M boards)
"""

from agilenn_codegen.micropython.generate import MicroPythonModule, write_module
from agilenn_codegen.micropython.spec import ModuleSpec, model_spec, pipeline_spec

__all__ = ["MicroPythonModule", "ModuleSpec", "model_spec", "pipeline_spec", "write_module"]
