"""YOLOv3 exactly as Darknet's ``cfg/yolov3.cfg`` (pjreddie/darknet), built as ONNX in code.

Darknet-53 backbone plus the three-scale head: 107 Darknet layers = 75 convolutional,
23 shortcut, 4 route, 2 upsample and 3 yolo. Every conv is Conv (no bias) + BatchNormalization +
LeakyRelu(0.1), except the three 1x1 detection convs (255 = 3 anchors x (80 classes + 5)),
which have a bias and a linear activation. Darknet pads "same" (``pad=1`` means size/2), so the
3x3 stride-2 downsample convs halve each side exactly; both sides must be multiples of 32.

Nodes are named after Darknet's layer indices: ``conv_0`` (with ``conv_0.bn`` and
``conv_0.leaky``), ``shortcut_4``, ``route_83``, ``upsample_85``... A single-layer route
(83, 95) is an Identity node, a two-layer route (86, 98) a Concat on channels.

The ``yolo`` layers (82, 94, 106) only decode boxes (sigmoid, anchors, grid offsets); that is
post-processing, so the graph ends at the raw head tensors, named after them:
``yolo_82`` [batch, 255, H/32, W/32], ``yolo_94`` [.., H/16, W/16], ``yolo_106`` [.., H/8, W/8].

Reference figures (asserted in tests/test_zoo_yolo_bert.py): 61,949,149 parameters (conv
weights, BN scale/bias, detection-conv biases; BN running mean/var are not parameters) and
conv MACs 32,932,037,632 at 416x416 (Darknet prints 65.864 BFLOPs = 2 x MACs).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

STRIDE = 32  # five stride-2 convs
NUM_ANCHORS_PER_SCALE = 3
NUM_CLASSES = 80
HEAD_CHANNELS = NUM_ANCHORS_PER_SCALE * (NUM_CLASSES + 5)  # 255
LEAKY_ALPHA = 0.1
# Random weights only: BN scale of the last conv of each residual branch. With He-normal convs and
# identity BN each of the 23 shortcuts doubles the variance (head outputs reach ~3e4, next to
# FP16's 65504); 0.2 keeps the growth to ~1.04x per shortcut. Structure and counts are unchanged.
RESIDUAL_BN_SCALE = 0.2
INPUT_NAME = "images"

# Darknet-53 stages after the stem conv_0: (output channels of the stride-2 conv, residual blocks)
BACKBONE = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, "yolov3", min_side=STRIDE, multiple=STRIDE)


class _Darknet:
    """Appends layers in cfg order, numbering them as Darknet does, and remembers each output."""

    def __init__(self, b: GraphBuilder, x: str, channels: int):
        self.b = b
        self.outputs: list[str] = []  # output tensor of Darknet layer i
        self.channels: list[int] = []
        self._x = x
        self._c = channels

    @property
    def index(self) -> int:
        return len(self.outputs)

    def _push(self, out: str, channels: int) -> str:
        self.outputs.append(out)
        self.channels.append(channels)
        self._x, self._c = out, channels
        return out

    def conv(self, cout: int, size: int, stride: int = 1, bn_scale: float = 1.0) -> str:
        """[convolutional] batch_normalize=1, pad=1, activation=leaky."""
        name = f"conv_{self.index}"
        y = self.b.conv(self._x, self._c, cout, size, stride=stride, pad=size // 2, name=name)
        y = self.b.batch_norm(y, cout, name=f"{name}.bn")
        if bn_scale != 1.0 and self.b.with_weights:
            # batch_norm appends weight, bias, running_mean, running_var: replace the weight's data
            scale = self.b.initializers[-4]
            self.b.initializers[-4] = numpy_helper.from_array(np.full(cout, bn_scale, np.float32), scale.name)
        y = self.b.leaky_relu(y, LEAKY_ALPHA, name=f"{name}.leaky")
        return self._push(y, cout)

    def detection_conv(self) -> str:
        """[convolutional] size=1, filters=255, activation=linear (bias, no BN)."""
        name = f"conv_{self.index}"
        y = self.b.conv(self._x, self._c, HEAD_CHANNELS, 1, pad=0, bias=True, name=name)
        return self._push(y, HEAD_CHANNELS)

    def shortcut(self, offset: int = -3) -> str:
        """[shortcut] from=-3, activation=linear: elementwise Add."""
        i = self.index
        other = self.outputs[i + offset]
        y = self.b.add(self._x, other, name=f"shortcut_{i}")
        return self._push(y, self._c)

    def route(self, *layers: int) -> str:
        """[route] layers=...: negative values are relative to this layer, others absolute."""
        i = self.index
        idx = [i + l if l < 0 else l for l in layers]
        if len(idx) == 1:
            # pass-through; an Identity keeps Darknet's numbering visible in the profile
            y = self.b.node("Identity", [self.outputs[idx[0]]], name=f"route_{i}")
        else:
            y = self.b.concat([self.outputs[j] for j in idx], axis=1, name=f"route_{i}")
        return self._push(y, sum(self.channels[j] for j in idx))

    def upsample(self) -> str:
        """[upsample] stride=2: nearest-neighbour x2."""
        y = self.b.upsample_nearest(self._x, 2, name=f"upsample_{self.index}")
        return self._push(y, self._c)

    def yolo(self, output_name: str) -> str:
        """[yolo]: decoding is post-processing; the previous conv's tensor becomes a graph output."""
        head = self.b.nodes[-1]
        head.output[0] = output_name  # the conv node keeps its Darknet name, its output gets the yolo's
        self.outputs[-1] = output_name
        return self._push(output_name, self._c)


