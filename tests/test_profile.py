"""`agilenn profile` and the instruction counter under it: exact, repeatable, and layer figures that add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agilenn_codegen.cli import main
from agilenn_codegen.compiler import compile_model
from agilenn_codegen.profiling import profile_model, profile_pipeline
from agilenn_codegen.profiling.disassembly import disassemble
from agilenn_codegen.targets import build_program, count_instructions, load_target

pytestmark = pytest.mark.qemu
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "targets"
TINY = ROOT / "examples" / "models" / "tiny_cnn_int8.onnx"
SHIPPED = ROOT / "examples" / "agilenn_fmnist"


@pytest.mark.parametrize("target", ["stm32f746", "stm32f103"])
def test_condition_failed_instructions_in_it_blocks_are_counted(target, tmp_path):
    """it_sequence executes nine instructions, three of them failing their IT condition; main calls it twice."""
    tgt = load_target(target)
    elf = build_program(tgt, [DATA / "it_block.c"], [], tmp_path / "build")
    dis = disassemble(elf)
    first, second = (s for s in dis.call_sites("main") if s.callee == "it_sequence")
    counts = count_instructions(tgt, elf, tmp_path, marks=[first.address, first.return_address, second.return_address])
    start, middle, end = (counts.counts_at(a)[0] for a in (first.address, first.return_address, second.return_address))
    assert middle - start == 1 + 9  # the call, then the nine instructions of it_sequence
    assert end - middle == 1 + 9
    assert counts.total > end


def test_profile_is_exact_and_repeatable(tmp_path):
    target = load_target("stm32f746")
    a = profile_model(TINY, target, work_dir=tmp_path / "a")
    b = profile_model(TINY, target, work_dir=tmp_path / "b")
    assert a.to_json() == b.to_json()
    graph = compile_model(TINY)
    assert [layer.onnx_node for layer in a.layers] == [node.name for node in graph.nodes]
    convs = [layer for layer in a.layers if layer.op == "conv"]
    assert convs and all(layer.instructions > layer.outputs for layer in convs)  # at least one per output
    assert all(layer.instructions == 0 for layer in a.layers if layer.op == "reshape")  # aliases: no code
    glue = next(stage for stage in a.stages if stage.name == "glue")
    assert 0 <= glue.instructions < 200  # argument set-up of a dozen calls
    assert a.total < a.program_instructions
    assert 0 < a.stack_bytes < 4096


def test_profile_counts_what_the_reference_kernels_cost(tmp_path):
    """The optimized kernels execute far fewer instructions than the reference ones, on the same model."""
    target = load_target("stm32f746")
    fast = profile_model(TINY, target, work_dir=tmp_path / "fast")
    reference = profile_model(TINY, target, kernels="reference", work_dir=tmp_path / "reference")
    assert fast.total * 3 < reference.total


def test_profile_of_an_agilenn_folder_has_every_stage(tmp_path):
    report = profile_pipeline(SHIPPED, load_target("stm32f746"), work_dir=tmp_path / "w")
    stages = {stage.name: stage.instructions for stage in report.stages}
    assert list(stages) == ["network", "centroid table", "coding", "framing", "combine"]
    assert all(value > 0 for value in stages.values())
    table = [layer for layer in report.layers if layer.op == "table"]
    assert len(table) == 1 and table[0].instructions == stages["centroid table"]
    assert report.extra["frames"] >= 1 and report.extra["bytes_sent"] > 28


def test_cli_profile_writes_json(tmp_path):
    out = tmp_path / "profile.json"
    assert main(["profile", str(TINY), "--target", "stm32f746", "--json", str(out), "--cpi", "1.5"]) == 0
    data = json.loads(out.read_text())
    assert data["cycle_estimate"]["cpi_assumed"] == 1.5
    assert data["instructions_total"] == sum(stage["instructions"] for stage in data["stages"])
    assert round(data["cycle_estimate"]["cycles"]) == round(1.5 * data["instructions_total"])


def test_cli_profile_needs_an_emulated_target(tmp_path, capsys):
    assert main(["profile", str(TINY), "--target", "host"]) == 2
    assert "emulated core" in capsys.readouterr().err
