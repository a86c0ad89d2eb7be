"""Bad input to `agilenn codegen`, `verify` and `inspect` gets one clear error and exit code 2.

Every case goes through ``cli.main([...])``: the return code must be 2, stderr must hold exactly one
``error:`` line naming the file, node or op at fault and what was expected, and no traceback may
appear anywhere. Where codegen refuses a model, its output folder is not created (or left as it
was). A few positive cases pin what must keep working (a dynamic batch axis, --allow-overflow).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import modelzoo
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from agilenn_codegen.cli import main
from agilenn_codegen.errors import UserError

TINY = Path(__file__).resolve().parents[1] / "examples" / "models" / "tiny_cnn_int8.onnx"
COMMANDS = ("codegen", "verify", "inspect")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _argv(command: str, model: Path, out: Path, *extra: str) -> list[str]:
    if command == "codegen":
        return ["codegen", str(model), "--out", str(out), *extra]
    if command == "verify":
        return ["verify", str(model), "--target", "host", "--count", "1", *extra]
    return ["inspect", str(model), *extra]


def _run(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expect_user_error(capsys: pytest.CaptureFixture[str], argv: Sequence[str], *fragments: str) -> str:
    """Run the CLI; check exit code 2, exactly one `error:` line, no traceback, and every fragment."""
    code, out, err = _run(capsys, argv)
    assert "Traceback" not in out + err, out + err
    assert code == 2, f"exit code {code}\nstdout:\n{out}\nstderr:\n{err}"
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    for fragment in fragments:
        assert fragment.lower() in err.lower(), f"{fragment!r} not in:\n{err}"
    return err


def expect_error_all_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path, *fragments: str) -> None:
    """The same bad model is refused by codegen, verify and inspect; codegen writes nothing."""
    for command in COMMANDS:
        out = tmp_path / f"out_{command}"
        expect_user_error(capsys, _argv(command, model, out), *fragments)
        assert not out.exists()


def edited(src: Path, dst: Path, edit: Callable[[onnx.ModelProto], None]) -> Path:
    """Load `src`, apply `edit` to the ModelProto, save as `dst` (no checks: models may be invalid)."""
    model = onnx.load(str(src))
    edit(model)
    dst.write_bytes(model.SerializeToString())
    return dst


def initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(i for i in model.graph.initializer if i.name == name)


def replace_initializer(model: onnx.ModelProto, name: str, value: np.ndarray) -> None:
    init = initializer(model, name)
    init.CopyFrom(numpy_helper.from_array(value, name))


def node_of(model: onnx.ModelProto, op_type: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.op_type == op_type)


# --------------------------------------------------------------------------------------------
# models (built once per module: quantization is the slow part)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    zoo = modelzoo.conv_model(np.random.default_rng(0), shape=(1, 3, 8, 8), out_channels=4, activation="relu")
    big = modelzoo.conv_model(np.random.default_rng(1), shape=(1, 8, 48, 48), out_channels=16)
    dyn = modelzoo.conv_model(np.random.default_rng(2), shape=(1, 3, 8, 8), out_channels=4, batch="N")
    return {
        "float": zoo.save(root / "conv_float.onnx"),
        "qoperator": modelzoo.quantized(zoo, "qoperator", False, root / "qop"),
        "qdq": modelzoo.quantized(zoo, "qdq", False, root / "qdq"),
        "big": modelzoo.quantized(big, "qoperator", True, root / "big"),
        "dynamic_batch": modelzoo.quantized(dyn, "qdq", True, root / "dyn"),
    }


# --------------------------------------------------------------------------------------------
# files that are not ONNX models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_text_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("this is not an ONNX model, just some text\n")
    expect_user_error(capsys, _argv(command, path, tmp_path / "out"), str(path), "onnx")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_random_bytes(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expect_user_error(capsys, _argv(command, path, tmp_path / "out"), str(path), "onnx")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    expect_user_error(capsys, _argv(command, path, tmp_path / "out"), str(path), "empty")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_model(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, fraction: float) -> None:
    data = TINY.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    expect_user_error(capsys, _argv(command, path, tmp_path / "out"), str(path))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    folder = tmp_path / "a_folder.onnx"
    folder.mkdir()
    expect_user_error(capsys, _argv(command, folder, tmp_path / "out"), str(folder), "directory")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_path(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    path = tmp_path / "nowhere" / "model.onnx"
    expect_user_error(capsys, _argv(command, path, tmp_path / "out"), str(path), "no such file")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# models the compiler does not take
# --------------------------------------------------------------------------------------------


def test_float_model(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]) -> None:
    expect_error_all_commands(capsys, tmp_path, models["float"], "not quantized", "agilenn quantize")


def _append_float_op(op_type: str, **attrs: object) -> Callable[[onnx.ModelProto], None]:
    def edit(model: onnx.ModelProto) -> None:
        graph = model.graph
        old = graph.output[0].name
        new = f"{old}_{op_type.lower()}"
        graph.node.append(helper.make_node(op_type, [old], [new], name=f"extra_{op_type}", **attrs))
        output = onnx.ValueInfoProto()
        output.CopyFrom(graph.output[0])
        output.name = new
        del graph.output[:]
        graph.output.append(output)

    return edit


@pytest.mark.parametrize(
    "fmt,op_type,attrs",
    [("qoperator", "Sigmoid", {}), ("qdq", "Softmax", {"axis": 1}), ("qdq", "LeakyRelu", {"alpha": 0.1})],
)
def test_unsupported_float_op(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    models: dict[str, Path],
    fmt: str,
    op_type: str,
    attrs: dict[str, object],
) -> None:
    path = edited(models[fmt], tmp_path / f"{op_type}.onnx", _append_float_op(op_type, **attrs))
    expect_error_all_commands(
        capsys, tmp_path, path, f"extra_{op_type}", f"op {op_type}", "not supported", "supported ops:", "QLinearConv"
    )


@pytest.mark.parametrize("new_op", ["QLinearConvTranspose", "Tanh"])
def test_hand_edited_op_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path], new_op: str
) -> None:
    """An op type nobody knows (the ONNX checker would reject it) or a real one the runtime lacks."""

    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QLinearConv" if new_op.startswith("Q") else "DequantizeLinear")
        node.op_type = new_op
        node.name = "edited_node"
        if new_op == "Tanh":
            del node.input[1:]

    path = edited(models["qoperator"], tmp_path / "edited.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "edited_node", new_op, "not supported", "supported ops:")


def test_unsupported_custom_domain_op(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]
) -> None:
    def edit(model: onnx.ModelProto) -> None:
        _append_float_op("Gelu")(model)
        model.graph.node[-1].domain = "com.microsoft"
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))

    path = edited(models["qoperator"], tmp_path / "gelu.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "extra_Gelu", "com.microsoft", "supported ops:")


def _set_input_dim(model: onnx.ModelProto, axis: int, symbol: str) -> None:
    dim = model.graph.input[0].type.tensor_type.shape.dim[axis]
    dim.Clear()
    dim.dim_param = symbol


def test_dynamic_spatial_dimension(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]) -> None:
    path = edited(models["qoperator"], tmp_path / "dyn_h.onnx", lambda m: _set_input_dim(m, 2, "height"))
    expect_error_all_commands(capsys, tmp_path, path, "'input'", "dynamic dimension 'height'", "axis 2", "static")


def test_dynamic_batch_is_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]) -> None:
    model = models["dynamic_batch"]
    assert onnx.load(str(model)).graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    out = tmp_path / "lib"
    code, stdout, err = _run(capsys, ["codegen", str(model), "--target", "host", "--out", str(out)])
    assert code == 0, stdout + err
    assert (out / "manifest.json").is_file()
    assert '"shape": [\n        1,' in (out / "manifest.json").read_text()
    code, stdout, err = _run(capsys, ["verify", str(model), "--target", "host", "--count", "5"])
    assert code == 0, stdout + err
    assert "bit-exact" in stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_target(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    argv = _argv(command, TINY, tmp_path / "out")
    argv = [a for a in argv if a not in ("--target", "host")] + ["--target", "esp32-nonexistent"]
    expect_user_error(capsys, argv, "unknown target 'esp32-nonexistent'", "available targets", "host", "stm32f103")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_nonzero_weight_zero_point(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path], fmt: str
) -> None:
    def edit(model: onnx.ModelProto) -> None:
        if fmt == "qoperator":
            zp_name = node_of(model, "QLinearConv").input[5]
        else:
            zp_name = next(
                n.input[2] for n in model.graph.node if n.op_type == "DequantizeLinear" and "w_" in n.input[0]
            )
        replace_initializer(model, zp_name, np.array(3, np.int8))

    path = edited(models[fmt], tmp_path / "asym_weights.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "w_1_quantized", "non-zero zero points (3)", "symmetric weights")


class _Reader:
    """A minimal onnxruntime CalibrationDataReader over one input."""

    def __init__(self, name: str, data: np.ndarray) -> None:
        self._items = iter([{name: data[i : i + 1]} for i in range(len(data))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_uint8_activations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path], fmt: str
) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    calibration = np.random.default_rng(3).standard_normal((8, 3, 8, 8)).astype(np.float32)
    path = tmp_path / f"uint8_{fmt}.onnx"
    quantize_static(
        str(models["float"]),
        str(path),
        _Reader("input", calibration),
        quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    expect_error_all_commands(capsys, tmp_path, path, "uint8", "int8 activations", "QInt8")


# --------------------------------------------------------------------------------------------
# malformed graphs: no protobuf surprise may escape as a traceback
# --------------------------------------------------------------------------------------------


def test_qlinearconv_missing_required_inputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]
) -> None:
    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QLinearConv")
        del node.input[4:]

    path = edited(models["qoperator"], tmp_path / "short.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "conv_")


def test_qlinearconv_scale_not_initializer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]
) -> None:
    """The weight scale comes from a graph input instead of an initializer."""

    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QLinearConv")
        node.input[4] = "runtime_scale"
        model.graph.input.append(helper.make_tensor_value_info("runtime_scale", TensorProto.FLOAT, []))

    path = edited(models["qoperator"], tmp_path / "scale_input.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "runtime_scale", "constant initializer")


def test_com_microsoft_op_missing_inputs_and_outputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]
) -> None:
    """onnx's checker does not know com.microsoft ops: the front end must check their arity itself."""

    def edit(model: onnx.ModelProto) -> None:
        graph = model.graph
        conv_out = node_of(model, "QLinearConv").output[0]
        graph.node.append(
            helper.make_node("QLinearAdd", [conv_out], ["added"], name="broken_add", domain="com.microsoft")
        )
        graph.node.append(
            helper.make_node("QLinearGlobalAveragePool", [conv_out], [], name="no_outputs", domain="com.microsoft")
        )
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))

    path = edited(models["qoperator"], tmp_path / "broken_add.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "broken_add", "QLinearAdd")


def test_malformed_attribute_of_custom_op(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]
) -> None:
    def edit(model: onnx.ModelProto) -> None:
        graph = model.graph
        conv = node_of(model, "QLinearConv")
        graph.node.append(
            helper.make_node(
                "QLinearGlobalAveragePool",
                [conv.output[0], conv.input[6], conv.input[7], conv.input[6], conv.input[7]],
                ["pooled"],
                name="odd_pool",
                domain="com.microsoft",
                channels_last="yes",
            )
        )
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))

    path = edited(models["qoperator"], tmp_path / "odd_attr.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "odd_pool", "malformed", "channels_last='yes'")


def test_corrupt_initializer(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]) -> None:
    def edit(model: onnx.ModelProto) -> None:
        weight = initializer(model, node_of(model, "QLinearConv").input[3])
        weight.raw_data = weight.raw_data[:5]

    path = edited(models["qoperator"], tmp_path / "corrupt_init.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "w_1_quantized")


def test_onnxruntime_rejects_model(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]) -> None:
    """A model the front end accepts but onnxruntime cannot load: verify's oracle fails cleanly."""

    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QLinearConv")
        model.graph.initializer.append(numpy_helper.from_array(np.array(0, np.uint8), "uint8_w_zero_point"))
        node.input[5] = "uint8_w_zero_point"

    path = edited(models["qoperator"], tmp_path / "ort_rejects.onnx", edit)
    expect_user_error(capsys, _argv("verify", path, tmp_path / "out"), "onnxruntime")


