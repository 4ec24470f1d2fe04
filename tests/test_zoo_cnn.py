"""Zoo CNNs (resnet50, mobilenet_v2): exact parameter counts, graph structure, MACs of the built
graph against figures derived by hand from the published architectures, and real runs in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import shape_inference

from accelbench.errors import UserError
from accelbench.models.registry import get_zoo_model

RESNET50_PARAMS = 25_557_032  # torchvision resnet50: conv weights + BN weight/bias + fc weight/bias
RESNET50_MACS_224 = 4_089_184_256  # conv + fc at 224x224 (torchvision lists "4.09 GFLOPS")
FC_MACS = 2048 * 1000
MOBILENET_V2_PARAMS = 3_504_872  # torchvision mobilenet_v2 (width 1.0)


def _trainable_params(model: onnx.ModelProto) -> int:
    """torchvision's count: BN running mean/var are buffers, and the builder's Clip bounds are constants."""
    return sum(
        int(np.prod(t.dims))
        for t in model.graph.initializer
        if not t.name.endswith((".running_mean", ".running_var")) and not t.name.startswith("relu6.")
    )


def _graph_macs_and_largest(model: onnx.ModelProto) -> tuple[int, int]:
    """Conv/Gemm MACs and the largest activation (elements) from ONNX shape inference.

    Conv: output elements x (C_in / group) x kH x kW; Gemm (transB=1): output elements x K.
    """
    inferred = shape_inference.infer_shapes(model)
    values = list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        out = shapes[node.output[0]]
        assert all(d > 0 for d in out), f"{node.name}: shape not inferred {out}"
        if node.op_type == "Conv":
            macs += int(np.prod(out)) * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type == "Gemm":
            macs += int(np.prod(out)) * weights[node.input[1]][1]
    largest = max(int(np.prod(shapes[n.output[0]])) for n in model.graph.node)
    return macs, largest


def _mobilenet_v2_macs_by_hand(side: int) -> int:
    """MACs of MobileNetV2 1.0 from the paper's table (t, c, n, s), square input, 'same' padding."""

    def out(size: int, stride: int) -> int:
        return (size - 1) // stride + 1  # 3x3 pad 1 or 1x1 pad 0

    h = out(side, 2)
    macs = h * h * 32 * 3 * 9  # stem 3x3 s2, 3 -> 32
    cin = 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            if t != 1:
                macs += h * h * cin * hidden  # 1x1 expand
            h = out(h, stride)
            macs += h * h * hidden * 9  # 3x3 depthwise
            macs += h * h * hidden * c  # 1x1 linear projection
            cin = c
    macs += h * h * cin * 1280  # last 1x1 conv
    return macs + 1280 * 1000  # classifier


def _weight_bytes_in_protos(model: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) + len(t.float_data) for t in model.graph.initializer)


# ---- ResNet-50 ---------------------------------------------------------------------------------

def test_resnet50_params_and_macs_exact():
    model = get_zoo_model("resnet50").build("224", 1, with_weights=False)
    assert _trainable_params(model) == RESNET50_PARAMS
    macs, largest = _graph_macs_and_largest(model)
    assert macs == RESNET50_MACS_224
    assert largest == 64 * 112 * 112 == 802_816  # conv1 output


def test_resnet50_macs_scale_with_pixels_except_fc():
    model = get_zoo_model("resnet50").build("448", 1, with_weights=False)
    macs, _ = _graph_macs_and_largest(model)
    assert macs == 4 * (RESNET50_MACS_224 - FC_MACS) + FC_MACS


def test_resnet50_layout_is_torchvision_v1_5():
    model = get_zoo_model("resnet50").build("224", 1, with_weights=False)
    nodes = {n.name: n for n in model.graph.node}
    counts = {op: sum(n.op_type == op for n in model.graph.node) for op in ("Conv", "BatchNormalization", "Relu", "Add")}
    assert counts == {"Conv": 53, "BatchNormalization": 53, "Relu": 49, "Add": 16}

    def strides(name):
        return [list(a.ints) for a in nodes[name].attribute if a.name == "strides"][0]

    # v1.5: the stage's stride sits on the 3x3 conv, not on the first 1x1
    assert strides("layer2.0.conv1") == [1, 1] and strides("layer2.0.conv2") == [2, 2]
    assert strides("layer4.0.downsample.0") == [2, 2]
    assert "layer1.0.downsample.0" in nodes  # 64 -> 256 channels needs a projection
    assert "layer1.1.downsample.0" not in nodes
    assert not any(len(n.input) > 2 for n in model.graph.node if n.op_type == "Conv")  # no conv bias
    fc = model.graph.node[-1]
    assert (fc.name, fc.op_type, list(fc.output)) == ("fc", "Gemm", ["logits"])
    assert [i.name for i in model.graph.input] == ["input"]


