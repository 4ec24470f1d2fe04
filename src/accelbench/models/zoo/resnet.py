"""ResNet-18, -50 and -101 in torchvision's layout (torchvision.models.resnet), one family.

ResNet-18 stacks BasicBlocks (two 3x3 convs) [2, 2, 2, 2]; ResNet-50 and -101 stack Bottlenecks
(1x1, 3x3, 1x1 with 4x expansion) [3, 4, 6, 3] and [3, 4, 23, 3]. torchvision's Bottleneck is v1.5:
the stride sits on the 3x3 conv (conv2), not on the first 1x1 as in the original paper. Every conv
has no bias and is followed by a BatchNormalization node (as trained; folding is the runtime's
business). Node and weight names follow torchvision's module names (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer1.0.downsample.0``, ``fc``) so that a layer of the profile can be
matched to the PyTorch model by name.

Reference figures (torchvision's ``num_params``; asserted in tests/test_zoo_cnn.py and
tests/test_zoo_new.py): resnet18 11,689,512, resnet50 25,557,032, resnet101 44,549,160
parameters (conv weights, BN weight/bias and fc; running mean/var are buffers, not parameters);
resnet50 4,089,184,256 conv+fc MACs at 224x224.
"""

from __future__ import annotations

import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

MIN_SIDE = 32  # five stride-2 stages take 32 px down to a 1x1 map before the global pool
NUM_CLASSES = 1000
STAGE_WIDTHS = (64, 128, 256, 512)  # planes of layer1..layer4; each stage after the first starts with stride 2
# depth -> (block kind, blocks per stage), torchvision's resnet18 / resnet50 / resnet101
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}
SOURCE = "torchvision torchvision/models/resnet.py (BasicBlock, Bottleneck v1.5)"
ACCEPTS = f"any WxH, both sides >= {MIN_SIDE}"


def _conv_bn(b: GraphBuilder, x: str, cin: int, cout: int, kernel: int, stride: int,
             conv_name: str, bn_name: str) -> str:
    y = b.conv(x, cin, cout, kernel, stride=stride, name=conv_name)
    return b.batch_norm(y, cout, name=bn_name)


def _block(b: GraphBuilder, kind: str, x: str, cin: int, planes: int, stride: int, prefix: str) -> str:
    cout = planes * EXPANSION[kind]
    if kind == "basic":
        y = b.relu(_conv_bn(b, x, cin, planes, 3, stride, f"{prefix}.conv1", f"{prefix}.bn1"), name=f"{prefix}.relu")
        y = _conv_bn(b, y, planes, planes, 3, 1, f"{prefix}.conv2", f"{prefix}.bn2")
    else:
        y = b.relu(_conv_bn(b, x, cin, planes, 1, 1, f"{prefix}.conv1", f"{prefix}.bn1"), name=f"{prefix}.relu")
        # v1.5: the stride is on the 3x3 conv
        y = b.relu(_conv_bn(b, y, planes, planes, 3, stride, f"{prefix}.conv2", f"{prefix}.bn2"),
                   name=f"{prefix}.relu")
        y = _conv_bn(b, y, planes, cout, 1, 1, f"{prefix}.conv3", f"{prefix}.bn3")
    if stride != 1 or cin != cout:
        identity = _conv_bn(b, x, cin, cout, 1, stride, f"{prefix}.downsample.0", f"{prefix}.downsample.1")
    else:
        identity = x
    return b.relu(b.add(y, identity, name=f"{prefix}.add"), name=f"{prefix}.relu")


def build_resnet(depth: int, resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``input`` [batch, 3, H, W] -> ``logits`` [batch, 1000]."""
    name = f"resnet{depth}"
    kind, blocks_per_stage = DEPTHS[depth]
    validate_image_size(resolution, name, min_side=MIN_SIDE)
    check_batch(batch, name)
    b = GraphBuilder(name, with_weights=with_weights, seed=seed)
    x = b.input("input", [batch, 3, resolution.height, resolution.width])
    x = b.relu(_conv_bn(b, x, 3, 64, 7, 2, "conv1", "bn1"), name="relu")
    x = b.max_pool(x, 3, 2, pad=1, name="maxpool")
    cin = 64
    for stage, (blocks, planes) in enumerate(zip(blocks_per_stage, STAGE_WIDTHS), start=1):
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _block(b, kind, x, cin, planes, stride, f"layer{stage}.{block}")
            cin = planes * EXPANSION[kind]
    b.classifier_head(x, cin, NUM_CLASSES, batch=batch, name="fc")
    return b.build()


def _register(depth: int, description: str, stands_for: str, aliases: tuple[str, ...]) -> None:
    name = f"resnet{depth}"

    def build(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
        return build_resnet(depth, resolution, batch, with_weights, seed)

    def validate(resolution: Resolution) -> None:
        validate_image_size(resolution, name, min_side=MIN_SIDE)

    build.__name__ = f"build_{name}"
    register_model(name, description=description, default_resolution="224", accepts=ACCEPTS,
                   task="image-classification", validate=validate, aliases=aliases, stands_for=stands_for,
                   source=SOURCE)(build)


_register(18, "ResNet-18, torchvision layout (BasicBlocks of two 3x3 convs, [2, 2, 2, 2])",
          "shallow server and embedded CNN backbones: classification, re-identification, small detectors",
          ("resnet-18", "rn18"))
_register(50, "ResNet-50 v1.5, torchvision layout (Conv+BN+ReLU, stride on the 3x3 conv)",
          "the reference CNN: image classification and the backbone of most detectors and segmenters (MLPerf)",
          ("resnet-50", "resnet50_v1.5", "rn50"))
_register(101, "ResNet-101 v1.5, torchvision layout (Bottlenecks [3, 4, 23, 3])",
          "deep CNN backbones: high-accuracy detection and segmentation (Faster/Mask R-CNN, DeepLab)",
          ("resnet-101", "rn101"))
