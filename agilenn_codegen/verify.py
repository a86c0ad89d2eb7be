"""Build the generated code for a target, run it on samples, and compare every output byte with onnxruntime.

The same harness (templates/verify_main.c.j2) runs natively for the host and on an emulated
Cortex-M core under qemu with semihosting file I/O. Outputs are compared as raw bytes.
"""

from __future__ import annotations

import shlex
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agilenn_codegen.compiler import compile_model, ir
from agilenn_codegen.compiler.codegen import GeneratedLibrary, banner, environment, generate, io_entries
from agilenn_codegen.compiler.library_name import internal_library_name
from agilenn_codegen.errors import ToolError
from agilenn_codegen.reference import run_reference
from agilenn_codegen.samples import generate_samples, load_samples
from agilenn_codegen.targets import Target, build_program, check_toolchain, run_program


@dataclass(frozen=True)
class OutputCheck:
    name: str
    shape: tuple[int, ...]
    dtype: str
    samples: int
    exact_samples: int
    mismatched_elements: int
    max_abs_diff: float
    first_mismatch: int | None

    @property
    def exact(self) -> bool:
        return self.exact_samples == self.samples


@dataclass(frozen=True)
class VerifyReport:
    model: str
    target: str
    samples: int
    outputs: tuple[OutputCheck, ...]
    run_seconds: float
    sample_source: str
    work_dir: str
    elf_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return all(o.exact for o in self.outputs)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "target": self.target,
            "samples": self.samples,
            "sample_source": self.sample_source,
            "bit_exact": self.exact,
            "run_seconds": round(self.run_seconds, 3),
            "outputs": [o.__dict__ | {"exact": o.exact, "shape": list(o.shape)} for o in self.outputs],
        }


def _write_inputs(path: Path, graph: ir.Graph, samples: dict[str, np.ndarray]) -> int:
    count = next(iter(samples.values())).shape[0]
    with path.open("wb") as f:
        f.write(struct.pack("<I", count))
        for i in range(count):
            for name in graph.inputs:
                f.write(np.ascontiguousarray(samples[name][i]).tobytes())
    return count


def _read_outputs(path: Path, graph: ir.Graph, count: int) -> list[np.ndarray]:
    tensors = [graph.tensor(n) for n in graph.outputs]
    raw = path.read_bytes() if path.exists() else b""
    per_sample = sum(t.nbytes for t in tensors)
    if len(raw) != per_sample * count:
        raise ToolError(f"the generated program wrote {len(raw)} bytes of outputs, expected {per_sample * count}")
    outputs: list[list[np.ndarray]] = [[] for _ in tensors]
    offset = 0
    for _ in range(count):
        for j, t in enumerate(tensors):
            outputs[j].append(np.frombuffer(raw[offset : offset + t.nbytes], dtype=t.dtype.numpy).reshape(t.shape))
            offset += t.nbytes
    return [np.stack(o) for o in outputs]


def _compare(name: str, got: np.ndarray, want: np.ndarray) -> OutputCheck:
    count = got.shape[0]
    want = want.reshape(got.shape).astype(got.dtype)
    same = [got[i].tobytes() == want[i].tobytes() for i in range(count)]
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    bad = ~(got.view(np.uint8).reshape(count, -1) == want.view(np.uint8).reshape(count, -1)).all(axis=1)
    elements = int(np.count_nonzero(got.reshape(count, -1) != want.reshape(count, -1)))
    first = int(np.argmax(bad)) if bad.any() else None
    return OutputCheck(
        name,
        tuple(got.shape[1:]),
        str(got.dtype),
        count,
        sum(same),
        elements,
        float(np.nanmax(diff)) if diff.size else 0.0,
        first,
    )


def build_verifier(
    graph: ir.Graph, target: Target, work_dir: Path, command: str, *, sanitize: bool = False, kernels: str = "fast"
) -> tuple[GeneratedLibrary, Path]:
    """Generate the library and the harness into `work_dir` and build them for `target`."""
    name, _ = internal_library_name(graph.name)  # never linked by the user: any valid name does
    library = generate(graph, target, work_dir / "lib", command=command, name=name, kernels=kernels)
    harness = work_dir / "verify_main.c"
    harness.write_text(
        environment()
        .get_template("verify_main.c.j2")
        .render(
            banner=banner(graph, target, command),
            name=library.name,
            inputs=io_entries(graph, graph.inputs),
            outputs=io_entries(graph, graph.outputs),
        )
    )
    executable = build_program(
        target, [*library.sources, harness], library.include_dirs, work_dir / "build", sanitize=sanitize
    )
    return library, executable


def verify_model(
    model: Path,
    target: Target,
    *,
    inputs: Path | None = None,
    count: int = 20,
    seed: int = 0,
    save_outputs: Path | None = None,
    work_dir: Path | None = None,
    sanitize: bool = False,
    timeout_s: float = 600.0,
    kernels: str = "fast",
) -> VerifyReport:
    check_toolchain(target)
    graph = compile_model(model)
    if inputs is not None:
        samples, source = load_samples(inputs, graph), str(inputs)
    else:
        samples, source = (
            generate_samples(graph, count, seed),
            f"generated (seed {seed}; random/saturating/min/max/ties)",
        )
    n = next(iter(samples.values())).shape[0]
    command = f"agilenn verify {shlex.quote(model.name)} --target {target.name}"
    if kernels != "fast":
        command += f" --kernels {kernels}"
    with tempfile.TemporaryDirectory(prefix="agilenn-verify-") as tmp:
        wd = work_dir or Path(tmp)
        wd.mkdir(parents=True, exist_ok=True)
        _, executable = build_verifier(graph, target, wd, command, sanitize=sanitize, kernels=kernels)
        run_dir = wd / "run"
        run_dir.mkdir(exist_ok=True)
        _write_inputs(run_dir / "input.bin", graph, samples)
        (run_dir / "output.bin").unlink(missing_ok=True)
        result = run_program(target, executable, run_dir, timeout_s=timeout_s)
        if result.returncode != 0:
            raise ToolError(
                f"the generated code failed on {target.name} (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr).strip()[-2000:]}"
            )
        got = _read_outputs(run_dir / "output.bin", graph, n)
    shapes = {name: graph.tensor(name).shape for name in graph.inputs}
    want = run_reference(model, samples, shapes, graph.outputs)
    checks = tuple(_compare(name, g, w) for name, g, w in zip(graph.outputs, got, want, strict=True))
    if save_outputs is not None:
        save_outputs.mkdir(parents=True, exist_ok=True)
        for j, g in enumerate(got):
            per_sample = g.reshape(g.shape[0], *_strip_batch(graph.tensor(graph.outputs[j]).shape))
            np.save(save_outputs / f"output_{j}.npy", per_sample)
    return VerifyReport(str(model), target.name, n, checks, result.elapsed_s, source, str(work_dir or ""))


def _strip_batch(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[1:] if len(shape) > 1 and shape[0] == 1 else shape
