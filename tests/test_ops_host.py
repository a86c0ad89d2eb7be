"""Op-level bit-exactness on the host (ASan/UBSan builds): the whole corpus of tests/op_corpus.py in
QOperator and QDQ form, per-channel weights everywhere and per-tensor weights where ops have weights, with
the optimized kernels (the default), and once with the reference kernels."""

from __future__ import annotations

import modelzoo
import numpy as np
import pytest
from compiler_harness import check_zoo
from op_corpus import CORPUS, WEIGHTED, build

CASES = [(name, fmt, True) for name in CORPUS for fmt in ("qoperator", "qdq")]
CASES += [(name, fmt, False) for name in WEIGHTED for fmt in ("qoperator", "qdq")]


@pytest.mark.parametrize("name,fmt,per_channel", CASES, ids=[f"{n}-{f}-{'pc' if p else 'pt'}" for n, f, p in CASES])
def test_corpus_on_host(name, fmt, per_channel, tmp_path):
    check_zoo(build(name), fmt, per_channel, tmp_path, sanitize=True)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_on_host_with_the_reference_kernels(name, tmp_path):
    """The reference kernels (the spec the optimized ones are tested against) stay exact on the whole corpus."""
    check_zoo(build(name), "qoperator", True, tmp_path, sanitize=True, kernels="reference")


def test_gemm_with_float_output(tmp_path):
    """A QDQ Gemm whose output is not quantized runs as QGemm with float output: y = (float)acc * S."""
    import onnx
    from compiler_harness import adversarial_inputs

    from agilenn_codegen.targets import load_target
    from agilenn_codegen.verify import verify_model

    model = onnx.load(str(modelzoo.quantized(modelzoo.gemm_model(np.random.default_rng(1)), "qdq", True, tmp_path)))
    graph = model.graph
    dequantize = next(n for n in graph.node if graph.output[0].name in n.output)
    quantize = next(n for n in graph.node if dequantize.input[0] in n.output)
    gemm_out = quantize.input[0]
    graph.node.remove(dequantize)
    graph.node.remove(quantize)
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == gemm_out:
                node.output[i] = graph.output[0].name
    path = tmp_path / "float_output.onnx"
    onnx.save(model, str(path))
    report = verify_model(path, load_target("host"), inputs=adversarial_inputs(path, 0), sanitize=True)
    assert report.exact and report.samples == 10


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_on_host_streamed(name, tmp_path):
    """Row streaming (codegen --stream) gives the same bytes on every corpus model that streams, and is refused
    with the reason, writing nothing, on the others."""
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.codegen import generate
    from agilenn_codegen.compiler.streaming import NotStreamable, plan_streaming
    from agilenn_codegen.errors import UserError
    from agilenn_codegen.targets import load_target

    model = modelzoo.quantized(build(name), "qoperator", True, tmp_path)
    graph = compile_model(model)
    try:
        plan_streaming(graph)
    except NotStreamable as exc:
        with pytest.raises(UserError, match="cannot be streamed row by row") as refused:
            generate(graph, load_target("host"), tmp_path / "out", command="test", stream="run")
        assert str(exc) in str(refused.value) and not (tmp_path / "out").exists()
        return
    check_zoo(build(name), "qoperator", True, tmp_path / "s", sanitize=True, stream=True)


def test_enough_of_the_corpus_streams(tmp_path):
    """The streamed corpus test above is not vacuous: most convolution models stream."""
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.streaming import NotStreamable, plan_streaming

    streams = []
    for name in sorted(CORPUS):
        try:
            plan_streaming(compile_model(modelzoo.quantized(build(name), "qoperator", True, tmp_path / name)))
            streams.append(name)
        except NotStreamable:
            pass
    assert {"conv_3x3", "conv_depthwise_relu6", "conv_dilated", "conv_strided_asym_pads", "global_avgpool"} <= set(
        streams
    ), streams
