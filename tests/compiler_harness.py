"""Shared test helper: quantize a zoo model, compile it, run it on a target, compare with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import modelzoo
import numpy as np

from agilenn_codegen.compiler import compile_model
from agilenn_codegen.samples import KINDS
from agilenn_codegen.targets import load_target
from agilenn_codegen.verify import VerifyReport, verify_model


def adversarial_inputs(model: Path, seed: int, per_kind: int = 2) -> Path:
    """An .npz with `per_kind` samples of every kind (random, saturating, min, max, ties)."""
    rng = np.random.default_rng(seed)
    graph = compile_model(model)
    stacked: dict[str, list[np.ndarray]] = {name: [] for name in graph.inputs}
    for kind in KINDS:
        feeds = modelzoo.sample_inputs(model, rng, kind, per_kind)
        for name in graph.inputs:
            array = feeds[name]
            stacked[name].append(array.reshape(per_kind, *graph.tensor(name).shape[1:]))
    path = model.with_suffix(".samples.npz")
    np.savez(path, **{k: np.concatenate(v) for k, v in stacked.items()})
    return path


def check_zoo(
    zoo: modelzoo.ZooModel,
    fmt: str,
    per_channel: bool,
    tmp_path: Path,
    *,
    target: str = "host",
    seed: int = 0,
    per_kind: int = 2,
    sanitize: bool = False,
    kernels: str = "fast",
) -> VerifyReport:
    """Quantize, compile, run and compare; asserts every output byte of every sample is equal."""
    model = modelzoo.quantized(zoo, fmt, per_channel, tmp_path)
    inputs = adversarial_inputs(model, seed, per_kind)
    report = verify_model(
        model, load_target(target), inputs=inputs, work_dir=tmp_path / "work", sanitize=sanitize, kernels=kernels
    )
    bad = [o for o in report.outputs if not o.exact]
    assert not bad, f"{zoo.name} ({fmt}, per_channel={per_channel}) on {target}: " + "; ".join(
        f"{o.name}: {o.samples - o.exact_samples}/{o.samples} samples differ, "
        f"{o.mismatched_elements} elements, max |diff| {o.max_abs_diff}, first at sample {o.first_mismatch}"
        for o in bad
    )
    assert report.samples == per_kind * len(KINDS)
    return report
