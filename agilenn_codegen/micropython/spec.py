"""What a MicroPython module wraps, described from the Python side of a generated library.

A :class:`ModuleSpec` lists the C entry points to wrap as data: buffer functions (``run``,
``run_u8``: input buffers in, output bytes out), image entries of the AgileNN pipeline (``begin``,
``begin_u8``: image in, frames out), and module constants. It is built from the
:class:`~agilenn_codegen.compiler.codegen.GeneratedLibrary` (plain models) or the
:class:`~agilenn_codegen.pipeline.codegen.PipelineLibrary` (AgileNN) that codegen returns, with
their manifest, never by reading the generated headers. Wrapping a new C entry point of one of these
shapes is one more item in a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agilenn_codegen import __version__
from agilenn_codegen.compiler.codegen import GeneratedLibrary
from agilenn_codegen.compiler.emit.context import c_identifier
from agilenn_codegen.errors import UserError

# dtype -> (C element type, bytes per element, buffer typecodes accepted besides raw bytes)
DTYPES: dict[str, tuple[str, int, str]] = {
    "float32": ("float", 4, "f"),
    "int8": ("int8_t", 1, "b"),
    "uint8": ("uint8_t", 1, "B"),
}


@dataclass(frozen=True)
class BufferArg:
    """One tensor passed as a buffer: ``count`` elements of ``dtype`` (row-major over ``shape``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def c_type(self) -> str:
        return DTYPES[self.dtype][0]

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype][1]

    @property
    def nbytes(self) -> int:
        return self.count * self.itemsize

    @property
    def typecodes(self) -> str:
        """Buffer typecodes accepted: the element's own, or raw bytes ('B', bytearray's code 1)."""
        own = DTYPES[self.dtype][2]
        return own if own == "B" else own + "B"

    @property
    def describe(self) -> str:
        return f"{self.dtype}[{self.count}]"


@dataclass(frozen=True)
class BufferFunction:
    """``py_name(*inputs) -> bytes`` (a tuple of bytes for several outputs), calling
    ``agilenn_status_t c_function(const in0 *, ..., out0 *, ...)``."""

    py_name: str
    c_function: str
    doc: str
    inputs: tuple[BufferArg, ...]
    outputs: tuple[BufferArg, ...]


@dataclass(frozen=True)
class ImageEntry:
    """An AgileNN pipeline entry that takes one image buffer and starts an inference (``begin``)."""

    py_name: str
    c_function: str
    doc: str
    image: BufferArg


@dataclass(frozen=True)
class Constant:
    """A module constant: an int, a str, or a tuple of ints or of strs."""

    name: str
    value: int | str | tuple[int, ...] | tuple[str, ...]

    @property
    def kind(self) -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, int | str | tuple):
            raise TypeError(f"constant {self.name}: unsupported value {self.value!r}")
        if isinstance(self.value, tuple):
            if all(isinstance(v, str) for v in self.value):
                return "str_tuple"
            if all(isinstance(v, int) and not isinstance(v, bool) and -(2**30) <= v < 2**30 for v in self.value):
                return "int_tuple"
            raise TypeError(f"constant {self.name}: a tuple must hold only ints or only strs")
        if isinstance(self.value, int) and not -(2**30) <= self.value < 2**30:
            raise TypeError(f"constant {self.name}: {self.value} is beyond MicroPython's small ints (31 bits)")
        return "int" if isinstance(self.value, int) else "str"


@dataclass(frozen=True)
class AgileNNCalls:
    """The pipeline API of templates/pipeline.h.j2 that the module wraps besides the image entries."""

    num_classes: int
    frame_max_bytes: int
    entries: tuple[ImageEntry, ...]
    auth: bool = False  # the library tags its frames: the module has provision(device_id, key)


@dataclass(frozen=True)
class ModuleSpec:
    """Everything the module templates need; ``sources``/``include_dirs`` are the library's own."""

    name: str
    header: str
    library_dir: Path
    sources: tuple[Path, ...]
    runtime_sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    target: str
    model: str
    functions: tuple[BufferFunction, ...]
    constants: tuple[Constant, ...]
    agilenn: AgileNNCalls | None = None

    @property
    def runtime_key(self) -> str:
        """Libraries built into one firmware share one runtime copy: same generator and target only."""
        return f"{__version__}-{self.target}"


def _io_args(entries: Sequence[dict], role: str) -> tuple[BufferArg, ...]:
    args = []
    for entry in entries:
        dtype = str(entry["dtype"])
        if dtype not in DTYPES:
            raise UserError(f"{role} '{entry['name']}': dtype {dtype} has no MicroPython binding (float32, int8)")
        args.append(BufferArg(c_identifier(str(entry["name"])), dtype, tuple(int(d) for d in entry["shape"])))
    return tuple(args)


def _io_constants(prefix: str, args: Sequence[BufferArg]) -> list[Constant]:
    constants = []
    for index, arg in enumerate(args):
        stem = prefix if len(args) == 1 else f"{prefix}{index}"
        constants += [
            Constant(f"{stem}_SHAPE", arg.shape),
            Constant(f"{stem}_DTYPE", arg.dtype),
            Constant(f"{stem}_BYTES", arg.nbytes),
        ]
    return constants


