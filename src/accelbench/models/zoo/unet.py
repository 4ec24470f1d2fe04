"""U-Net with four down- and four up-levels, as milesial/Pytorch-UNet builds it (``UNet(n_channels=3,
n_classes=2, bilinear=False)``, the configuration of its ``train.py`` defaults and of its Carvana
checkpoint ``hubconf.unet_carvana``), after Ronneberger et al. 2015 (arXiv:1505.04597) with
"same" padding and BatchNorm.

- ``inc``: DoubleConv(3, 64) = (3x3 conv pad 1 without bias + BN + ReLU) x 2;
- ``down1..down4``: MaxPool 2x2 then DoubleConv, 64 -> 128 -> 256 -> 512 -> 1024 channels;
- ``up1..up4``: ConvTranspose 2x2/2 (with bias) halving the channels, Concat [skip, upsampled] on
  channels, DoubleConv back to 512 -> 256 -> 128 -> 64;
- ``outc``: 1x1 conv with bias to 2 classes: ``logits`` [batch, 2, H, W], one score per pixel.

Both sides must be multiples of 16 (four 2x2 poolings), so milesial's ``F.pad`` of the upsampled
map is always zero and is not emitted. Node names follow the PyTorch modules:
``inc.double_conv.0``, ``down2.maxpool_conv.1.double_conv.3``, ``up1.up``, ``outc.conv``.

Reference: 31,037,698 parameters (convs, BN weight and bias, up-convolutions with bias, outc),
derived from the source above in tests/test_zoo_new.py.
"""

from __future__ import annotations

import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

NAME = "unet"
IN_CHANNELS = 3
NUM_CLASSES = 2
WIDTHS = (64, 128, 256, 512, 1024)  # inc, down1..down4
MULTIPLE = 2 ** (len(WIDTHS) - 1)  # 16: four 2x2 max pools


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, NAME, min_side=MULTIPLE, multiple=MULTIPLE)


def _double_conv(b: GraphBuilder, x: str, cin: int, cout: int, prefix: str) -> str:
    # nn.Sequential: .0 conv, .1 BN, .2 ReLU, .3 conv, .4 BN, .5 ReLU
    y = b.batch_norm(b.conv(x, cin, cout, 3, name=f"{prefix}.0"), cout, name=f"{prefix}.1")
    y = b.relu(y, name=f"{prefix}.2")
    y = b.batch_norm(b.conv(y, cout, cout, 3, name=f"{prefix}.3"), cout, name=f"{prefix}.4")
    return b.relu(y, name=f"{prefix}.5")


def build_unet(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``input`` [batch, 3, H, W] -> per-pixel ``logits`` [batch, 2, H, W]."""
    _validate(resolution)
    check_batch(batch, NAME)
    b = GraphBuilder(NAME, with_weights=with_weights, seed=seed)
    x = b.input("input", [batch, IN_CHANNELS, resolution.height, resolution.width])
    skips = [_double_conv(b, x, IN_CHANNELS, WIDTHS[0], "inc.double_conv")]
    for level in range(1, len(WIDTHS)):
        prefix = f"down{level}.maxpool_conv"
        pooled = b.max_pool(skips[-1], 2, 2, name=f"{prefix}.0")
        skips.append(_double_conv(b, pooled, WIDTHS[level - 1], WIDTHS[level], f"{prefix}.1.double_conv"))
    x = skips.pop()
    for level in range(1, len(WIDTHS)):
        cin = WIDTHS[-level]
        up = b.conv_transpose(x, cin, cin // 2, 2, stride=2, name=f"up{level}.up")
        x = b.concat([skips.pop(), up], axis=1, name=f"up{level}.cat")  # torch.cat([x2, x1], dim=1)
        x = _double_conv(b, x, cin, cin // 2, f"up{level}.conv.double_conv")
    b.conv(x, WIDTHS[0], NUM_CLASSES, 1, bias=True, name="outc.conv")
    b.mark_output("logits", [batch, NUM_CLASSES, resolution.height, resolution.width])
    return b.build()


register_model(
    NAME,
    description="U-Net, milesial/Pytorch-UNet layout (4 levels, BN, transposed-conv upsampling, 2 classes)",
    default_resolution="512",
    accepts=f"WxH with both sides multiples of {MULTIPLE} (512, 1920x1088, 1mp/2mp/4mp)",
    task="segmentation",
    validate=_validate,
    aliases=("u-net", "unet_carvana"),
    stands_for="dense prediction at full resolution: segmentation, denoising, medical imaging, image-to-image",
    source="milesial/Pytorch-UNet unet/unet_model.py + unet_parts.py (bilinear=False, n_classes=2)",
)(build_unet)
