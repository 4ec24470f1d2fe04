"""YOLOv5s (v6.0+ layout) exactly as ultralytics/yolov5 ``models/yolov5s.yaml`` builds it, in code.

``parse_model`` scales the yaml by depth 0.33 (repeats 3/6/9 -> 1/2/3) and width 0.50 (channels
rounded up to multiples of 8). Modules (``models/common.py``): ``Conv`` = Conv2d without bias +
BatchNorm2d + SiLU (``x * Sigmoid(x)`` at opset 17), padding k // 2 unless given; ``C3`` = cv1 and
cv2 (1x1 to c2/2), n Bottlenecks on the cv1 branch (1x1 then 3x3, residual Add when shortcut),
Concat, cv3 (1x1 to c2); ``SPPF`` = cv1 (1x1 to c1/2), three chained MaxPool 5x5/1, Concat of the
four, cv2 (1x1); ``nn.Upsample(2, nearest)`` is Resize; ``Detect`` = one 1x1 Conv2d with bias per
scale to 3 anchors x (80 classes + 5) = 255 channels.

Layers 0-9 are the backbone (stem Conv 6x6/2 pad 2, P2..P5 stride-2 Convs, C3 x1/x2/x3/x1, SPPF),
10-23 the PAN head, 24 Detect. As for yolov3, box decoding (sigmoid, grid, anchors) is
post-processing: the graph ends at the three raw head tensors ``p3`` [batch, 255, H/8, W/8],
``p4`` [.., H/16, W/16], ``p5`` [.., H/32, W/32]. Both sides must be multiples of 32.
Node names follow the PyTorch module names: ``model.0.conv``, ``model.2.m.0.cv2.bn``, ``model.24.m.1``.

Reference: 7,235,389 parameters (the "Model summary: 214 layers, 7235389 parameters" the repo's
``tutorial.ipynb`` prints for yolov5s.yaml with 80 classes), asserted in tests/test_zoo_new.py.
"""

from __future__ import annotations

import math

import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

NAME = "yolov5s"
STRIDE = 32
DEPTH_MULTIPLE = 0.33
WIDTH_MULTIPLE = 0.50
HEAD_CHANNELS = 3 * (80 + 5)  # anchors per scale x (classes + box + objectness)
OUTPUTS = (("p3", 8), ("p4", 16), ("p5", 32))
# yolov5s.yaml backbone + head: (from, repeats, module, args); indices are the yaml's layer numbers
LAYOUT = (
    (-1, 1, "Conv", (64, 6, 2, 2)),  # 0-P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1-P2/4
    (-1, 3, "C3", (128,)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3-P3/8
    (-1, 6, "C3", (256,)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5-P4/16
    (-1, 9, "C3", (512,)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7-P5/32
    (-1, 3, "C3", (1024,)),
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 1, "Conv", (512, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),  # cat backbone P4
    (-1, 3, "C3", (512, False)),  # 13
    (-1, 1, "Conv", (256, 1, 1)),
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),  # cat backbone P3
    (-1, 3, "C3", (256, False)),  # 17 (P3/8-small)
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 14), 1, "Concat", ()),  # cat head P4
    (-1, 3, "C3", (512, False)),  # 20 (P4/16-medium)
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 10), 1, "Concat", ()),  # cat head P5
    (-1, 3, "C3", (1024, False)),  # 23 (P5/32-large)
)
DETECT_FROM = (17, 20, 23)


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, NAME, min_side=STRIDE, multiple=STRIDE)


def make_divisible(x: float, divisor: int = 8) -> int:
    """ultralytics utils/general.py: the next multiple of ``divisor`` at or above ``x``."""
    return math.ceil(x / divisor) * divisor


