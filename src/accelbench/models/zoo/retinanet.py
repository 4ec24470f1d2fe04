"""RetinaNet as MLPerf Inference runs it: ResNeXt50-32x4d + FPN, 264 classes (OpenImages subset), 800x800.

The reference (mlcommons/inference ``vision/classification_and_detection/tools/retinanet_pytorch_to_onnx.py``:
``retinanet_from_backbone("resnext50_32x4d", 264, image_size=[800, 800])``, the model code of
mlcommons/training ``retired_benchmarks/retinanet/ssd/model/``) is torchvision's RetinaNet layout:

- backbone ``resnext50_32x4d`` (torchvision: bottleneck width = planes/64 x 4 x 32 groups, stride on
  the grouped 3x3 conv) with FrozenBatchNorm2d, the classifier dropped; C3, C4, C5 = layer2..4;
- FPN: ``inner_blocks.i`` 1x1 conv (bias) to 256 channels, top-down nearest upsampling to the
  lateral's size + add, ``layer_blocks.i`` 3x3 conv (bias); ``extra_blocks`` (LastLevelP6P7(256, 256),
  so P6 comes from P5): ``p6`` 3x3/2 conv, ``p7`` 3x3/2 conv after a ReLU;
- heads shared by the five levels P3..P7: classification = 4 x (3x3 conv 256 + ReLU), ``cls_logits``
  3x3 conv to 9 anchors x 264 classes; regression = 4 x (3x3 conv + ReLU), ``bbox_reg`` to 9 x 4;
  each level's output is viewed [N, A, K, H, W], permuted to [N, H, W, A, K], reshaped to
  [N, HWA, K], and the levels are concatenated.

Not in the graph (pre/post-processing, no MACs, as yolov3 leaves out its yolo layers):
GeneralizedRCNNTransform (normalisation and the resize to 800x800), anchor generation, box decoding,
top-k and NMS. Input ``images`` [batch, 3, H, W] (normalised); outputs ``cls_logits``
[batch, anchors, 264] and ``bbox_regression`` [batch, anchors, 4]; at 800x800, anchors = 9 x
(100^2 + 50^2 + 25^2 + 13^2 + 7^2) = 120,087.

FrozenBatchNorm2d is a BatchNormalization node (eps 1e-5); its weight, bias, mean and variance are
buffers in torch, so they are not parameters. Node names are the torch module names
(``backbone.body.layer3.2.conv2``, ``backbone.fpn.inner_blocks.0``, ``head.classification_head.cls_logits``);
a head conv applied to level ``p4`` is ``head.classification_head.conv.0.p4`` and shares its weights.

Reference figures (asserted in tests/test_zoo_mlperf.py): 37,060,652 parameters (torch
``model.parameters()``, FrozenBatchNorm2d excluded; 37,128,876 with the BN scale and shift the graph
carries) and conv MACs 201,208,394,752 at 800x800.
"""

from __future__ import annotations

import numpy as np
import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

NAME = "retinanet"
NUM_CLASSES = 264  # MLPerf's OpenImages subset
NUM_ANCHORS = 9  # 3 sizes x 3 aspect ratios per location
FPN_CHANNELS = 256
GROUPS = 32
WIDTH_PER_GROUP = 4
# (blocks, planes, stride of the stage's first block); output channels = 4 x planes
STAGES = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))
EXPANSION = 4
FROZEN_BN_EPS = 1e-5
HEAD_CONVS = 4
LEVELS = ("p3", "p4", "p5", "p6", "p7")
INPUT_NAME = "images"


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, NAME)


