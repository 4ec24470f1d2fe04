"""Zoo models yolov3 (Darknet yolov3.cfg) and bert_base (HF BertModel export).

Reference figures: yolov3 61,949,149 parameters and conv MACs 32,932,037,632 / 70,345,950,208 /
397,522,821,120 at 416x416 / 608x608 / 1920x1088 (Darknet prints 65.864 and 140.692 BFLOPs = 2 x
MACs); bert_base 109,482,240 parameters (HF bert-base-uncased BertModel with pooler).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper, shape_inference

from accelbench.errors import UserError
from accelbench.models.loader import load_model
from accelbench.models.registry import get_zoo_model

YOLOV3_PARAMS = 61_949_149
BERT_BASE_PARAMS = 109_482_240


# -- helpers (test-local, independent of the profiler) -------------------------------------------
def _param_count(model: onnx.ModelProto) -> int:
    """Float initializers that are parameters (BN running stats are buffers; shape constants are int64
    or scalars that carry data even in weightless builds)."""
    return sum(
        int(np.prod(t.dims))
        for t in model.graph.initializer
        if t.data_type == TensorProto.FLOAT and len(t.dims) > 0
        and not t.name.endswith((".running_mean", ".running_var"))
        and not t.name.endswith((".scales",))
    )


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    g = inferred.graph
    return {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in [*g.value_info, *g.output, *g.input]}


def _conv_matmul_macs(model: onnx.ModelProto) -> int:
    """Conv: out elements x (Cin/groups x kh x kw). MatMul/Gemm: out elements x K."""
    shapes = _shapes(model)
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        out = shapes[node.output[0]]
        if node.op_type == "Conv":
            macs += int(np.prod(out)) * int(np.prod(inits[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            macs += int(np.prod(out)) * shapes.get(node.input[0], inits.get(node.input[0]))[-1]
    return macs


def _session(model: onnx.ModelProto):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # shared CI cores
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _assert_weightless(model: onnx.ModelProto, max_bytes: int) -> None:
    # float tensors beyond a few constants (Resize scales, scalars) must be dims only; int64
    # constants (bert's position_ids, at most 4 KB) are graph structure, not weights
    big_with_data = [t.name for t in model.graph.initializer
                     if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims)) > 16
                     and (t.raw_data or t.float_data)]
    assert big_with_data == []
    assert model.ByteSize() < max_bytes


# -- yolov3 ---------------------------------------------------------------------------------------
def test_yolov3_params_exact():
    assert _param_count(get_zoo_model("yolov3").build("416", with_weights=False)) == YOLOV3_PARAMS


@pytest.mark.parametrize("resolution, macs", [
    ("416", 32_932_037_632),
    ("608x608", 70_345_950_208),
    ("2mp", 397_522_821_120),  # 1920x1088
])
def test_yolov3_conv_macs_match_darknet(resolution, macs):
    assert _conv_matmul_macs(get_zoo_model("yolov3").build(resolution, with_weights=False)) == macs


def test_yolov3_largest_tensor_at_1920x1088():
    shapes = _shapes(get_zoo_model("yolov3").build("1920x1088", with_weights=False))
    # conv_0: 32 x 1088 x 1920
    assert max(int(np.prod(s)) for s in shapes.values()) == 66_846_720


def test_yolov3_darknet_layer_structure():
    model = get_zoo_model("yolov3").build("416", with_weights=False)
    nodes = {n.name: n for n in model.graph.node}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 75
    with_bias = sorted(n.name for n in convs if len(n.input) == 3)
    assert with_bias == ["conv_105", "conv_81", "conv_93"]
    assert all(f"{n.name}.bn" in nodes and nodes[f"{n.name}.leaky"].attribute[0].f == pytest.approx(0.1)
               for n in convs if n.name not in with_bias)
    shortcuts = [n for n in model.graph.node if n.name.startswith("shortcut_")]
    assert len(shortcuts) == 23 and {n.op_type for n in shortcuts} == {"Add"}
    assert shortcuts[0].name == "shortcut_4" and shortcuts[-1].name == "shortcut_74"
    assert {name: nodes[name].op_type for name in ("route_83", "route_86", "route_95", "route_98")} == {
        "route_83": "Identity", "route_86": "Concat", "route_95": "Identity", "route_98": "Concat"}
    assert nodes["route_83"].input[0] == "conv_79.leaky"
    assert list(nodes["route_86"].input) == ["upsample_85", "shortcut_61"]
    assert list(nodes["route_98"].input) == ["upsample_97", "shortcut_36"]
    assert [nodes[f"upsample_{i}"].op_type for i in (85, 97)] == ["Resize", "Resize"]
    shapes = _shapes(model)
    assert shapes["route_86"] == [1, 768, 26, 26] and shapes["route_98"] == [1, 384, 52, 52]
    assert [(o.name, shapes[o.name]) for o in model.graph.output] == [
        ("yolo_82", [1, 255, 13, 13]), ("yolo_94", [1, 255, 26, 26]), ("yolo_106", [1, 255, 52, 52])]


@pytest.mark.parametrize("spec", ["417x416", "416x400", "100"])
def test_yolov3_rejects_sides_not_multiple_of_32(spec):
    with pytest.raises(UserError) as err:
        get_zoo_model("yolov3").build(spec, with_weights=False)
    assert err.value.exit_code == 2
    message = str(err.value)
    assert "multiples of 32" in message and "yolov3" in message and "\n" not in message
    with pytest.raises(UserError, match="multiples of 32"):
        load_model("yolov3", resolution=spec, with_weights=False)


def test_yolov3_weightless_build_carries_no_data():
    # 4 MP: ~248 MB of weights if materialized
    _assert_weightless(get_zoo_model("yolov3").build("4mp", with_weights=False), 100_000)


def test_yolov3_runs_in_onnxruntime_at_64():
    model = get_zoo_model("yolov3").build("64", with_weights=True, seed=0)
    onnx.checker.check_model(model)
    assert _param_count(model) == YOLOV3_PARAMS
    images = np.random.default_rng(1).standard_normal((1, 3, 64, 64), dtype=np.float32)
    outputs = _session(model).run(None, {"images": images})
    assert [o.shape for o in outputs] == [(1, 255, 2, 2), (1, 255, 4, 4), (1, 255, 8, 8)]
    for out in outputs:
        assert np.isfinite(out).all()
        assert 0 < np.abs(out).max() < 1e3  # damped residual branches: FP16-safe magnitudes


# -- bert_base ------------------------------------------------------------------------------------
def test_bert_base_params_exact():
    assert _param_count(get_zoo_model("bert_base").build("128", with_weights=False)) == BERT_BASE_PARAMS


def test_bert_base_macs_at_128():
    s, h, f, layers = 128, 768, 3072, 12
    # per layer: Q,K,V,out (4 s h^2) + FFN (2 s h f) + QK^T and PV (2 s^2 h); pooler h^2
    expected = layers * (4 * s * h * h + 2 * s * h * f + 2 * s * s * h) + h * h
    assert expected == 11_174_215_680
    assert _conv_matmul_macs(get_zoo_model("bert_base").build("128", with_weights=False)) == expected


@pytest.mark.parametrize("spec", ["224x224", "2mp", "513", "16x1"])
def test_bert_base_needs_integer_sequence_length(spec):
    with pytest.raises(UserError, match="sequence length") as err:
        load_model("bert_base", resolution=spec, with_weights=False)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


def test_bert_base_inputs_and_registry():
    zoo = get_zoo_model("bert_base")
    assert (zoo.task, zoo.default_resolution) == ("language", "128")
    loaded = load_model("bert_base", resolution="384", batch=2, with_weights=False)
    assert loaded.input_shapes == {n: (2, 384) for n in ("input_ids", "attention_mask", "token_type_ids")}
    assert all(i.type.tensor_type.elem_type == TensorProto.INT64 for i in loaded.proto.graph.input)
    shapes = _shapes(loaded.proto)
    assert shapes["last_hidden_state"] == [2, 384, 768] and shapes["pooler_output"] == [2, 768]
    ops = [n.op_type for n in loaded.proto.graph.node]
    assert ops.count("LayerNormalization") == 25 and ops.count("Erf") == 12 and ops.count("Softmax") == 12
    assert "Gelu" not in ops and get_zoo_model("yolov3").task == "object-detection"


def test_bert_base_weightless_build_carries_no_data():
    _assert_weightless(get_zoo_model("bert_base").build("512", with_weights=False), 200_000)


def test_bert_base_runs_in_onnxruntime_at_seq16():
    model = get_zoo_model("bert_base").build("16", batch=2, with_weights=True, seed=0)
    onnx.checker.check_model(model)
    session = _session(model)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 30522, (2, 16)).astype(np.int64)
    mask = np.ones((2, 16), np.int64)
    mask[1, 10:] = 0  # second sequence: 6 padding tokens
    types = np.zeros((2, 16), np.int64)
    types[:, 8:] = 1

    def run(input_ids):
        return session.run(None, {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types})

    hidden, pooled = run(ids)
    assert hidden.shape == (2, 16, 768) and pooled.shape == (2, 768)
    assert np.isfinite(hidden).all() and np.isfinite(pooled).all()
    # final LayerNorm (gamma 1, beta 0): every token normalised
    np.testing.assert_allclose(hidden.mean(-1), 0.0, atol=1e-4)
    np.testing.assert_allclose(hidden.std(-1), 1.0, atol=1e-3)
    # pooler = tanh(first token @ W^T + b)
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    expected = np.tanh(hidden[:, 0] @ weights["pooler.dense.weight"].T + weights["pooler.dense.bias"])
    np.testing.assert_allclose(pooled, expected, rtol=1e-4, atol=1e-5)
    # padding tokens are masked out: changing them leaves the attended positions unchanged
    changed = ids.copy()
    changed[1, 10:] = (changed[1, 10:] + 1) % 30522
    hidden_masked_change, _ = run(changed)
    np.testing.assert_allclose(hidden_masked_change[1, :10], hidden[1, :10], atol=1e-5)
    # ...while changing an attended token does change the others
    changed = ids.copy()
    changed[1, 5] = (changed[1, 5] + 1) % 30522
    hidden_attended_change, _ = run(changed)
    assert np.abs(hidden_attended_change[1, :5] - hidden[1, :5]).max() > 1e-3
