"""Zoo vision models added for issue 12: resnet18, resnet101, efficientnet_b0, unet, yolov5s, vit_b16.

Parameter counts are the reference implementations' (torchvision ``num_params``; ultralytics'
printed model summary; milesial/Pytorch-UNet derived by hand below). MACs are derived by hand
from each published layout and checked against torchvision's ``_ops`` (GFLOPS = GMACs) where it
publishes one, against the built graph (onnx shape inference) and against the profiler.
"""

from __future__ import annotations

import numpy as np
import pytest
from zoo_helpers import conv_matmul_macs, inferred_shapes, trainable_params

from accelbench.errors import UserError
from accelbench.models.loader import load_model
from accelbench.models.registry import get_zoo_model
from accelbench.profile import profile_model

# torchvision weights meta: "num_params" and "_ops" (GFLOPS, torchvision counts MACs) at 224x224
TORCHVISION = {
    "resnet18": (11_689_512, 1.814),
    "resnet101": (44_549_160, 7.801),
    "efficientnet_b0": (5_288_548, 0.386),
    "vit_b16": (86_567_656, 17.564),
}
YOLOV5S_PARAMS = 7_235_389  # yolov5 tutorial.ipynb: "Model summary: 214 layers, 7235389 parameters"
YOLOV5S_GFLOPS_FUSED = 16.4  # "Model summary: 157 layers, 7225885 parameters, 0 gradients, 16.4 GFLOPs" (2 x MACs)


def _half(n: int) -> int:
    """Output side of a stride-2 conv or pool with 'same' padding (k = 2p + 1) or a 2x2 pool."""
    return (n - 1) // 2 + 1


def resnet_macs_by_hand(depth: int, width: int, height: int) -> int:
    """torchvision ResNet: 7x7/2 stem, 3x3/2 max pool, BasicBlock (3x3, 3x3) or Bottleneck v1.5
    (1x1, 3x3 with the stride, 1x1 x4), 1x1 projection shortcuts, fc."""
    blocks, basic = {18: ((2, 2, 2, 2), True), 101: ((3, 4, 23, 3), False)}[depth]
    h, w = _half(height), _half(width)
    macs = h * w * 64 * 3 * 49
    h, w = _half(h), _half(w)
    cin = 64
    for stage, (count, planes) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for i in range(count):
            stride = 2 if stage and i == 0 else 1
            ho, wo = (_half(h), _half(w)) if stride == 2 else (h, w)
            if basic:
                cout = planes
                macs += ho * wo * planes * (cin * 9 + planes * 9)
            else:
                cout = 4 * planes
                macs += h * w * planes * cin + ho * wo * planes * planes * 9 + ho * wo * cout * planes
            if stride != 1 or cin != cout:
                macs += ho * wo * cout * cin
            h, w, cin = ho, wo, cout
    return macs + cin * 1000