def _conv(b: GraphBuilder, x: str, cin: int, cout: int, k: int = 1, s: int = 1, p: int | None = None, *,
          prefix: str) -> str:
    y = b.conv(x, cin, cout, k, stride=s, pad=k // 2 if p is None else p, name=f"{prefix}.conv")
    return b.silu(b.batch_norm(y, cout, name=f"{prefix}.bn"), name=f"{prefix}.act")


def _c3(b: GraphBuilder, x: str, cin: int, cout: int, repeats: int, shortcut: bool, prefix: str) -> str:
    hidden = cout // 2
    y = _conv(b, x, cin, hidden, prefix=f"{prefix}.cv1")
    for i in range(repeats):  # Bottleneck(c_, c_, shortcut, e=1.0)
        z = _conv(b, y, hidden, hidden, 1, prefix=f"{prefix}.m.{i}.cv1")
        z = _conv(b, z, hidden, hidden, 3, prefix=f"{prefix}.m.{i}.cv2")
        y = b.add(y, z, name=f"{prefix}.m.{i}.add") if shortcut else z
    side = _conv(b, x, cin, hidden, prefix=f"{prefix}.cv2")
    y = b.concat([y, side], axis=1, name=f"{prefix}.cat")
    return _conv(b, y, 2 * hidden, cout, prefix=f"{prefix}.cv3")


def _sppf(b: GraphBuilder, x: str, cin: int, cout: int, k: int, prefix: str) -> str:
    hidden = cin // 2
    x = _conv(b, x, cin, hidden, prefix=f"{prefix}.cv1")
    pooled = [x]
    for i in range(3):
        pooled.append(b.max_pool(pooled[-1], k, 1, pad=k // 2, name=f"{prefix}.m.{i}"))
    return _conv(b, b.concat(pooled, axis=1, name=f"{prefix}.cat"), 4 * hidden, cout, prefix=f"{prefix}.cv2")


def build_yolov5s(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``images`` [batch, 3, H, W] -> raw head tensors ``p3``, ``p4``, ``p5``
    ([batch, 255, H/s, W/s] for s = 8, 16, 32)."""
    _validate(resolution)
    check_batch(batch, NAME)
    h, w = resolution.height, resolution.width
    b = GraphBuilder(NAME, with_weights=with_weights, seed=seed)
    outputs: list[str] = []
    channels: list[int] = []
    x, c = b.input("images", [batch, 3, h, w]), 3
    for i, (source, repeats, module, args) in enumerate(LAYOUT):
        prefix = f"model.{i}"
        n = max(round(repeats * DEPTH_MULTIPLE), 1) if repeats > 1 else repeats
        if module == "Conv":
            cout = make_divisible(args[0] * WIDTH_MULTIPLE)
            x, c = _conv(b, x, c, cout, *args[1:], prefix=prefix), cout
        elif module == "C3":
            cout = make_divisible(args[0] * WIDTH_MULTIPLE)
            shortcut = args[1] if len(args) > 1 else True
            x, c = _c3(b, x, c, cout, n, shortcut, prefix), cout
        elif module == "SPPF":
            cout = make_divisible(args[0] * WIDTH_MULTIPLE)
            x, c = _sppf(b, x, c, cout, args[1], prefix), cout
        elif module == "Upsample":
            x = b.upsample_nearest(x, 2, name=prefix)
        else:  # Concat of the previous layer and an earlier one, on channels
            parts = [j if j >= 0 else i + j for j in source]
            x = b.concat([outputs[j] for j in parts], axis=1, name=prefix)
            c = sum(channels[j] for j in parts)
        outputs.append(x)
        channels.append(c)
    detect = f"model.{len(LAYOUT)}"
    for scale, ((name, stride), source) in enumerate(zip(OUTPUTS, DETECT_FROM)):
        b.conv(outputs[source], channels[source], HEAD_CHANNELS, 1, bias=True, name=f"{detect}.m.{scale}")
        b.mark_output(name, [batch, HEAD_CHANNELS, h // stride, w // stride])
    return b.build()


register_model(
    NAME,
    description="YOLOv5s v6.0+, ultralytics yolov5s.yaml (C3, SPPF, SiLU; outputs raw head tensors)",
    default_resolution="640",
    accepts=f"WxH with both sides multiples of {STRIDE} (640, 1920x1088, 1mp/2mp/4mp)",
    task="object-detection",
    validate=_validate,
    aliases=("yolov5", "yolo-v5s", "yolov5-s"),
    stands_for="light real-time detection on edge devices: cameras, drones, retail, industrial inspection",
    source="ultralytics/yolov5 models/yolov5s.yaml + models/common.py (Conv, C3, SPPF, Detect)",
)(build_yolov5s)
