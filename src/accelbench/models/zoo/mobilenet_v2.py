"""MobileNetV2 (width 1.0) in torchvision's layout (torchvision.models.mobilenet_v2).

Inverted residual blocks: 1x1 expand (skipped when t = 1) -> 3x3 depthwise (Conv group = C) ->
1x1 linear projection, each conv without bias and followed by BatchNormalization; ReLU6 is a
Clip(0, 6) node; the residual Add is present when stride = 1 and in = out channels. Dropout is
omitted (identity at inference); the classifier is Linear 1280 -> 1000 with bias. Node names
follow torchvision's modules (``features.0.0``, ``features.2.conv.1.0``, ``classifier.1``).

Depthwise convs have K = 9 per output (a GEMM of N = 1 per group), which fills a MAC array
very differently from ResNet's dense convs: that is why it is in the zoo.

Reference figures (asserted in tests/test_zoo_cnn.py): 3,504,872 parameters (torchvision; BN
running statistics excluded) and 300,774,272 conv+fc MACs at 224x224 (derived from the table).
"""

from __future__ import annotations

import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

NUM_CLASSES = 1000
STEM_CHANNELS = 32
LAST_CHANNELS = 1280
# torchvision's inverted_residual_setting: expand ratio t, output channels c, repeats n, first stride s
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, "mobilenet_v2")


def _conv_bn_relu6(b: GraphBuilder, x: str, cin: int, cout: int, kernel: int, stride: int,
                   prefix: str, groups: int = 1) -> str:
    # torchvision's Conv2dNormActivation: .0 conv, .1 BN, .2 ReLU6
    y = b.conv(x, cin, cout, kernel, stride=stride, groups=groups, name=f"{prefix}.0")
    y = b.batch_norm(y, cout, name=f"{prefix}.1")
    return b.relu6(y, name=f"{prefix}.2")


def _inverted_residual(b: GraphBuilder, x: str, cin: int, cout: int, stride: int, expand: int,
                       prefix: str) -> str:
    hidden = int(round(cin * expand))
    idx = 0
    y = x
    if expand != 1:
        y = _conv_bn_relu6(b, y, cin, hidden, 1, 1, f"{prefix}.conv.{idx}")
        idx += 1
    y = _conv_bn_relu6(b, y, hidden, hidden, 3, stride, f"{prefix}.conv.{idx}", groups=hidden)
    y = b.conv(y, hidden, cout, 1, name=f"{prefix}.conv.{idx + 1}")
    y = b.batch_norm(y, cout, name=f"{prefix}.conv.{idx + 2}")
    if stride == 1 and cin == cout:
        y = b.add(x, y, name=f"{prefix}.add")
    return y


def build_mobilenet_v2(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``input`` [batch, 3, H, W] -> ``logits`` [batch, 1000]."""
    _validate(resolution)
    check_batch(batch, "mobilenet_v2")
    b = GraphBuilder("mobilenet_v2", with_weights=with_weights, seed=seed)
    x = b.input("input", [batch, 3, resolution.height, resolution.width])
    x = _conv_bn_relu6(b, x, 3, STEM_CHANNELS, 3, 2, "features.0")
    cin = STEM_CHANNELS
    index = 1
    for expand, channels, repeats, first_stride in INVERTED_RESIDUAL_SETTING:
        for i in range(repeats):
            x = _inverted_residual(b, x, cin, channels, first_stride if i == 0 else 1, expand, f"features.{index}")
            cin = channels
            index += 1
    x = _conv_bn_relu6(b, x, cin, LAST_CHANNELS, 1, 1, f"features.{index}")
    # classifier.0 is Dropout(0.2): identity at inference, so not emitted
    b.classifier_head(x, LAST_CHANNELS, NUM_CLASSES, batch=batch, name="classifier.1")
    return b.build()


register_model(
    "mobilenet_v2",
    description="MobileNetV2 1.0, torchvision layout (inverted residuals, depthwise convs, ReLU6)",
    default_resolution="224",
    accepts="any WxH, both sides >= 32",
    task="image-classification",
    validate=_validate,
    aliases=("mobilenetv2", "mobilenet-v2"),
    stands_for="mobile and edge vision: phone cameras, embedded classifiers, the backbone of SSDLite/DeepLabV3+ mobile",
    source="torchvision torchvision/models/mobilenetv2.py",
)(build_mobilenet_v2)
