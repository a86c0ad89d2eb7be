"""What `agilenn profile` measured: instructions per layer and per stage, stack, cycle estimate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LayerProfile:
    index: int
    op: str
    onnx_node: str
    kernels: tuple[str, ...]  # the C function(s) the layer calls
    instructions: int  # the calls and everything they execute (argument set-up excluded: see glue)
    macs: int
    outputs: int

    @property
    def per_mac(self) -> float | None:
        return self.instructions / self.macs if self.macs else None

    @property
    def per_output(self) -> float | None:
        return self.instructions / self.outputs if self.outputs else None


@dataclass(frozen=True)
class StageProfile:
    name: str
    instructions: int
    note: str = ""


@dataclass(frozen=True)
class ProfileReport:
    subject: str  # the model file or export folder
    target: str
    cpu: str
    clock_hz: int
    cpi: float  # the cycles-per-instruction assumption of the cycle estimate
    layers: tuple[LayerProfile, ...]
    stages: tuple[StageProfile, ...]  # their sum is `total`
    stack_bytes: int  # high-water mark of the measured calls (painted stack)
    program_instructions: int  # the whole program: start-up, reading inputs, semihosting I/O included
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(stage.instructions for stage in self.stages)

    @property
    def cycles(self) -> float:
        return self.total * self.cpi

    @property
    def milliseconds(self) -> float:
        return self.cycles / self.clock_hz * 1e3

    def to_json(self) -> dict[str, Any]:
        layers = []
        for layer in self.layers:
            item = asdict(layer)
            item["kernels"] = list(layer.kernels)
            item["instructions_per_mac"] = None if layer.per_mac is None else round(layer.per_mac, 3)
            item["instructions_per_output"] = None if layer.per_output is None else round(layer.per_output, 3)
            layers.append(item)
        return {
            "subject": self.subject,
            "target": self.target,
            "cpu": self.cpu,
            "instructions_total": self.total,
            "stages": [asdict(s) for s in self.stages],
            "layers": layers,
            "stack_high_water_bytes": self.stack_bytes,
            "cycle_estimate": {
                "cpi_assumed": self.cpi,
                "cycles": round(self.cycles),
                "clock_hz": self.clock_hz,
                "milliseconds": round(self.milliseconds, 4),
                "note": "cycles = instructions x CPI; the CPI is an assumption, not a measurement",
            },
            "program_instructions": self.program_instructions,
            "counting": "qemu TCG plugin (targets/qemu/agilenn_icount.c): every executed instruction, exact",
            **self.extra,
        }
