"""Configuration of a training run, as plain dataclasses saved to and read from `config.json`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# MobileNetV2 stages (expand t, channels c, stride s); depths are configured separately.
MOBILENETV2_STAGES: tuple[tuple[int, int, int], ...] = (
    (1, 16, 1), (6, 24, 1), (6, 32, 2), (6, 64, 2), (6, 96, 1), (6, 160, 2), (6, 320, 1),
)  # fmt: skip
PAPER_DEPTHS: tuple[int, ...] = (1, 2, 3, 4, 3, 3, 1)
CPU_DEPTHS: tuple[int, ...] = (1, 1, 2, 2, 1, 1, 1)
REMOTE_PRESETS: dict[str, tuple[float, tuple[int, ...]]] = {
    "paper": (1.0, PAPER_DEPTHS),  # the authors' full MobileNetV2 body
    "cpu": (0.35, CPU_DEPTHS),  # width 0.35, shortened stages: the CPU default
}
XAI_METHODS = ("ig2", "ig", "saliency", "ixg")


@dataclass
class ModelConfig:
    """Shapes of the networks."""

    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    first_stride: int = 1  # 3 for 96x96 inputs as in the paper, 1 for 28x28
    mid_channels: int = 4
    channels: int = 24
    split_ratio: float = 0.2
    centroids: int = 8
    remote_width: float = 0.35
    remote_depths: tuple[int, ...] = CPU_DEPTHS
    remote_last_channels: int = 1280
    combiner: str = "sigmoid"  # "sigmoid" (paper: alpha = sigmoid(w/T)) or "softmax" (authors' code)
    temperature: float = 6.0
    reference_width: int = 32  # base width of the reference body

    @property
    def k(self) -> int:
        """Number of local channels: round(split_ratio * channels), at least 1 and at most channels - 1."""
        return max(1, min(self.channels - 1, round(self.split_ratio * self.channels)))

    @property
    def feature_size(self) -> int:
        """Height (= width) of the feature map."""
        return (self.image_size - 1) // self.first_stride + 1


@dataclass
class XAIConfig:
    """How feature importance is computed inside the training step."""

    method: str = "ig2"
    n_steps: int = 8  # for "ig"
    correct_only: bool = True  # only samples the reference classifies correctly drive the XAI losses


@dataclass
class LossConfig:
    """Weights of the combined loss."""

    rho: float = 0.8
    lam: float = 0.8
    aux_ce: float = 0.0  # extra CE on the local and remote logits (0 = paper)


@dataclass
class OptimConfig:
    """SGD with momentum, cosine learning rate and decoupled weight decay (as the authors)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0


@dataclass
class DataConfig:
    """Where the data comes from and how it is augmented."""

    dataset: str = "fashion-mnist"
    root: str | None = None
    resize: int | None = None  # resize images to this square size (e.g. 96 for CIFAR as the paper)
    flip: bool = True
    pad_crop: int = 2
    train_limit: int | None = None
    test_limit: int | None = None


@dataclass
class TrainConfig:
    """A whole AgileNN (or reference) training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    xai: XAIConfig = field(default_factory=XAIConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    reference: str | None = None
    remap: str = "topk"  # "topk" (Algorithm 1), "global" (mean importance), "none"
    remap_samples: int = 2048
    init_from_reference: bool = True
    device: str = "cpu"
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are ignored, missing ones take defaults)."""
        model = _build(ModelConfig, raw.get("model", {}))
        model.remote_depths = tuple(model.remote_depths)
        return cls(
            model=model,
            xai=_build(XAIConfig, raw.get("xai", {})),
            loss=_build(LossConfig, raw.get("loss", {})),
            optim=_build(OptimConfig, raw.get("optim", {})),
            data=_build(DataConfig, raw.get("data", {})),
            **{
                k: raw[k]
                for k in ("reference", "remap", "remap_samples", "init_from_reference", "device", "threads")
                if k in raw
            },
        )

    def save(self, path: Path) -> None:
        """Write as indented JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read from JSON."""
        return cls.from_dict(json.loads(path.read_text()))


def _build(kind: type, raw: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in raw.items() if k in names})
