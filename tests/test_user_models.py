"""User ONNX files through the CLI: every failure is exit code 2 with one line starting 'error:'."""

import json

import onnx
import pytest
from onnx import TensorProto, helper

from accelbench.cli import main
from accelbench.models.builder import GraphBuilder


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


def small_cnn(path, *, dynamic=False):
    """A real file with weights: conv 3->8 3x3 + BN + ReLU, global pool; optional dynamic N, H, W."""
    b = GraphBuilder("small", with_weights=True, seed=1)
    x = b.input("image", ["N", 3, "H", "W"] if dynamic else [1, 3, 32, 32])
    y = b.relu(b.batch_norm(b.conv(x, 3, 8, 3, name="conv"), 8))
    b.output(b.global_avg_pool(y), ["N", 8, 1, 1] if dynamic else [1, 8, 1, 1])
    return save(b.build(), path)


def plain_model(nodes, inputs, outputs, domains=()):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17), *domains])
    model.ir_version = 8
    return model


def test_missing_file(capsys, tmp_path):
    code, _, err = run(["profile", str(tmp_path / "nope.onnx")], capsys)
    assert_one_line_error(code, err, "nope.onnx", "neither a zoo model")


def test_text_file_is_not_onnx(capsys, tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf\n" * 20)
    code, _, err = run(["profile", str(path)], capsys)
    assert_one_line_error(code, err, "not an ONNX file", "text")


def test_truncated_file(capsys, tmp_path):
    full = small_cnn(tmp_path / "full.onnx")
    data = open(full, "rb").read()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    code, _, err = run(["profile", str(cut)], capsys)
    assert_one_line_error(code, err, "truncated or corrupt")


def test_empty_file_and_directory(capsys, tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    code, _, err = run(["profile", str(empty)], capsys)
    assert_one_line_error(code, err, "empty file")
    code, _, err = run(["profile", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "directory")


def test_checker_failure(capsys, tmp_path):
    model = plain_model([helper.make_node("Relu", ["missing"], ["y"])],
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    code, _, err = run(["profile", save(model, tmp_path / "bad.onnx")], capsys)
    assert_one_line_error(code, err, "fails the ONNX checker", "missing")


def test_real_file_profiles_like_the_hand_count(capsys, tmp_path):
    code, out, err = run(["profile", small_cnn(tmp_path / "cnn.onnx"), "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "cnn"
    assert data["macs"] == 32 * 32 * 8 * 27
    assert data["params"] == 8 * 27 + 16
    assert [layer["op"] for layer in data["layers"]] == ["Conv", "GlobalAveragePool"]


def test_dynamic_dims_fixed_from_resolution_and_batch(capsys, tmp_path):
    path = small_cnn(tmp_path / "dyn.onnx", dynamic=True)
    code, out, err = run(["profile", path, "--resolution", "64x48", "--batch", "2", "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shapes"] == {"image": [2, 3, 48, 64]}
    assert data["macs"] == 2 * 48 * 64 * 8 * 27
    assert "N, 3, H, W" in err  # a note says what was fixed
    code, out, _ = run(["profile", path, "--input-shape", "image=1x3x20x10", "-f", "json"], capsys)
    assert code == 0
    assert json.loads(out)["macs"] == 20 * 10 * 8 * 27


def test_unresolvable_dynamic_dims_name_the_input(capsys, tmp_path):
    path = small_cnn(tmp_path / "dyn.onnx", dynamic=True)
    code, _, err = run(["profile", path], capsys)
    assert_one_line_error(code, err, "'image'", "H (axis 2)", "W (axis 3)", "--resolution")
    seq = plain_model([helper.make_node("Relu", ["x"], ["y"])],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 16])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "T", 16])])
    code, _, err = run(["profile", save(seq, tmp_path / "seq.onnx"), "-r", "224"], capsys)
    assert_one_line_error(code, err, "'x'", "T (axis 1)", "--input-shape x=1x<T>x16")


def test_bad_input_shape_specs(capsys, tmp_path):
    path = small_cnn(tmp_path / "dyn.onnx", dynamic=True)
    code, _, err = run(["profile", path, "--input-shape", "other=1x3x8x8"], capsys)
    assert_one_line_error(code, err, "no input 'other'", "image")
    code, _, err = run(["profile", path, "--input-shape", "image=1x3x8"], capsys)
    assert_one_line_error(code, err, "rank 4")
    code, _, err = run(["profile", path, "--input-shape", "image=1x4x8x8"], capsys)
    assert_one_line_error(code, err, "fixed dims")
    code, _, err = run(["profile", "resnet50", "--input-shape", "input=1x3x8x8"], capsys)
    assert_one_line_error(code, err, "ONNX files only")


def test_fixed_batch_mismatch(capsys, tmp_path):
    code, _, err = run(["profile", small_cnn(tmp_path / "fixed.onnx"), "--batch", "4"], capsys)
    assert_one_line_error(code, err, "fixed batch of 1")


def test_unknown_op_warns_and_is_flagged(capsys, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("FancyNorm", ["a"], ["b"], domain="vendor.ops", name="fancy"),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    model = plain_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
                        [helper.make_opsetid("vendor.ops", 1)])
    path = save(model, tmp_path / "custom.onnx")
    code, out, err = run(["profile", path, "-f", "json"], capsys)
    assert code == 0
    assert "warning:" in err and "vendor.ops.FancyNorm" in err and "Traceback" not in err
    data = json.loads(out)
    assert data["unknown_ops"] == ["vendor.ops.FancyNorm"]
    fancy = [layer for layer in data["layers"] if layer["name"] == "fancy"][0]
    assert fancy["unknown_op"] is True and fancy["macs"] == 0
    code, out, _ = run(["profile", path], capsys)
    assert code == 0 and "!vendor.ops.FancyNorm" in out and "unknown ops" in out
