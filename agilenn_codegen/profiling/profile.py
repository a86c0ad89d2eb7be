"""`agilenn profile`: executed instructions per layer and per stage on a target's emulated core.

The generated library is built with the target's own flags and a small harness, and run once under
qemu with the instruction-count plugin (agilenn_codegen.targets.icount). The harness's call to the
library and the library's calls to each layer's kernel are found in the program's disassembly; the
plugin records the running count at each call and at its return address, so each layer's figure is
exactly the instructions of its call and of everything the kernel executed. What the run function
does between calls (argument set-up, status checks, copies) is reported as `glue`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agilenn_codegen.compiler import ir
from agilenn_codegen.compiler.codegen import GeneratedLibrary, banner, environment, io_entries
from agilenn_codegen.compiler.emit import EmittedLayer
from agilenn_codegen.compiler.emit.streaming import StreamEmission
from agilenn_codegen.compiler.manifest import node_macs
from agilenn_codegen.compiler.pixels import PixelNormalisation
from agilenn_codegen.errors import ToolError, UserError
from agilenn_codegen.profiling.disassembly import INDIRECT, CallSite, Disassembly, disassemble
from agilenn_codegen.profiling.report import LayerProfile, ProfileReport, StageProfile
from agilenn_codegen.profiling.segments import Segment, measure, segment_for
from agilenn_codegen.targets import InstructionCounts, Target, build_program, count_instructions

DEFAULT_CPI = 1.0


def _require_emulator(target: Target) -> None:
    if target.is_host:
        raise UserError(
            "profiling counts instructions on an emulated core; pick a microcontroller target "
            "(e.g. --target stm32f746), see `agilenn targets`"
        )


def _one_site(dis: Disassembly, function: str, callee: str) -> CallSite:
    sites = [s for s in dis.call_sites(function) if s.callee == callee]
    if len(sites) != 1:
        raise ToolError(f"expected one call from {function} to {callee}, found {len(sites)}")
    return sites[0]


def network_call_sites(dis: Disassembly, name: str) -> list[CallSite]:
    """The call sites of `<name>_run` in order, followed by those of `<name>_network` when the run function
    hands the layers after the input stage to it (libraries with a uint8 pixel entry point)."""
    sites = [s for s in dis.call_sites(f"{name}_run") if s.callee != f"{name}_network"]
    if f"{name}_network" in dis.functions:
        sites += dis.call_sites(f"{name}_network")
    return sites


def match_layer_calls(sites: Sequence[CallSite], layers: Sequence[EmittedLayer]) -> list[list[CallSite]]:
    """Assign the run function's call sites to the layers' kernel calls, in order.

    Sites of other callees (memcpy of inputs and outputs) are skipped; they count as glue."""
    result: list[list[CallSite]] = []
    position = 0
    for layer in layers:
        mine = []
        for call in layer.calls:
            while position < len(sites) and sites[position].callee != call.function:
                position += 1
            if position == len(sites):
                raise ToolError(f"layer {layer.index}: the call to {call.function} is not in the compiled code")
            mine.append(sites[position])
            position += 1
        result.append(mine)
    return result


def _layer_profile(
    graph: ir.Graph,
    index: int,
    node: ir.Node,
    kernels: tuple[str, ...],
    sites: Sequence[CallSite],
    counts: InstructionCounts,
    enclosing: Segment,
) -> LayerProfile:
    instructions = sum(measure(counts.events, segment_for(site, enclosing))[0] for site in sites)
    return LayerProfile(
        index, node.op, node.name, kernels, instructions, node_macs(graph, node), graph.tensor(node.outputs[0]).size
    )


def _layer_profiles(
    graph: ir.Graph,
    layers: Sequence[EmittedLayer],
    sites: Sequence[Sequence[CallSite]],
    events: Sequence[tuple[int, int]],
    enclosing: Segment,
) -> list[LayerProfile]:
    profiles = []
    for layer, layer_sites in zip(layers, sites, strict=True):
        instructions = sum(measure(events, segment_for(site, enclosing))[0] for site in layer_sites)
        node = layer.node
        profiles.append(
            LayerProfile(
                index=layer.index,
                op=node.op,
                onnx_node=node.name,
                kernels=tuple(call.function for call in layer.calls),
                instructions=instructions,
                macs=node_macs(graph, node),
                outputs=graph.tensor(node.outputs[0]).size,
            )
        )
    return profiles


def stream_layer_sites(dis: Disassembly, name: str, stream: StreamEmission) -> list[tuple[ir.Node, list[CallSite]]]:
    """Where a row-streamed network calls each layer's kernel: a producer's row kernel in its `_upto`
    function (once per row), a sink's in `<name>_stream`, the layers after the stream there too."""
    result: list[tuple[ir.Node, list[CallSite]]] = []
    for producer, step in zip(stream.producers, stream.plan.steps, strict=True):
        kernels = {producer.call.function, *(c.function for c in producer.pixel_calls)}
        sites = [site for site in dis.call_sites(f"{producer.function}_upto") if site.callee in kernels]
        result.append((step.node, sites))
    driver = dis.call_sites(f"{name}_stream")
    for sink, planned in zip(stream.sinks, stream.plan.sinks, strict=True):
        if sink.kind == "callback":  # the row callback, through its function pointer
            result.append((planned.node, [site for site in driver if site.callee == INDIRECT]))
            continue
        kernels = {c.function for c in (sink.call, sink.finish) if c is not None}
        result.append((planned.node, [site for site in driver if site.callee in kernels]))
    rest = match_layer_calls([site for site in driver if site.callee.startswith(f"{name}_r")], stream.rest)
    result += [(layer.node, sites) for layer, sites in zip(stream.rest, rest, strict=True)]
    return result