def test_onnxruntime_session_failure_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    from agilenn_codegen.reference import ort_session

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : something is off\nsecond line")

    monkeypatch.setattr(onnxruntime, "InferenceSession", explode)
    with pytest.raises(UserError, match=r"onnxruntime cannot load the model: .*something is off"):
        ort_session(TINY)


# --------------------------------------------------------------------------------------------
# target memory
# --------------------------------------------------------------------------------------------


def test_model_does_not_fit(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]) -> None:
    model = models["big"]
    out = tmp_path / "lib"
    err = expect_user_error(
        capsys,
        ["codegen", str(model), "--target", "stm32f103", "--out", str(out)],
        "does not fit target stm32f103",
        "RAM: needs",
        "20,480",
        "--allow-overflow",
    )
    assert not out.exists(), err

    # an existing output folder is left exactly as it was
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    expect_user_error(capsys, ["codegen", str(model), "--target", "stm32f103", "--out", str(out), "--force"], "20,480")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"

    code, stdout, err = _run(
        capsys, ["codegen", str(model), "--target", "stm32f103", "--out", str(out), "--allow-overflow", "--force"]
    )
    assert code == 0, stdout + err
    assert "warning:" in stdout and "does not fit" in stdout and "20,480" in stdout
    assert (out / "manifest.json").is_file() and (out / "keep.txt").read_text() == "mine"


