"""What emitters share: the graph, the target's arithmetic, buffer expressions and const arrays."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from agilenn_codegen.compiler import ir, numerics
from agilenn_codegen.compiler.passes.memory import external_tensors


@dataclass(frozen=True)
class CArray:
    """A `static const` array of the generated source."""

    symbol: str
    c_type: str
    values: tuple[str, ...]
    comment: str
    per_line: int = 16


@dataclass(frozen=True)
class KernelCall:
    function: str
    params_type: str
    params_symbol: str
    params: tuple[tuple[str, str], ...]  # designated initializer fields
    args: tuple[str, ...]
    comment: str = ""


def c_float(value: float) -> str:
    """An exact, deterministic float32 literal (C99 hexadecimal floating constant)."""
    v = float(np.float32(value))
    if np.isinf(v):
        return "(-HUGE_VALF)" if v < 0 else "HUGE_VALF"
    if v == 0.0:
        return "0.0f"
    return f"{v.hex()}f"


def c_identifier(name: str) -> str:
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return ident if ident and not ident[0].isdigit() else f"t_{ident}"


@dataclass
class EmitContext:
    graph: ir.Graph
    prefix: str  # the model's C identifier
    no_fpu: bool
    arrays: list[CArray] = field(default_factory=list)
    _symbols: set[str] = field(default_factory=set)
    _const_symbols: dict[str, str] = field(default_factory=dict)
    layer_symbol: str = "layer"

    def __post_init__(self) -> None:
        self.external = external_tensors(self.graph)
        self.io_symbols = {name: f"{c_identifier(name)}" for name in (*self.graph.inputs, *self.graph.outputs)}

    # symbols ---------------------------------------------------------------------------------
    def symbol(self, base: str) -> str:
        ident = c_identifier(base)
        candidate, n = ident, 1
        while candidate in self._symbols:
            n += 1
            candidate = f"{ident}_{n}"
        self._symbols.add(candidate)
        return candidate

    # buffers ---------------------------------------------------------------------------------
    def ptr(self, name: str, c_type: str | None = None, *, const: bool = False) -> str:
        """A C expression pointing at tensor `name` at run time."""
        tensor = self.graph.tensor(name)
        ctype = c_type or tensor.dtype.c_type
        if name in self.external:
            if ctype == tensor.dtype.c_type:
                return self.io_symbols[name]
            return f"(({'const ' if const else ''}{ctype} *){self.io_symbols[name]})"
        if self.graph.is_constant(name):
            return self.const_array(name)
        assert self.graph.memory is not None
        offset = self.graph.memory.by_tensor[name].offset
        qual = "const " if const else ""
        return f"({qual}{ctype} *)(arena + {offset})"

    # constants -------------------------------------------------------------------------------
    def add_array(self, base: str, c_type: str, values: list[str], comment: str) -> str:
        symbol = self.symbol(f"{self.layer_symbol}_{base}")
        self.arrays.append(CArray(symbol, c_type, tuple(values), comment))
        return symbol

    def const_array(self, name: str) -> str:
        """The symbol of constant tensor `name` (emitted once, in its physical layout)."""
        if name not in self._const_symbols:
            array = self.graph.constant(name)
            tensor = self.graph.tensor(name)
            values = [str(int(v)) for v in array.reshape(-1)]
            shape = "x".join(str(d) for d in array.shape)
            layout = "" if tensor.layout is None else " (OHWI)" if len(array.shape) == 4 else ""
            self._const_symbols[name] = self.add_array(
                name, tensor.dtype.c_type, values, f"'{name}' {tensor.dtype.value}[{shape}]{layout}"
            )
        return self._const_symbols[name]

    def optional_const(self, node: ir.Node, index: int) -> str:
        """The symbol of the node's optional constant input `index` (a bias), or NULL when absent."""
        name = node.inputs[index] if index < len(node.inputs) else ""
        return self.const_array(name) if name else "NULL"

    def multipliers(self, base: str, values: tuple[float, ...], comment: str) -> str:
        """A multiplier array in the target's form: float32, or the exact integer form without an FPU."""
        if self.no_fpu:
            items = []
            for v in values:
                m = numerics.int_multiplier(v)
                items.append(f"{{{m.mantissa}, {m.shift}}}")
            return self.add_array(base, "agilenn_multiplier_t", items, comment + " (mantissa, shift)")
        return self.add_array(base, "agilenn_multiplier_t", [c_float(v) for v in values], comment)

    def multiplier_literal(self, value: float) -> str:
        if self.no_fpu:
            m = numerics.int_multiplier(value)
            return f"{{{m.mantissa}, {m.shift}}}"
        return c_float(value)
