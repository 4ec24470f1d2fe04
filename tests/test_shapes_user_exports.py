"""Shapes a user actually has (issue 13, points 1 and 2): torch exports with dynamic axes profile
with every MatMul/Gemm/Conv counted against a hand derivation; sizes an export fixed inside its
graph are refused with the node named; fixed-size models are reshaped by --input-shape and
--resolution where the graph allows, refused where it does not; layers that stay unknown are
counted and shown by every command, and a model with 0 MACs is refused where figures divide by MACs.

The exports are tests/data/*.onnx, written by tests/data/make_user_exports.py (torch is not needed
here). Before the shape arithmetic was evaluated, torch_mha_encoder.onnx at x=1x16x32 profiled at
262,144 MACs with 32 of 70 layers of unknown shape (the attention matmuls uncounted); the hand
count is 294,912.
"""

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accelbench.cli import main
from accelbench.errors import UserError
from accelbench.models.loader import load_model
from accelbench.profile import profile_model

DATA = Path(__file__).parent / "data"
MHA = str(DATA / "torch_mha_encoder.onnx")
BERT_STYLE = str(DATA / "transformer_encoder_dynamic.onnx")
UNET = str(DATA / "unet_dynamic.onnx")
HIDDEN, HEADS, FEED_FORWARD, LAYERS = 32, 4, 64, 2  # tests/data/make_user_exports.py


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def encoder_macs(seq: int, batch: int = 1) -> int:
    """Hand count of one transformer encoder: per layer q/k/v and output projections (4 s h^2),
    q @ k^T and scores @ v (2 heads s^2 h/heads), feed-forward (2 s h f)."""
    per_layer = 4 * seq * HIDDEN * HIDDEN + 2 * seq * seq * HIDDEN + 2 * seq * HIDDEN * FEED_FORWARD
    return batch * LAYERS * per_layer


