"""C for a row-streamed network (compiler/streaming.py): windows, row producers, sinks and the rest.

Every streamed tensor gets a window (agilenn_window.h) and a producer, `<fn>_next` / `<fn>_upto`, that
computes its next padded row (pulling the rows of its input it needs first). A producer's row is one call
of a layer function: the layer's kernel instantiated for one output row, on a window with no padding
(the rows carry it). The driver loops over the sinks' rows; the nodes after the stream run as usual on an
arena of their own (`<name>_stream_arena`). templates/stream.c.j2 prints it all.
"""

from __future__ import annotations

from dataclasses import dataclass

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.emit import EmittedLayer, emit_node
from agilenn_codegen.compiler.emit.context import EmitContext, KernelCall, c_float
from agilenn_codegen.compiler.emit.conv import conv_call
from agilenn_codegen.compiler.emit.geometry import Strided
from agilenn_codegen.compiler.emit.pixels import pixel_row_calls
from agilenn_codegen.compiler.pixels import PixelInput
from agilenn_codegen.compiler.streaming import StreamedTensor, StreamPlan, StreamSink, StreamStep, after_stream


@dataclass(frozen=True)
class Producer:
    tensor: StreamedTensor
    window: str  # the agilenn_window_t symbol
    storage: str  # its rows
    function: str  # <function>_next / <function>_upto
    kind: str  # "quantize" or "conv"
    call: KernelCall  # one output row
    pixel_calls: tuple[KernelCall, ...] = ()  # the first producer's row from uint8 pixels: interleaved, planar
    input_window: str = ""
    input_function: str = ""
    first_row: int = 0
    stride: int = 1
    span: int = 1

    @property
    def left_bytes(self) -> int:
        return self.tensor.pad[1] * self.tensor.channels

    @property
    def right_bytes(self) -> int:
        return self.tensor.pad[3] * self.tensor.channels

    @property
    def right_at(self) -> int:
        return (self.tensor.pad[1] + self.tensor.width) * self.tensor.channels


@dataclass(frozen=True)
class Sink:
    kind: str  # "global_avgpool", "output", "callback"
    label: str  # the ONNX node it comes from
    producer: Producer
    offset: int  # bytes from a window row's start to the first element the sink reads
    call: KernelCall | None = None  # output sinks: one row; global average pools: one row's sums
    finish: KernelCall | None = None  # global average pools: the requantization, params of the whole map
    sums: str = ""  # global average pools: the int32 sums
    channels: int = 0
    destination: str = ""  # output and callback sinks: the caller's buffer (callback sinks: when `_run` is called)
    row_elements: int = 0  # output and callback sinks: elements from one row of the output to the next
    output: str = ""  # callback sinks: the model output whose rows go to the callback
    pixel_stride: int = 0  # callback sinks: bytes from one pixel of a row to the next
    channel_step: int = 1  # callback sinks: bytes from one channel of a pixel to the next


@dataclass(frozen=True)
class StreamEmission:
    plan: StreamPlan
    producers: tuple[Producer, ...]
    sinks: tuple[Sink, ...]
    rest: tuple[EmittedLayer, ...]
    arena_bytes: int
    calls: tuple[KernelCall, ...]  # every call the stream makes (their params and layer functions)

    @property
    def window_bytes(self) -> int:
        return self.plan.window_bytes


def _geometry(dims: tuple[int, int], src: tuple[int, int], dst: tuple[int, int]) -> str:
    return Strided((1, 1, *dims), (0, 0, *src), (0, 0, *dst)).c_init()


def _quantize_row(ctx: EmitContext, step: StreamStep, tensor: StreamedTensor) -> KernelCall:
    """One image row (NCHW planes) into one NHWC row."""
    image = ctx.graph.tensor(step.input)
    _, c, h, w = image.shape
    quant = ctx.graph.tensor(step.output).quant
    assert quant is not None
    params = (
        ("geometry", _geometry((c, w), (h * w, 1), (1, c))),
        ("scale", c_float(quant.scalar_scale)),
        ("zero_point", str(quant.scalar_zero_point)),
    )
    return ctx.call(
        "agilenn_quantize_f32_s8",
        "agilenn_quantization_params_t",
        params,
        ("input", "output"),
        fast_body="agilenn_quantize_f32_s8_fast_body",
        parameters=("const float *input", "int8_t *output"),
        comment=f"row of '{step.output}'",
    )


