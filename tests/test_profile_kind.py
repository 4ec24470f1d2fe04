"""Network kind and op families (accelbench.profile.kind), derived from the graph, never the name."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from accelbench.models.builder import GraphBuilder
from accelbench.models.loader import load_model
from accelbench.models.registry import zoo_models
from accelbench.profile import profile_model
from accelbench.report.profile_table import format_profile_table
from accelbench.profile.kind import family_macs, op_family

EXPECTED_ZOO_KINDS = {
    "resnet18": "cnn", "resnet50": "cnn", "resnet101": "cnn", "mobilenet_v2": "cnn", "efficientnet_b0": "cnn",
    "yolov3": "detector", "yolov5s": "detector", "retinanet": "detector", "unet": "dense-prediction",
    "lstm": "rnn", "gru": "rnn",
    "bert_base": "transformer", "bert_large": "transformer", "vit_b16": "transformer", "whisper_tiny_encoder": "transformer",
}


def _named(model, name="anonymous"):
    model.graph.name = name  # the kind must not come from a name
    return model


def conv_net(outputs=("head",), nhwc=False, nms=False):
    b = GraphBuilder("g", with_weights=False)
    x = b.input("x", [1, 64, 64, 3] if nhwc else [1, 3, 64, 64])
    if nhwc:
        x = b.node("Transpose", [x], perm=[0, 3, 1, 2])
    y = b.relu(b.conv(x, 3, 16, 3, stride=2))  # 32x32
    z = b.relu(b.conv(y, 16, 32, 3, stride=2))  # 16x16
    if "head" in outputs:
        b.output(b.linear(b.flatten(b.global_avg_pool(z)), 32, 10), [1, 10])
    if "two_scales" in outputs:
        b.output(b.conv(y, 16, 8, 1, bias=True), [1, 8, 32, 32])
        b.output(b.conv(z, 32, 8, 1, bias=True), [1, 8, 16, 16])
    if "full_res" in outputs:
        up = b.upsample_nearest(b.upsample_nearest(z, 2), 2)  # back to 64x64
        seg = b.conv(up, 32, 2, 1, bias=True)
        if nhwc:
            seg = b.node("Transpose", [seg], perm=[0, 2, 3, 1])
        b.output(seg, [1, 64, 64, 2] if nhwc else [1, 2, 64, 64])
    if nms:
        boxes = b.node("Reshape", [z, b.constant("s", np.array([1, 2048, 4], np.int64))])
        scores = b.node("Reshape", [z, b.constant("t", np.array([1, 1, 8192], np.int64))])
        kept = b.node("NonMaxSuppression", [boxes, b.node("Slice", [scores, b.constant("a", np.array([0], np.int64)),
                                                                       b.constant("e", np.array([2048], np.int64)),
                                                                       b.constant("x2", np.array([2], np.int64))])])
        b.output(kept, None, TensorProto.INT64)
    return _named(b.build())


def lstm_net():
    b = GraphBuilder("g", with_weights=False)
    x = b.input("x", [20, 1, 40])
    y = b.recurrent("LSTM", x, 40, 64, name="cell")
    b.output(b.linear(b.node("Reshape", [y, b.constant("s", np.array([20, 64], np.int64))]), 64, 8), [20, 8])
    return _named(b.build())


def attention_net():
    b = GraphBuilder("g", with_weights=False)
    x = b.input("x", [1, 16, 64])
    q, k, v = (b.split_heads(b.matmul_weight(x, 64, 64, name=n), 4, 16, keys=n == "k", name=n) for n in "qkv")
    y = b.attention(q, k, v, head_dim=16, width=64, name="att")
    b.output(b.matmul_weight(y, 64, 64, name="out"), [1, 16, 64])
    return _named(b.build())


def mlp_net():
    b = GraphBuilder("g", with_weights=False)
    x = b.input("x", [4, 32])
    b.output(b.linear(b.relu(b.linear(x, 32, 64)), 64, 8), [4, 8])
    return _named(b.build())


@pytest.mark.parametrize("build, kind", [
    (lambda: conv_net(), "cnn"),
    (lambda: conv_net(outputs=("two_scales",)), "detector"),
    (lambda: conv_net(nms=True), "detector"),
    (lambda: conv_net(outputs=("full_res",)), "dense-prediction"),
    (lambda: conv_net(outputs=("full_res",), nhwc=True), "dense-prediction"),
    (lstm_net, "rnn"),
    (attention_net, "transformer"),
    (mlp_net, "mlp"),
])
def test_kind_from_the_graph(build, kind):
    assert profile_model(build()).network_kind == kind


def test_graph_without_macs_is_none():
    b = GraphBuilder("g", with_weights=False)
    b.output(b.relu(b.input("x", [1, 8])), [1, 8])
    assert profile_model(b.build()).network_kind == "none"


def test_op_families_of_attention_net():
    profile = profile_model(attention_net())
    families = [op_family(layer) for layer in profile.layers if layer.macs]
    assert families.count("linear") == 4 and families.count("attention") == 2
    macs = family_macs(profile.layers)
    assert macs["attention"] == 2 * 4 * 16 * 16 * 16  # QK^T and AV: heads x seq x seq x head_dim
    assert macs["linear"] == 4 * 16 * 64 * 64 and sum(macs.values()) == profile.macs


def test_depthwise_and_transposed_convs_are_their_own_families():
    b = GraphBuilder("g", with_weights=False)
    x = b.input("x", [1, 8, 16, 16])
    y = b.conv(x, 8, 8, 3, groups=8)
    b.output(b.conv_transpose(y, 8, 4, 2, stride=2), [1, 4, 32, 32])
    macs = family_macs(profile_model(b.build()).layers)
    assert macs["depthwise"] == 8 * 16 * 16 * 9 and macs["deconv"] == 8 * 16 * 16 * 4 * 4
    assert macs["conv"] == 0


@pytest.mark.parametrize("name", sorted(EXPECTED_ZOO_KINDS))
def test_zoo_kinds(name):
    small = "64" if name not in ("lstm", "gru", "bert_base", "bert_large", "whisper_tiny_encoder") else "16"
    assert profile_model(load_model(name, resolution=small, with_weights=False)).network_kind == EXPECTED_ZOO_KINDS[name]


def test_every_zoo_model_has_an_expected_kind():
    assert {m.name for m in zoo_models()} == set(EXPECTED_ZOO_KINDS)


def test_kind_and_output_shapes_are_reported():
    profile = profile_model(load_model("yolov5s", resolution="64", with_weights=False))
    data = profile.to_dict()
    assert data["network_kind"] == "detector"
    assert data["output_shapes"] == {"p3": [1, 255, 8, 8], "p4": [1, 255, 4, 4], "p5": [1, 255, 2, 2]}
    lines = [line for line in format_profile_table(profile).splitlines() if line.startswith("network kind")]
    assert len(lines) == 1 and lines[0].split()[-1] == "detector"
