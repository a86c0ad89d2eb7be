"""Row streaming: run a chain of convolutions a few rows at a time through small window buffers.

A network whose float image feeds a QuantizeLinear and then convolutions (any kernel, stride, dilation,
padding, groups) can be computed row by row: each convolution's output row needs only `span` rows of
its input. So instead of whole feature maps, each *streamed tensor* keeps a window of its last rows,
and rows are produced on demand, pulled by the *sinks* that consume the stream row by row:
- a global average pool (it accumulates each row; the requantization waits for the last row),
- a table or DequantizeLinear writing a model output (each row goes straight into the caller's buffer),
- a row callback (the AgileNN pipeline hands each remote-feature row to its entropy coder).
The rest of the network (after the pools) runs as usual on a small arena. The results are the same,
byte for byte: every kernel sees the same inputs, in a different memory layout.

The window rows carry their padding: a streamed tensor that a convolution pads stores `pad_left` and
`pad_right` columns, and `pad_top` and `pad_bottom` rows, filled with its zero point, whose quantized
value contributes nothing ((zp + input_offset) * w = 0). So every convolution of the stream runs on a
window with no padding, as interior outputs only.

`plan_streaming` decides whether a graph streams and simulates the exact pull order that the generated C
follows (`compiler/emit/streaming.py`), which gives the smallest window of every tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agilenn_codegen.compiler import ir

NHWC = (0, 2, 3, 1)


@dataclass(frozen=True)
class StreamedTensor:
    """A tensor kept as a window of its last rows, with its padding stored in the rows."""

    name: str
    height: int
    width: int
    channels: int
    pad: tuple[int, int, int, int]  # top, left, bottom, right: rows and columns of `fill`
    fill: int  # the zero point
    window: int  # rows kept

    @property
    def row_bytes(self) -> int:
        return (self.width + self.pad[1] + self.pad[3]) * self.channels

    @property
    def padded_rows(self) -> int:
        return self.pad[0] + self.height + self.pad[2]

    @property
    def window_bytes(self) -> int:
        return self.window * self.row_bytes


@dataclass(frozen=True)
class StreamStep:
    """A node that computes the rows of a streamed tensor: the model's QuantizeLinear, or a convolution."""

    node: ir.Node
    input: str  # a streamed tensor, or the model's float input (QuantizeLinear)
    output: str
    span: int  # padded input rows per output row (1 for QuantizeLinear)
    stride: int
    first_row: int  # padded input row of output row 0 (the input's top padding beyond this node's own)


@dataclass(frozen=True)
class StreamSink:
    """A node that consumes a streamed tensor one row at a time."""

    node: ir.Node
    input: str
    kind: str  # "global_avgpool", "output" (table / DequantizeLinear into a model output), "callback"


@dataclass(frozen=True)
class StreamPlan:
    tensors: tuple[StreamedTensor, ...]
    steps: tuple[StreamStep, ...]  # in the order their outputs are first needed
    sinks: tuple[StreamSink, ...]
    rows: int  # the sinks' input height: the driver's row loop
    rest: tuple[ir.Node, ...]  # nodes that run after the stream (they read the pools' results)

    @property
    def window_bytes(self) -> int:
        return sum(t.window_bytes for t in self.tensors)

    def tensor(self, name: str) -> StreamedTensor:
        return next(t for t in self.tensors if t.name == name)

    def step_for(self, tensor: str) -> StreamStep:
        return next(s for s in self.steps if s.output == tensor)


class NotStreamable(Exception):
    """Why a graph does not stream (shown by `agilenn inspect`)."""


def _is_nhwc_map(t: ir.Tensor) -> bool:
    return len(t.shape) == 4 and t.shape[0] == 1 and t.physical_layout == NHWC


def _output_sink_ok(graph: ir.Graph, node: ir.Node, source: ir.Tensor) -> bool:
    """A table or DequantizeLinear into a model output, reading whole rows (its view slices channels only)."""
    out = graph.tensor(node.outputs[0])
    if node.outputs[0] not in graph.outputs or len(out.shape) != 4 or out.physical_layout != (0, 1, 2, 3):
        return False
    view = getattr(node.attrs, "view", ir.SourceView())
    if view.starts and (view.starts[2:] != (0, 0) or view.steps[2:] != (1, 1) or view.starts[0] != 0):
        return False
    return out.shape[2:] == source.shape[2:]