def unet_macs(h: int, w: int) -> int:
    """Hand count of make_user_exports.UNet: 3x3 double convs, 2x2 stride-2 transposed convs, 1x1 head."""
    conv = lambda hh, ww, cin, cout, k: hh * ww * cin * cout * k * k  # noqa: E731
    total = conv(h, w, 3, 8, 3) + conv(h, w, 8, 8, 3)
    total += conv(h // 2, w // 2, 8, 16, 3) + conv(h // 2, w // 2, 16, 16, 3)
    total += conv(h // 4, w // 4, 16, 32, 3) + conv(h // 4, w // 4, 32, 32, 3)
    total += conv(h // 4, w // 4, 32, 16, 2) + conv(h // 2, w // 2, 32, 16, 3) + conv(h // 2, w // 2, 16, 16, 3)
    total += conv(h // 2, w // 2, 16, 8, 2) + conv(h, w, 16, 8, 3) + conv(h, w, 8, 8, 3)
    return total + conv(h, w, 8, 2, 1)


def profile_of(path, **kwargs):
    return profile_model(load_model(path, with_weights=False, **kwargs))


# -- point 1: every MAC of a torch export counted -------------------------------------------------

def test_torch_transformer_encoder_export_counts_the_attention_matmuls():
    profile = profile_of(MHA, input_shapes={"x": (1, 16, HIDDEN)})
    assert profile.macs == encoder_macs(16) == 294_912
    unknown = profile.unknown_layers
    assert unknown.layers == 0 and unknown.mac_layers == 0 and unknown.macs_complete
    # q @ k^T and scores @ v of both layers: 4 head-batched matmuls of 4 x 16 x 16 x 8 MACs each
    attention = [layer for layer in profile.layers if layer.gemm and layer.gemm.groups == HEADS]
    assert [layer.macs for layer in attention] == [HEADS * 16 * 16 * (HIDDEN // HEADS)] * 4
    batched = profile_of(MHA, input_shapes={"x": (4, 16, HIDDEN)})
    assert batched.macs == encoder_macs(16, batch=4)


def test_a_size_the_export_fixed_is_refused_with_the_node_named(capsys):
    code, out, err = run(["profile", MHA, "--input-shape", "x=1x128x32"], capsys)
    assert code == 2 and out == ""
    line = err.strip()
    assert line.startswith("error: input-shape: the graph cannot run at x=1x128x32")
    assert "Reshape node '/encoder/layers.0/self_attn/Reshape_4'" in line and "4,096 elements" in line
    assert "nn.MultiheadAttention" in line and len(err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="Reshape_4"):
        load_model(MHA, input_shapes={"x": (1, 128, HIDDEN)}, with_weights=False)


@pytest.mark.parametrize("seq", [16, 128])
def test_a_dynamic_bert_style_export_grows_quadratically_with_the_sequence(capsys, seq):
    code, out, err = run(["profile", BERT_STYLE, "-r", str(seq), "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shapes"] == {"x": [1, seq]}
    assert data["macs"] == encoder_macs(seq)
    assert data["unknown_layers"]["layers"] == 0 and data["unknown_layers"]["macs_complete"] is True


@pytest.mark.parametrize("size", ["64", "96x80"])
def test_a_unet_export_padding_from_tensor_sizes_profiles_every_shape(capsys, size):
    code, out, err = run(["profile", UNET, "-r", size, "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    w, h = (int(v) for v in (size.split("x") if "x" in size else (size, size)))
    assert data["macs"] == unet_macs(h, w)
    assert not any(layer["shape_unknown"] for layer in data["layers"])  # before: 6 layers after the Pad
    assert "warning" not in err


# -- point 1: layers that stay unknown, in every command ------------------------------------------

def blind_model(path, *, known_conv=True):
    """x [1, 4, 8, 8]: an optional Conv 4->4 3x3 (counted), then a MatMul whose operand's shape
    depends on the data (NonZero count) so no inference can know it; it runs on every runtime."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w_conv"),
             numpy_helper.from_array(rng.standard_normal((256, 8)).astype(np.float32), "w_fc"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")]
    nodes = []
    head = "x"
    if known_conv:
        nodes.append(helper.make_node("Conv", ["x", "w_conv"], ["c"], pads=[1, 1, 1, 1], name="conv"))
        head = "c"
    nodes += [
        helper.make_node("NonZero", [head], ["nz"], name="nonzero"),
        helper.make_node("Shape", ["nz"], ["nz_shape"]),
        helper.make_node("Gather", ["nz_shape", "axis1"], ["count"], axis=0),
        helper.make_node("Concat", ["one", "count"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", [head, "flat_shape"], ["flat"], name="flatten_by_count"),
        helper.make_node("MatMul", ["flat", "w_fc"], ["y"], name="fc"),
    ]
    return save_graph(path, helper.make_graph(
        nodes, "blind", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", 8])], inits))


def save_graph(path, graph) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_unknown_layers_are_counted_and_shown_by_profile(capsys, tmp_path):
    path = blind_model(tmp_path / "blind.onnx")
    code, out, err = run(["profile", path, "-f", "json"], capsys)
    assert code == 0
    unknown = json.loads(out)["unknown_layers"]
    assert unknown["mac_layers"] == 1 and unknown["total_mac_layers"] == 2 and unknown["macs_complete"] is False
    assert unknown["layers"] >= 1 and 0 < unknown["share"] < 1
    assert json.loads(out)["macs"] == 8 * 8 * 4 * 4 * 9  # the conv alone
    assert "1 of 2 MAC layers count 0 MACs" in err
    code, out, _ = run(["profile", path], capsys)
    assert re.search(r"MACs not counted \(shapes unknown\) +1 of 2 MAC layers", out)


@pytest.mark.parametrize("command", ["project", "rank"])
def test_project_and_rank_mark_an_incomplete_profile_loudly(capsys, tmp_path, command):
    path = blind_model(tmp_path / "blind.onnx")
    extra = ["-d", "t4"] if command == "project" else []
    code, out, err = run([command, path, *extra, "-p", "fp32", "--no-calibration", "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["unknown_layers"]["mac_layers"] == 1 and data["macs"] == 8 * 8 * 4 * 4 * 9
    assert "warning: blind: " in err and "too optimistic" in err
    code, out, err = run([command, path, *extra, "-p", "fp32", "--no-calibration"], capsys)
    assert "[MACs INCOMPLETE" in out.splitlines()[0]


def test_zero_macs_are_refused_where_figures_divide_by_macs(capsys, tmp_path):
    path = blind_model(tmp_path / "blind0.onnx", known_conv=False)
    for argv in (["project", path, "-d", "t4"], ["rank", path]):
        code, _, err = run(argv, capsys)
        assert code == 2 and "profiles at 0 MACs (1 of 1 MAC layers have unknown shapes" in err
        assert "--input-shape" in err and len(err.strip().splitlines()) == 1
    from accelbench.job.plan import make_plan

    with pytest.raises(UserError, match="0 MACs"):
        make_plan(model=path, tiny=True)


def test_models_closest_shows_the_unknown_layers(capsys, tmp_path):
    path = blind_model(tmp_path / "blind.onnx")
    code, out, err = run(["models", "closest", path, "--limit", "2", "-f", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["unknown_layers"]["mac_layers"] == 1
    assert "1 of 2 MAC layers count 0 MACs" in err


def test_bench_records_unknown_layers_and_no_utilization_without_macs(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    path = blind_model(tmp_path / "blind.onnx")
    base = ["bench", path, "--no-save", "--no-isolation", "--time-limit", "0.2", "--threads", "1", "-f", "json"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    record = json.loads(out)
    assert record["unknown_layers"]["mac_layers"] == 1
    assert "INCOMPLETE: 1 of 2 MAC layers unknown" in record["macs_source"]
    path0 = blind_model(tmp_path / "blind0.onnx", known_conv=False)
    code, out, err = run(["bench", path0, *base[2:]], capsys)
    assert code == 0, err
    record = json.loads(out)
    assert record["macs_per_inference"] is None and record["mac_utilization"] is None
    assert record["macs_source"].startswith("unknown") and record["unknown_layers"]["macs"] == 0


# -- point 2: fixed-size models reshaped where the graph allows -----------------------------------

def static_cnn(path, *, pinned=False):
    """A fixed 1x3x32x32 model: conv 3->8 3x3, then global pooling + Flatten + Gemm (any size runs),
    or a Reshape to the constant [1, 8*32*32] + Gemm (only 32x32 runs: ``pinned``)."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((8 * 32 * 32 if pinned else 8, 10)).astype(np.float32), "fc")]
    nodes = [helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"])]
    if pinned:
        inits.append(numpy_helper.from_array(np.array([1, 8 * 32 * 32], dtype=np.int64), "flat_shape"))
        nodes.append(helper.make_node("Reshape", ["r", "flat_shape"], ["flat"], name="flatten_fixed"))
    else:
        nodes += [helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["flat"])]
    nodes.append(helper.make_node("Gemm", ["flat", "fc"], ["logits"], name="fc"))
    return save_graph(path, helper.make_graph(
        nodes, "static", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits,
        value_info=[helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 8, 32, 32])]))


def test_resolution_and_input_shape_reshape_a_fixed_size_model(capsys, tmp_path):
    path = static_cnn(tmp_path / "static.onnx")
    code, out, err = run(["profile", path, "-r", "64x48", "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["input_shapes"] == {"image": [1, 3, 48, 64]}
    assert data["macs"] == 48 * 64 * 8 * 27 + 8 * 10
    assert "fixed size [1, 3, 32, 32] reshaped to [1, 3, 48, 64]" in err
    code, out, _ = run(["profile", path, "--input-shape", "image=2x3x16x16", "-f", "json"], capsys)
    assert code == 0 and json.loads(out)["macs"] == 2 * (16 * 16 * 8 * 27 + 8 * 10)
    # the file's own size stays as it is
    code, out, err = run(["profile", path, "-f", "json"], capsys)
    assert json.loads(out)["input_shapes"] == {"image": [1, 3, 32, 32]} and "reshaped" not in err


def test_a_graph_that_pins_its_size_is_refused(capsys, tmp_path):
    path = static_cnn(tmp_path / "pinned.onnx", pinned=True)
    for args in (["-r", "64"], ["--input-shape", "image=1x3x64x64"]):
        code, out, err = run(["profile", path, *args], capsys)
        assert code == 2 and out == ""
        assert ("error: input-shape: input 'image' has fixed dims [1, 3, 32, 32] and the graph does not allow "
                "[1, 3, 64, 64]: Reshape node 'flatten_fixed' turns 1x8x64x64") in err
    code, _, err = run(["profile", path, "-r", "32"], capsys)
    assert code == 0, err  # its own size


def test_run_plans_a_reshaped_model_or_refuses_before_measuring(tmp_path):
    from accelbench.job.plan import make_plan

    plan = make_plan(model=static_cnn(tmp_path / "static.onnx"), resolution="64x48", tiny=True)
    (user,) = [c for c in plan.configs if c.stage == 4]
    assert user.resolution == "64x48"
    with pytest.raises(UserError, match="flatten_fixed"):
        make_plan(model=static_cnn(tmp_path / "pinned.onnx", pinned=True), resolution="64x48", tiny=True)


def test_bench_measures_the_reshaped_model_at_the_size_it_says(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    path = static_cnn(tmp_path / "static.onnx")
    code, out, err = run(["bench", path, "-r", "64x48", "--no-save", "--no-isolation", "--time-limit", "0.2",
                          "--threads", "1", "-f", "json"], capsys)
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "ok" and record["pixels_per_inference"] == 64 * 48
    assert record["macs_per_inference"] == 48 * 64 * 8 * 27 + 8 * 10
    code, _, err = run(["bench", static_cnn(tmp_path / "pinned.onnx", pinned=True), "-r", "64", "--no-save"], capsys)
    assert code == 2 and "flatten_fixed" in err  # refused before anything ran


def test_a_fixed_sequence_length_is_reshaped_and_a_size_no_input_takes_is_refused(capsys, tmp_path):
    rng = np.random.default_rng(2)
    emb = numpy_helper.from_array(rng.standard_normal((50, 8)).astype(np.float32), "emb")
    seq = save_graph(tmp_path / "seq.onnx", helper.make_graph(
        [helper.make_node("Gather", ["emb", "ids"], ["x"]), helper.make_node("ReduceMean", ["x"], ["y"], axes=[1])],
        "seq", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8])], [emb]))
    code, out, err = run(["profile", seq, "-r", "128", "-f", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["input_shapes"] == {"ids": [1, 128]} and "reshaped to [1, 128]" in err
    rank3 = save_graph(tmp_path / "rank3.onnx", helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "rank3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 32])]))
    code, _, err = run(["profile", rank3, "-r", "224"], capsys)
    assert code == 2 and "resolution: 224 fits none of the model's inputs (x [1, 16, 32])" in err
