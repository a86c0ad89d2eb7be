"""Static int8 quantization of float ONNX models with the settings the compiler expects.

:func:`quantize_model` wraps ``onnxruntime.quantization.quantize_static`` so that every model comes
out in the same simple, exactly reproducible form:

* pre-processing (``quant_pre_process``): BatchNorm folded into Conv, constants folded, shapes inferred;
* activations int8 asymmetric (``QInt8``), weights int8 symmetric (zero point 0, range [-127, 127]),
  per output channel when asked, biases int32 with scale ``x_scale * w_scale`` and zero point 0;
* no reduced range, no symmetric activations, weights stored once as int8 initializers;
* QOperator format (QLinearConv, QGemm, ...) by default, QDQ optionally.

The same inputs always give a byte-identical output file.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import onnx

from agilenn_codegen.calibration import (
    ArrayDataReader,
    load_calibration,
    model_inputs,
    validate_calibration,
)
from agilenn_codegen.errors import UserError

QuantFormatName = Literal["qoperator", "qdq"]
CALIBRATE_METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile", "distribution")
FORMATS: tuple[str, ...] = ("qoperator", "qdq")

# Ops whose presence means a model has already been quantized.
_QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearConcat",
        "QLinearAveragePool",
        "QLinearGlobalAveragePool",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearSoftmax",
    }
)
_INT8_TYPES = frozenset({onnx.TensorProto.INT8, onnx.TensorProto.UINT8})
_MIN_OPSET = 13


@dataclass(frozen=True)
class QuantizeReport:
    """What :func:`quantize_model` did.

    ``ops_before`` / ``ops_after`` map op type (``domain::Op`` outside the default domain) to count.
    """

    output: Path
    fmt: str
    per_channel: bool
    calibrate_method: str
    num_samples: int
    ops_before: Mapping[str, int]
    ops_after: Mapping[str, int]


def count_ops(model: onnx.ModelProto) -> Mapping[str, int]:
    """Return a read-only, name-sorted count of the op types in ``model``'s main graph."""
    counts = Counter(
        node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        for node in model.graph.node
    )
    return MappingProxyType(dict(sorted(counts.items())))