def _split_runtime(sources: Sequence[Path], library_dir: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    runtime_dir = library_dir / "runtime"
    own = tuple(s for s in sources if runtime_dir not in s.parents)
    runtime = tuple(s for s in sources if runtime_dir in s.parents)
    return own, runtime


def pixel_args(manifest: dict, input_shape: tuple[int, ...]) -> dict[str, BufferArg]:
    """The uint8 pixel entry points a library has (codegen's ``pixel_entry`` in the manifest), by C
    function: ``_run_u8`` takes pixels interleaved (H, W, C), ``_run_u8_planar`` planes (C, H, W)."""
    entry = manifest.get("pixel_entry")
    if not entry:
        return {}
    channels, height, width = input_shape[-3:]
    return {
        function: BufferArg(
            "pixels", "uint8", (channels, height, width) if function.endswith("_planar") else (height, width, channels)
        )
        for function in entry["functions"]
    }


def model_spec(library: GeneratedLibrary) -> ModuleSpec:
    """The module of a plain model: ``run(*inputs) -> bytes`` and the shapes and dtypes as constants."""
    manifest = library.manifest
    inputs = _io_args(manifest["inputs"], "input")
    outputs = _io_args(manifest["outputs"], "output")
    run = BufferFunction(
        py_name="run",
        c_function=f"{library.name}_run",
        doc="run the network once on the input buffer(s); returns the output's raw bytes",
        inputs=inputs,
        outputs=outputs,
    )
    functions = [run]
    constants = [*_io_constants("INPUT", inputs), *_io_constants("OUTPUT", outputs)]
    for function, pixels in pixel_args(manifest, inputs[0].shape).items():
        py_name = function[len(library.name) + 1 :]
        doc = "run the network on uint8 camera pixels (normalisation folded in, exact)"
        functions.append(BufferFunction(py_name, function, doc, (pixels,), outputs))
        constants.append(Constant(f"{py_name.upper()}_SHAPE", pixels.shape))
    if "pixel_entry" in manifest:
        constants += [
            Constant("PIXELS_BYTES", functions[1].inputs[0].nbytes),
            Constant("NORMALISATION", str(manifest["pixel_entry"]["normalisation"])),
        ]
    constants.append(Constant("MODEL_SHA256", str(manifest["model"]["sha256"])))
    own, runtime = _split_runtime(library.sources, library.out_dir)
    return ModuleSpec(
        name=library.name,
        header=f"{library.name}.h",
        library_dir=library.out_dir,
        sources=own,
        runtime_sources=runtime,
        include_dirs=tuple(library.include_dirs),
        target=str(manifest["target"]),
        model=str(manifest["model"]["file"]),
        functions=tuple(functions),
        constants=tuple(constants),
    )


def pipeline_spec(library: object) -> ModuleSpec:
    """The module of an AgileNN device library (a PipelineLibrary): ``begin``, ``finish``,
    ``local_only``, ``alpha`` and the model's facts as constants."""
    from agilenn_codegen.offload import HEADER_SIZE, MAC_SIZE
    from agilenn_codegen.pipeline.codegen import PipelineLibrary, payload_max_bytes
    from agilenn_codegen.pipeline.device_run import LibraryInfo, library_build_inputs

    assert isinstance(library, PipelineLibrary)
    exported = library.exported
    info = LibraryInfo(library.network.out_dir, library.name, library.manifest, exported, library.table)
    sources, includes = library_build_inputs(info)
    own, runtime = _split_runtime(sources, library.network.out_dir)
    image = BufferArg("image", "float32", tuple(int(d) for d in exported.input_shape))
    # a request frame: header + at most one fragment of the largest payload (+ its tag)
    payload_max = payload_max_bytes(exported.feature_size, exported.alphabet)
    frame_max = HEADER_SIZE + min(library.max_fragment, payload_max) + (MAC_SIZE if library.auth else 0)
    entries = [
        ImageEntry(
            py_name="begin",
            c_function=f"{library.name}_begin",
            doc="run the device network on a float32 image; returns the list of frames to send",
            image=image,
        )
    ]
    pixels = pixel_args(library.network.manifest, image.shape)
    begin_u8 = f"{library.name}_run_u8"  # the network's interleaved pixel entry: the pipeline has _begin_u8
    if begin_u8 in pixels:
        doc = "begin on uint8 pixels (H, W, C) with the trainer's normalisation folded in (exact)"
        entries.append(ImageEntry("begin_u8", f"{library.name}_begin_u8", doc, pixels[begin_u8]))
    constants = [
        Constant("INPUT_SHAPE", image.shape),
        Constant("INPUT_DTYPE", image.dtype),
        Constant("INPUT_BYTES", image.nbytes),
        Constant("NUM_CLASSES", exported.num_classes),
        Constant("CLASSES", tuple(exported.class_names)),
        Constant("LOGITS_BYTES", 4 * exported.num_classes),
        Constant("FRAME_MAX_BYTES", frame_max),
        Constant("MODEL_ID", f"0x{exported.model_id:08x}"),
        Constant("NORMALISATION", str(exported.meta.get("input", {}).get("normalisation", {}).get("formula", ""))),
        *(
            [Constant("PIXELS_SHAPE", entries[1].image.shape), Constant("PIXELS_BYTES", entries[1].image.nbytes)]
            if len(entries) > 1
            else []
        ),
        Constant("MODEL_SHA256", str(library.manifest["model"]["sha256"])),
        Constant("AUTH", int(library.auth)),
    ]
    return ModuleSpec(
        name=library.name,
        header=f"{library.name}_agilenn.h",
        library_dir=library.network.out_dir,
        sources=own,
        runtime_sources=runtime,
        include_dirs=tuple(includes),
        target=str(library.manifest["target"]),
        model=str(library.manifest["model"]["file"]),
        functions=(),
        constants=tuple(constants),
        agilenn=AgileNNCalls(exported.num_classes, frame_max, tuple(entries), library.auth),
    )