def plan_streaming(graph: ir.Graph, callback_outputs: frozenset[str] = frozenset()) -> StreamPlan:
    """The stream of `graph`, or NotStreamable saying why. `callback_outputs`: model outputs whose rows go to a
    row callback instead of a buffer (the AgileNN remote features)."""
    if not graph.nodes or graph.nodes[0].op != "quantize":
        raise NotStreamable("the network does not begin with the QuantizeLinear of a float image")
    first = graph.nodes[0]
    image = graph.tensor(first.inputs[0])
    if first.inputs[0] not in graph.inputs or len(image.shape) != 4 or image.shape[0] != 1:
        raise NotStreamable("the network's input is not one float image (1, C, H, W)")
    if image.physical_layout != (0, 1, 2, 3) or not _is_nhwc_map(graph.tensor(first.outputs[0])):
        raise NotStreamable("the input quantization is not NCHW in, NHWC out")
    consumers = graph.consumers()
    streamed: dict[str, ir.Tensor] = {}
    steps: list[StreamStep] = []
    sinks: list[StreamSink] = []
    pending = [first.outputs[0]]
    pads: dict[str, list[tuple[int, int, int, int]]] = {}
    steps.append(StreamStep(first, first.inputs[0], first.outputs[0], 1, 1, 0))
    while pending:
        name = pending.pop(0)
        tensor = graph.tensor(name)
        if name in graph.outputs:
            raise NotStreamable(f"'{name}' is a model output and feeds the stream")
        streamed[name] = tensor
        for node in consumers.get(name, ()):
            if node.op == "conv" and node.inputs[0] == name and _is_nhwc_map(graph.tensor(node.outputs[0])):
                attrs = node.attrs
                assert isinstance(attrs, ir.ConvAttrs)
                pads.setdefault(name, []).append(attrs.pads)
                span = (attrs.kernel[0] - 1) * attrs.dilations[0] + 1
                steps.append(StreamStep(node, name, node.outputs[0], span, attrs.strides[0], 0))
                pending.append(node.outputs[0])
            elif node.op == "global_avgpool":
                sinks.append(StreamSink(node, name, "global_avgpool"))
            elif node.op in ("table", "dequantize") and node.outputs[0] in callback_outputs and node.op == "table":
                sinks.append(StreamSink(node, name, "callback"))
            elif node.op in ("table", "dequantize") and _output_sink_ok(graph, node, tensor):
                sinks.append(StreamSink(node, name, "output"))
            else:
                raise NotStreamable(f"node '{node.name}' ({node.op}) reads '{name}' and cannot take it row by row")
    if not sinks:
        raise NotStreamable("nothing consumes the stream row by row")
    heights = {streamed[s.input].shape[2] for s in sinks}
    if len(heights) != 1:
        raise NotStreamable("the stream's consumers read maps of different heights")
    for name, node_pads in pads.items():
        if len({(p[1], p[3]) for p in node_pads}) != 1:
            raise NotStreamable(f"the convolutions reading '{name}' pad its columns differently")
    in_region = {s.node.name for s in steps} | {s.node.name for s in sinks}
    rest = tuple(n for n in graph.nodes if n.name not in in_region)
    for node in rest:
        if any(i in streamed for i in node.inputs):
            raise NotStreamable(f"node '{node.name}' reads a streamed tensor")

    def padding(name: str) -> tuple[int, int, int, int]:
        node_pads = pads.get(name, [(0, 0, 0, 0)])
        top = max(p[0] for p in node_pads)
        bottom = max(p[2] for p in node_pads)
        return (top, node_pads[0][1], bottom, node_pads[0][3])

    padded = {name: padding(name) for name in streamed}
    steps = [
        s if s.node.op == "quantize" else _with_first_row(s, padded[s.input][0] - s.node.attrs.pads[0])  # type: ignore[union-attr]
        for s in steps
    ]
    rows = heights.pop()
    windows = _simulate(steps, sinks, streamed, padded, rows)
    tensors = tuple(
        StreamedTensor(
            name,
            t.shape[2],
            t.shape[3],
            t.shape[1],
            padded[name],
            t.quant.scalar_zero_point if t.quant else 0,
            windows[name],
        )
        for name, t in streamed.items()
    )
    return StreamPlan(tensors, tuple(steps), tuple(sinks), rows, rest)


def _with_first_row(step: StreamStep, first_row: int) -> StreamStep:
    return StreamStep(step.node, step.input, step.output, step.span, step.stride, first_row)


def _simulate(
    steps: list[StreamStep],
    sinks: list[StreamSink],
    streamed: dict[str, ir.Tensor],
    padded: dict[str, tuple[int, int, int, int]],
    rows: int,
) -> dict[str, int]:
    """Run the pull order of the generated C on row numbers only: the rows each window must keep."""
    produced = dict.fromkeys(streamed, 0)
    need = dict.fromkeys(streamed, 1)
    by_output = {s.output: s for s in steps}

    def read(name: str, lowest: int) -> None:
        need[name] = max(need[name], produced[name] - lowest)

    def upto(name: str, row: int, produce: Callable[[str], None]) -> None:
        while produced[name] <= row:
            produce(name)

    def produce(name: str) -> None:
        row = produced[name]
        top, _, _, _ = padded[name]
        height = streamed[name].shape[2]
        real = row - top
        if 0 <= real < height:
            step = by_output[name]
            if step.node.op != "quantize":
                first = step.first_row + real * step.stride
                upto(step.input, first + step.span - 1, produce)
                read(step.input, first)
        produced[name] = row + 1

    for r in range(rows):
        for sink in sinks:
            row = padded[sink.input][0] + r
            upto(sink.input, row, produce)
            read(sink.input, row)
    return need


def after_stream(graph: ir.Graph, plan: StreamPlan) -> ir.Graph:
    """The global average pools fed by the stream and the nodes after it, with their own memory plan (the
    streamed tensors live in their windows)."""
    import dataclasses

    from agilenn_codegen.compiler.passes.memory import plan_memory

    pools = [s.node for s in plan.sinks if s.kind == "global_avgpool"]
    streamed = frozenset(t.name for t in plan.tensors)
    return plan_memory(dataclasses.replace(graph, nodes=(*pools, *plan.rest), memory=None), streamed)


def describe_stream(graph: ir.Graph) -> dict[str, object]:
    """What `agilenn inspect` shows: whether the network streams and its RAM with and without."""
    try:
        plan = plan_streaming(graph)
    except NotStreamable as exc:
        return {"streamable": False, "reason": str(exc)}
    rest = after_stream(graph, plan)
    assert rest.memory is not None and graph.memory is not None
    return {
        "streamable": True,
        "windows": [{"tensor": t.name, "rows": t.window, "bytes": t.window_bytes} for t in plan.tensors],
        "window_bytes": plan.window_bytes,
        "arena_bytes": rest.memory.arena_bytes,
        "ram_bytes": plan.window_bytes + rest.memory.arena_bytes,
        "unstreamed_arena_bytes": graph.memory.arena_bytes,
    }