def _half(side: int) -> int:
    # a 3x3/2 (pad 1), 7x7/2 (pad 3), 1x1/2 conv or 3x3/2 max-pool (pad 1) gives ceil(side / 2)
    return -(-side // 2)


def _conv_bn(b: GraphBuilder, x: str, cin: int, cout: int, kernel: int, stride: int, conv: str, bn: str,
             groups: int = 1) -> str:
    y = b.conv(x, cin, cout, kernel, stride=stride, groups=groups, name=conv)
    return b.batch_norm(y, cout, eps=FROZEN_BN_EPS, name=bn)


def _resnext_block(b: GraphBuilder, x: str, cin: int, planes: int, stride: int, prefix: str) -> str:
    width = planes * WIDTH_PER_GROUP // 64 * GROUPS
    cout = planes * EXPANSION
    y = b.relu(_conv_bn(b, x, cin, width, 1, 1, f"{prefix}.conv1", f"{prefix}.bn1"), name=f"{prefix}.relu")
    y = b.relu(_conv_bn(b, y, width, width, 3, stride, f"{prefix}.conv2", f"{prefix}.bn2", GROUPS),
               name=f"{prefix}.relu")
    y = _conv_bn(b, y, width, cout, 1, 1, f"{prefix}.conv3", f"{prefix}.bn3")
    identity = x
    if stride != 1 or cin != cout:
        identity = _conv_bn(b, x, cin, cout, 1, stride, f"{prefix}.downsample.0", f"{prefix}.downsample.1")
    return b.relu(b.add(y, identity, name=f"{prefix}.add"), name=f"{prefix}.relu")


def _backbone(b: GraphBuilder, x: str) -> list[tuple[str, int]]:
    """ResNeXt50-32x4d body; returns (tensor, channels) of C3, C4, C5."""
    p = "backbone.body"
    x = b.relu(_conv_bn(b, x, 3, 64, 7, 2, f"{p}.conv1", f"{p}.bn1"), name=f"{p}.relu")
    x = b.max_pool(x, 3, 2, pad=1, name=f"{p}.maxpool")
    cin, features = 64, []
    for stage, (blocks, planes, stride) in enumerate(STAGES, start=1):
        for block in range(blocks):
            x = _resnext_block(b, x, cin, planes, stride if block == 0 else 1, f"{p}.layer{stage}.{block}")
            cin = planes * EXPANSION
        if stage >= 2:
            features.append((x, cin))
    return features


def _fpn(b: GraphBuilder, features: list[tuple[str, int]], sizes: list[tuple[int, int]], batch: int) -> list[str]:
    """P3..P5 (top-down pathway) then P6, P7 (LastLevelP6P7 on P5)."""
    p = "backbone.fpn"
    inner = [b.conv(c, ch, FPN_CHANNELS, 1, bias=True, name=f"{p}.inner_blocks.{i}")
             for i, (c, ch) in enumerate(features)]
    last = inner[-1]
    results = [b.conv(last, FPN_CHANNELS, FPN_CHANNELS, 3, bias=True, name=f"{p}.layer_blocks.{len(inner) - 1}")]
    for i in range(len(inner) - 2, -1, -1):
        height, width = sizes[i]
        target = b.constant(f"{p}.upsample_{i}.sizes", np.array([batch, FPN_CHANNELS, height, width], np.int64))
        # F.interpolate(mode="nearest") exports as asymmetric / floor nearest resizing to the lateral's size
        up = b.node("Resize", [last, "", "", target], name=f"{p}.upsample_{i}", mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        last = b.add(inner[i], up, name=f"{p}.add_{i}")
        results.insert(0, b.conv(last, FPN_CHANNELS, FPN_CHANNELS, 3, bias=True, name=f"{p}.layer_blocks.{i}"))
    p6 = b.conv(results[-1], FPN_CHANNELS, FPN_CHANNELS, 3, stride=2, bias=True, name=f"{p}.extra_blocks.p6")
    p7 = b.conv(b.relu(p6, name=f"{p}.extra_blocks.relu"), FPN_CHANNELS, FPN_CHANNELS, 3, stride=2, bias=True,
                name=f"{p}.extra_blocks.p7")
    return [*results, p6, p7]


class _SharedConv:
    """A 3x3 conv (with bias) whose weights every pyramid level reuses: one initializer, one Conv per level."""

    def __init__(self, b: GraphBuilder, name: str, cout: int):
        self.b, self.name = b, name
        # the reference draws head weights from normal(std 0.01); the builder's "normal" is std 0.02
        self.weight = b.weight(f"{name}.weight", [cout, FPN_CHANNELS, 3, 3], init="normal")
        self.bias = b.weight(f"{name}.bias", [cout], init="zeros")

    def __call__(self, x: str, level: str) -> str:
        return self.b.node("Conv", [x, self.weight, self.bias], name=f"{self.name}.{level}", kernel_shape=[3, 3],
                           strides=[1, 1], pads=[1, 1, 1, 1], group=1, dilations=[1, 1])


def _head(b: GraphBuilder, levels: list[str], sizes: list[tuple[int, int]], prefix: str, last: str,
          per_anchor: int) -> str:
    convs = [_SharedConv(b, f"{prefix}.conv.{2 * i}", FPN_CHANNELS) for i in range(HEAD_CONVS)]
    final = _SharedConv(b, f"{prefix}.{last}", NUM_ANCHORS * per_anchor)
    flat = b.constant(f"{prefix}.flat_shape", np.array([0, -1, per_anchor], np.int64))
    outputs = []
    for x, level, (height, width) in zip(levels, LEVELS, sizes):
        for i, conv in enumerate(convs):
            x = b.relu(conv(x, level), name=f"{prefix}.conv.{2 * i + 1}.{level}")
        x = final(x, level)
        # [N, A*K, H, W] -> [N, A, K, H, W] -> [N, H, W, A, K] -> [N, HWA, K]
        view = b.constant(f"{prefix}.view_shape.{level}", np.array([0, NUM_ANCHORS, per_anchor, height, width],
                                                                   np.int64))
        x = b.node("Reshape", [x, view], name=f"{prefix}.view.{level}")
        x = b.node("Transpose", [x], name=f"{prefix}.permute.{level}", perm=[0, 3, 4, 1, 2])
        outputs.append(b.node("Reshape", [x, flat], name=f"{prefix}.reshape.{level}"))
    return b.concat(outputs, axis=1, name=f"{prefix}.concat")


def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """(H, W) of C3..C5 = P3..P5, then P6, P7 (strides 8 .. 128) for an input of ``height`` x ``width``."""
    h, w = _half(_half(height)), _half(_half(width))  # stem conv and max-pool: C2
    sizes = []
    for _ in LEVELS:
        h, w = _half(h), _half(w)
        sizes.append((h, w))
    return sizes


def anchor_count(height: int, width: int) -> int:
    """Anchors over P3..P7 for an input of ``height`` x ``width`` (120,087 at 800x800)."""
    return NUM_ANCHORS * sum(h * w for h, w in level_sizes(height, width))


def build_retinanet(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 ``images`` [batch, 3, H, W] -> ``cls_logits`` [batch, anchors, 264] and
    ``bbox_regression`` [batch, anchors, 4]."""
    _validate(resolution)
    check_batch(batch, NAME)
    b = GraphBuilder(NAME, with_weights=with_weights, seed=seed)
    x = b.input(INPUT_NAME, [batch, 3, resolution.height, resolution.width])
    sizes = level_sizes(resolution.height, resolution.width)
    levels = _fpn(b, _backbone(b, x), sizes, batch)
    cls = _head(b, levels, sizes, "head.classification_head", "cls_logits", NUM_CLASSES)
    reg = _head(b, levels, sizes, "head.regression_head", "bbox_reg", 4)
    for node, name in ((cls, "cls_logits"), (reg, "bbox_regression")):
        b.nodes[[n.name for n in b.nodes].index(node)].output[0] = name
    anchors = anchor_count(resolution.height, resolution.width)
    b.output("cls_logits", [batch, anchors, NUM_CLASSES])
    b.output("bbox_regression", [batch, anchors, 4])
    return b.build()


register_model(
    NAME,
    description="RetinaNet ResNeXt50-32x4d FPN, 264 classes, as MLPerf Inference runs it (800x800)",
    default_resolution="800",
    accepts="any WxH, both sides >= 32 (MLPerf: 800x800)",
    task="object-detection",
    validate=_validate,
    aliases=("retinanet_resnext50_32x4d_fpn", "retinanet-800"),
    stands_for="one-stage object detection at high resolution (MLPerf retinanet, OpenImages)",
    source="mlcommons/inference tools/retinanet_pytorch_to_onnx.py (torchvision RetinaNet, ResNeXt50-32x4d FPN)",
)(build_retinanet)