def test_inspect_shows_overflow_without_failing(capsys: pytest.CaptureFixture[str], models: dict[str, Path]) -> None:
    code, stdout, err = _run(capsys, ["inspect", str(models["big"]), "--target", "stm32f103"])
    assert code == 0, stdout + err
    assert "does not fit" in stdout and "20,480" in stdout


def test_codegen_out_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("a file")
    expect_user_error(capsys, ["codegen", str(TINY), "--out", str(out)], str(out), "not a directory")
    assert out.read_text() == "a file"


# --------------------------------------------------------------------------------------------
# verify options
# --------------------------------------------------------------------------------------------


def _verify(path: Path, *extra: str) -> list[str]:
    return ["verify", str(TINY), "--target", "host", "--inputs", str(path), *extra]


def test_verify_inputs_wrong_shape(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "samples.npy"
    np.save(path, np.zeros((2, 3, 5), np.float32))
    expect_user_error(capsys, _verify(path), str(path), "has shape [2, 3, 5]", "expected (samples, ")


def test_verify_inputs_wrong_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "samples.npz"
    np.savez(path, images=np.zeros((2, 1, 28, 28), np.float32), labels=np.zeros(2, np.int64))
    expect_user_error(capsys, _verify(path), str(path), "no array for model input", "images", "labels")


@pytest.mark.parametrize(
    "name,content",
    [
        ("garbage.npy", b"definitely not numpy"),
        ("garbage_npy_header.npy", b"\x93NUMPY\x01\x00garbage"),
        ("garbage.npz", b"PK\x03\x04 not really a zip"),
        ("strings.npy", "strings"),
        ("no_samples.npy", "empty"),
    ],
)
def test_verify_inputs_unreadable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: bytes | str
) -> None:
    path = tmp_path / name
    if content == "strings":
        np.save(path, np.full((2, 1, 28, 28), "x"))
    elif content == "empty":
        np.save(path, np.zeros((0, 1, 28, 28), np.float32))
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    err = expect_user_error(capsys, _verify(path), str(path))
    assert {"garbage.npy": "not a NumPy", "strings.npy": "expected numbers", "no_samples.npy": "no samples"}.get(
        name, ""
    ) in err


