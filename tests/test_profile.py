"""Profiler rules on hand-built graphs: every MAC rule, fusion, params, liveness, unknown ops."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from accelbench.errors import UserError
from accelbench.models.builder import GraphBuilder
from accelbench.profile import GemmDims, profile_model
from accelbench.report.profile_table import format_profile_csv, format_profile_table

F = TensorProto.FLOAT


def make_model(nodes, inputs, outputs, initializers=(), domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *domains])
    model.ir_version = 8
    return model


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def weight(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def single_layer(model, precision="fp32"):
    profile = profile_model(model, precision)
    mac_layers = [layer for layer in profile.layers if layer.macs]
    assert len(mac_layers) == 1
    return profile, mac_layers[0]


def test_grouped_conv_macs_and_gemm_dims():
    # 8 -> 16 channels, 4 groups, 3x3, 10x10 out: 16*100*(8/4)*9 = 28,800 MACs.
    conv = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4)
    model = make_model([conv], [vi("x", [1, 8, 10, 10])], [vi("y", [1, 16, 10, 10])], [weight("w", [16, 2, 3, 3])])
    profile, layer = single_layer(model)
    assert layer.macs == 28_800
    assert layer.gemm == GemmDims(m=100, n=4, k=18, groups=4)
    assert layer.params == 16 * 2 * 9
    assert layer.weight_bytes == 288 * 4


def test_depthwise_conv_stride_2():
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            strides=[2, 2], group=32)
    model = make_model([conv], [vi("x", [2, 32, 8, 8])], [vi("y", [2, 32, 4, 4])],
                       [weight("w", [32, 1, 3, 3]), weight("b", [32])])
    _, layer = single_layer(model)
    assert layer.macs == 2 * 32 * 16 * 9  # 9,216
    assert layer.gemm == GemmDims(m=32, n=1, k=9, groups=32)
    assert layer.other_ops == 2 * 32 * 16  # bias: one op per output element
    assert layer.params == 32 * 9 + 32


@pytest.mark.parametrize("group, w_shape, expected_macs, gemm", [
    (1, [4, 6, 2, 2], 25 * 4 * 6 * 4, GemmDims(m=25, n=24, k=4, groups=1)),   # 2,400
    (2, [4, 3, 2, 2], 25 * 4 * 3 * 4, GemmDims(m=25, n=12, k=2, groups=2)),   # 1,200
])
def test_conv_transpose_counts_over_the_input(group, w_shape, expected_macs, gemm):
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[2, 2], strides=[2, 2], group=group)
    model = make_model([node], [vi("x", [1, 4, 5, 5])], [vi("y", [1, 6, 10, 10])], [weight("w", w_shape)])
    profile, layer = single_layer(model)
    assert layer.macs == expected_macs
    assert layer.gemm == gemm
    assert layer.output_shape == (1, 6, 10, 10)


def test_gemm_with_transposes_and_bias():
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1)
    model = make_model([node], [vi("a", [5, 3])], [vi("y", [3, 4])], [weight("b", [4, 5]), weight("c", [4])])
    _, layer = single_layer(model)
    assert layer.macs == 3 * 4 * 5
    assert layer.gemm == GemmDims(m=3, n=4, k=5)
    assert layer.other_ops == 12
    assert layer.params == 24


def test_batched_matmul_between_activations_counts_every_batch():
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    model = make_model([node], [vi("a", [2, 1, 4, 5]), vi("b", [3, 5, 6])], [vi("y", [2, 3, 4, 6])])
    _, layer = single_layer(model)
    assert layer.macs == 2 * 3 * 4 * 6 * 5  # 720: broadcast batch 2x3
    assert layer.gemm == GemmDims(m=4, n=6, k=5, groups=6)
    assert layer.params == 0
    assert layer.input_bytes == (40 + 90) * 4


def test_matmul_with_weight_is_one_tall_gemm():
    node = helper.make_node("MatMul", ["a", "w"], ["y"])
    model = make_model([node], [vi("a", [2, 7, 8])], [vi("y", [2, 7, 16])], [weight("w", [8, 16])])
    _, layer = single_layer(model)
    assert layer.macs == 2 * 7 * 16 * 8
    assert layer.gemm == GemmDims(m=14, n=16, k=8, groups=1)
    assert layer.params == 128


@pytest.mark.parametrize("equation, shapes, out, macs, gemm", [
    ("bhqd,bhkd->bhqk", [[1, 2, 3, 4], [1, 2, 5, 4]], [1, 2, 3, 5], 120, GemmDims(3, 5, 4, 2)),
    ("ij,jk", [[3, 4], [4, 5]], [3, 5], 60, GemmDims(3, 5, 4, 1)),
    ("...ij,...jk->...ik", [[2, 3, 4], [2, 4, 5]], [2, 3, 5], 120, GemmDims(3, 5, 4, 2)),
])
def test_einsum_as_matmul(equation, shapes, out, macs, gemm):
    node = helper.make_node("Einsum", ["a", "b"], ["y"], equation=equation)
    model = make_model([node], [vi("a", shapes[0]), vi("b", shapes[1])], [vi("y", out)])
    _, layer = single_layer(model)
    assert layer.macs == macs
    assert layer.gemm == gemm


def test_einsum_transpose_has_no_macs():
    node = helper.make_node("Einsum", ["a"], ["y"], equation="ij->ji")
    profile = profile_model(make_model([node], [vi("a", [3, 4])], [vi("y", [4, 3])]))
    assert profile.macs == 0
    assert profile.layers[0].other_ops == 12


@pytest.mark.parametrize("op, gates, directions, expected", [
    # directions * seq 5 * batch 2 * gates*hidden(4) * (input 3 + hidden 4)
    ("LSTM", 4, 2, 2 * 5 * 2 * 16 * 7),  # 2,240
    ("GRU", 3, 1, 5 * 2 * 12 * 7),       # 840
    ("RNN", 1, 1, 5 * 2 * 4 * 7),        # 280
])
def test_recurrent_gate_matmuls_over_every_step(op, gates, directions, expected):
    direction = "bidirectional" if directions == 2 else "forward"
    node = helper.make_node(op, ["x", "w", "r", "b"], ["y", "y_h"], hidden_size=4, direction=direction)
    inits = [weight("w", [directions, gates * 4, 3]), weight("r", [directions, gates * 4, 4]),
             weight("b", [directions, 2 * gates * 4])]
    model = make_model([node], [vi("x", [5, 2, 3])], [vi("y", [5, directions, 2, 4])], inits)
    _, layer = single_layer(model)
    assert layer.macs == expected
    assert layer.gemm.macs == expected
    assert layer.params == directions * gates * 4 * (3 + 4 + 2)
    assert layer.output_shape == (5, directions, 2, 4)


def resnet_block(with_weights=False):
    b = GraphBuilder("block", with_weights=with_weights)
    x = b.input("x", [1, 8, 16, 16])
    y = b.relu(b.batch_norm(b.conv(x, 8, 8, 3, name="c1"), 8, name="bn1"), name="r1")
    y = b.batch_norm(b.conv(y, 8, 8, 3, name="c2"), 8, name="bn2")
    y = b.relu(b.add(y, x), name="r2")
    b.output(y, [1, 8, 16, 16])
    return b.build()


def test_conv_bn_relu_and_residual_add_fuse():
    profile = profile_model(resnet_block())
    assert [layer.fused_ops for layer in profile.layers] == [
        ("Conv", "BatchNormalization", "Relu"),
        ("Conv", "BatchNormalization", "Add", "Relu"),
    ]
    assert profile.macs == 2 * 8 * 256 * 8 * 9
    # conv weights + BN scale and bias; running mean/var are not parameters
    assert profile.params == 2 * (8 * 8 * 9 + 2 * 8)
    second = profile.layers[1]
    # reads its input and the residual (2 x 2048 elements), writes one tensor; BN and Add cost ops.
    assert second.input_bytes == 2 * 2048 * 4
    assert second.output_bytes == 2048 * 4
    assert second.other_ops == 2048 * (2 + 1 + 1)


def test_erf_gelu_and_silu_fuse_into_matmul():
    b = GraphBuilder("mlp", with_weights=False)
    x = b.input("x", [1, 4, 16])
    h = b.matmul_weight(x, 16, 32, name="fc1")  # MatMul + bias Add
    # GELU(h) = h * 0.5 * (1 + erf(h / sqrt(2)))
    e = b.node("Erf", [b.node("Div", [h, b.constant("sqrt2", np.array(1.4142135, np.float32))])])
    e = b.node("Add", [e, b.constant("one", np.array(1.0, np.float32))])
    g = b.node("Mul", [b.node("Mul", [h, e]), b.constant("half", np.array(0.5, np.float32))])
    h2 = b.matmul_weight(g, 32, 16, name="fc2")
    s = b.node("Mul", [h2, b.node("Sigmoid", [h2])])  # SiLU
    b.output(s, [1, 4, 16])
    profile = profile_model(b.build())
    assert [layer.fused_ops for layer in profile.layers] == [
        ("MatMul", "Add", "Div", "Erf", "Add", "Mul", "Mul"),
        ("MatMul", "Add", "Sigmoid", "Mul"),
    ]
    assert profile.params == 16 * 32 + 32 + 32 * 16 + 16  # scalars 0.5, 1, sqrt(2) are not parameters
    assert profile.layers[0].output_bytes == 4 * 32 * 4
    assert profile.macs == 4 * 32 * 16 * 2


def test_shared_weight_counts_once_and_folded_weight_reaches_its_layer():
    # y = x @ W + x @ W^T-of-a-transposed-initializer: W counted once; Transpose(V) folds into a constant.
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"]),
        helper.make_node("MatMul", ["x", "w"], ["b"]),
        helper.make_node("Transpose", ["v"], ["vt"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "vt"], ["c"]),
        helper.make_node("Sum", ["a", "b", "c"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [2, 8])], [vi("y", [2, 8])], [weight("w", [8, 8]), weight("v", [8, 8])])
    profile = profile_model(model)
    assert profile.params == 128
    assert [layer.params for layer in profile.layers if layer.macs] == [64, 0, 64]
    assert [layer.op for layer in profile.layers] == ["MatMul", "MatMul", "MatMul", "Sum"]


def test_shape_subgraph_folds_and_reshape_is_a_view():
    # Reshape(x, Concat(Shape(x)[0], -1)): no layer for the shape ops or the view.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w"], ["y"], transB=1),
    ]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one"), weight("w", [10, 48])]
    model = make_model(nodes, [vi("x", [2, 3, 4, 4])], [vi("y", [2, 10])], inits)
    profile = profile_model(model)
    assert [layer.op for layer in profile.layers] == ["Gemm"]
    assert profile.macs == 2 * 10 * 48
    assert profile.params == 480
    assert profile.layers[0].input_bytes == 96 * 4


def liveness_model():
    # conv1x1 (2->4 ch, 8x8) -> maxpool 2x2 -> nearest upsample x2 -> concat with the conv output.
    b = GraphBuilder("live", with_weights=False)
    x = b.input("x", [1, 2, 8, 8])
    a = b.relu(b.conv(x, 2, 4, 1, name="conv"))
    p = b.max_pool(a, 2, 2)
    u = b.upsample_nearest(p, 2)
    d = b.concat([a, u])
    b.output(d, [1, 8, 8, 8])
    return b.build()


@pytest.mark.parametrize("precision, scale", [("fp32", 4), ("fp16", 2), ("int8", 1)])
def test_peak_live_activation_by_hand(precision, scale):
    profile = profile_model(liveness_model(), precision)
    assert [layer.op for layer in profile.layers] == ["Conv", "MaxPool", "Resize", "Concat"]
    # elements alive per step (x=128, a=256, p=64, u=256, d=512):
    # conv: x+a = 384; maxpool: a+p = 320; resize: a+p+u = 576; concat: a+u+d = 1024
    assert profile.peak_live_activation_bytes == 1024 * scale
    assert profile.largest_activation_elements == 512
    assert profile.largest_activation_bytes == 512 * scale
    assert profile.layers[1].other_ops == 64 * 4  # 2x2 kernel per output element
    assert profile.layers[3].input_bytes == 512 * scale
    assert profile.input_bytes == 128 * scale and profile.output_bytes == 512 * scale


def test_unknown_op_is_flagged_with_zero_macs_and_shape_carried_through():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1]),
        helper.make_node("Mystery", ["a"], ["b"], domain="my.ops", name="mystery"),
        helper.make_node("Conv", ["b", "w2"], ["y"], kernel_shape=[1, 1]),
    ]
    model = make_model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5, 4, 4])],
                       [weight("w", [6, 3, 1, 1]), weight("w2", [5, 6, 1, 1])], [helper.make_opsetid("my.ops", 1)])
    profile = profile_model(model)
    assert profile.unknown_ops == ("my.ops.Mystery",)
    unknown = profile.layers[1]
    assert unknown.unknown_op and unknown.macs == 0
    assert any("Mystery" in w for w in profile.warnings)
    # the second conv still gets its shape (assumed through the unknown op) and its MACs
    assert profile.macs == 16 * 6 * 3 + 16 * 5 * 6
    assert "!my.ops.Mystery" in format_profile_table(profile)


def test_uninferable_shape_counts_zero_bytes_flagged():
    nodes = [
        helper.make_node("Source", [], ["u"], domain="my.ops"),
        helper.make_node("Add", ["x", "u"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [1, 4])], [vi("y", None)], domains=[helper.make_opsetid("my.ops", 1)])
    profile = profile_model(model)
    add = profile.layers[1]
    assert add.shape_unknown and add.output_bytes == 0
    assert any("unknown shape" in w for w in profile.warnings)


def test_modelproto_with_dynamic_batch_defaults_to_1_and_other_dims_raise():
    node = helper.make_node("Relu", ["x"], ["y"])
    dynamic_batch = make_model([node], [vi("x", ["N", 3])], [vi("y", ["N", 3])])
    assert profile_model(dynamic_batch).input_shapes == {"x": (1, 3)}
    dynamic_width = make_model([node], [vi("x", [1, "W", 3])], [vi("y", [1, "W", 3])])
    with pytest.raises(UserError, match="'x'"):
        profile_model(dynamic_width)


def test_bad_precision_is_a_user_error():
    with pytest.raises(UserError, match="precision"):
        profile_model(liveness_model(), "fp8")


def test_csv_has_one_row_per_layer():
    profile = profile_model(resnet_block())
    rows = format_profile_csv(profile).strip().splitlines()
    assert rows[0].startswith("index,name,op,fused_ops")
    assert len(rows) == 1 + profile.layer_count
    assert rows[1].split(",")[5] == str(profile.layers[0].macs)
