"""Call sites in a function of a bare-metal ELF, read from `arm-none-eabi-objdump -d`.

The profiler marks the address of a call and the address execution returns to, and counts the
instructions in between (the call itself and everything the callee executes). A call that gcc turned
into a tail jump (`b.w callee` as a function's last instruction) returns to the function's own caller;
such sites are flagged `tail` and the profiler closes them where the enclosing call returns.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agilenn_codegen.errors import ToolError

OBJDUMP = "arm-none-eabi-objdump"
_FUNCTION = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
_TARGET = re.compile(r"^([0-9a-f]+) <([^>+]+)>$")
_CALLS = {"bl", "blx"}
_REGISTER = re.compile(r"^(r\d+|sb|sl|fp|ip|lr)$")
INDIRECT = "(indirect)"  # the callee of a call through a function pointer (`blx r3`)
_JUMPS = {"b", "b.w", "b.n"}


@dataclass(frozen=True)
class CallSite:
    address: int  # the call (or tail jump) instruction
    return_address: int  # the next instruction; meaningless for a tail jump
    callee: str
    tail: bool = False


@dataclass(frozen=True)
class Disassembly:
    functions: dict[str, list[tuple[int, str, str]]]  # name -> [(address, mnemonic, operands)]

    def call_sites(self, function: str) -> list[CallSite]:
        """Calls from `function` to other functions, in address order (straight-line code keeps call order)."""
        insns = self.functions.get(function)
        if insns is None:
            raise ToolError(f"function {function!r} is not in the program (was it inlined or renamed?)")
        sites = []
        for i, (address, mnemonic, operands) in enumerate(insns):
            target = _TARGET.match(operands.strip())
            if target is None:
                if mnemonic == "blx" and _REGISTER.match(operands.strip()):
                    nxt = insns[i + 1][0] if i + 1 < len(insns) else address + 2
                    sites.append(CallSite(address, nxt, INDIRECT))
                continue
            callee = target.group(2)
            if mnemonic in _CALLS:
                nxt = insns[i + 1][0] if i + 1 < len(insns) else address + 4
                sites.append(CallSite(address, nxt, callee))
            elif mnemonic in _JUMPS and callee != function:
                sites.append(CallSite(address, 0, callee, tail=True))
        return sites


def disassemble(elf: Path) -> Disassembly:
    try:
        text = subprocess.run(
            [OBJDUMP, "-d", "--no-show-raw-insn", str(elf)], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolError(f"{OBJDUMP} failed on {elf}: {exc}") from None
    functions: dict[str, list[tuple[int, str, str]]] = {}
    current: list[tuple[int, str, str]] | None = None
    for line in text.splitlines():
        head = _FUNCTION.match(line)
        if head:
            current = functions.setdefault(head.group(2), [])
            continue
        insn = _INSN.match(line)
        if insn and current is not None:
            current.append((int(insn.group(1), 16), insn.group(2), insn.group(3)))
        elif not line.strip():
            current = None
    return Disassembly(functions)
