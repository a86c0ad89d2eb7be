"""Build targets as data (``targets/*.json``), building C programs for them and running the
programs natively or on an emulated Cortex-M board (qemu-system-arm with semihosting)."""

from agilenn_codegen.targets.build import ProgramMemory, build_program, check_toolchain, compile_command, program_memory
from agilenn_codegen.targets.icount import InstructionCounts, count_instructions, instructions_executed
from agilenn_codegen.targets.model import Emulator, MemoryMap, Target
from agilenn_codegen.targets.registry import list_targets, load_target, target_names
from agilenn_codegen.targets.run import RunResult, qemu_command, run_program

__all__ = [
    "Emulator",
    "InstructionCounts",
    "MemoryMap",
    "ProgramMemory",
    "RunResult",
    "Target",
    "build_program",
    "check_toolchain",
    "compile_command",
    "count_instructions",
    "instructions_executed",
    "list_targets",
    "load_target",
    "program_memory",
    "qemu_command",
    "run_program",
    "target_names",
]