def _marks(*segments: Segment) -> list[int]:
    return sorted({address for s in segments for address in (s.start, s.end)})


def _read_profile_txt(path: Path, result_text: str) -> dict[str, list[int]]:
    if not path.is_file():
        raise ToolError(f"the profiling harness wrote no profile.txt:\n{result_text[-2000:]}")
    values = {}
    for line in path.read_text().splitlines():
        key, *numbers = line.split()
        values[key] = [int(n) for n in numbers]
    return values


def _harness(template: str, **values: object) -> str:
    return environment().get_template(template).render(**values)


def profile_model(
    model: Path,
    target: Target,
    *,
    samples: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    work_dir: Path | None = None,
    cpi: float = DEFAULT_CPI,
    pixels: PixelNormalisation | None = None,
    kernels: str = "fast",
    stream: bool = False,
) -> ProfileReport:
    """Profile one run of the compiled `model` (its first sample, or a generated random one). With `pixels`
    (the input normalisation) the run is `<name>_run_u8` on uint8 pixels, its pixel stage in place of layer 0.
    With `stream`, the row-streamed network (codegen --stream): each layer's figure sums its rows."""
    from agilenn_codegen.compiler import compile_model
    from agilenn_codegen.compiler.codegen import generate
    from agilenn_codegen.samples import generate_samples

    _require_emulator(target)
    graph = compile_model(model)
    samples = samples if samples is not None else generate_samples(graph, 1, seed)
    command = f"agilenn profile {model.name} --target {target.name}"
    with tempfile.TemporaryDirectory(prefix="agilenn-profile-") as tmp:
        wd = work_dir or Path(tmp)
        wd.mkdir(parents=True, exist_ok=True)
        library = generate(
            graph,
            target,
            wd / "lib",
            command=command,
            pixels=pixels,
            kernels=kernels,
            stream="run" if stream else "off",
        )
        harness = wd / "profile_main.c"
        harness.write_text(
            _harness(
                "profile_main.c.j2",
                banner=banner(graph, target, command),
                name=library.name,
                inputs=io_entries(graph, graph.inputs),
                outputs=io_entries(graph, graph.outputs),
                pixels=library.manifest.get("pixel_entry") and library.manifest["pixel_entry"],
                pixel_count=graph.tensor(graph.inputs[0]).size,
            )
        )
        elf = build_program(target, [*library.sources, harness], library.include_dirs, wd / "build")
        run_dir = wd / "run"
        run_dir.mkdir(exist_ok=True)
        with (run_dir / "input.bin").open("wb") as f:
            if pixels is not None:  # a camera image: every pixel value, interleaved (H, W, C)
                f.write(np.arange(graph.tensor(graph.inputs[0]).size, dtype=np.uint32).astype(np.uint8).tobytes())
            else:
                for name in graph.inputs:
                    tensor = graph.tensor(name)
                    f.write(np.ascontiguousarray(samples[name][0], dtype=tensor.dtype.numpy).tobytes())
        dis = disassemble(elf)
        entry = f"{library.name}_run_u8" if pixels is not None else f"{library.name}_run"
        run_site = _one_site(dis, "main", entry)
        run = Segment(run_site.address, run_site.return_address)
        streamed_sites = None
        if library.stream is not None:
            streamed_sites = stream_layer_sites(dis, library.name, library.stream)
            layer_sites = [sites for _, sites in streamed_sites]
        elif pixels is not None:
            stage_sites = [site for site in dis.call_sites(entry) if site.callee != f"{library.name}_network"]
            sites = match_layer_calls(dis.call_sites(f"{library.name}_network"), library.layers[1:])
            layer_sites = [stage_sites, *sites]
        else:
            layer_sites = match_layer_calls(network_call_sites(dis, library.name), library.layers)
        segments = [segment_for(s, run) for sites in layer_sites for s in sites]
        counts = count_instructions(target, elf, run_dir, marks=_marks(run, *segments))
        info = _read_profile_txt(run_dir / "profile.txt", counts.run.stdout + counts.run.stderr)
    if counts.run.returncode != 0 or info.get("status") != [0]:
        raise ToolError(f"the profiled run failed (exit {counts.run.returncode}, status {info.get('status')})")
    network, _ = measure(counts.events, run)
    if streamed_sites is not None:
        layers = [
            _layer_profile(graph, graph.nodes.index(node), node, tuple({s.callee for s in sites}), sites, counts, run)
            for node, sites in streamed_sites
        ]
    else:
        layers = _layer_profiles(graph, library.layers, layer_sites, counts.events, run)
    if pixels is not None and streamed_sites is None:
        stage = layers[0]
        layers[0] = LayerProfile(
            0,
            "pixels",
            f"{graph.inputs[0]} (uint8 pixels)",
            tuple(s.callee for s in layer_sites[0]),
            stage.instructions,
            0,
            stage.outputs,
        )
    in_layers = sum(layer.instructions for layer in layers)
    return ProfileReport(
        subject=str(model),
        target=target.name,
        cpu=target.cpu,
        clock_hz=target.clock_hz,
        cpi=cpi,
        layers=tuple(layers),
        stages=(
            StageProfile("layers", in_layers, "the kernel calls of every layer"),
            StageProfile("glue", network - in_layers, f"{entry} between the calls: arguments, copies"),
        ),
        stack_bytes=info["stack"][0],
        program_instructions=counts.total,
        extra={"entry_point": entry, "kernels": kernels, "streamed": stream},
    )