def test_verify_inputs_missing_and_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    expect_user_error(capsys, _verify(tmp_path / "absent.npy"), "absent.npy", "no such file")
    expect_user_error(capsys, _verify(tmp_path), str(tmp_path))


@pytest.mark.parametrize("name", ["samples.npy", "npy_named.npz", "keyed.npz"])
def test_verify_inputs_fine(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    """Control: good samples pass (so the errors above are about the data); .npy vs .npz by content."""
    path = tmp_path / name
    data = np.random.default_rng(0).uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32)
    with path.open("wb") as f:
        if name == "keyed.npz":
            np.savez(f, input=data)
        else:
            np.save(f, data)
    code, stdout, err = _run(capsys, _verify(path))
    assert code == 0, stdout + err


@pytest.mark.parametrize("target", ["stm32f746", "stm32f103"])
def test_verify_sanitize_needs_host(capsys: pytest.CaptureFixture[str], target: str) -> None:
    expect_user_error(capsys, ["verify", str(TINY), "--target", target, "--sanitize"], "--sanitize", "host")


@pytest.mark.parametrize("option", ["--work-dir", "--save-outputs", "--report"])
def test_verify_output_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str) -> None:
    """Unusable output paths are refused before anything is built or run."""
    taken = tmp_path / "taken"
    taken.write_text("a file")
    if option == "--report":
        bad, fragment = tmp_path / "no_such_folder" / "report.json", "does not exist"
    else:
        bad, fragment = taken / "sub", "is a file"
    expect_user_error(capsys, ["verify", str(TINY), "--count", "1", option, str(bad)], str(bad), fragment)
    assert taken.read_text() == "a file"


# --------------------------------------------------------------------------------------------
# issue 11: attributes, scales, opsets and input sizes the runtime cannot take
# --------------------------------------------------------------------------------------------


def _set_attr(op_type: str, key: str, values: list[int]) -> Callable[[onnx.ModelProto], None]:
    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, op_type)
        for attr in list(node.attribute):
            if attr.name == key:
                node.attribute.remove(attr)
        node.attribute.append(helper.make_attribute(key, values))

    return edit


