"""manifest.json: what the generated library is, where its memory goes, and whether it fits the target."""

from __future__ import annotations

from typing import Any, Protocol

from agilenn_codegen import __version__
from agilenn_codegen.compiler import ir
from agilenn_codegen.errors import UserError

# Flash allowance for the generated code itself (runtime kernels + the network's call sequence).
# tests/test_examples_cmake.py measures the library's flash share in a Cortex-M7 firmware build (from the
# linker map: about 3.4 KB of code at -O2, 5.6 KB at -O0) and checks it stays below this plus the constants.
CODE_BYTES_ESTIMATE = 16 * 1024


class TargetLike(Protocol):
    """What code generation reads of a target (agilenn_codegen.targets.Target provides it)."""

    @property
    def name(self) -> str: ...

    @property
    def ram_bytes(self) -> int: ...

    @property
    def flash_bytes(self) -> int: ...


def node_macs(graph: ir.Graph, node: ir.Node) -> int:
    """Multiply-accumulates (or element operations for pools and elementwise ops) of one node."""
    out = graph.tensor(node.outputs[0])
    attrs = node.attrs
    if isinstance(attrs, ir.ConvAttrs):
        in_c = graph.tensor(node.inputs[0]).shape[1]
        return out.size * attrs.kernel[0] * attrs.kernel[1] * (in_c // attrs.group)
    if isinstance(attrs, ir.FullyConnectedAttrs):
        k = graph.constant(node.inputs[1]).shape[1]
        return out.size * int(k)
    if isinstance(attrs, ir.AvgPoolAttrs | ir.MaxPoolAttrs):
        return out.size * attrs.kernel[0] * attrs.kernel[1]
    if isinstance(attrs, ir.GlobalAvgPoolAttrs):  # the pooled channels only (a fused slice reads a subset)
        x = graph.tensor(node.inputs[0])
        return out.size * x.shape[2] * x.shape[3]
    if isinstance(attrs, ir.AddAttrs | ir.MulAttrs):
        return out.size
    return 0


def io_bytes(graph: ir.Graph) -> int:
    """Bytes of the caller's input and output buffers (they live in RAM too)."""
    return sum(graph.tensor(n).nbytes for n in (*graph.inputs, *graph.outputs))


def build_manifest(graph: ir.Graph, target: TargetLike, name: str, command: str, const_bytes: int) -> dict[str, Any]:
    assert graph.memory is not None
    layers = []
    for index, node in enumerate(graph.nodes):
        out = graph.tensor(node.outputs[0])
        buf = graph.memory.by_tensor.get(out.name)
        layers.append(
            {
                "index": index,
                "op": node.op,
                "onnx_node": node.name,
                "onnx_op": node.source_op,
                "output": out.name,
                "output_shape": list(out.shape),
                "output_dtype": out.dtype.value,
                "arena_offset": None if buf is None else buf.offset,
                "arena_bytes": None if buf is None else buf.size,
                "macs": node_macs(graph, node),
            }
        )
    weight_bytes = sum(c.array.nbytes for c in graph.constants)
    ram = graph.memory.arena_bytes + graph.memory.scratch_bytes + io_bytes(graph)
    flash = const_bytes + CODE_BYTES_ESTIMATE
    return {
        "generator": {"name": "agilenn-codegen", "version": __version__},
        "command": command,
        "model": {
            "file": graph.source.path.split("/")[-1],
            "sha256": graph.source.sha256,
            "producer": graph.source.producer,
            "opset": graph.source.opset,
            "format": graph.source.format,
        },
        "library": name,
        "target": target.name,
        "inputs": [
            {"name": n, "shape": list(graph.tensor(n).shape), "dtype": graph.tensor(n).dtype.value}
            for n in graph.inputs
        ],
        "outputs": [
            {"name": n, "shape": list(graph.tensor(n).shape), "dtype": graph.tensor(n).dtype.value}
            for n in graph.outputs
        ],
        "layers": layers,
        "totals": {
            "macs": sum(layer["macs"] for layer in layers),
            "arena_bytes": graph.memory.arena_bytes,
            "scratch_bytes": graph.memory.scratch_bytes,
            "io_buffer_bytes": io_bytes(graph),
            "weight_bytes": weight_bytes,
            "const_bytes": const_bytes,
            "ram_bytes_needed": ram,
            "flash_bytes_estimate": flash,
            "code_bytes_estimate": CODE_BYTES_ESTIMATE,
        },
        "budget": {"ram_bytes": target.ram_bytes, "flash_bytes": target.flash_bytes},
    }


def check_fit(manifest: dict[str, Any], *, allow_overflow: bool) -> list[str]:
    """Problems with the target's memory, as sentences; raise a UserError unless overflow is allowed."""
    totals, budget = manifest["totals"], manifest["budget"]
    problems = []
    if totals["ram_bytes_needed"] > budget["ram_bytes"]:
        problems.append(
            f"RAM: needs {totals['ram_bytes_needed']:,} bytes (arena {totals['arena_bytes']:,} + scratch "
            f"{totals['scratch_bytes']:,} + input/output buffers {totals['io_buffer_bytes']:,}) but "
            f"{manifest['target']} has {budget['ram_bytes']:,}"
        )
    if totals["flash_bytes_estimate"] > budget["flash_bytes"]:
        problems.append(
            f"flash: needs about {totals['flash_bytes_estimate']:,} bytes (constants {totals['const_bytes']:,} + "
            f"code ~{totals['code_bytes_estimate']:,}) but {manifest['target']} has {budget['flash_bytes']:,}"
        )
    if problems and not allow_overflow:
        raise UserError(
            f"the model does not fit target {manifest['target']}:\n  " + "\n  ".join(problems),
            hint="use a smaller model or a larger target, or pass --allow-overflow to generate the code anyway",
        )
    return problems
