"""The context coder's tables for an export folder: fitted on the training data's symbols, exactly as the
device computes them, and written to agilenn.json under ``coder`` (``agilenn fit-coder``, and
``agilenn export``); and their C form for the generated library (templates/context_tables.c.j2).

The symbols come from the int8 device model that ``agilenn codegen`` compiles (the same quantization and
calibration images), run by onnxruntime with the remote output kept in int8 and mapped through the
symbol table. The tables do not change what the device computes, only how well it compresses: a library
compiled with other calibration data still codes every symbol exactly.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agilenn_codegen.errors import UserError
from agilenn_codegen.offload.context_model import (
    ContextCounts,
    ContextModel,
    estimated_body_bytes,
    fit_context_model,
    nonzero_channels,
)
from agilenn_codegen.pipeline.exported import METADATA, ExportedModel

BATCH = 500


def training_symbols(
    exported: ExportedModel, *, images: int | None = None, data_root: Path | None = None
) -> tuple[int, Callable[[Callable[[int, int], None] | None], Any]]:
    """(image count, ``batches(progress)``: yields the (B, C_r, H, W) uint8 symbol batches of the training
    split, calling ``progress(done, total)``; each call runs the device model again, so nothing larger than
    a batch is held)."""
    from agilenn_codegen.pipeline.device_model import dataset_images, int8_device_model
    from agilenn_codegen.pipeline.reference import LOCAL_OUTPUT, int8_output_model, remote_quantization
    from agilenn_codegen.pipeline.symbols import symbol_table
    from agilenn_codegen.reference import ort_session

    with tempfile.TemporaryDirectory(prefix="agilenn-fit-coder-") as tmp:
        int8 = int8_device_model(exported, Path(tmp), data_root=data_root)
        scale, zero_point = remote_quantization(int8)
        session = ort_session(int8_output_model(int8))
    table = symbol_table(scale, zero_point, exported.centroids)
    x, _ = dataset_images(exported, "train", images, data_root)
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]

    def batches(progress: Callable[[int, int], None] | None = None) -> Any:
        for start in range(0, len(x), BATCH):
            outputs = dict(zip(names, session.run(None, {input_name: x[start : start + BATCH]}), strict=True))
            remote = next(v for k, v in outputs.items() if k != LOCAL_OUTPUT)
            if progress is not None:
                progress(min(start + BATCH, len(x)), len(x))
            yield table[remote.astype(np.int16) + 128].reshape(-1, *exported.feature_shape)

    return len(x), batches


def fit_coder_tables(
    exported: ExportedModel,
    *,
    images: int | None = None,
    data_root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ContextModel:
    """Fit the tables on (the first `images` of) the export's training split: one pass finds the live
    channels (non-zero somewhere), a second counts the contexts."""
    count, batches = training_symbols(exported, images=images, data_root=data_root)
    if count == 0:
        raise UserError(f"{exported.folder}: the training split of {exported.dataset!r} has no images")
    first = None if progress is None else lambda done, total: progress(done, 2 * total)
    second = None if progress is None else lambda done, total: progress(total + done, 2 * total)
    active = np.zeros(exported.feature_shape[0], bool)
    for batch in batches(first):
        active |= nonzero_channels(batch)
    counts = ContextCounts(exported.alphabet, exported.feature_shape[0], np.flatnonzero(active).tolist())
    for batch in batches(second):
        counts.add(batch)
    fitted = {"dataset": exported.dataset, "split": "train", "images": count}
    model = fit_context_model(counts, fitted=fitted)
    estimate = round(estimated_body_bytes(counts, model), 1)
    return fit_context_model(counts, fitted=fitted | {"body_bytes_per_image_estimate": estimate})


def write_coder_tables(folder: Path, model: ContextModel) -> dict[str, Any]:
    """Store the tables in FOLDER/agilenn.json under ``coder`` (the model id changes with them)."""
    path = folder / METADATA
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["coder"] = model.to_json()
    path.write_text(dumps_metadata(meta), encoding="utf-8")
    return meta


def dumps_metadata(meta: dict[str, Any]) -> str:
    """agilenn.json as text: ``json.dumps(indent=2)`` as `agilenn export` writes it, except that the coder's
    lists of numbers stay on one line each (the tables stay readable). The model id does not depend on the
    layout: it hashes the canonical form."""

    def render(value: Any, indent: int, compact: bool) -> str:
        pad = "  " * (indent + 1)
        numbers = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        if compact and numbers:
            return json.dumps(value)
        if isinstance(value, dict) and value:
            items = [
                f"{pad}{json.dumps(k)}: {render(v, indent + 1, compact or k == 'coder')}" for k, v in value.items()
            ]
            return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join(pad + render(v, indent + 1, compact) for v in value) + "\n" + "  " * indent + "]"
        return json.dumps(value)

    text = render(meta, 0, False) + "\n"
    assert json.loads(text) == meta
    return text


def context_tables_c(model: ContextModel, height: int, width: int) -> dict[str, Any]:
    """The values templates/context_tables.c.j2 renders for a (C_r, height, width) feature map."""
    rare = model.rare_channels
    fitted = model.fitted
    how = (
        f"Fitted on {fitted.get('images')} {fitted.get('split', 'training')} images of {fitted.get('dataset')}."
        if fitted
        else ""
    )
    return {
        "alphabet": model.alphabet,
        "channels": model.channels,
        "height": height,
        "width": width,
        "precision": model.precision,
        "live": list(model.live_channels),
        "rare": list(rare),
        "border": [model.alphabet] * len(model.live_channels),
        "context_map": [int(v) for v in model.offset_map_array().reshape(-1)],
        "cum_freq": [f"0x{int(v):08x}u" for v in model.cum_freq_array().reshape(-1)],
        "rows": len(model.rows),
        "table_bytes": model.table_bytes(),
        "fitted": how,
    }
