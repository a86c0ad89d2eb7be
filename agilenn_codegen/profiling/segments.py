"""Instructions between marked addresses: a call and the address execution returns to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agilenn_codegen.errors import ToolError
from agilenn_codegen.profiling.disassembly import CallSite


@dataclass(frozen=True)
class Segment:
    start: int  # address whose execution opens the segment (a call instruction)
    end: int  # address whose execution closes it (the return address)


def segment_for(site: CallSite, enclosing: Segment) -> Segment:
    """The segment of one call; a tail jump returns where the enclosing call returns."""
    return Segment(site.address, enclosing.end if site.tail else site.return_address)


def measure(events: Sequence[tuple[int, int]], segment: Segment) -> tuple[int, int]:
    """(instructions, executions): the sum over every execution of the segment, start to end."""
    total, runs, opened = 0, 0, None
    for address, count in events:
        if address == segment.start and opened is None:
            opened = count
        elif address == segment.end and opened is not None:
            total += count - opened
            runs += 1
            opened = None
    if opened is not None:
        raise ToolError(f"the call at {segment.start:#x} never returned to {segment.end:#x}")
    return total, runs
