"""EfficientNet-B0 in torchvision's layout (torchvision.models.efficientnet_b0), built in code.

Stem conv 3x3/2 3 -> 32 + BN + SiLU; seven stages of MBConv blocks from torchvision's
``_efficientnet_conf("efficientnet_b0")`` (expand ratio, kernel, stride, in, out, layers):
(1,3,1,32,16,1) (6,3,2,16,24,2) (6,5,2,24,40,2) (6,3,2,40,80,3) (6,5,1,80,112,3)
(6,5,2,112,192,4) (6,3,1,192,320,1). An MBConv block is: 1x1 expand conv + BN + SiLU (absent when
the ratio is 1) -> kxk depthwise conv (group = channels) + BN + SiLU -> squeeze-excitation
(GlobalAveragePool, 1x1 conv with bias to max(1, block input channels // 4), SiLU, 1x1 conv with
bias back, Sigmoid, Mul with the block's tensor) -> 1x1 linear projection + BN; the residual Add
exists when stride 1 and in = out channels. Then a 1x1 conv 320 -> 1280 + BN + SiLU, global
average pool and ``Linear(1280, 1000)``. Dropout and stochastic depth are identity at inference
and omitted. SiLU is ``x * Sigmoid(x)`` (opset 17 has no SiLU op), as torch exports it.

Node names follow torchvision's modules: ``features.0.0`` (stem conv), ``features.2.0.block.1.0``
(a depthwise conv), ``features.2.0.block.2.fc1`` (SE), ``features.8.0``, ``classifier.1``.

Reference: 5,288,548 parameters (torchvision ``EfficientNet_B0_Weights.IMAGENET1K_V1``
``num_params``; BN running statistics are buffers), asserted in tests/test_zoo_new.py.
"""

from __future__ import annotations

import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

NAME = "efficientnet_b0"
NUM_CLASSES = 1000
STEM_CHANNELS = 32
LAST_CHANNELS = 1280  # 4 x the last stage's 320
# torchvision's bneck_conf rows at width/depth multiplier 1.0: expand ratio, kernel, stride, in, out, layers
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, NAME)


def _conv_bn_act(b: GraphBuilder, x: str, cin: int, cout: int, kernel: int, stride: int, prefix: str, *,
                 groups: int = 1, act: bool = True) -> str:
    # torchvision's Conv2dNormActivation: .0 conv (no bias), .1 BN, .2 SiLU
    y = b.conv(x, cin, cout, kernel, stride=stride, groups=groups, name=f"{prefix}.0")
    y = b.batch_norm(y, cout, name=f"{prefix}.1")
    return b.silu(y, name=f"{prefix}.2") if act else y


def _squeeze_excitation(b: GraphBuilder, x: str, channels: int, squeeze: int, prefix: str) -> str:
    s = b.global_avg_pool(x, name=f"{prefix}.avgpool")
    s = b.silu(b.conv(s, channels, squeeze, 1, bias=True, name=f"{prefix}.fc1"), name=f"{prefix}.activation")
    s = b.conv(s, squeeze, channels, 1, bias=True, name=f"{prefix}.fc2")
    s = b.node("Sigmoid", [s], name=f"{prefix}.scale_activation")
    return b.mul(s, x, name=f"{prefix}.scale")


def _mbconv(b: GraphBuilder, x: str, expand: int, kernel: int, stride: int, cin: int, cout: int,
            prefix: str) -> str:
    expanded = cin * expand  # torchvision's _make_divisible(cin * ratio, 8) is exact for every B0 row
    index = 0
    y = x
    if expanded != cin:
        y = _conv_bn_act(b, y, cin, expanded, 1, 1, f"{prefix}.block.{index}")
        index += 1
    y = _conv_bn_act(b, y, expanded, expanded, kernel, stride, f"{prefix}.block.{index}", groups=expanded)
    y = _squeeze_excitation(b, y, expanded, max(1, cin // 4), f"{prefix}.block.{index + 1}")
    y = _conv_bn_act(b, y, expanded, cout, 1, 1, f"{prefix}.block.{index + 2}", act=False)
    if stride == 1 and cin == cout:
        y = b.add(y, x, name=f"{prefix}.add")
    return y


def build_efficientnet_b0(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``input`` [batch, 3, H, W] -> ``logits`` [batch, 1000]."""
    _validate(resolution)
    check_batch(batch, NAME)
    b = GraphBuilder(NAME, with_weights=with_weights, seed=seed)
    x = b.input("input", [batch, 3, resolution.height, resolution.width])
    x = _conv_bn_act(b, x, 3, STEM_CHANNELS, 3, 2, "features.0")
    for stage, (expand, kernel, stride, cin, cout, layers) in enumerate(STAGES, start=1):
        for block in range(layers):
            first = block == 0
            x = _mbconv(b, x, expand, kernel, stride if first else 1, cin if first else cout, cout,
                        f"features.{stage}.{block}")
    x = _conv_bn_act(b, x, STAGES[-1][4], LAST_CHANNELS, 1, 1, f"features.{len(STAGES) + 1}")
    # classifier.0 is Dropout(0.2): identity at inference, so not emitted
    b.classifier_head(x, LAST_CHANNELS, NUM_CLASSES, batch=batch, name="classifier.1")
    return b.build()


register_model(
    NAME,
    description="EfficientNet-B0, torchvision layout (MBConv: depthwise, squeeze-excite, SiLU)",
    default_resolution="224",
    accepts="any WxH, both sides >= 32",
    task="image-classification",
    validate=_validate,
    aliases=("efficientnet-b0", "effnet_b0", "efficientnet"),
    stands_for="the mobile-CNN family with squeeze-excite and SiLU: on-device vision, NPUs of phones and edge SoCs",
    source="torchvision torchvision/models/efficientnet.py (efficientnet_b0)",
)(build_efficientnet_b0)
