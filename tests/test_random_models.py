"""Property-based tests: random convolution and pooling geometry, random models, both formats.

Hypothesis draws shapes, kernels, strides, (asymmetric) pads, dilations and groups; every drawn
model is quantized, compiled, run on the host and compared byte for byte with onnxruntime.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import modelzoo
import numpy as np
import pytest
from compiler_harness import check_zoo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def conv_geometry(draw: st.DrawFn) -> dict:
    groups = draw(st.sampled_from([1, 1, 2, 3, "depthwise"]))
    in_c = draw(st.integers(1, 6)) * (1 if groups == "depthwise" else groups)
    if groups == "depthwise":
        groups, out_c = in_c, in_c
    else:
        out_c = draw(st.integers(1, 4)) * groups
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    h = draw(st.integers(max(1, eff_h - pads[0] - pads[2]), 12))
    w = draw(st.integers(max(1, eff_w - pads[1] - pads[3]), 12))
    return dict(
        shape=(1, in_c, h, w),
        out_channels=out_c,
        kernel=(kh, kw),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        pads=pads,
        dilations=(dh, dw),
        group=groups,
        bias=draw(st.booleans()),
        activation=draw(st.sampled_from(["none", "relu", "relu6"])),
    )


@SETTINGS
@given(
    geometry=conv_geometry(),
    fmt=st.sampled_from(["qoperator", "qdq"]),
    per_channel=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_random_conv(geometry, fmt, per_channel, seed):
    with tempfile.TemporaryDirectory() as tmp:
        zoo = modelzoo.conv_model(np.random.default_rng(seed), **geometry)
        check_zoo(zoo, fmt, per_channel, Path(tmp), per_kind=1)


@st.composite
def pool_geometry(draw: st.DrawFn) -> tuple[str, dict]:
    kind = draw(st.sampled_from(["avg", "max"]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = tuple(draw(st.integers(0, min(kh, kw) - 1)) for _ in range(4))
    h, w = draw(st.integers(kh, 10)), draw(st.integers(kw, 10))
    geometry = dict(
        shape=(1, draw(st.integers(1, 6)), h, w),
        kernel=(kh, kw),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        pads=pads,
        ceil_mode=draw(st.booleans()),
    )
    if kind == "avg":
        geometry["count_include_pad"] = draw(st.booleans())
    return kind, geometry


@SETTINGS
@given(pool=pool_geometry(), fmt=st.sampled_from(["qoperator", "qdq"]), seed=st.integers(0, 2**31))
def test_random_pool(pool, fmt, seed):
    kind, geometry = pool
    build = modelzoo.avgpool_model if kind == "avg" else modelzoo.maxpool_model
    with tempfile.TemporaryDirectory() as tmp:
        check_zoo(build(np.random.default_rng(seed), **geometry), fmt, True, Path(tmp), per_kind=1)


@pytest.mark.parametrize("fmt,per_channel", [("qoperator", True), ("qdq", True), ("qoperator", False)])
@pytest.mark.parametrize("seed", [0, 1])
def test_mixed_cnn(seed, fmt, per_channel, tmp_path):
    check_zoo(modelzoo.mixed_cnn_model(np.random.default_rng(seed)), fmt, per_channel, tmp_path, sanitize=True)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (1, 1, 28, 28)])
def test_agilenn_device_model(shape, fmt, tmp_path):
    """Two outputs (local logits, remote features), as `agilenn export` writes device.onnx."""
    report = check_zoo(
        modelzoo.agilenn_device_model(np.random.default_rng(3), shape=shape), fmt, True, tmp_path, sanitize=True
    )
    assert [o.name for o in report.outputs] == ["local_logits", "remote_features"]
