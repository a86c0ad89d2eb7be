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
    item_bytes: int
    per_line: int = 16


@dataclass(frozen=True)
class KernelCall:
    """One call of the run function: `function(&params_symbol, args...)` for a runtime kernel, or, when
    `body` is set, a layer function of the generated source that instantiates the inline kernel body
    `body(&params_symbol, ...)` with the layer's constant parameters; `run` then calls `function(args...)`
    and `parameters` declares its arguments."""

    function: str
    params_type: str
    params_symbol: str
    params: tuple[tuple[str, str], ...]  # designated initializer fields
    args: tuple[str, ...]
    comment: str = ""
    body: str | None = None
    parameters: tuple[str, ...] = ()


ITEM_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4}


def c_float(value: float) -> str:
    """An exact, deterministic float32 literal (C99 hexadecimal floating constant)."""
    v = float(np.float32(value))
    if np.isinf(v):
        return "(-HUGE_VALF)" if v < 0 else "HUGE_VALF"
    if v == 0.0:
        return "0.0f"
    return f"{v.hex()}f"


def c_struct(fields: tuple[tuple[str, str], ...], indent: int = 4) -> str:
    """A nested designated initializer, indented to sit inside a params struct of the template."""
    pad = " " * (indent + 4)
    inner = "".join(f"{pad}.{key} = {value},\n" for key, value in fields)
    return "{\n" + inner + " " * indent + "}"


def c_identifier(name: str) -> str:
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return ident if ident and not ident[0].isdigit() else f"t_{ident}"


@dataclass
class EmitContext:
    graph: ir.Graph
    prefix: str  # the model's C identifier
    no_fpu: bool
    fast: bool = True  # optimized kernels instantiated per layer (False: the portable reference kernels)
    dsp: bool = False  # the target has the DSP extension: weights packed for SMLAD
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
    def add_array(self, base: str, c_type: str, values: list[str], comment: str, item_bytes: int | None = None) -> str:
        symbol = self.symbol(f"{self.layer_symbol}_{base}")
        size = item_bytes if item_bytes is not None else ITEM_BYTES.get(c_type)
        if size is None:
            raise ValueError(f"add_array: give the item size of C type {c_type!r}")
        per_line = 8 if max((len(v) for v in values), default=0) > 6 else 16
        self.arrays.append(CArray(symbol, c_type, tuple(values), comment, size, per_line))
        return symbol

    def layer_function(self, what: str) -> str:
        """The name of this layer's function in the generated source (static, so only readable)."""
        return self.symbol(f"{self.prefix}_{self.layer_symbol}_{what}")

    def call(
        self,
        function: str,
        params_type: str,
        params: tuple[tuple[str, str], ...],
        args: tuple[str, ...],
        *,
        fast_body: str | None = None,
        parameters: tuple[str, ...] = (),
        comment: str = "",
    ) -> KernelCall:
        """A runtime kernel call, or (with `fast_body`, when optimized kernels are on) a layer function that
        instantiates the body with this layer's constant parameters."""
        symbol = self.symbol(f"{self.layer_symbol}_params")
        if fast_body is not None and self.fast:
            name = self.layer_function(function.removeprefix("agilenn_"))
            return KernelCall(name, params_type, symbol, params, args, comment, fast_body, parameters)
        return KernelCall(function, params_type, symbol, params, args, comment)

    @property
    def multiplier_bytes(self) -> int:
        return 8 if self.no_fpu else 4

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
            return self.add_array(
                base, "agilenn_multiplier_t", items, comment + " (mantissa, shift)", self.multiplier_bytes
            )
        return self.add_array(base, "agilenn_multiplier_t", [c_float(v) for v in values], comment, 4)

    def multiplier_literal(self, value: float) -> str:
        if self.no_fpu:
            m = numerics.int_multiplier(value)
            return f"{{{m.mantissa}, {m.shift}}}"
        return c_float(value)
