"""The oracle: onnxruntime's CPU execution of the int8 model, configured as the compiler assumes.

QOperator models run as they are; QDQ models need ``session.qdqisint8allowed=1`` so that every
DQ -> op -> Q group becomes an int8 QLinear op (on x86 onnxruntime would otherwise move int8
activations to uint8 and keep some groups in float). Graph optimizations at ORT_ENABLE_ALL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from agilenn_codegen.errors import UserError


def ort_session(model: Path | bytes):  # noqa: ANN201 - onnxruntime.InferenceSession
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.qdqisint8allowed", "1")
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise UserError(f"onnxruntime cannot load the model: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_reference(
    model: Path,
    samples: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    output_names: Sequence[str],
) -> list[np.ndarray]:
    """Run every sample (batch 1) through onnxruntime; returns one stacked array per output."""
    session = ort_session(model)
    count = next(iter(samples.values())).shape[0]
    results: list[list[np.ndarray]] = [[] for _ in output_names]
    for i in range(count):
        feeds = {name: samples[name][i].reshape(input_shapes[name]) for name in samples}
        try:
            outputs = session.run(list(output_names), feeds)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise UserError(f"onnxruntime cannot run the model on sample {i}: {_first_line(exc)}") from None
        for j, value in enumerate(outputs):
            results[j].append(np.asarray(value))
    return [np.stack(r) for r in results]