def load_float_model(path: Path) -> onnx.ModelProto:
    """Load and check a float ONNX model, raising :class:`UserError` for anything unusable."""
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    if not path.is_file():
        raise UserError(f"model path is not a file: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, OSError, external-data errors
        raise UserError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from None
    if model.ir_version <= 0 or len(model.graph.node) == 0:
        raise UserError(f"{path} is not an ONNX model (no graph nodes)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a valid ONNX model: {first}") from None
    quantized = sorted({n.op_type for n in model.graph.node if n.op_type in _QUANTIZED_OPS})
    int8_inits = [i.name for i in model.graph.initializer if i.data_type in _INT8_TYPES]
    if quantized or int8_inits:
        what = f"ops {quantized}" if quantized else f"int8 initializers {int8_inits[:3]}"
        raise UserError(f"{path} is already quantized ({what}); pass the float model")
    return model


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


def _upgrade_opset(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """Convert models older than opset 13 (needed for per-channel QuantizeLinear axes)."""
    if _default_opset(model) >= _MIN_OPSET:
        return model
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, _MIN_OPSET)
    except Exception as exc:
        raise UserError(
            f"{path} uses opset {_default_opset(model)}; converting it to opset {_MIN_OPSET} failed ({exc})"
        ) from None


def _name_nodes(model: onnx.ModelProto) -> None:
    """Give every unnamed node a deterministic unique name (quantize_static selects nodes by name)."""
    taken = {node.name for node in model.graph.node if node.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def shared_activation_nodes(model: onnx.ModelProto) -> list[str]:
    """Relu/Clip nodes whose input has other consumers or is a graph output.

    The QOperator quantizer drops every Relu/Clip that follows a quantized op and reuses the
    producer's int8 tensor for its output; that is only correct when the activation is the
    producer's sole consumer (then the producer's range is narrowed to the activation's range).
    Otherwise the clamp would silently vanish, so these nodes are kept in float instead.
    """
    consumers = Counter(name for node in model.graph.node for name in node.input if name)
    outputs = {value.name for value in model.graph.output}
    return [
        node.name
        for node in model.graph.node
        if node.op_type in ("Relu", "Clip") and (consumers[node.input[0]] > 1 or node.input[0] in outputs)
    ]


def _calibrate_method(name: str) -> object:
    from onnxruntime.quantization import CalibrationMethod

    table = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
        "distribution": CalibrationMethod.Distribution,
    }
    try:
        return table[name.lower()]
    except KeyError:
        raise UserError(
            f"unknown calibration method '{name}'; expected one of {', '.join(CALIBRATE_METHODS)}"
        ) from None


def _extra_options(fmt: str) -> dict[str, object]:
    """quantize_static extra options; each one pins a default the compiler relies on."""
    options: dict[str, object] = {
        "ActivationSymmetric": False,  # asymmetric int8 activations, zp from the calibrated range
        "WeightSymmetric": True,  # weights in [-127, 127], zero point 0
        "QuantizeBias": True,  # int32 bias, scale x_s * w_s, zero point 0
        "ForceQuantizeNoInputCheck": False,  # shape ops quantized only between int8 ops
        "MatMulConstBOnly": False,
        "CalibTensorRangeSymmetric": False,
        "CalibMovingAverage": False,
    }
    if fmt == "qdq":
        options.update(
            {
                "AddQDQPairToWeight": False,  # weights stored as int8 initializers + DequantizeLinear
                "DedicatedQDQPair": False,  # one Q/DQ pair per tensor, shared by its consumers
                "QDQKeepRemovableActivations": False,  # Relu/Clip folded into the producer's range
                "UseQDQContribOps": False,  # standard-domain QuantizeLinear/DequantizeLinear
            }
        )
    return options


@contextlib.contextmanager
def _int8_slice_in_qoperator() -> Iterator[None]:
    """Let the QOperator quantizer keep Slice in int8, as it keeps Reshape or Flatten.

    onnxruntime's QOperator registry has no entry for Slice, so a Slice between int8 ops (AgileNN's
    channel split: local channels -> GlobalAveragePool) is left in float, and so is everything after it
    that only a quantized input would have made int8. Slice moves bytes without arithmetic, so the
    quantizer's own pass-through rule for such ops (Direct8BitOp: the output shares the input's scale
    and zero point) is exact for it too; onnxruntime runs Slice on int8 tensors. The entry is added
    for the duration of one quantization and removed afterwards.
    """
    from onnxruntime.quantization import registry
    from onnxruntime.quantization.operators.direct_q8 import Direct8BitOp

    added = "Slice" not in registry.QLinearOpsRegistry
    if added:
        registry.QLinearOpsRegistry["Slice"] = Direct8BitOp
    try:
        yield
    finally:
        if added:
            registry.QLinearOpsRegistry.pop("Slice", None)


def quantize_model(
    float_model: Path,
    calibration: Path | Mapping[str, np.ndarray],
    out: Path,
    *,
    fmt: QuantFormatName = "qoperator",
    per_channel: bool = True,
    calibrate_method: str = "minmax",
) -> QuantizeReport:
    """Quantize ``float_model`` to int8 with static calibration and write it to ``out``.

    ``calibration`` is an ``.npz`` path (keys = model input names; any single key for a single-input
    model) or a mapping of arrays, each with the sample axis first. Raises :class:`UserError` for
    unusable models or calibration data.
    """
    float_model = Path(float_model)
    out = Path(out)
    if fmt not in FORMATS:
        raise UserError(f"unknown quantization format '{fmt}'; expected one of {', '.join(FORMATS)}")
    method = _calibrate_method(calibrate_method)
    model = load_float_model(float_model)
    inputs = model_inputs(model)
    raw = load_calibration(Path(calibration)) if isinstance(calibration, (str, Path)) else calibration
    data = validate_calibration(raw, inputs)
    num_samples = next(iter(data.values())).shape[0]
    model = _upgrade_opset(model, float_model)
    ops_before = count_ops(model)

    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out.parent.mkdir(parents=True, exist_ok=True)
    quant_logger = logging.getLogger("onnxruntime.quantization")
    with tempfile.TemporaryDirectory(prefix="agilenn-quantize-") as tmp:
        src = Path(tmp) / "float.onnx"
        pre = Path(tmp) / "preprocessed.onnx"
        onnx.save(model, str(src))
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
        except Exception:
            # Symbolic shape inference rejects some valid graphs; ONNX shape inference is enough.
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        preprocessed = onnx.load(str(pre))
        _name_nodes(preprocessed)
        onnx.save(preprocessed, str(pre))
        exclude = shared_activation_nodes(preprocessed) if fmt == "qoperator" else []
        staged = Path(tmp) / "quantized.onnx"
        previous_level = quant_logger.level
        previous_disable = logging.root.manager.disable
        quant_logger.setLevel(logging.ERROR)
        # quantize_static warns on the root logger that QOperator int8 is slow on x64; that is intended.
        logging.disable(logging.WARNING)
        try:
            with _int8_slice_in_qoperator():
                quantize_static(
                    str(pre),
                    str(staged),
                    ArrayDataReader(data, inputs),
                    quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
                    per_channel=per_channel,
                    reduce_range=False,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=method,
                    calibration_providers=["CPUExecutionProvider"],
                    nodes_to_exclude=exclude,
                    extra_options=_extra_options(fmt),
                )
        except UserError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"onnxruntime could not quantize {float_model}: {first}") from None
        finally:
            quant_logger.setLevel(previous_level)
            logging.disable(previous_disable)
        result = onnx.load(str(staged))
    onnx.save(result, str(out))
    return QuantizeReport(
        output=out,
        fmt=fmt,
        per_channel=per_channel,
        calibrate_method=calibrate_method.lower(),
        num_samples=num_samples,
        ops_before=ops_before,
        ops_after=count_ops(result),
    )
