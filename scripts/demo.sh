#!/usr/bin/env bash
# The README's main command: set everything up, then compile the shipped example model for the
# STM32F746 and prove the generated C bit-exact against onnxruntime on the host and on an
# emulated Cortex-M7 (qemu mps2-an500). Pass another int8 .onnx file to use it instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MODEL=${1:-examples/models/tiny_cnn_int8.onnx}
agilenn=.venv/bin/agilenn
echo "== inspect: layers, MACs, memory plan on stm32f746"
$agilenn inspect "$MODEL" --target stm32f746
echo "== codegen: C99 library + CMakeLists.txt in build/model"
$agilenn codegen "$MODEL" --target stm32f746 --out build/model
echo "== verify on the host (gcc, ASan/UBSan)"
$agilenn verify "$MODEL" --target host --count 25 --sanitize
echo "== verify on an emulated Cortex-M7 (qemu mps2-an500, semihosting)"
$agilenn verify "$MODEL" --target stm32f746 --count 25 --save-outputs build/verify-stm32f746
