"""`agilenn evaluate`: test accuracy (final / local-only / remote-only), skewness and transmitted bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agilenn_codegen.errors import UserError


def command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `agilenn train`.")],
    alpha: Annotated[float | None, typer.Option(help="Override the trained combiner weight alpha.")] = None,
    data_root: Annotated[Path | None, typer.Option(help="Where the data set is (default: as when trained).")] = None,
    test_limit: Annotated[int | None, typer.Option(help="Evaluate only the first N test images.")] = None,
    alpha_sweep: Annotated[bool, typer.Option(help="Also print the accuracy for alpha = 0, 0.1, ..., 1.")] = False,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
) -> None:
    """Evaluate a trained AgileNN on the test set; writes RUN/eval.json and a skewness plot."""
    import torch

    from agilenn_codegen.data import load_dataset
    from agilenn_codegen.training import plots
    from agilenn_codegen.training.batches import Batches, Preprocess
    from agilenn_codegen.training.evaluation import evaluate_agilenn
    from agilenn_codegen.training.loading import load_trained
    from agilenn_codegen.training.xai import Importance

    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise UserError("--alpha must be between 0 and 1")
    if threads:
        torch.set_num_threads(threads)
    trained = load_trained(run)
    cfg = trained.cfg
    root = data_root or (Path(cfg.data.root) if cfg.data.root else None)
    data = load_dataset(cfg.data.dataset, root)
    pre = Preprocess(data.mean, data.std, cfg.data.resize)
    batches = Batches(data.test.subset(test_limit if test_limit is not None else cfg.data.test_limit), 256, pre,
                      train=False)  # fmt: skip
    importance = None
    if trained.reference is not None:
        importance = Importance(trained.reference.body, cfg.xai.method, cfg.xai.n_steps)
    metrics, per_sample = evaluate_agilenn(trained.model, importance, batches, alpha=alpha, measure_bytes=True)
    metrics["test_samples"] = len(batches.labels)
    if per_sample.size:
        metrics["skewness_median"] = float(torch.from_numpy(per_sample).median())
        metrics["skewness_at_least_rho"] = float((per_sample >= cfg.loss.rho).mean())
        (run / "plots").mkdir(exist_ok=True)
        plots.skewness_distribution(per_sample, cfg.loss.rho, run / "plots" / "skewness_distribution_eval.png")
    if alpha_sweep:
        sweep = {}
        for i in range(11):
            swept, _ = evaluate_agilenn(trained.model, None, batches, alpha=i / 10)
            sweep[f"{i / 10:.1f}"] = swept["acc_final"]
        metrics["alpha_sweep_acc_final"] = sweep  # type: ignore[assignment]
    (run / "eval.json").write_text(json.dumps(metrics, indent=2) + "\n")
    table = Table(title=f"AgileNN {run}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