@pytest.mark.parametrize(
    "op_type,key,values,fragment",
    [
        ("QLinearConv", "strides", [0, 0], "strides=[0, 0]"),  # was a ZeroDivisionError traceback
        ("QLinearConv", "strides", [-1, 1], "strides=[-1, 1]"),
        ("QLinearConv", "dilations", [0, 1], "dilations=[0, 1]"),
        ("QLinearConv", "pads", [0, -1, 0, 0], "negative padding"),
        ("QLinearAveragePool", "strides", [0, 2], "strides=[0, 2]"),
        ("QLinearAveragePool", "kernel_shape", [0, 2], "kernel [0, 2]"),
        ("QLinearAveragePool", "kernel_shape", [-2, 2], "kernel [-2, 2]"),
    ],
)
def test_zero_or_negative_geometry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, op_type: str, key: str, values: list[int], fragment: str
) -> None:
    path = edited(TINY, tmp_path / "geometry.onnx", _set_attr(op_type, key, values))
    expect_error_all_commands(capsys, tmp_path, path, op_type, fragment)


@pytest.mark.parametrize("opset,fragment", [(99, "opset 99 is newer"), (22, "opsets 10..21"), (9, "too old")])
def test_unknown_opset(capsys: pytest.CaptureFixture[str], tmp_path: Path, opset: int, fragment: str) -> None:
    def edit(model: onnx.ModelProto) -> None:
        for entry in model.opset_import:
            if entry.domain in ("", "ai.onnx"):
                entry.version = opset

    path = edited(TINY, tmp_path / f"opset{opset}.onnx", edit)
    for command in ("codegen", "inspect"):  # verify's onnxruntime would refuse on its own terms
        out = tmp_path / f"out_{command}"
        expect_user_error(capsys, _argv(command, path, out), str(path), fragment)
        assert not out.exists()


def test_unknown_com_microsoft_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def edit(model: onnx.ModelProto) -> None:
        next(e for e in model.opset_import if e.domain == "com.microsoft").version = 2

    path = edited(TINY, tmp_path / "ms2.onnx", edit)
    expect_user_error(capsys, _argv("codegen", path, tmp_path / "out"), "com.microsoft opset 2")


