"""What kind of network a profile is, from its graph alone (never from its name).

Every MAC-carrying layer belongs to one **op family** (docs/profiling.md, "Network kind"):

- ``conv``: dense Conv (any kernel, groups = 1); ``depthwise``: grouped/depthwise Conv;
  ``deconv``: ConvTranspose;
- ``linear``: Gemm, or MatMul/Einsum with a weight operand (the layer has parameters);
- ``attention``: MatMul/Einsum between two activations (QK^T, attention x V);
- ``lstm``, ``gru``, ``rnn``: the recurrent ops.

The **network kind** follows from the share of MACs in each family, then from the graph's outputs:

- ``rnn``: recurrent layers hold >= 25 % of the MACs;
- ``transformer``: there are attention MACs and attention + linear hold >= 50 %;
- ``detector``: convolutions hold >= 50 % and the graph has box-level ops (NonMaxSuppression,
  RoiAlign), two or more 4-D outputs at different spatial sizes (multi-scale heads), or anchor
  outputs: a ``[batch, anchors, 4]`` box tensor beside another ``[batch, anchors, classes]`` one
  (heads concatenated over levels, as torchvision's RetinaNet exports them);
- ``dense-prediction``: convolutions hold >= 50 % and a 4-D output keeps at least 1/16 of the
  input's pixels (segmentation, denoising, super-resolution: stride <= 4);
- ``cnn``: convolutions hold >= 50 % otherwise;
- ``mlp``: linear layers hold >= 50 % without attention; ``mixed`` when no family dominates;
  ``none`` when the graph has no MACs.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

from accelbench.profile.types import LayerProfile

OP_FAMILIES = ("conv", "depthwise", "deconv", "linear", "attention", "lstm", "gru", "rnn")
FAMILY_WORDS = {
    "conv": "dense convolution",
    "depthwise": "depthwise/grouped convolution",
    "deconv": "transposed convolution",
    "linear": "linear (weight matmul)",
    "attention": "attention matmul",
    "lstm": "LSTM",
    "gru": "GRU",
    "rnn": "RNN",
}
NETWORK_KINDS = ("cnn", "detector", "dense-prediction", "rnn", "transformer", "mlp", "mixed", "none")
CONV_FAMILIES = ("conv", "depthwise", "deconv")
RECURRENT_FAMILIES = ("lstm", "gru", "rnn")
BOX_OPS = frozenset({"NonMaxSuppression", "RoiAlign", "MaxRoiPool"})

_CONV_OPS = frozenset({"Conv", "ConvInteger", "QLinearConv"})
_MATMUL_OPS = frozenset({"MatMul", "MatMulInteger", "QLinearMatMul", "Einsum"})
RECURRENT_SHARE = 0.25
DOMINANT_SHARE = 0.5
DENSE_PIXEL_RATIO = 1 / 16


def op_family(layer: LayerProfile) -> str | None:
    """The family of a layer's MACs (see the module docstring); None for a layer without MACs."""
    if not layer.macs:
        return None
    op = layer.op
    if op in _CONV_OPS:
        return "depthwise" if layer.gemm is not None and layer.gemm.groups > 1 else "conv"
    if op == "ConvTranspose":
        return "deconv"
    if op in ("LSTM", "GRU", "RNN"):
        return op.lower()
    if op in _MATMUL_OPS and layer.params == 0:
        return "attention"
    return "linear"


def family_macs(layers: Iterable[LayerProfile]) -> dict[str, int]:
    """MACs per op family, every family present (0 when absent)."""
    totals = dict.fromkeys(OP_FAMILIES, 0)
    for layer in layers:
        family = op_family(layer)
        if family is not None:
            totals[family] += layer.macs
    return totals


def _anchor_outputs(output_shapes: Mapping[str, tuple[int, ...]]) -> bool:
    """A [b, n, 4] box tensor and another [b, n, c] tensor over the same n anchors."""
    rank3 = [tuple(shape) for shape in output_shapes.values() if len(shape) == 3]
    boxes = {shape[1] for shape in rank3 if shape[2] == 4}
    return any(shape[1] in boxes and shape[2] != 4 for shape in rank3)


def network_kind(layers: Iterable[LayerProfile], input_shapes: Mapping[str, tuple[int, ...]],
                 output_shapes: Mapping[str, tuple[int, ...]]) -> str:
    """The kind of network (NETWORK_KINDS) by the rules of the module docstring."""
    layers = list(layers)
    macs = family_macs(layers)
    total = sum(macs.values())
    if not total:
        return "none"
    share = {family: value / total for family, value in macs.items()}
    if sum(share[f] for f in RECURRENT_FAMILIES) >= RECURRENT_SHARE:
        return "rnn"
    if share["attention"] > 0 and share["attention"] + share["linear"] >= DOMINANT_SHARE:
        return "transformer"
    if sum(share[f] for f in CONV_FAMILIES) >= DOMINANT_SHARE:
        ops = {op for layer in layers for op in layer.fused_ops}
        image = _image_input(input_shapes)
        spatial = _output_pixels(output_shapes, channels_last=image is not None and image[1])
        if ops & BOX_OPS or len(set(spatial)) >= 2 or _anchor_outputs(output_shapes):
            return "detector"
        if image is not None and any(p >= image[0] * DENSE_PIXEL_RATIO for p in spatial):
            return "dense-prediction"
        return "cnn"
    if share["linear"] >= DOMINANT_SHARE:
        return "mlp"
    return "mixed"


def _is_channels_last(shape: tuple[int, ...]) -> bool:
    # NHWC: a small last dim (colour channels) behind two larger spatial dims
    return shape[3] <= 4 < min(shape[1], shape[2])


def _image_input(input_shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, bool] | None:
    """(pixels, channels-last) of the largest 4-D graph input, or None without one."""
    images = [shape for shape in input_shapes.values() if len(shape) == 4]
    if not images:
        return None
    shape = max(images, key=math.prod)
    last = _is_channels_last(shape)
    return (shape[1] * shape[2] if last else shape[2] * shape[3]), last


def _output_pixels(output_shapes: Mapping[str, tuple[int, ...]], channels_last: bool) -> list[int]:
    """Spatial size (H x W) of each 4-D output, read in the input's layout."""
    return [(s[1] * s[2] if channels_last else s[2] * s[3]) for s in output_shapes.values() if len(s) == 4]