def profile_pipeline(
    folder: Path,
    target: Target,
    *,
    image: np.ndarray | None = None,
    data_root: Path | None = None,
    work_dir: Path | None = None,
    cpi: float = DEFAULT_CPI,
    kernels: str = "fast",
    allow_overflow: bool = False,
    coder: str = "context",
) -> ProfileReport:
    """Profile one AgileNN inference of an export folder's device library: begin, every frame, finish."""
    from agilenn_codegen.offload import KIND_REPLY, encode_frames, encode_reply
    from agilenn_codegen.pipeline.codegen import generate_pipeline
    from agilenn_codegen.pipeline.device_model import dataset_images
    from agilenn_codegen.pipeline.exported import load_exported
    from agilenn_codegen.pipeline.reference import REMOTE_OUTPUT

    _require_emulator(target)
    exported = load_exported(folder)
    if image is None:
        images, _ = dataset_images(exported, "test", 1, data_root)
        image = images[0]
    image = np.ascontiguousarray(image, np.float32).reshape(exported.input_shape)
    command = f"agilenn profile {folder} --target {target.name}"
    with tempfile.TemporaryDirectory(prefix="agilenn-profile-") as tmp:
        wd = work_dir or Path(tmp)
        wd.mkdir(parents=True, exist_ok=True)
        lib = generate_pipeline(
            exported,
            target,
            wd / "lib",
            command=command,
            data_root=data_root,
            kernels=kernels,
            allow_overflow=allow_overflow,
            coder=coder,
        )
        name = lib.name
        graph = lib.graph
        harness = wd / "profile_main.c"
        harness.write_text(
            _harness("profile_pipeline_main.c.j2", banner=banner(graph, target, command), name=name, NAME=name.upper())
        )
        sources = [s for s in lib.network.sources if not s.name.endswith("_agilenn_infer.c")]
        elf = build_program(target, [*sources, harness], lib.network.include_dirs, wd / "build")
        run_dir = wd / "run"
        run_dir.mkdir(exist_ok=True)
        (run_dir / "image.bin").write_bytes(image.tobytes())
        reply = encode_frames(
            KIND_REPLY,
            exported.model_id,
            1,
            encode_reply(np.zeros(exported.num_classes, np.float32)),
            lib.max_fragment,
        )[0]
        (run_dir / "reply.bin").write_bytes(reply)
        dis = disassemble(elf)
        begin = _segment(_one_site(dis, "main", f"{name}_begin"))
        send = _segment(_one_site(dis, "main", f"{name}_send"))
        finish = _segment(_one_site(dis, "main", f"{name}_finish"))
        stream = lib.network.stream
        if stream is None:  # the whole-map network
            network_sites = [_one_site(dis, f"{name}_begin", f"{name}_run")]
            matched = match_layer_calls(network_call_sites(dis, name), lib.network.layers)
            layer_sites = [(layer.node, sites) for layer, sites in zip(lib.network.layers, matched, strict=True)]
        else:  # streamed: _run (symbols into a buffer, for LZW) or _run_stream (rows straight into the coder)
            entry = f"{name}_run_stream" if lib.streamed else f"{name}_run"
            network_sites = _sites_to(dis, entry)
            layer_sites = stream_layer_sites(dis, name, stream)
        networks = [segment_for(site, begin) for site in network_sites]
        coder_sites = _coder_sites(dis, name) if lib.streamed else []
        segments = [segment_for(s, networks[0]) for _, sites in layer_sites for s in (*sites, *coder_sites)]
        marks = _marks(begin, send, finish, *networks, *segments)
        counts = count_instructions(target, elf, run_dir, marks=marks)
        info = _read_profile_txt(run_dir / "profile.txt", counts.run.stdout + counts.run.stderr)
    if counts.run.returncode != 0 or info.get("status") != [0, 0]:
        raise ToolError(f"the profiled inference failed (exit {counts.run.returncode}, status {info.get('status')})")
    events = counts.events
    layers = [
        _layer_profile(graph, graph.nodes.index(node), node, _kernels(lib.network, node), sites, counts, networks[0])
        for node, sites in layer_sites
    ]
    coder_rows = sum(measure(events, segment_for(site, networks[0]))[0] for site in coder_sites)
    is_table = [layer.op == "table" and REMOTE_OUTPUT in layer.onnx_node for layer in layers]
    table_and_rows = sum(layer.instructions for layer, t in zip(layers, is_table, strict=True) if t)
    table = table_and_rows - coder_rows  # the row callback without the coder: symbols in coding order
    layers = [
        dataclasses.replace(layer, instructions=layer.instructions - coder_rows) if t else layer
        for layer, t in zip(layers, is_table, strict=True)
    ]
    network_total = sum(measure(events, segment)[0] for segment in networks)
    begin_total, _ = measure(events, begin)
    framing, _ = measure(events, send)
    combine, _ = measure(events, finish)
    streamed_note = ", in coding order (rows straight from the network)" if lib.streamed else ""
    return ProfileReport(
        subject=str(folder),
        target=target.name,
        cpu=target.cpu,
        clock_hz=target.clock_hz,
        cpi=cpi,
        layers=tuple(layers),
        stages=(
            StageProfile("network", network_total - table_and_rows, "extractor and local head (the layers below)"),
            StageProfile("centroid table", table, "remote features -> centroid indices" + streamed_note),
            StageProfile(
                "coding", begin_total - network_total + coder_rows, f"{name}_begin: payload coding and header"
            ),
            StageProfile("framing", framing, f"{info['fragments'][0]} frame(s) sent by {name}_send: headers, CRC"),
            StageProfile("combine", combine, f"{name}_finish on a valid reply: checks and alpha combiner"),
        ),
        stack_bytes=info["stack"][0],
        program_instructions=counts.total,
        extra={
            "frames": info["fragments"][0],
            "bytes_sent": info["fragments"][1],
            "streamed": lib.streamed,
            "payload_encoding": info["payload"][0],
            "payload_bytes": info["payload"][1],
            "coder": coder,
            "symbols": exported.feature_size,
        },
    )