@pytest.mark.parametrize(
    "input_index,value,fragment",
    [
        (1, 0.0, "is 0"),  # the reported case: a zero input scale was accepted silently
        (1, -0.5, "is -0.5"),
        (1, float("nan"), "is nan"),
        (1, float("inf"), "is inf"),
        (1, 1e-45, "not subnormal"),
    ],
)
def test_bad_input_scale(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, input_index: int, value: float, fragment: str
) -> None:
    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QuantizeLinear")
        replace_initializer(model, node.input[input_index], np.array(value, np.float32))

    path = edited(TINY, tmp_path / "scale.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "input_QuantizeLinear", "input_scale", fragment, "positive")


def test_zero_in_per_channel_weight_scales(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QLinearConv")
        scales = numpy_helper.to_array(initializer(model, node.input[4])).copy()
        scales.reshape(-1)[-1] = 0.0
        replace_initializer(model, node.input[4], scales)

    path = edited(TINY, tmp_path / "wscale.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "conv1_quant", "is 0", "positive")


def test_scales_that_overflow_the_multiplier(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Each scale is valid, but x_scale * w_scale / y_scale is not a float32 (it used to give C that did not build)."""

    def edit(model: onnx.ModelProto) -> None:
        node = node_of(model, "QLinearConv")
        replace_initializer(model, node.input[6], np.array(1e-37, np.float32))
        w = numpy_helper.to_array(initializer(model, node.input[4]))
        replace_initializer(model, node.input[4], np.full(w.shape, 1e30, np.float32))

    path = edited(TINY, tmp_path / "overflow.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "conv1_quant", "multiplier", "float32 cannot hold")


@pytest.mark.parametrize("axis,size", [(2, 0), (2, -3), (0, 0), (1, -1)])
def test_zero_or_negative_input_dimension(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, axis: int, size: int
) -> None:
    """A size <= 0 is an error of its own, not reported as a dynamic dimension."""

    def edit(model: onnx.ModelProto) -> None:
        dim = model.graph.input[0].type.tensor_type.shape.dim[axis]
        dim.Clear()
        dim.dim_value = size

    path = edited(TINY, tmp_path / "dim.onnx", edit)
    err = expect_user_error(capsys, _argv("codegen", path, tmp_path / "out"), f"size {size} on axis {axis}", "positive")
    assert "dynamic dimension" not in err
    assert not (tmp_path / "out").exists()


def test_reshape_to_negative_dimensions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """[-2, -5] has the right element count (10) but is not a shape."""

    def edit(model: onnx.ModelProto) -> None:
        graph = model.graph
        old = graph.output[0].name
        graph.initializer.append(numpy_helper.from_array(np.array([-2, -5], np.int64), "odd_shape"))
        graph.node.append(helper.make_node("Reshape", [old, "odd_shape"], ["reshaped"], name="odd_reshape"))
        output = onnx.ValueInfoProto()
        output.CopyFrom(graph.output[0])
        output.name = "reshaped"
        del graph.output[:]
        graph.output.append(output)

    path = edited(TINY, tmp_path / "reshape.onnx", edit)
    expect_error_all_commands(capsys, tmp_path, path, "odd_reshape", "cannot reshape", "[-2, -5]")


# --------------------------------------------------------------------------------------------
# issue 11: library names that would clash with the runtime, a C header or CMake
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("agilenn_types", "is a name of the runtime"),  # exited 0 with a library that did not compile
        ("agilenn_runtime", "is a name of the runtime"),
        ("agilenn_config", "is a name of the runtime"),
        ("agilenn", "runtime names begin with 'agilenn_'"),
        ("agilenn_conv", "agilenn_conv_"),
        ("agilenn_pack", "agilenn_pack_"),
        ("string", "<string.h>"),
        ("time", "<time.h>"),
        ("all", "CMake"),
        ("m", "CMake"),
        ("-model", "begin with a letter"),
    ],
)
def test_library_name_clash(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, fragment: str) -> None:
    out = tmp_path / "out"
    expect_user_error(capsys, ["codegen", str(TINY), "--out", str(out), f"--name={name}"], repr(name), fragment)
    assert not out.exists()


@pytest.mark.parametrize("stem", ["agilenn_types", "agilenn_runtime"])
def test_model_file_named_like_a_runtime_header(capsys: pytest.CaptureFixture[str], tmp_path: Path, stem: str) -> None:
    model = tmp_path / f"{stem}.onnx"
    model.write_bytes(TINY.read_bytes())
    out = tmp_path / "out"
    expect_user_error(capsys, ["codegen", str(model), "--out", str(out)], f"{stem}.onnx", "--name")
    assert not out.exists()
    code, stdout, err = _run(capsys, ["codegen", str(model), "--out", str(out), "--name", "my_model"])
    assert code == 0, stdout + err
    assert (out / "my_model.h").is_file() and not (out / f"{stem}.h").exists()


def test_verify_and_inspect_take_a_model_named_like_a_runtime_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Their library is internal, so a clashing file name only earns a note (inspect) instead of a refusal."""
    model = tmp_path / "agilenn_types.onnx"
    model.write_bytes(TINY.read_bytes())
    code, stdout, err = _run(capsys, ["verify", str(model), "--count", "2"])
    assert code == 0 and "bit-exact" in stdout, stdout + err
    code, stdout, err = _run(capsys, ["inspect", str(model), "--target", "host"])
    assert code == 0 and "will need --name" in stdout, stdout + err


def test_every_runtime_name_is_reserved() -> None:
    """The reserved set comes from the runtime sources, so a kernel added later is covered too."""
    from agilenn_codegen.compiler.library_name import library_name, runtime_names
    from agilenn_codegen.paths import RUNTIME_C_DIR

    names = runtime_names()
    for header in RUNTIME_C_DIR.rglob("*.h"):
        assert header.stem in names
        with pytest.raises(UserError):
            library_name(header.stem)
    assert library_name("agilenn_fashion_mnist") == "agilenn_fashion_mnist"  # the pipeline's default name is fine
    assert library_name("Tiny-CNN") == "tiny_cnn"


# --------------------------------------------------------------------------------------------
# issue 11: output folders (one policy: commands/output_paths.py)
# --------------------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_non_empty_folder_is_refused_unless_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "CMakeLists.txt").write_text("# my own project\n")
    before = _tree(out)
    expect_user_error(capsys, ["codegen", str(TINY), "--out", str(out)], str(out), "not empty", "notes.txt", "--force")
    assert _tree(out) == before  # nothing overwritten without a word
    code, stdout, err = _run(capsys, ["codegen", str(TINY), "--out", str(out), "--force"])
    assert code == 0, stdout + err
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "CMakeLists.txt").read_text().startswith("# Generated by agilenn-codegen")


def test_out_previous_output_is_regenerated_in_place(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "lib"
    assert _run(capsys, ["codegen", str(TINY), "--out", str(out)])[0] == 0
    (out / "my_notes.txt").write_text("mine")
    code, stdout, err = _run(capsys, ["codegen", str(TINY), "--out", str(out), "--name", "renamed"])
    assert code == 0, stdout + err
    names = {p.name for p in out.iterdir()}
    assert {"renamed.c", "renamed.h", "my_notes.txt", "manifest.json"} <= names
    assert not {"tiny_cnn_int8.c", "tiny_cnn_int8.h"} & names  # the previous run's files are gone
    assert not any(n.startswith(".agilenn-staging") for n in names)


def test_out_marker_cannot_reach_outside(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A hand-edited .agilenn-output.json naming '..' or a path must not make a rerun delete anything outside."""
    import json

    out = tmp_path / "lib"
    assert _run(capsys, ["codegen", str(TINY), "--out", str(out)])[0] == 0
    (tmp_path / "precious.txt").write_text("keep")
    marker = json.loads((out / ".agilenn-output.json").read_text())
    marker["entries"] += ["..", "../precious.txt", "/etc", "."]
    (out / ".agilenn-output.json").write_text(json.dumps(marker))
    assert _run(capsys, ["codegen", str(TINY), "--out", str(out)])[0] == 0
    assert (tmp_path / "precious.txt").read_text() == "keep" and (out / "manifest.json").is_file()


def test_output_that_would_replace_its_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--force into the folder holding the model: an output entry with the input's name is refused at the end."""
    out = tmp_path / "work"
    (out / "CMakeLists.txt").mkdir(parents=True)
    model = out / "CMakeLists.txt" / "model.onnx"
    model.write_bytes(TINY.read_bytes())
    expect_user_error(capsys, ["codegen", str(model), "--out", str(out), "--force"], "holds the input")
    assert model.read_bytes() == TINY.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["CMakeLists.txt"]


def test_failure_leaves_a_previous_output_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: dict[str, Path]
) -> None:
    out = tmp_path / "lib"
    assert _run(capsys, ["codegen", str(TINY), "--out", str(out)])[0] == 0
    before = _tree(out)
    argv = ["codegen", str(models["big"]), "--target", "stm32f103", "--out", str(out)]
    expect_user_error(capsys, argv, "does not fit")
    assert _tree(out) == before
    nested = tmp_path / "a" / "b" / "c"
    expect_user_error(capsys, [*argv[:-1], str(nested)], "does not fit")
    assert not (tmp_path / "a").exists()  # the folders it would have created are not left behind


def test_quantize_out_equal_to_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[1] / "examples" / "models" / "tiny_cnn.onnx"
    model = tmp_path / "model.onnx"
    model.write_bytes(source.read_bytes())
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, input=np.zeros((2, 1, 28, 28), np.float32))
    argv = ["quantize", str(model), "--calibration", str(calibration), "--out", str(tmp_path / "." / "model.onnx")]
    expect_user_error(capsys, argv, "is the input file")
    assert model.read_bytes() == source.read_bytes()


# --------------------------------------------------------------------------------------------
# issue 11: export folders given to codegen (and serve)
# --------------------------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "agilenn_fmnist"


@pytest.fixture
def export_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("agilenn.json", "device.onnx", "remote.onnx"):
        (folder / name).write_bytes((EXAMPLE / name).read_bytes())
    return folder


def _calibration(tmp_path: Path) -> Path:
    path = tmp_path / "calib.npz"
    np.savez(path, image=np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32))
    return path


@pytest.mark.parametrize("name", ["device.onnx", "remote.onnx"])
@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.95])
def test_truncated_file_in_export_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, export_copy: Path, name: str, fraction: float
) -> None:
    """A truncated device.onnx gave a traceback and exit 1; a truncated remote.onnx was copied unchecked."""
    path = export_copy / name
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    out = tmp_path / "out"
    expect_user_error(capsys, ["codegen", str(export_copy), "--out", str(out)], str(path))
    assert not out.exists()


