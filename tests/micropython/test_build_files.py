"""The module's build files for other firmwares: micropython.cmake (CMake ports: rp2, esp32) is
configured and compiled the way those ports consume user modules (an INTERFACE library linked
into `usermod`), against the unix port's headers; and two modules generated for different targets
are refused by both build systems instead of sharing a runtime configured for one of them."""

from __future__ import annotations

import subprocess

import pytest

from agilenn_codegen import __version__ as V
from agilenn_codegen.micropython import firmware
from agilenn_codegen.micropython.source import source_dir
from tests.micropython import harness

pytestmark = pytest.mark.micropython

PROJECT = """\
cmake_minimum_required(VERSION 3.13)
project(usermod_check C)
add_library(usermod INTERFACE)
include(${USER_C_MODULES})
add_library(check OBJECT)
target_link_libraries(check PRIVATE usermod)
target_include_directories(check PRIVATE ${MPY_DIR} ${MPY_DIR}/ports/unix ${MPY_DIR}/ports/unix/variants/standard
                           ${MPY_BUILD})
target_compile_options(check PRIVATE -std=gnu99 -DUNIX -Wall -Werror)
get_target_property(RUNTIME usermod_agilenn_runtime INTERFACE_SOURCES)
list(LENGTH RUNTIME RUNTIME_COUNT)
message(STATUS "agilenn runtime sources: ${RUNTIME_COUNT}")
"""


def _cmake(tmp_path, entry):
    build = harness.prepared("unix")
    (tmp_path / "CMakeLists.txt").write_text(PROJECT)
    configure = [
        "cmake",
        "-S",
        str(tmp_path),
        "-B",
        str(tmp_path / "b"),
        f"-DUSER_C_MODULES={entry}",
        f"-DMPY_DIR={source_dir()}",
        f"-DMPY_BUILD={build.program.parent}",
    ]
    return subprocess.run(configure, capture_output=True, text=True, timeout=120)


def _combined(tmp_path, module_dirs):
    folder = firmware.bundle_modules(module_dirs, tmp_path / "modules")
    entry = folder / "micropython.cmake"
    entry.write_text("".join(f"include(${{CMAKE_CURRENT_LIST_DIR}}/{d.name}/micropython.cmake)\n" for d in module_dirs))
    return entry


def test_cmake_entry_of_two_modules_configures_and_compiles(tmp_path):
    build = harness.prepared("unix")
    entry = _combined(
        tmp_path,
        [build.tiny_dir / "micropython" / harness.TINY, build.agilenn_dir / "micropython" / harness.AGILENN],
    )
    configured = _cmake(tmp_path, entry)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    runtime = len(list((build.tiny_dir / "runtime").rglob("*.c"))) - len(
        list((build.tiny_dir / "runtime" / "port").glob("*.c"))
    )
    assert f"agilenn runtime sources: {runtime}" in configured.stdout  # one copy for both modules
    compiled = subprocess.run(
        ["cmake", "--build", str(tmp_path / "b"), "-j2"], capture_output=True, text=True, timeout=300
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    objects = {p.name for p in (tmp_path / "b").rglob("*.o")}
    assert {f"mod{harness.TINY}.c.o", f"mod{harness.AGILENN}.c.o", "agilenn_conv_s8.c.o"} <= objects


def test_the_generated_cmake_entry_point_configures(tmp_path):
    build = harness.prepared("unix")
    configured = _cmake(tmp_path, build.agilenn_dir / "micropython" / "micropython.cmake")
    assert configured.returncode == 0, configured.stdout + configured.stderr


def test_modules_for_different_targets_are_refused(tmp_path):
    host, m7 = harness.prepared("unix"), harness.prepared("qemu-m7")
    modules = [host.tiny_dir / "micropython" / harness.TINY, m7.agilenn_dir / "micropython" / harness.AGILENN]
    configured = _cmake(tmp_path, _combined(tmp_path, modules))
    assert configured.returncode != 0
    message = " ".join(configured.stderr.split())  # CMake wraps its messages
    assert f"agilenn module agilenn_fashion_mnist ({V}-stm32f746) cannot share a firmware with tiny_cnn_int8" in message
    make = subprocess.run(
        [
            "make",
            "-n",
            "-C",
            str(source_dir() / "ports" / "unix"),
            *firmware.UNIX_OPTIONS,
            f"BUILD={tmp_path / 'make'}",
            f"USER_C_MODULES={tmp_path / 'modules'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert make.returncode != 0
    assert f"tiny_cnn_int8 ({V}-host) cannot share a firmware with agilenn_fashion_mnist ({V}-stm32f746)" in make.stderr
