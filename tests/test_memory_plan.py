"""The arena planner: live tensors never share bytes, aliases share exactly, the arena is tight enough."""

from __future__ import annotations

import dataclasses

import modelzoo
import numpy as np
import pytest

from agilenn_codegen.compiler import compile_model, ir
from agilenn_codegen.compiler.passes.memory import alias_of, external_tensors
from agilenn_codegen.compiler.passes.verify import IRError, verify_graph

BUILDERS = {
    "mixed_cnn": lambda r: modelzoo.mixed_cnn_model(r),
    "agilenn_device": lambda r: modelzoo.agilenn_device_model(r),
    "residual": lambda r: modelzoo.residual_add_model(r, activation="relu"),
    "concat": lambda r: modelzoo.concat_model(r),
    "transpose_gemm": lambda r: modelzoo.shape_op_model(r, "transpose", follow_gemm=True),
}


def _lifetimes(graph: ir.Graph) -> dict[str, tuple[int, int]]:
    root: dict[str, str] = {}
    for node in graph.nodes:
        src = alias_of(graph, node)
        if src is not None and graph.memory is not None and node.outputs[0] in graph.memory.by_tensor:
            root[node.outputs[0]] = root.get(src, src)
    spans: dict[str, list[int]] = {}
    for step, node in enumerate(graph.nodes):
        for name in (*node.inputs, *node.outputs):
            if name and not graph.is_constant(name):
                r = root.get(name, name)
                spans.setdefault(r, [step, step])[1] = step
                spans[r][0] = min(spans[r][0], step)
    for name in graph.outputs:
        r = root.get(name, name)
        if r in spans:
            spans[r][1] = len(graph.nodes)
    return {name: (s[0], s[1]) for name, s in spans.items()}


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_live_tensors_never_overlap(name, fmt, tmp_path):
    graph = compile_model(modelzoo.quantized(BUILDERS[name](np.random.default_rng(0)), fmt, True, tmp_path))
    plan = graph.memory
    assert plan is not None
    external = external_tensors(graph)
    lifetimes = _lifetimes(graph)
    buffers = {b.tensor: b for b in plan.buffers}
    for tensor in graph.tensors:
        if graph.is_constant(tensor.name) or tensor.name in external:
            assert tensor.name not in buffers
            continue
        assert tensor.name in buffers, f"activation {tensor.name} has no buffer"
        assert buffers[tensor.name].offset % 16 == 0
    roots = [n for n in lifetimes if n in buffers]
    for i, a in enumerate(roots):
        for b in roots[i + 1 :]:
            (sa, ea), (sb, eb) = lifetimes[a], lifetimes[b]
            if sa <= eb and sb <= ea:
                ba, bb = buffers[a], buffers[b]
                assert ba.offset + ba.size <= bb.offset or bb.offset + bb.size <= ba.offset, (a, b)
    # the arena is no larger than all buffers laid end to end, and at least the largest live set
    assert plan.arena_bytes <= sum(-(-buffers[r].size // 16) * 16 for r in roots)
    peak = max(
        sum(buffers[r].size for r in roots if lifetimes[r][0] <= step <= lifetimes[r][1])
        for step in range(len(graph.nodes))
    )
    assert plan.arena_bytes >= peak


def test_reshape_aliases_its_input(tmp_path):
    graph = compile_model(
        modelzoo.quantized(
            modelzoo.shape_op_model(np.random.default_rng(1), "flatten", follow_gemm=True), "qoperator", True, tmp_path
        )
    )
    plan = graph.memory
    assert plan is not None
    reshapes = [n for n in graph.nodes if n.op == "reshape"]
    assert reshapes
    for node in reshapes:
        if node.inputs[0] in plan.by_tensor and node.outputs[0] in plan.by_tensor:
            assert plan.by_tensor[node.inputs[0]].offset == plan.by_tensor[node.outputs[0]].offset


def test_ir_checker_rejects_a_broken_graph(tmp_path):
    graph = compile_model(
        modelzoo.quantized(modelzoo.mixed_cnn_model(np.random.default_rng(2)), "qoperator", True, tmp_path)
    )
    reordered = dataclasses.replace(graph, nodes=tuple(reversed(graph.nodes)))
    with pytest.raises(IRError, match="before it is produced"):
        verify_graph(reordered, "test")
    assert graph.memory is not None
    too_small = dataclasses.replace(graph, memory=dataclasses.replace(graph.memory, arena_bytes=1))
    with pytest.raises(IRError, match="outside the arena"):
        verify_graph(too_small, "test")
