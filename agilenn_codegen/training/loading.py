"""Rebuild a trained AgileNN (and its frozen reference) from a run folder's model.pt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agilenn_codegen.training.config import TrainConfig
from agilenn_codegen.training.models import AgileNN, ReferenceNet
from agilenn_codegen.training.runs import load_model_file


@dataclass
class TrainedRun:
    """A trained AgileNN with what is needed to evaluate and export it."""

    cfg: TrainConfig
    model: AgileNN
    reference: ReferenceNet | None
    data_info: dict[str, Any]
    preprocessing: dict[str, Any]


def load_trained(run: Path) -> TrainedRun:
    """Load `run/model.pt` (written by `agilenn train`)."""
    blob = load_model_file(run, "agilenn")
    cfg = TrainConfig.from_dict(blob["config"])
    model = AgileNN(cfg.model)
    model.load_state_dict(blob["state_dict"])
    model.eval()
    extra = blob.get("extra", {})
    reference = None
    if "reference" in extra:
        reference = ReferenceNet(cfg.model)
        reference.load_state_dict(extra["reference"])
        reference.eval()
        for param in reference.parameters():
            param.requires_grad_(False)
    return TrainedRun(cfg, model, reference, extra.get("data", {}), extra.get("preprocessing", {}))
