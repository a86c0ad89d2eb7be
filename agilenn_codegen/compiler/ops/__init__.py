"""Op families: each module parses its ONNX ops into IR nodes and emits their C kernel calls.

Adding an op
------------
1. Pick (or add) the family module and write ``parse_<op>(node, builder)``: read attributes, check
   what the runtime supports (raise ``UserError`` naming the node otherwise), resolve the output
   shape/dtype/quantization and ``builder.add_node`` an IR node. Decorate it with ``@parser("OpType")``.
2. If it needs a new IR op, add an attrs dataclass to ``ir.py`` and an ``@emitter("op")`` function
   here that returns a :class:`~agilenn_codegen.compiler.codegen_model.KernelCall`.
3. Write the portable C kernel under ``runtime_c/<family>/agilenn_<op>_s8.c`` with a params struct.
4. Add an op-level test in ``tests/test_ops_*.py`` against onnxruntime (random + adversarial inputs).
"""

from __future__ import annotations

from collections.abc import Callable

from agilenn_codegen.compiler.frontend import GraphBuilder, OnnxNode
from agilenn_codegen.errors import UserError

OpParser = Callable[[OnnxNode, GraphBuilder], None]

_PARSERS: dict[tuple[str, str], OpParser] = {}


def parser(*op_types: str, domain: str = "ai.onnx") -> Callable[[OpParser], OpParser]:
    """Register a parser for ONNX `op_types` in `domain`."""

    def register(func: OpParser) -> OpParser:
        for op_type in op_types:
            _PARSERS[(domain, op_type)] = func
        return func

    return register


def supported_ops() -> list[str]:
    """The ONNX ops the front end accepts, as 'Op' or 'domain:Op'."""
    return sorted(op if dom == "ai.onnx" else f"{dom}:{op}" for dom, op in _PARSERS)


def check_supported(op_type: str, domain: str, name: str) -> None:
    """Raise a UserError naming the node and listing the supported ops unless a parser exists."""
    if (domain, op_type) not in _PARSERS:
        where = "" if domain == "ai.onnx" else f" in domain {domain}"
        raise UserError(
            f"node '{name}' ({op_type}): op {op_type}{where} is not supported",
            hint="supported ops: " + ", ".join(supported_ops()),
        )


def parse_node(node: OnnxNode, builder: GraphBuilder) -> None:
    check_supported(node.op_type, node.domain, node.name)
    _PARSERS[(node.domain, node.op_type)](node, builder)


# Importing the family modules fills the registry.
from agilenn_codegen.compiler.ops import (  # noqa: E402
    conv,
    elementwise,
    fully_connected,
    pooling,
    quantization,
    shape,
)

__all__ = [
    "check_supported",
    "conv",
    "elementwise",
    "fully_connected",
    "parse_node",
    "parser",
    "pooling",
    "quantization",
    "shape",
    "supported_ops",
]
