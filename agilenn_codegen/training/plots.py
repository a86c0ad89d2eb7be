"""PNG plots: training curves (like the paper's Figure 15) and the per-sample skewness distribution (Figure 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: list[dict[str, Any]], out: Path) -> None:
    """Loss, accuracy and skewness per epoch."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    panels = [
        ("loss", [k for k in ("train_loss", "train_ce") if k in history[0]]),
        ("accuracy", [k for k in ("train_acc", "test_acc", "test_acc_final", "test_acc_local", "test_acc_remote")
                      if k in history[0]]),
        ("skewness", [k for k in ("train_skew", "test_skewness") if k in history[0]]),
    ]  # fmt: skip
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            ax.plot(epochs, [row.get(key, np.nan) for row in history], marker="o", label=key)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def skewness_distribution(per_sample: np.ndarray, rho: float, out: Path) -> None:
    """Histogram and CDF of the per-sample skewness on the test set, with the target rho."""
    plt = _pyplot()
    fig, (hist_ax, cdf_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    hist_ax.hist(per_sample, bins=50, range=(0, 1), color="tab:blue")
    hist_ax.axvline(rho, color="tab:red", linestyle="--", label=f"rho = {rho}")
    hist_ax.set_xlabel("skewness (importance share of the local channels)")
    hist_ax.set_ylabel("test samples")
    hist_ax.legend()
    values = np.sort(per_sample)
    cdf_ax.plot(values, np.arange(1, values.size + 1) / values.size)
    cdf_ax.axvline(rho, color="tab:red", linestyle="--")
    cdf_ax.set_xlabel("skewness")
    cdf_ax.set_ylabel("CDF")
    cdf_ax.set_xlim(0, 1)
    for ax in (hist_ax, cdf_ax):
        ax.grid(alpha=0.3)
    fig.suptitle(f"mean {values.mean():.3f}, median {np.median(values):.3f}, n = {values.size}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
