"""The four commands end to end on tiny synthetic data (a couple of training steps each)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from agilenn_codegen.cli import main
from tests.training.synthetic import write_npz

TINY = ["--dataset", "npz", "--batch-size", "16", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cli")
    root = write_npz(base / "npz")
    ref = base / "ref"
    assert main(["train-reference", *TINY, "--data-root", str(root), "--out", str(ref), "--epochs", "1",
                 "--width", "8"]) == 0  # fmt: skip
    assert (ref / "model.pt").is_file() and (ref / "metrics.csv").is_file()
    return root, ref


def test_train_evaluate_export(reference_run, tmp_path: Path):
    root, ref = reference_run
    run = tmp_path / "agile"
    args = ["train", *TINY, "--data-root", str(root), "--reference", str(ref), "--out", str(run), "--epochs", "1",
            "--remote-width", "0.25", "--remote-depths", "1,1,1,0,0,0,0", "--remap-samples", "16"]  # fmt: skip
    assert main(args) == 0
    history = json.loads((run / "metrics.json").read_text())
    assert {"train_loss", "train_skew", "test_acc_final", "test_acc_local", "test_acc_remote",
            "test_skewness"} <= set(history[0])  # fmt: skip
    assert (run / "plots" / "training_curves.png").stat().st_size > 0
    assert (run / "plots" / "skewness_distribution.png").stat().st_size > 0
    assert (run / "preprocessing.json").is_file()
    # resume: one more epoch continues from the checkpoint
    assert main([*args, "--resume", "--epochs", "2"]) == 0
    assert [row["epoch"] for row in json.loads((run / "metrics.json").read_text())] == [1, 2]

    assert main(["evaluate", str(run), "--alpha", "0.5"]) == 0
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["alpha"] == 0.5 and metrics["bytes_packed"] == -(-19 * 28 * 28 * 3 // 8)

    out = tmp_path / "export"
    assert main(["export", str(run), "--out", str(out)]) == 0
    for name in ("device.onnx", "remote.onnx"):
        onnx.checker.check_model(onnx.load(str(out / name)))
    meta = json.loads((out / "agilenn.json").read_text())
    assert meta["metrics"]["alpha"] == 0.5 and meta["classes"] == ["a", "b", "c"]


def test_user_errors_exit_2(reference_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root, ref = reference_run
    assert main(["train", *TINY, "--data-root", str(root), "--reference", str(tmp_path / "none"),
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "no trained model" in capsys.readouterr().err
    assert main(["train", *TINY, "--data-root", str(root), "--reference", str(ref), "--out", str(tmp_path / "y"),
                 "--xai", "lime"]) == 2  # fmt: skip
    assert main(["train-reference", "--dataset", "fashion-mnist", "--data-root", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "z")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and "Traceback" not in err


def test_run_folder_that_is_not_a_run(reference_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A non-empty folder that is not a run folder is refused before training writes into it."""
    root, ref = reference_run
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "metrics.csv").write_text("my own numbers\n")
    for command in (["train", "--reference", str(ref)], ["train-reference"]):
        assert main([*command, *TINY, "--data-root", str(root), "--out", str(folder)]) == 2
        err = capsys.readouterr().err
        assert "not a run folder" in err and "Traceback" not in err
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.csv"]
    assert (folder / "metrics.csv").read_text() == "my own numbers\n"