def efficientnet_b0_macs_by_hand(side: int) -> int:
    """torchvision EfficientNet-B0 table (expand, kernel, stride, in, out, layers); SE convs act on 1x1."""
    h = _half(side)
    macs = h * h * 32 * 3 * 9
    table = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
             (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
    for expand, kernel, stride, cin, cout, layers in table:
        for i in range(layers):
            c = cin if i == 0 else cout
            hidden = c * expand
            if expand != 1:
                macs += h * h * c * hidden
            if i == 0 and stride == 2:
                h = _half(h)
            squeeze = max(1, c // 4)
            macs += h * h * hidden * kernel * kernel + 2 * hidden * squeeze + h * h * hidden * cout
    return macs + h * h * 320 * 1280 + 1280 * 1000


def unet_params_by_hand() -> int:
    """milesial UNet(3, 2, bilinear=False): DoubleConv = 2 x (3x3 conv without bias + BN weight/bias);
    Up = ConvTranspose2d(c, c/2, 2, 2) with bias + DoubleConv(c, c/2); OutConv 1x1 with bias."""
    def double_conv(cin, cout):
        return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout

    widths = (64, 128, 256, 512, 1024)
    total = double_conv(3, 64) + sum(double_conv(a, b) for a, b in zip(widths, widths[1:]))
    for c in (1024, 512, 256, 128):
        total += c * (c // 2) * 4 + c // 2 + double_conv(c, c // 2)
    return total + 64 * 2 + 2


def unet_macs_by_hand(width: int, height: int) -> int:
    widths = (64, 128, 256, 512, 1024)
    h, w = height, width
    macs = h * w * 9 * (3 * 64 + 64 * 64)
    for a, b in zip(widths, widths[1:]):
        h, w = h // 2, w // 2
        macs += h * w * 9 * (a * b + b * b)
    for c in (1024, 512, 256, 128):
        macs += h * w * c * (c // 2) * 4  # 2x2/2 transposed conv, counted over its input
        h, w = 2 * h, 2 * w
        macs += h * w * 9 * (c * (c // 2) + (c // 2) ** 2)
    return macs + height * width * 64 * 2


def vit_b16_macs_by_hand(width: int, height: int) -> int:
    """Patch conv, then per layer: packed QKV, QK^T and AV (2 x tokens^2 x 768), out_proj, MLP; head."""
    patches = (width // 16) * (height // 16)
    t = patches + 1
    per_layer = t * 768 * 2304 + 2 * t * t * 768 + t * 768 * 768 + 2 * t * 768 * 3072
    return patches * 768 * (3 * 16 * 16) + 12 * per_layer + 768 * 1000


def _profile(name, size):
    return profile_model(load_model(name, resolution=size, with_weights=False))


# -- parameters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_models_have_the_published_parameters_and_ops(name):
    params, gflops = TORCHVISION[name]
    model = get_zoo_model(name).build("224", with_weights=False)
    assert trainable_params(model) == params
    profile = _profile(name, "224")
    assert profile.params == params
    assert round(profile.macs / 1e9, 3) == gflops
    assert not profile.unknown_ops and not profile.warnings


def test_unet_parameters_match_the_milesial_layout():
    assert unet_params_by_hand() == 31_037_698
    assert trainable_params(get_zoo_model("unet").build("64", with_weights=False)) == 31_037_698
    assert _profile("unet", "64").params == 31_037_698


def test_yolov5s_parameters_and_gflops_match_ultralytics():
    assert trainable_params(get_zoo_model("yolov5s").build("640", with_weights=False)) == YOLOV5S_PARAMS
    profile = _profile("yolov5s", "640")
    assert profile.params == YOLOV5S_PARAMS
    assert round(2 * profile.macs / 1e9, 1) == YOLOV5S_GFLOPS_FUSED


# -- MACs by hand ---------------------------------------------------------------------------------
@pytest.mark.parametrize("depth, size", [(18, (224, 224)), (18, (96, 64)), (101, (224, 224)), (101, (65, 97))])
def test_resnet_macs_by_hand(depth, size):
    width, height = size
    expected = resnet_macs_by_hand(depth, width, height)
    spec = f"{width}x{height}"
    assert conv_matmul_macs(get_zoo_model(f"resnet{depth}").build(spec, with_weights=False)) == expected
    assert _profile(f"resnet{depth}", spec).macs == expected


def test_resnet_macs_at_224_exact():
    assert resnet_macs_by_hand(18, 224, 224) == 1_814_073_344
    assert resnet_macs_by_hand(101, 224, 224) == 7_801_405_440


@pytest.mark.parametrize("side", [224, 100])
def test_efficientnet_b0_macs_by_hand(side):
    expected = efficientnet_b0_macs_by_hand(side)
    assert conv_matmul_macs(get_zoo_model("efficientnet_b0").build(str(side), with_weights=False)) == expected
    assert _profile("efficientnet_b0", str(side)).macs == expected
    if side == 224:
        assert expected == 385_814_752


@pytest.mark.parametrize("size", [(512, 512), (96, 64)])
def test_unet_macs_by_hand_count_transposed_convs_over_their_input(size):
    width, height = size
    expected = unet_macs_by_hand(width, height)
    spec = f"{width}x{height}"
    assert conv_matmul_macs(get_zoo_model("unet").build(spec, with_weights=False)) == expected
    profile = _profile("unet", spec)
    assert profile.macs == expected
    up = [layer for layer in profile.layers if layer.op == "ConvTranspose"]
    # GemmDims of a transposed conv: (N*Hin*Win, Cout*taps, Cin); here Cout = Cin/2 and 2x2 taps
    assert len(up) == 4 and all(layer.gemm.n == 2 * layer.gemm.k for layer in up)
    if size == (512, 512):
        assert expected == 192_686_325_760


@pytest.mark.parametrize("size", [(224, 224), (384, 384), (96, 64)])
def test_vit_b16_macs_by_hand_tokens_follow_the_resolution(size):
    width, height = size
    expected = vit_b16_macs_by_hand(width, height)
    spec = f"{width}x{height}"
    model = get_zoo_model("vit_b16").build(spec, with_weights=False)
    assert conv_matmul_macs(model) == expected
    profile = _profile("vit_b16", spec)
    assert profile.macs == expected and profile.params == 86_567_656  # the position table is resized, not grown
    tokens = (width // 16) * (height // 16) + 1
    attention = [layer for layer in profile.layers if layer.op == "MatMul" and layer.params == 0]
    assert len(attention) == 24
    assert all(layer.macs == 12 * tokens * tokens * 64 for layer in attention)


def test_yolov5s_macs_match_the_graph_and_resize_has_no_macs():
    profile = _profile("yolov5s", "640")
    assert profile.macs == conv_matmul_macs(get_zoo_model("yolov5s").build("640", with_weights=False))
    resize = [layer for layer in profile.layers if layer.op == "Resize"]
    assert len(resize) == 2 and all(layer.macs == 0 and layer.other_ops == 0 for layer in resize)


# -- layouts --------------------------------------------------------------------------------------
def test_resnet18_and_101_layouts_follow_torchvision_names():
    r18 = {n.name for n in get_zoo_model("resnet18").build("64", with_weights=False).graph.node}
    assert {"layer1.1.conv2", "layer2.0.downsample.0", "fc"} <= r18 and "layer1.0.conv3" not in r18
    r101 = get_zoo_model("resnet101").build("64", with_weights=False)
    convs = [n for n in r101.graph.node if n.op_type == "Conv"]
    assert len(convs) == 104 and "layer3.22.conv3" in {n.name for n in convs}  # 33 blocks x 3 + 4 projections + stem


def test_efficientnet_b0_has_squeeze_excite_and_silu():
    model = get_zoo_model("efficientnet_b0").build("224", with_weights=False)
    nodes = {n.name: n for n in model.graph.node}
    assert nodes["features.2.0.block.2.fc1"].op_type == "Conv"  # SE of the first 24-channel block
    groups = {a.name: a.i for a in nodes["features.2.0.block.1.0"].attribute}["group"]
    assert groups == 96  # depthwise over 16 x 6 channels
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("GlobalAveragePool") == 17  # 16 SE blocks + the head
    assert ops.count("Sigmoid") == 16 + 49  # SE gates + every SiLU (x * sigmoid x)
    shapes = inferred_shapes(model)
    assert shapes["features.8.2"] == [1, 1280, 7, 7]


def test_unet_shapes_and_names():
    model = get_zoo_model("unet").build("96x64", batch=2, with_weights=False)
    shapes = inferred_shapes(model)
    assert shapes["logits"] == [2, 2, 64, 96]
    assert shapes["down4.maxpool_conv.1.double_conv.5"] == [2, 1024, 4, 6]
    assert shapes["up1.cat"] == [2, 1024, 8, 12]
    assert [n.op_type for n in model.graph.node].count("ConvTranspose") == 4


def test_yolov5s_layout():
    model = get_zoo_model("yolov5s").build("640", with_weights=False)
    shapes = inferred_shapes(model)
    assert [(o.name, shapes[o.name]) for o in model.graph.output] == [
        ("p3", [1, 255, 80, 80]), ("p4", [1, 255, 40, 40]), ("p5", [1, 255, 20, 20])]
    names = {n.name for n in model.graph.node}
    assert {"model.0.conv", "model.6.m.2.cv2.conv", "model.9.m.2", "model.24.m.2"} <= names
    assert "model.6.m.3.cv1.conv" not in names  # 9 x 0.33 -> 3 bottlenecks
    stem = next(n for n in model.graph.node if n.name == "model.0.conv")
    attrs = {a.name: list(a.ints) for a in stem.attribute}
    assert attrs["kernel_shape"] == [6, 6] and attrs["strides"] == [2, 2] and attrs["pads"] == [2, 2, 2, 2]


# -- sizes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, spec, expected", [
    ("unet", "100x64", "multiples of 16"),
    ("yolov5s", "650", "multiples of 32"),
    ("vit_b16", "225", "multiples of 16"),
    ("resnet18", "31", ">= 32"),
    ("efficientnet_b0", "16x64", ">= 32"),
    ("vit_b16", "128", None),  # accepted
])
def test_image_sizes_are_checked(name, spec, expected):
    if expected is None:
        get_zoo_model(name).build(spec, with_weights=False)
        return
    with pytest.raises(UserError) as err:
        load_model(name, resolution=spec, with_weights=False)
    message = str(err.value)
    assert expected in message and name in message and "\n" not in message and err.value.exit_code == 2


@pytest.mark.parametrize("name", ["resnet101", "unet", "vit_b16", "yolov5s", "efficientnet_b0"])
def test_weightless_builds_carry_no_weight_data(name):
    model = get_zoo_model(name).build("4mp" if name != "efficientnet_b0" else "224", with_weights=False)
    data = sum(len(t.raw_data) + 4 * len(t.float_data) for t in model.graph.initializer)
    assert data < 20_000 and model.ByteSize() < 200_000


def test_vit_b16_seeded_weights_and_interpolated_positions_run():
    ort = pytest.importorskip("onnxruntime")
    model = get_zoo_model("vit_b16").build("32x48", with_weights=True, seed=1)  # 2 x 3 patches, 7 tokens
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 48, 32)).astype(np.float32)
    (logits,) = session.run(None, {"input": x})
    assert logits.shape == (1, 1000) and np.isfinite(logits).all()
