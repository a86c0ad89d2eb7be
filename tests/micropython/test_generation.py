"""What `agilenn codegen --micropython` writes, and the pieces that need no MicroPython build: the
module description taken from the generated library, its templates, the MicroPython source pin
and the apt configuration it is fetched through."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from agilenn_codegen.cli import main
from agilenn_codegen.compiler import compile_model
from agilenn_codegen.compiler.codegen import generate
from agilenn_codegen.compiler.pixels import parse_normalisation
from agilenn_codegen.errors import ToolError
from agilenn_codegen.micropython import model_spec, source, write_module
from agilenn_codegen.micropython.generate import c_string
from agilenn_codegen.micropython.spec import BufferArg, BufferFunction, Constant
from agilenn_codegen.targets import load_target
from tests.micropython import harness

pytestmark = pytest.mark.micropython


def _listed_sources(makefile: str, module_dir: Path) -> list[Path]:
    lib_rel = re.search(r"_LIB_DIR := \$\(realpath \$\(USERMOD_DIR\)/(\S+)\)", makefile).group(1)
    lib = (module_dir / lib_rel).resolve()
    names = re.findall(r"^\s+(\S+\.c)", makefile, flags=re.MULTILINE)
    return [lib / name.rstrip(" \\)") for name in names]


def test_codegen_writes_a_user_c_module_folder(tmp_path):
    out = tmp_path / "lib"
    assert main(["codegen", str(harness.TINY_MODEL), "--target", "host", "--out", str(out), "--micropython"]) == 0
    modules = out / "micropython"
    # USER_C_MODULES holds only C module folders (and the CMake entry point)
    assert sorted(p.name for p in modules.iterdir()) == ["micropython.cmake", "tiny_cnn_int8"]
    module = modules / "tiny_cnn_int8"
    assert sorted(p.name for p in module.iterdir()) == ["micropython.cmake", "micropython.mk", "modtiny_cnn_int8.c"]
    makefile = (module / "micropython.mk").read_text()
    listed = _listed_sources(makefile, module)
    assert listed and all(p.is_file() for p in listed), listed
    assert {p.name for p in listed} >= {"tiny_cnn_int8.c", "agilenn_conv_s8.c"}
    assert "-ffp-contract=off" in makefile and "-ffp-contract=off" in (module / "micropython.cmake").read_text()
    assert (
        "include(${CMAKE_CURRENT_LIST_DIR}/tiny_cnn_int8/micropython.cmake)"
        in (modules / "micropython.cmake").read_text()
    )
    native = (out / "micropython_native" / "Makefile").read_text()
    assert "include $(MPY_DIR)/py/dynruntime.mk" in native and "-DAGILENN_STATE=" in native
    binding = (module / "modtiny_cnn_int8.c").read_text()
    assert "MP_REGISTER_MODULE(MP_QSTR_tiny_cnn_int8" in binding and "tiny_cnn_int8_run(in0, out0)" in binding
    assert "malloc" not in binding.replace("m_malloc", "")  # results are MicroPython's own objects


def test_agilenn_codegen_writes_the_pipeline_module(tmp_path):
    out = tmp_path / "agilenn"
    assert (
        main(["codegen", str(harness.AGILENN_EXAMPLE), "--target", "stm32f746", "--out", str(out), "--micropython"])
        == 0
    )
    binding = (out / "micropython" / harness.AGILENN / f"mod{harness.AGILENN}.c").read_text()
    for call in (
        "_begin(image)",
        "_fragment(i, frame",
        "_finish((const uint8_t *)",
        "_local_only(local)",
        "_set_alpha(alpha)",
    ):
        assert f"{harness.AGILENN}{call}" in binding, call
    assert "MP_REGISTER_MODULE_DELEGATION" in binding  # the `alpha` attribute
    assert (
        "_infer" not in binding
        and "agilenn_port" not in (out / "micropython" / harness.AGILENN / "micropython.mk").read_text()
    )


def test_the_module_is_described_from_the_library_and_new_entry_points_are_one_more_item(tmp_path):
    library = generate(compile_model(harness.TINY_MODEL), load_target("host"), tmp_path, command="test")
    spec = model_spec(library)
    (run,) = spec.functions
    assert run.c_function == "tiny_cnn_int8_run"
    assert [(a.name, a.dtype, a.shape, a.nbytes) for a in run.inputs] == [("input", "float32", (1, 1, 28, 28), 3136)]
    assert [(a.name, a.dtype, a.nbytes) for a in run.outputs] == [("logits", "float32", 40)]
    # another entry point of the same shape is one more BufferFunction (here a hand-made one)
    extra = BufferFunction(
        "run_bytes",
        "tiny_cnn_int8_run_bytes",
        "pixels 0..255",
        (BufferArg("pixels", "uint8", (1, 1, 28, 28)),),
        run.outputs,
    )
    module = write_module(dataclasses.replace(spec, functions=(run, extra)), tmp_path, command="test")
    binding = module.binding.read_text()
    assert "tiny_cnn_int8_run_bytes(in0, out0)" in binding
    assert "{ MP_ROM_QSTR(MP_QSTR_run_bytes), MP_ROM_PTR(&tiny_cnn_int8_py_run_bytes_obj) }," in binding
    assert '"run_bytes", "pixels", "uint8", 784u, 784u, 1u, "B"' in binding


def test_the_pixel_entry_points_of_the_library_are_wrapped(tmp_path):
    pixels = parse_normalisation(None, None, "1/255")
    library = generate(compile_model(harness.TINY_MODEL), load_target("host"), tmp_path, command="t", pixels=pixels)
    spec = model_spec(library)
    assert [(f.py_name, f.c_function, f.inputs[0].shape) for f in spec.functions[1:]] == [
        ("run_u8", "tiny_cnn_int8_run_u8", (28, 28, 1)),
        ("run_u8_planar", "tiny_cnn_int8_run_u8_planar", (1, 28, 28)),
    ]
    assert all(f.inputs[0].dtype == "uint8" and f.outputs == spec.functions[0].outputs for f in spec.functions[1:])


def test_generated_module_is_deterministic(tmp_path):
    library = generate(compile_model(harness.TINY_MODEL), load_target("host"), tmp_path / "a", command="test")
    first = write_module(model_spec(library), tmp_path / "a", command="test").binding.read_text()
    second = write_module(model_spec(library), tmp_path / "a", command="test").binding.read_text()
    assert first == second and "Generated by agilenn-codegen" in first


def test_constants_and_strings():
    assert Constant("A", (1, 2)).kind == "int_tuple" and Constant("B", ("x",)).kind == "str_tuple"
    with pytest.raises(TypeError, match="small ints"):
        _ = Constant("BIG", 2**31).kind
    with pytest.raises(TypeError, match="only ints or only strs"):
        _ = Constant("MIXED", (1, "a")).kind
    assert c_string('a"b\\c?é') == 'a\\"b\\\\c\\077\\303\\251'


DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_the_archive_is_read_from_the_machines_apt_configuration():
    entries = source.parse_deb822(DEB822)
    assert [e.uri for e in entries] == ["http://mirror.example/debian", "http://mirror.example/debian-security"]
    archive = source.debian_archive(entries)
    assert archive.uri == "http://mirror.example/debian"
    assert archive.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    one_line = source.parse_one_line(
        "# old style\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
        "deb http://mirror.example/debian-security bookworm-security main\n"
    )
    assert source.debian_archive(one_line) == source.AptEntry("http://mirror.example/debian", ("bookworm",), "/k.gpg")
    with pytest.raises(ToolError, match="no Debian archive"):
        source.debian_archive(
            source.parse_deb822("Types: deb\nURIs: http://x.example/debian-security\nSuites: a-security\n")
        )


def test_the_source_package_version_is_the_pinned_release():
    showsrc = "Package: micropython\nVersion: 1.24.1+ds-2\n\nPackage: micropython\nVersion: 1.25.0+ds-1\n"
    assert source.source_version(showsrc) == "1.25.0+ds-1"
    with pytest.raises(ToolError, match=r"no micropython 1\.25\.0"):
        source.source_version("Version: 1.26.0+ds-1\n")


def test_the_source_tree_is_the_verified_one():
    """CI fetched it in scripts/setup.sh; a missing or unverified tree is an error, not a skip."""
    tree = source.source_dir()
    assert (tree / source.STAMP).read_text().strip() == source.ORIG_SHA256
    assert (tree / "py" / "dynruntime.mk").is_file() and (tree / "ports" / "qemu" / "Makefile").is_file()
    tarball = source.CACHE_DIR / source.ORIG_TARBALL
    assert source.sha256_of(tarball) == source.ORIG_SHA256