def test_truncated_metadata_in_export_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, export_copy: Path
) -> None:
    meta = export_copy / "agilenn.json"
    meta.write_bytes(meta.read_bytes()[:200])
    out = tmp_path / "out"
    expect_user_error(capsys, ["codegen", str(export_copy), "--out", str(out)], "agilenn.json", "not valid json")
    assert not out.exists()


def test_export_folder_with_swapped_models(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, export_copy: Path
) -> None:
    device, remote = export_copy / "device.onnx", export_copy / "remote.onnx"
    data = device.read_bytes()
    device.write_bytes(remote.read_bytes())
    remote.write_bytes(data)
    expect_user_error(capsys, ["codegen", str(export_copy), "--out", str(tmp_path / "o")], "device.onnx", "expected")


def test_out_equal_to_export_folder(capsys: pytest.CaptureFixture[str], export_copy: Path) -> None:
    """It wrote into the export folder, then crashed."""
    before = _tree(export_copy)
    expect_user_error(capsys, ["codegen", str(export_copy), "--out", str(export_copy)], "is the input")
    expect_user_error(
        capsys, ["codegen", str(export_copy), "--out", str(export_copy / ".." / "export"), "--force"], "is the input"
    )
    assert _tree(export_copy) == before


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("device", "/etc/hostname", "relative to the folder"),
        ("remote", "../outside.onnx", "relative to the folder"),
        ("device", "sub/../../outside.onnx", "relative to the folder"),
        ("remote", "link.onnx", "leads outside the folder"),
        ("device", "", "must be a file name"),
        ("remote", 7, "must be a file name"),
    ],
)
def test_metadata_paths_are_confined_to_the_export_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, export_copy: Path, key: str, value: object, fragment: str
) -> None:
    import json

    (tmp_path / "outside.onnx").write_bytes((export_copy / f"{key}.onnx").read_bytes())
    (export_copy / "link.onnx").symlink_to(tmp_path / "outside.onnx")
    meta = json.loads((export_copy / "agilenn.json").read_text())
    meta["files"][key] = value
    (export_copy / "agilenn.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    expect_user_error(capsys, ["codegen", str(export_copy), "--out", str(out)], f"files.{key}", fragment)
    assert not out.exists()
    if key == "remote":
        expect_user_error(capsys, ["serve", str(export_copy), "--port", "0"], f"files.{key}", fragment)


@pytest.mark.parametrize("bits", ["40", "8", "-1", "17"])
def test_lzw_bits_checked_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, export_copy: Path, bits: str
) -> None:
    """--lzw-bits 40 was checked only after quantizing, and left a partial folder."""
    out = tmp_path / "out"
    argv = ["codegen", str(export_copy), "--out", str(out), f"--lzw-bits={bits}"]
    expect_user_error(capsys, [*argv, "--calibration", str(_calibration(tmp_path))], f"--lzw-bits {bits}", "9..16")
    assert not out.exists()


