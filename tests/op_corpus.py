"""The op-level corpus: one list of models, run on the host and on the emulated Cortex-M7 alike.

Each entry builds a random float model (tests/modelzoo.py) from a seeded generator; the tests
quantize it (QOperator and QDQ; per-tensor weights too where the op has weights), compile it, and
compare every output byte with onnxruntime on random, saturating, all-min, all-max and tie inputs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import modelzoo
import numpy as np

Builder = Callable[[np.random.Generator], modelzoo.ZooModel]


def _conv(**kw: object) -> Builder:
    return lambda r: modelzoo.conv_model(r, **kw)  # type: ignore[arg-type]


CORPUS: dict[str, Builder] = {
    "conv_3x3": _conv(shape=(1, 4, 10, 10), out_channels=8, kernel=(3, 3), pads=(1, 1, 1, 1)),
    "conv_strided_asym_pads": _conv(shape=(1, 3, 11, 9), out_channels=5, strides=(2, 2), pads=(0, 1, 2, 0)),
    "conv_dilated": _conv(shape=(1, 4, 12, 12), out_channels=6, dilations=(2, 2), pads=(2, 2, 2, 2)),
    "conv_depthwise_relu6": _conv(shape=(1, 8, 9, 9), out_channels=8, group=8, activation="relu6"),
    "conv_depthwise_stride3": _conv(shape=(1, 6, 12, 12), out_channels=6, group=6, strides=(3, 3), pads=(1, 1, 1, 1)),
    "conv_pointwise_relu": _conv(
        shape=(1, 8, 6, 6), out_channels=16, kernel=(1, 1), pads=(0, 0, 0, 0), activation="relu"
    ),
    "conv_grouped": _conv(shape=(1, 8, 7, 7), out_channels=12, group=4),
    "conv_rect_kernel_no_bias": _conv(
        shape=(1, 3, 8, 10), out_channels=4, kernel=(1, 5), pads=(0, 2, 0, 2), bias=False
    ),
    "conv_large_accumulator": _conv(shape=(1, 64, 6, 6), out_channels=4, kernel=(3, 3), large_accumulator=True),
    "gemm_trans_b": lambda r: modelzoo.gemm_model(r, trans_b=True, activation="relu"),
    "gemm_no_trans_b": lambda r: modelzoo.gemm_model(r, trans_b=False, activation="relu"),
    "gemm_large_accumulator": lambda r: modelzoo.gemm_model(r, shape=(1, 64, 4, 4), large_accumulator=True),
    "matmul_2d": lambda r: modelzoo.matmul_model(r, shape=(1, 16)),
    "matmul_3d": lambda r: modelzoo.matmul_model(r, shape=(1, 3, 12)),
    "global_avgpool": lambda r: modelzoo.global_avgpool_model(r, shape=(1, 8, 7, 5)),
    "avgpool_2x2": lambda r: modelzoo.avgpool_model(r, kernel=(2, 2), strides=(2, 2)),
    "avgpool_pad_exclude": lambda r: modelzoo.avgpool_model(r, kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    "avgpool_pad_include": lambda r: modelzoo.avgpool_model(
        r, kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True
    ),
    "avgpool_asym_pad_include": lambda r: modelzoo.avgpool_model(
        r, kernel=(3, 2), strides=(1, 2), pads=(0, 1, 2, 0), count_include_pad=True
    ),
    "avgpool_ceil_mode": lambda r: modelzoo.avgpool_model(r, kernel=(2, 2), strides=(2, 2), ceil_mode=True),
    "maxpool": lambda r: modelzoo.maxpool_model(r),
    "maxpool_dilated": lambda r: modelzoo.maxpool_model(r, dilations=(2, 2)),
    "maxpool_ceil_mode": lambda r: modelzoo.maxpool_model(r, ceil_mode=True),
    "residual_add": lambda r: modelzoo.residual_add_model(r, activation="none"),
    "residual_add_relu": lambda r: modelzoo.residual_add_model(r, activation="relu"),
    "add_two_inputs": lambda r: modelzoo.add_model(r),
    "mul_inputs": lambda r: modelzoo.mul_model(r, mode="inputs"),
    "mul_branches": lambda r: modelzoo.mul_model(r, mode="branches"),
    "concat_channels": lambda r: modelzoo.concat_model(r),
    "reshape": lambda r: modelzoo.shape_op_model(r, "reshape"),
    "flatten": lambda r: modelzoo.shape_op_model(r, "flatten"),
    "squeeze": lambda r: modelzoo.shape_op_model(r, "squeeze"),
    "unsqueeze": lambda r: modelzoo.shape_op_model(r, "unsqueeze"),
    "transpose": lambda r: modelzoo.shape_op_model(r, "transpose"),
    "reshape_then_gemm": lambda r: modelzoo.shape_op_model(r, "reshape", follow_gemm=True),
    "flatten_then_gemm": lambda r: modelzoo.shape_op_model(r, "flatten", follow_gemm=True),
    "transpose_then_gemm": lambda r: modelzoo.shape_op_model(r, "transpose", follow_gemm=True),
    "slice_channels": lambda r: modelzoo.slice_model(r, starts=(3,), ends=(10,), axes=(1,)),
    "slice_channels_step": lambda r: modelzoo.slice_model(r, starts=(0,), ends=(12,), axes=(1,), steps=(2,)),
    "slice_spatial_negative": lambda r: modelzoo.slice_model(r, starts=(1, -6), ends=(7, -1), axes=(2, 3)),
    "slice_last_op": lambda r: modelzoo.slice_model(r, starts=(5,), ends=(12,), axes=(1,), follow_conv=False),
    "mixed_cnn": lambda r: modelzoo.mixed_cnn_model(r),
    "agilenn_device": lambda r: modelzoo.agilenn_device_model(r),
}

# cases whose weights are also tested per-tensor (the others have no weights or repeat the same kernels)
WEIGHTED = tuple(name for name in CORPUS if name.startswith(("conv_", "gemm_", "matmul_")))

# the smaller set run on the Cortex-M4F, M33 and the FPU-less M3
SMALL = (
    "conv_strided_asym_pads",
    "conv_depthwise_relu6",
    "conv_large_accumulator",
    "gemm_trans_b",
    "avgpool_pad_include",
    "residual_add_relu",
    "mul_branches",
    "concat_channels",
    "mixed_cnn",
    "agilenn_device",
)


def build(name: str) -> modelzoo.ZooModel:
    """The corpus model `name`, from a generator seeded by its name (stable across processes)."""
    return CORPUS[name](np.random.default_rng(zlib.crc32(name.encode())))
