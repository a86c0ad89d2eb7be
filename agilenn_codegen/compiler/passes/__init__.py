"""The compiler pipeline: named pure passes Graph -> Graph, the IR checked after each."""

from __future__ import annotations

from collections.abc import Callable

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.passes.boundaries import move_data_movement_into_int8
from agilenn_codegen.compiler.passes.fold_qdq import check_integer, fold_qdq
from agilenn_codegen.compiler.passes.fuse_activations import fuse_activations
from agilenn_codegen.compiler.passes.fuse_slices import fuse_slices
from agilenn_codegen.compiler.passes.graph_utils import prune
from agilenn_codegen.compiler.passes.layout import layout_nhwc
from agilenn_codegen.compiler.passes.memory import plan_memory
from agilenn_codegen.compiler.passes.requant import requantize
from agilenn_codegen.compiler.passes.verify import verify_graph

Pass = Callable[[ir.Graph], ir.Graph]

PIPELINE: tuple[tuple[str, Pass], ...] = (
    ("prune", prune),
    ("fold_qdq", fold_qdq),
    ("move_data_movement_into_int8", move_data_movement_into_int8),
    ("check_integer", check_integer),
    ("fuse_activations", fuse_activations),
    ("layout_nhwc", layout_nhwc),
    ("requantize", requantize),
    ("fuse_slices", fuse_slices),
    ("plan_memory", plan_memory),
)


def run_pipeline(graph: ir.Graph, on_stage: Callable[[str, ir.Graph], None] | None = None) -> ir.Graph:
    """Run every pass in order; `on_stage(name, graph)` sees the graph after each (for --dump-ir)."""
    verify_graph(graph, "import")
    if on_stage:
        on_stage("import", graph)
    for name, func in PIPELINE:
        graph = func(graph)
        verify_graph(graph, name)
        if on_stage:
            on_stage(name, graph)
    return graph


__all__ = ["PIPELINE", "run_pipeline"]
