"""C emission: each op family turns its IR nodes into kernel calls with const params structs.

An emitter returns :class:`KernelCall` objects (function, params struct initializer, buffer
arguments) and registers the constant arrays it needs through the :class:`EmitContext`. The model
template then prints them; Python computes every value, templates hold only structure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit.context import CArray, EmitContext, KernelCall

Emitter = Callable[[ir.Node, EmitContext], list[KernelCall]]

_EMITTERS: dict[str, Emitter] = {}


def emitter(*ops: str) -> Callable[[Emitter], Emitter]:
    def register(func: Emitter) -> Emitter:
        for op in ops:
            _EMITTERS[op] = func
        return func

    return register


def emit_node(node: ir.Node, ctx: EmitContext) -> list[KernelCall]:
    return _EMITTERS[node.op](node, ctx)


@dataclass(frozen=True)
class EmittedLayer:
    index: int
    node: ir.Node
    calls: tuple[KernelCall, ...]


from agilenn_codegen.compiler.emit import (  # noqa: E402
    conv,
    data_movement,
    elementwise,
    fully_connected,
    pooling,
    quantization,
)

__all__ = [
    "CArray",
    "EmitContext",
    "EmittedLayer",
    "KernelCall",
    "conv",
    "data_movement",
    "elementwise",
    "emit_node",
    "emitter",
    "fully_connected",
    "pooling",
    "quantization",
]
