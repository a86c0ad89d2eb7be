"""The compiler: ONNX (int8) -> typed IR -> passes -> C99 library.

graph = compile_model(Path("model.onnx"))          # front end + the pass pipeline
library = generate(graph, target, out_dir, command="...")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agilenn_codegen.compiler import ir


def compile_model(
    model: Path,
    *,
    on_stage: Callable[[str, ir.Graph], None] | None = None,
    prepare: Callable[[ir.Graph], ir.Graph] | None = None,
) -> ir.Graph:
    """Import `model` and run the whole pass pipeline; `on_stage` sees the IR after each pass.

    `prepare` rewrites the imported graph before the passes (the AgileNN pipeline replaces the
    remote output's DequantizeLinear by the centroid table there)."""
    from agilenn_codegen.compiler.frontend import import_onnx
    from agilenn_codegen.compiler.passes import run_pipeline

    graph = import_onnx(model)
    if prepare is not None:
        graph = prepare(graph)
    return run_pipeline(graph, on_stage)


__all__ = ["compile_model", "ir"]
