"""Profiler figures on the zoo models against published / hand-derived references (REFERENCE.md)."""

import time

import pytest

from accelbench.models.loader import load_model
from accelbench.profile import profile_model

MiB = 1024 * 1024


def profile(name, resolution, precision="fp32", batch=1):
    return profile_model(load_model(name, resolution=resolution, batch=batch, with_weights=False), precision)


def test_resnet50_at_224_matches_torchvision():
    p = profile("resnet50", "224")
    assert p.macs == 4_089_184_256
    assert p.params == 25_557_032
    assert p.weight_bytes == 25_557_032 * 4
    assert p.largest_activation_elements == 802_816  # 64 x 112 x 112 after conv1
    assert p.largest_activation_bytes == 802_816 * 4
    assert not p.unknown_ops and not p.warnings
    # 53 convs with BN (+ReLU, + residual Add) fused, maxpool, global pool, fc
    assert p.layer_count == 56
    assert sum(1 for layer in p.layers if layer.op == "Conv") == 53


def test_resnet50_activations_grow_with_pixels_not_weights():
    small = profile("resnet50", "224", "int8")
    large = profile("resnet50", "2mp", "int8")
    # at 224 a couple of MB live at once, at 2 MP tens of MB
    assert 1 * MiB < small.peak_live_activation_bytes < 4 * MiB
    assert 20 * MiB < large.peak_live_activation_bytes < 100 * MiB
    assert large.largest_activation_elements == 64 * 544 * 960  # 33,423,360
    assert large.params == small.params
    ratio = large.peak_live_activation_bytes / small.peak_live_activation_bytes
    assert ratio == pytest.approx(1920 * 1088 / 224**2, rel=0.05)
    # conv MACs scale with H*W; the fc layer does not
    fc = 2048 * 1000
    assert (large.macs - fc) / (small.macs - fc) == pytest.approx(1920 * 1088 / 224**2, rel=0.01)


@pytest.mark.parametrize("resolution, macs", [
    ("416", 32_932_037_632),       # Darknet: 65.864 BFLOPs
    ("608", 70_345_950_208),       # Darknet: 140.692 BFLOPs
    ("1920x1088", 397_522_821_120),
])
def test_yolov3_macs_match_darknet(resolution, macs):
    p = profile("yolov3", resolution)
    assert p.macs == macs
    assert p.params == 61_949_149
    assert sum(1 for layer in p.layers if layer.op == "Conv") == 75


def test_yolov3_largest_tensor_at_1920x1088_is_64_mib_at_int8():
    p = profile("yolov3", "1920x1088", "int8")
    assert p.largest_activation_elements == 66_846_720  # 32 x 1088 x 1920
    assert p.largest_activation_bytes == 66_846_720
    assert p.largest_activation_bytes / MiB == pytest.approx(64, abs=0.5)
    assert p.weight_bytes == 61_949_149
    assert p.peak_live_activation_bytes > p.largest_activation_bytes


def test_yolov3_4mp_profiles_fast():
    start = time.perf_counter()
    p = profile("yolov3", "4mp")
    elapsed = time.perf_counter() - start
    assert p.macs > 0
    assert elapsed < 2.0  # goal < 1 s; slack for a busy shared CI core (benchmarks/profile_speed.py)


def _mobilenet_v2_macs(size=224):
    """torchvision MobileNetV2 (width 1.0), derived from its layer table."""
    res = size // 2
    macs = res * res * 32 * 3 * 9
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            if t != 1:
                macs += res * res * cin * hidden
            res //= stride
            macs += res * res * hidden * 9 + res * res * hidden * c
            cin = c
    return macs + res * res * 320 * 1280 + 1280 * 1000


def test_mobilenet_v2_depthwise_counts():
    p = profile("mobilenet_v2", "224")
    assert p.params == 3_504_872
    assert p.macs == _mobilenet_v2_macs() == 300_774_272
    depthwise = [layer for layer in p.layers if layer.gemm and layer.gemm.n == 1 and layer.gemm.groups > 1]
    assert len(depthwise) == 17
    assert all(layer.gemm.k == 9 for layer in depthwise)


def test_bert_base_counts_attention_matmuls():
    seq = 384
    p = profile("bert_base", str(seq))
    assert p.params == 109_482_240
    hidden, ffn, layers = 768, 3072, 12
    per_layer = 4 * seq * hidden * hidden + 2 * seq * hidden * ffn + 2 * seq * seq * hidden
    assert p.macs == layers * per_layer + hidden * hidden  # + pooler
    attention = [layer for layer in p.layers if layer.op == "MatMul" and layer.params == 0]
    assert len(attention) == 2 * layers
    assert all(layer.gemm.groups == 12 for layer in attention)
