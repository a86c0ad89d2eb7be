#!/usr/bin/env bash
# The README's main command. Sets everything up, then runs the toolchain on the shipped examples:
#   1. the compiler core: a small int8 CNN compiled for the STM32F746 and proven bit-exact against
#      onnxruntime on the host (ASan/UBSan) and on an emulated Cortex-M7 (qemu mps2-an500);
#   2. the AgileNN system on the shipped trained Fashion-MNIST model (examples/agilenn_fmnist):
#      device code generated for the STM32F746, its int8 network verified bit-exact, the remote
#      server started, and test images run end to end through the generated C and the server over
#      UDP, then as firmware on the emulated Cortex-M7 (qemu mps2-an500) through its UART and a bridge;
#   3. the weak device: the same model generated for the STM32F103 (Cortex-M3, no FPU, 20 KB RAM),
#      linked into the chip's own 128 KB flash and 20 KB RAM, run on the emulated Cortex-M3 (qemu
#      mps2-an385) against the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
agilenn=.venv/bin/agilenn
TINY=examples/models/tiny_cnn_int8.onnx
AGILENN=examples/agilenn_fmnist
PORT=${AGILENN_DEMO_PORT:-9000}

echo "== 1. compiler core: $TINY"
$agilenn inspect "$TINY" --target stm32f746
$agilenn codegen "$TINY" --target stm32f746 --out build/model
$agilenn verify "$TINY" --target host --count 25 --sanitize
$agilenn verify "$TINY" --target stm32f746 --count 25 --save-outputs build/verify-stm32f746

echo "== 2. AgileNN: $AGILENN"
$agilenn codegen "$AGILENN" --target stm32f746 --out build/agilenn
$agilenn verify build/agilenn/model/device_int8.onnx --target stm32f746 --count 10

log=$(mktemp)
$agilenn serve "$AGILENN" --port "$PORT" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "serving" "$log" && break; kill -0 $server 2>/dev/null || break; sleep 0.2; done
grep -q "serving" "$log" || { cat "$log"; echo "demo: the server did not start" >&2; exit 1; }
$agilenn device build/agilenn --server "127.0.0.1:$PORT" --count 1000
$agilenn device build/agilenn --server "127.0.0.1:$PORT" --count 20 --emulated --timeout-ms 2000

echo "== 3. the weak device: $AGILENN on the STM32F103 (Cortex-M3, 20 KB RAM)"
$agilenn codegen "$AGILENN" --target stm32f103 --out build/agilenn-stm32f103
$agilenn device build/agilenn-stm32f103 --server "127.0.0.1:$PORT" --count 20 --emulated --timeout-ms 2000
