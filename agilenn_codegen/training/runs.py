"""Layout of a run folder and saving/loading its trained model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agilenn_codegen.errors import UserError
from agilenn_codegen.training.config import TrainConfig


@dataclass(frozen=True)
class RunPaths:
    """Files of a run folder."""

    root: Path

    @property
    def config(self) -> Path:
        """The run's configuration."""
        return self.root / "config.json"

    @property
    def checkpoint(self) -> Path:
        """Latest full training state (for --resume)."""
        return self.root / "checkpoints" / "last.pt"

    @property
    def model(self) -> Path:
        """Final weights with their configuration."""
        return self.root / "model.pt"

    @property
    def metrics_csv(self) -> Path:
        """Per-epoch metrics as CSV."""
        return self.root / "metrics.csv"

    @property
    def metrics_json(self) -> Path:
        """Per-epoch metrics as JSON."""
        return self.root / "metrics.json"

    @property
    def plots(self) -> Path:
        """Folder of PNG plots."""
        return self.root / "plots"

    def make(self) -> None:
        """Create the folders."""
        (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.plots.mkdir(parents=True, exist_ok=True)


def save_model(path: Path, kind: str, cfg: TrainConfig, state: dict[str, Any], extra: dict[str, Any]) -> None:
    """Write model.pt: {kind, config, state_dict, extra}."""
    tmp = path.with_suffix(".tmp")
    state = {k: v.detach().cpu() for k, v in state.items()}
    torch.save({"kind": kind, "config": cfg.to_dict(), "state_dict": state, "extra": extra}, tmp)
    tmp.replace(path)


def load_model_file(run: Path, kind: str) -> dict[str, Any]:
    """Read a run's model.pt and check its kind ("reference" or "agilenn")."""
    path = run / "model.pt" if run.is_dir() else run
    if not path.is_file():
        raise UserError(f"no trained model at {path}", hint="train one first (it is written when training ends)")
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if blob.get("kind") != kind:
        raise UserError(f"{path} holds a {blob.get('kind')!r} model, expected {kind!r}")
    return blob
