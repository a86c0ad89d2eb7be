"""agilenn-codegen: the AgileNN toolchain for extremely weak devices.

Trains split models whose first k feature channels carry most of the importance, int8-quantizes them
with onnxruntime, and compiles the on-device part into a dependency-free C99 library that is checked
bit-exact against onnxruntime on the host and on emulated Cortex-M cores.
"""

__version__ = "0.1.0"