def _sites_to(dis: Disassembly, callee: str) -> list[CallSite]:
    """Every call of `callee` in the program (a static caller may have been inlined anywhere)."""
    sites = [site for function in dis.functions for site in dis.call_sites(function) if site.callee == callee]
    if not sites:
        raise ToolError(f"no call of {callee} in the program")
    return sites


def _coder_sites(dis: Disassembly, name: str) -> list[CallSite]:
    """The coder's calls in the pipeline's row callback (context coder or raw packing, per pixel)."""
    coders = ("agilenn_context_encode_pixel", "agilenn_pack_pixel")
    return [site for site in dis.call_sites(f"{name}_code_row") if site.callee in coders]


def _kernels(library: GeneratedLibrary, node: ir.Node) -> tuple[str, ...]:
    if library.stream is not None:
        for producer, step in zip(library.stream.producers, library.stream.plan.steps, strict=True):
            if step.node is node:
                return (producer.call.function,)
        for sink, planned in zip(library.stream.sinks, library.stream.plan.sinks, strict=True):
            if planned.node is node:
                return tuple(c.function for c in (sink.call, sink.finish) if c is not None)
        for layer in library.stream.rest:
            if layer.node is node:
                return tuple(c.function for c in layer.calls)
        return ()
    layer = next(layer for layer in library.layers if layer.node is node)
    return tuple(call.function for call in layer.calls)


def _segment(site: CallSite) -> Segment:
    return Segment(site.address, site.return_address)