def build_yolov3(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``images`` [batch, 3, H, W] -> raw head tensors ``yolo_82``,
    ``yolo_94``, ``yolo_106`` ([batch, 255, H/s, W/s] for s = 32, 16, 8)."""
    _validate(resolution)
    check_batch(batch, "yolov3")
    h, w = resolution.height, resolution.width
    b = GraphBuilder("yolov3", with_weights=with_weights, seed=seed)
    d = _Darknet(b, b.input(INPUT_NAME, [batch, 3, h, w]), 3)

    # Darknet-53 backbone: layers 0..74
    d.conv(32, 3)
    for cout, blocks in BACKBONE:
        d.conv(cout, 3, stride=2)
        for _ in range(blocks):
            d.conv(cout // 2, 1)
            d.conv(cout, 3, bn_scale=RESIDUAL_BN_SCALE)
            d.shortcut(-3)
    route_stride16, route_stride8 = 61, 36  # last shortcuts of the 512- and 256-channel stages

    heads = []
    for scale, (width, skip) in enumerate(((512, None), (256, route_stride16), (128, route_stride8))):
        if skip is not None:
            d.route(-4)  # back to the 1x1 conv before the previous head's 3x3
            d.conv(width, 1)
            d.upsample()
            d.route(-1, skip)
        for _ in range(3):
            d.conv(width, 1)
            d.conv(width * 2, 3)
        d.detection_conv()
        name = f"yolo_{d.index}"
        d.yolo(name)
        heads.append((name, STRIDE >> scale))

    if d.index != 107:  # a structural slip would silently change every figure
        raise RuntimeError(f"yolov3 builder produced {d.index} Darknet layers, expected 107")
    for name, stride in heads:
        b.output(name, [batch, HEAD_CHANNELS, h // stride, w // stride])
    return b.build()


register_model(
    "yolov3",
    description="YOLOv3 as Darknet's yolov3.cfg (Darknet-53, 3 heads; outputs raw head tensors)",
    default_resolution="416",
    accepts=f"WxH with both sides multiples of {STRIDE} (416, 608, 1920x1088, 1mp/2mp/4mp)",
    task="object-detection",
    validate=_validate,
    aliases=("yolo-v3", "yolo_v3", "darknet-yolov3"),
    stands_for="heavy real-time object detection at megapixel sizes: surveillance, traffic, robotics",
    source="pjreddie/darknet cfg/yolov3.cfg",
)(build_yolov3)