def _sink(ctx: EmitContext, sink: StreamSink, producer: Producer, destination: str) -> Sink:
    """`ctx` plans the pools' results in the stream's own arena; `destination` is the output's buffer (for a
    callback sink, the pointer `_run` stores before it streams: its rows go there unless a callback takes them)."""
    tensor = producer.tensor
    node = sink.node
    left = tensor.pad[1] * tensor.channels
    if sink.kind == "global_avgpool":
        attrs = node.attrs
        assert isinstance(attrs, ir.GlobalAvgPoolAttrs) and attrs.requant is not None
        x = ctx.graph.tensor(node.inputs[0])
        assert x.quant is not None
        channels = ctx.graph.tensor(node.outputs[0]).shape[1]

        def fields(pixels: int) -> tuple[tuple[str, str], ...]:
            return (
                ("pixels", str(pixels)),
                ("pixel_stride", str(tensor.channels)),
                ("channels", str(channels)),
                ("input_zero_point", str(x.quant.scalar_zero_point)),  # type: ignore[union-attr]
                ("output_zero_point", str(attrs.requant.out_zero_point)),  # type: ignore[union-attr]
                ("act_min", str(attrs.act_min)),
                ("act_max", str(attrs.act_max)),
                ("multiplier", ctx.multiplier_literal(attrs.requant.multiplier[0])),  # type: ignore[union-attr]
            )

        row = ctx.call(
            "agilenn_global_avgpool_accumulate",
            "agilenn_global_avgpool_params_t",
            fields(tensor.width),
            ("input", "sums"),
            fast_body="agilenn_global_avgpool_accumulate",
            parameters=("const int8_t *input", "int32_t *sums"),
            comment=f"one row of '{node.name}'",
        )
        finish = ctx.call(
            "agilenn_global_avgpool_finish",
            "agilenn_global_avgpool_params_t",
            fields(tensor.width * tensor.height),
            ("sums", ctx.ptr(node.outputs[0])),
            fast_body="agilenn_global_avgpool_finish",
            parameters=("const int32_t *sums", "int8_t *output"),
            comment=f"'{node.name}' after the last row",
        )
        return Sink(
            "global_avgpool",
            node.name,
            producer,
            left + attrs.channel_offset,
            row,
            finish,
            ctx.symbol(f"{ctx.prefix}_sums"),
            channels,
        )
    out = ctx.graph.tensor(node.outputs[0])
    _, c_out, h, w = out.shape
    view = getattr(node.attrs, "view", ir.SourceView())
    start = view.starts[1] if view.starts else 0
    step = view.steps[1] if view.steps else 1
    geometry = _geometry((c_out, w), (step, tensor.channels), (h * w, 1))
    if node.op == "table":
        assert isinstance(node.attrs, ir.TableAttrs)
        call = ctx.call(
            "agilenn_copy_strided",
            "agilenn_copy_params_t",
            (("geometry", geometry), ("element_size", "1"), ("table", ctx.const_array(node.attrs.table))),
            ("input", "output"),
            fast_body="agilenn_copy_strided_s8_fast_body",
            parameters=("const void *input", "void *output"),
            comment=f"one row of '{node.name}'",
        )
    else:
        quant = ctx.graph.tensor(node.inputs[0]).quant
        assert quant is not None
        call = ctx.call(
            "agilenn_dequantize_s8_f32",
            "agilenn_quantization_params_t",
            (
                ("geometry", geometry),
                ("scale", c_float(quant.scalar_scale)),
                ("zero_point", str(quant.scalar_zero_point)),
            ),
            ("input", "output"),
            fast_body="agilenn_dequantize_s8_f32_fast_body",
            parameters=("const int8_t *input", "float *output"),
            comment=f"one row of '{node.name}'",
        )
    return Sink(
        sink.kind,
        node.name,
        producer,
        left + start,
        call,
        destination=destination,
        row_elements=w,
        output=node.outputs[0],
        pixel_stride=tensor.channels,
        channel_step=step,
    )


def emit_stream(ctx: EmitContext, plan: StreamPlan, pixel: PixelInput | None) -> StreamEmission:
    """The stream's C: `ctx` is the network's context; the nodes after the stream get a derived one."""
    producers: dict[str, Producer] = {}
    calls: list[KernelCall] = []
    for index, step in enumerate(plan.steps):
        tensor = plan.tensor(step.output)
        ctx.layer_symbol = f"s{index}"
        window = ctx.symbol(f"{ctx.prefix}_window_{index}")
        storage = ctx.symbol(f"{ctx.prefix}_window_{index}_rows")
        function = ctx.symbol(f"{ctx.prefix}_stream_{index}")
        if step.node.op == "quantize":
            call = _quantize_row(ctx, step, tensor)
            pixel_calls = pixel_row_calls(ctx, pixel) if pixel is not None else ()
            producer = Producer(tensor, window, storage, function, "quantize", call, pixel_calls)
            calls += [call, *pixel_calls]
        else:
            source = plan.tensor(step.input)
            in_width = source.width + source.pad[1] + source.pad[3]
            call = conv_call(
                step.node,
                ctx,
                in_hw=(step.span, in_width),
                out_hw=(1, tensor.width),
                pads=(0, 0, 0, 0),
                args=("input", "output"),
            )
            calls.append(call)
            feeder = producers[step.input]
            producer = Producer(
                tensor,
                window,
                storage,
                function,
                "conv",
                call,
                (),
                feeder.window,
                feeder.function,
                step.first_row,
                step.stride,
                step.span,
            )
        producers[step.output] = producer
    # the rest of the network (and the pools' results): its own memory plan, without the streamed tensors
    rest_graph = after_stream(ctx.graph, plan)
    assert rest_graph.memory is not None
    sinks = []
    for sink in plan.sinks:
        out = sink.node.outputs[0]
        destination = ctx.ptr(out) if sink.kind == "output" else f"{ctx.prefix}_stream_rows_out"
        emitted = _sink(ctx.derive(rest_graph, f"k{len(sinks)}"), sink, producers[sink.input], destination)
        sinks.append(emitted)
        calls += [c for c in (emitted.call, emitted.finish) if c is not None]
    rest = []
    for node in plan.rest:
        index = ctx.graph.nodes.index(node)
        sub = ctx.derive(rest_graph, f"r{index}")
        emitted_calls = tuple(emit_node(node, sub))
        rest.append(EmittedLayer(index, node, emitted_calls))
        calls += emitted_calls
    return StreamEmission(
        plan, tuple(producers.values()), tuple(sinks), tuple(rest), rest_graph.memory.arena_bytes, tuple(calls)
    )