def test_pipeline_options_on_a_model_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for option, value in (("--lzw-bits", "12"), ("--calibration", str(tmp_path / "c.npz"))):
        argv = ["codegen", str(TINY), "--out", str(tmp_path / "out"), option, value]
        expect_user_error(capsys, argv, option, "export")


def test_pipeline_name_and_out_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path, export_copy: Path) -> None:
    """The export folder path: library names are checked, a previous output is regenerated, nothing partial."""
    calibration = _calibration(tmp_path)
    out = tmp_path / "lib"
    base = ["codegen", str(export_copy), "--out", str(out), "--calibration", str(calibration)]
    expect_user_error(capsys, [*base, "--name", "agilenn_offload"], "is a name of the runtime")
    assert not out.exists()
    for _ in range(2):  # the second run regenerates the first one's output in place
        code, stdout, err = _run(capsys, [*base, "--coder", "lzw", "--lzw-bits", "9"])
        assert code == 0, stdout + err
    assert (out / "agilenn_fashion_mnist_agilenn.h").is_file() and (out / "model" / "device_int8.onnx").is_file()
    assert "_rejected_replies(void)" in (out / "agilenn_fashion_mnist_agilenn.h").read_text()
    before = _tree(out)
    expect_user_error(capsys, [*base, "--coder", "lzw", "--lzw-bits", "16", "--target", "stm32f103"], "does not fit")
    assert _tree(out) == before


def test_serve_negative_stats_interval(capsys: pytest.CaptureFixture[str], export_copy: Path) -> None:
    expect_user_error(capsys, ["serve", str(export_copy), "--port", "0", "--stats-every", "-1"], "--stats-every")


@pytest.mark.parametrize("option", ["--work-dir", "--save-outputs"])
def test_verify_folders_are_not_overwritten(capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str) -> None:
    """The same policy for verify's folders: a foreign non-empty one is refused, its own previous one reused."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "lib").mkdir()
    (folder / "lib" / "notes.txt").write_text("mine")
    argv = ["verify", str(TINY), "--count", "1", option, str(folder)]
    expect_user_error(capsys, argv, str(folder), "not empty", "nothing was written")
    assert sorted(p.name for p in folder.rglob("*")) == ["lib", "notes.txt"]
    fresh = tmp_path / "fresh"
    for _ in range(2):  # the second run reuses the first one's folder
        code, stdout, err = _run(capsys, [*argv[:-1], str(fresh)])
        assert code == 0, stdout + err
