"""The op corpus on emulated Cortex-M cores (qemu mps2 boards, semihosting): the full set on the
Cortex-M7 (stm32f746), a smaller one on the M4F, M33 and the FPU-less M3 (integer requantization)."""

from __future__ import annotations

import zlib

import modelzoo
import numpy as np
import pytest
from compiler_harness import check_zoo

pytestmark = pytest.mark.qemu

M7_CASES = {
    "conv_strided_asym": lambda r: modelzoo.conv_model(
        r, shape=(1, 3, 11, 9), out_channels=5, strides=(2, 2), pads=(0, 1, 2, 0)
    ),
    "conv_dilated": lambda r: modelzoo.conv_model(
        r, shape=(1, 4, 10, 10), out_channels=6, dilations=(2, 2), pads=(2, 2, 2, 2)
    ),
    "depthwise_relu6": lambda r: modelzoo.conv_model(
        r, shape=(1, 8, 9, 9), out_channels=8, group=8, activation="relu6"
    ),
    "pointwise": lambda r: modelzoo.conv_model(
        r, shape=(1, 8, 6, 6), out_channels=16, kernel=(1, 1), pads=(0, 0, 0, 0), activation="relu"
    ),
    "grouped": lambda r: modelzoo.conv_model(r, shape=(1, 8, 7, 7), out_channels=12, group=4),
    "large_accumulator": lambda r: modelzoo.conv_model(r, shape=(1, 64, 6, 6), out_channels=4, large_accumulator=True),
    "gemm": lambda r: modelzoo.gemm_model(r, activation="relu"),
    "matmul_3d": lambda r: modelzoo.matmul_model(r, shape=(1, 3, 12)),
    "global_avgpool": lambda r: modelzoo.global_avgpool_model(r, shape=(1, 8, 7, 5)),
    "avgpool_pad_include": lambda r: modelzoo.avgpool_model(
        r, kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True
    ),
    "maxpool": lambda r: modelzoo.maxpool_model(r),
    "residual_add": lambda r: modelzoo.residual_add_model(r, activation="relu"),
    "mul": lambda r: modelzoo.mul_model(r, mode="branches"),
    "concat": lambda r: modelzoo.concat_model(r),
    "transpose": lambda r: modelzoo.shape_op_model(r, "transpose"),
    "mixed_cnn": lambda r: modelzoo.mixed_cnn_model(r),
    "agilenn_device": lambda r: modelzoo.agilenn_device_model(r),
}


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("case", sorted(M7_CASES))
def test_cortex_m7(case, fmt, tmp_path):
    zoo = M7_CASES[case](np.random.default_rng(zlib.crc32(case.encode())))
    check_zoo(zoo, fmt, True, tmp_path, target="stm32f746", per_kind=1)


SMALL_CASES = (
    "conv_strided_asym",
    "depthwise_relu6",
    "large_accumulator",
    "gemm",
    "avgpool_pad_include",
    "residual_add",
    "mixed_cnn",
    "agilenn_device",
)


@pytest.mark.parametrize("target", ["nrf52840", "stm32l552", "lpc1768"])
@pytest.mark.parametrize("case", SMALL_CASES)
def test_other_cores(case, target, tmp_path):
    zoo = M7_CASES[case](np.random.default_rng(zlib.crc32(case.encode())))
    check_zoo(zoo, "qoperator", True, tmp_path, target=target, per_kind=1)
