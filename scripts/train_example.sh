#!/usr/bin/env bash
# Trains, evaluates and exports the shipped example model examples/agilenn_fmnist (Fashion-MNIST, CPU).
# These are the commands that produced it (see docs/training.md for the measured figures).
# Needs the Debian package dataset-fashion-mnist. About 65 minutes on 2 otherwise idle CPU cores
# (a second busy process on the same cores makes two-thread training several times slower).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
agilenn() { PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} .venv/bin/python -m agilenn_codegen.cli "$@"; }

# 1. Reference NN (its stem-less body is the frozen XAI evaluator): about 2.5 minutes.
[[ -f $RUNS/fmnist_ref/model.pt ]] ||
    agilenn train-reference --dataset fashion-mnist --out "$RUNS/fmnist_ref" --epochs 4 --batch-size 128 --threads 2

# 2. AgileNN joint training (two-point IG with second-order gradients, skewness + disorder losses).
[[ -f $RUNS/fmnist_agilenn/model.pt ]] ||
    agilenn train --dataset fashion-mnist --reference "$RUNS/fmnist_ref" --out "$RUNS/fmnist_agilenn" \
        --split-ratio 0.2 --rho 0.8 --lam 0.8 --centroids 8 --xai ig2 \
        --epochs 20 --batch-size 128 --aux-ce 0.1 --threads 2 "$@"

# 3. Test-set figures and the export contract (device.onnx, remote.onnx, agilenn.json), with the logs and plots.
agilenn evaluate "$RUNS/fmnist_agilenn" --alpha-sweep
agilenn export "$RUNS/fmnist_agilenn" --out examples/agilenn_fmnist
cp "$RUNS/fmnist_agilenn/metrics.csv" examples/agilenn_fmnist/training_metrics.csv
cp "$RUNS/fmnist_ref/metrics.csv" examples/agilenn_fmnist/reference_metrics.csv
cp "$RUNS/fmnist_agilenn/plots/training_curves.png" "$RUNS/fmnist_agilenn/plots/skewness_distribution_eval.png" \
    examples/agilenn_fmnist/
