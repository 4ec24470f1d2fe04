"""ResNet-50 v1.5 in torchvision's layout (torchvision.models.resnet50).

v1.5: in each bottleneck the stride sits on the 3x3 conv (conv2), not on the first 1x1 as in the
original paper. Every conv has no bias and is followed by a BatchNormalization node (as trained;
folding is the runtime's business). Node and weight names follow torchvision's module names
(``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``, ``fc``) so that a layer of the
profile can be matched to the PyTorch model by name.

Reference figures (asserted in tests/test_zoo_cnn.py): 25,557,032 parameters (conv weights,
BN weight/bias and fc; running mean/var are buffers, not parameters) and 4,089,184,256
conv+fc MACs at 224x224.
"""

from __future__ import annotations

import onnx

from accelbench.errors import UserError
from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.shapes import Resolution

MIN_SIDE = 32  # five stride-2 stages take 32 px down to a 1x1 map before the global pool
NUM_CLASSES = 1000
# (blocks, bottleneck width, stride of the stage's first block); output channels = 4 x width
STAGES = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))
EXPANSION = 4


def validate_cnn_resolution(resolution: Resolution, model: str, min_side: int = MIN_SIDE) -> None:
    """Any width and height of at least ``min_side`` pixels (convs pad, so no multiple is needed)."""
    if resolution.width < min_side or resolution.height < min_side:
        raise UserError(
            f"resolution: {model} needs both sides >= {min_side} pixels (any WxH from"
            f" {min_side}x{min_side} up, e.g. 224 or 2mp); got {resolution}"
        )


def check_batch(batch: int, model: str) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch: {model} needs a positive integer batch such as 1 or 32; got {batch!r}")


def _validate(resolution: Resolution) -> None:
    validate_cnn_resolution(resolution, "resnet50")


def _conv_bn(b: GraphBuilder, x: str, cin: int, cout: int, kernel: int, stride: int,
             conv_name: str, bn_name: str) -> str:
    y = b.conv(x, cin, cout, kernel, stride=stride, name=conv_name)
    return b.batch_norm(y, cout, name=bn_name)


def _bottleneck(b: GraphBuilder, x: str, cin: int, width: int, stride: int, prefix: str) -> str:
    cout = width * EXPANSION
    y = b.relu(_conv_bn(b, x, cin, width, 1, 1, f"{prefix}.conv1", f"{prefix}.bn1"), name=f"{prefix}.relu")
    # v1.5: the stride is on the 3x3 conv
    y = b.relu(_conv_bn(b, y, width, width, 3, stride, f"{prefix}.conv2", f"{prefix}.bn2"), name=f"{prefix}.relu")
    y = _conv_bn(b, y, width, cout, 1, 1, f"{prefix}.conv3", f"{prefix}.bn3")
    if stride != 1 or cin != cout:
        identity = _conv_bn(b, x, cin, cout, 1, stride, f"{prefix}.downsample.0", f"{prefix}.downsample.1")
    else:
        identity = x
    return b.relu(b.add(y, identity, name=f"{prefix}.add"), name=f"{prefix}.relu")


def build_resnet50(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``input`` [batch, 3, H, W] -> ``logits`` [batch, 1000]."""
    _validate(resolution)
    check_batch(batch, "resnet50")
    b = GraphBuilder("resnet50", with_weights=with_weights, seed=seed)
    x = b.input("input", [batch, 3, resolution.height, resolution.width])
    x = b.relu(_conv_bn(b, x, 3, 64, 7, 2, "conv1", "bn1"), name="relu")
    x = b.max_pool(x, 3, 2, pad=1, name="maxpool")
    cin = 64
    for stage, (blocks, width, stride) in enumerate(STAGES, start=1):
        for block in range(blocks):
            x = _bottleneck(b, x, cin, width, stride if block == 0 else 1, f"layer{stage}.{block}")
            cin = width * EXPANSION
    x = b.flatten(b.global_avg_pool(x, name="avgpool"), name="flatten")
    b.linear(x, cin, NUM_CLASSES, name="fc")
    b.nodes[-1].output[0] = "logits"  # the graph output keeps a stable name; the node stays "fc"
    b.output("logits", [batch, NUM_CLASSES])
    return b.build()


register_model(
    "resnet50",
    description="ResNet-50 v1.5, torchvision layout (Conv+BN+ReLU, stride on the 3x3 conv)",
    default_resolution="224",
    accepts=f"any WxH, both sides >= {MIN_SIDE}",
    task="image-classification",
    validate=_validate,
    aliases=("resnet-50", "resnet50_v1.5", "rn50"),
)(build_resnet50)