# ---- MobileNetV2 -------------------------------------------------------------------------------

def test_mobilenet_v2_params_and_macs_exact():
    model = get_zoo_model("mobilenet_v2").build("224", 1, with_weights=False)
    assert _trainable_params(model) == MOBILENET_V2_PARAMS
    by_hand = _mobilenet_v2_macs_by_hand(224)
    assert by_hand == 300_774_272  # the published ~300 M MACs
    macs, largest = _graph_macs_and_largest(model)
    assert macs == by_hand
    assert largest == 96 * 112 * 112  # features.2 expand output (16 -> 96 channels at 112x112)
    # at a size not divisible by 32 the graph still matches the table's arithmetic
    assert _graph_macs_and_largest(get_zoo_model("mobilenet_v2").build("100", 1, with_weights=False))[0] == (
        _mobilenet_v2_macs_by_hand(100)
    )


def test_mobilenet_v2_layout():
    model = get_zoo_model("mobilenet_v2").build("224", 1, with_weights=False)
    nodes = {n.name: n for n in model.graph.node}
    depthwise = [n for n in model.graph.node if n.op_type == "Conv"
                 and [a.i for a in n.attribute if a.name == "group"][0] > 1]
    assert len(depthwise) == 17
    groups = [a.i for a in nodes["features.2.conv.1.0"].attribute if a.name == "group"][0]
    assert groups == 96  # depthwise: group = channels (16 * 6)
    counts = {op: sum(n.op_type == op for n in model.graph.node) for op in ("Conv", "Clip", "Add", "Gemm")}
    assert counts == {"Conv": 52, "Clip": 35, "Add": 10, "Gemm": 1}
    assert "features.1.conv.0.0" in nodes and "features.18.0" in nodes
    assert list(model.graph.node[-1].output) == ["logits"] and model.graph.node[-1].name == "classifier.1"


# ---- both --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_weightless_build_allocates_no_weight_data(name):
    light = get_zoo_model(name).build("224", 1, with_weights=False)
    heavy = get_zoo_model(name).build("64", 1, with_weights=True)
    assert _weight_bytes_in_protos(light) < 1024  # only Clip bounds (a few scalars) carry data
    assert light.ByteSize() < 100_000
    assert _weight_bytes_in_protos(heavy) >= 4 * _trainable_params(heavy)
    onnx.checker.check_model(heavy)


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_runs_in_onnxruntime_at_small_size(name):
    ort = pytest.importorskip("onnxruntime")
    model = get_zoo_model(name).build("64x96", 2, with_weights=True, seed=3)  # W=64, H=96
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 96, 64]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 64), dtype=np.float32)
    (logits,) = session.run(["logits"], {"input": x})
    assert logits.shape == (2, 1000)
    assert np.isfinite(logits).all()
    assert not np.allclose(logits[0], logits[1])  # the two images give different outputs


def test_seed_fixes_the_weights():
    zoo = get_zoo_model("mobilenet_v2")
    a, b, c = (zoo.build("32", 1, seed=s) for s in (7, 7, 8))
    first = {t.name: t.raw_data for t in a.graph.initializer}
    assert first == {t.name: t.raw_data for t in b.graph.initializer}
    assert first["features.0.0.weight"] != {t.name: t.raw_data for t in c.graph.initializer}["features.0.0.weight"]


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
@pytest.mark.parametrize("size", ["16", "224x31", "31"])
def test_too_small_sizes_are_user_errors(name, size):
    with pytest.raises(UserError, match=r"resolution: .*>= 32"):
        get_zoo_model(name).build(size, 1, with_weights=False)


def test_bad_batch_is_user_error():
    with pytest.raises(UserError, match="batch"):
        get_zoo_model("resnet50").build("224", 0, with_weights=False)


def test_odd_sizes_are_accepted():
    model = get_zoo_model("resnet50").build("33x57", 1, with_weights=False)
    macs, _ = _graph_macs_and_largest(model)
    assert macs > FC_MACS
