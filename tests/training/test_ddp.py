"""Data-parallel training with two CPU processes (gloo) launched through torchrun, as users would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agilenn_codegen.cli import main
from tests.training.synthetic import write_npz

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path: Path):
    root = write_npz(tmp_path / "npz")
    ref = tmp_path / "ref"
    tiny = ["--dataset", "npz", "--data-root", str(root), "--batch-size", "8", "--threads", "1", "--no-progress"]
    assert main(["train-reference", *tiny, "--out", str(ref), "--epochs", "1", "--width", "8"]) == 0
    run = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "agilenn_codegen.cli", "train", *tiny, "--reference", str(ref), "--out", str(run),
           "--epochs", "1", "--remote-width", "0.25", "--remote-depths", "1,1,1,0,0,0,0",
           "--remap-samples", "16"]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((run / "metrics.json").read_text())
    assert len(history) == 1
    # each rank saw half of the 48 images: 24 / 8 = 3 steps each, 6 batches of 8 in total per epoch
    assert history[0]["images_per_s"] > 0
    blob = torch.load(run / "model.pt", weights_only=False)
    assert blob["kind"] == "agilenn" and not any(k.startswith("module.") for k in blob["state_dict"])
