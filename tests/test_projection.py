"""Projection model: hand-computed figures on a toy device and a toy two-layer model.

Toy device: 1e10 int8 MACs/s (2e10 ops/s), 64 KiB on-chip at 1e11 B/s, DRAM 5e9 B/s; one unit that
takes 64x16 output tiles, N padded to 16, K to 16 bytes; efficiencies 1, overhead 1 us.
Toy model: conv_a (M=64, N=16, K=128; 2 KiB weights; 8 KiB in, 1 KiB out) and fc_b (M=1,
N=1024, K=1024; 1 MiB weights; 1 KiB in and out). Every expected number below is worked out in
the comments from docs/projection.md's equations.
"""

from __future__ import annotations

import math

import pytest

from accelbench.errors import UserError
from accelbench.hardware.spec import DeviceSpec
from accelbench.profile.types import GemmDims, LayerProfile, ModelProfile
from accelbench.projection.calibrate import CalibrationPoint, fit_params
from accelbench.projection.model import project, project_batch
from accelbench.projection.params import DeviceParams

SRAM = 65536


def toy_device(sram=SRAM, **kw) -> DeviceSpec:
    return DeviceSpec(id="toy", name="Toy NPU", vendor="test", kind="NPU", peak_ops_per_s={"int8": 2e10},
                      onchip_sram_bytes=sram, onchip_sram_bw_bytes_per_s=1e11, dram_bw_bytes_per_s=5e9,
                      dram_capacity_bytes=kw.pop("dram_capacity_bytes", None), tdp_w=10.0, price_usd=100.0, **kw)


def toy_params(**kw) -> DeviceParams:
    base = dict(device_id="toy", units=1, tile_shapes=((64, 16),), compute_efficiency=1.0, dram_efficiency=1.0,
                layer_overhead_s=1e-6, m_granularity=1, n_granularity=16, k_granularity_bytes=16,
                weight_sram_share=0.5, max_batch=256)
    base.update(kw)
    return DeviceParams(**base)


def layer(name, m, n, k, groups=1, weight_bytes=None, in_b=0, out_b=0) -> LayerProfile:
    g = GemmDims(m, n, k, groups)
    w = n * k * groups if weight_bytes is None else weight_bytes
    return LayerProfile(name, "Conv", ("Conv",), g.macs, 0, w, w, in_b, out_b, (1, n * groups), g)


def toy_model() -> ModelProfile:
    a = layer("conv_a", 64, 16, 128, in_b=8192, out_b=1024)
    b = layer("fc_b", 1, 1024, 1024, in_b=1024, out_b=1024)
    return ModelProfile("toy", {"x": (1, 128, 8, 8)}, "int8", 1, (a, b), 8192, 8192, 9216)


def test_batch1_compute_bound_and_memory_bound_layers():
    pt = project_batch(toy_model(), toy_device(), toy_params(), 1)
    a, b = pt.layers
    # conv_a: one 64x16 tile, K=128: 64*16*128 / 1e10 = 1.31072e-5 s of compute
    assert a.compute_s == pytest.approx(1.31072e-5)
    # DRAM: 2048 B weights (model weights 1 MiB > 32 KiB: streamed) + 8192 B graph input
    assert a.dram_bytes == 2048 + 8192
    assert a.dram_s == pytest.approx(10240 / 5e9)
    # on chip: (64+16)*128 operand bytes + 64*16 result bytes
    assert a.sram_bytes == 11264
    assert a.bound == "compute" and not a.spilled
    assert a.time_s == pytest.approx(1.31072e-5 + 1e-6)
    # fc_b: 64 tiles of 1x16 (M=1), K=1024 -> 64*16*1024/1e10 = 1.048576e-4 s compute;
    # DRAM: 1 MiB weights + 1 KiB graph output = 1,049,600 B / 5e9 = 2.0992e-4 s -> memory bound
    assert b.compute_s == pytest.approx(1.048576e-4)
    assert b.dram_bytes == 1048576 + 1024
    assert b.bound == "dram"
    assert b.time_s == pytest.approx(2.0992e-4 + 1e-6)
    assert pt.time_s == pytest.approx(2.250272e-4)
    assert pt.throughput_per_s == pytest.approx(1 / 2.250272e-4)
    # utilization: 1,179,648 MACs / (2.250272e-4 s x 1e10 MACs/s)
    assert pt.mac_utilization == pytest.approx(1179648 / (2.250272e-4 * 1e10))


def test_batching_amortizes_weights_and_spills_activations():
    pt = project_batch(toy_model(), toy_device(), toy_params(), 8)
    a, b = pt.layers
    # conv_a at batch 8: in 65,536 + out 8,192 > 64 KiB - 2 KiB of weights -> spilled:
    # weights 2,048 + input 65,536 (read once: weights fit in a block) + output 8,192
    assert a.spilled and a.dram_bytes == 2048 + 65536 + 8192
    assert a.compute_s == pytest.approx(8 * 64 * 16 * 128 / 1e10)
    # fc_b: weights read once for the whole batch; its compute (M=8) now exceeds the DRAM time
    assert not b.spilled and b.dram_bytes == 1048576 + 8192
    assert b.compute_s == pytest.approx(64 * 8 * 16 * 1024 / 1e10)
    assert b.bound == "compute"
    assert pt.time_s == pytest.approx((8.388608e-4 + 1e-6) + (1.048576e-4 + 1e-6))
    per_sample_b1 = project_batch(toy_model(), toy_device(), toy_params(), 1).dram_bytes
    assert pt.dram_bytes / 8 < per_sample_b1 / 7  # 141,568 vs 1,059,840 bytes per sample
    assert pt.throughput_per_s == pytest.approx(8 / 9.457184e-4)


def test_spilled_input_is_reread_per_weight_block():
    # fc_b at batch 32: in 32 KiB + out 32 KiB > 64 KiB - 32 KiB weight block -> spilled; its 1 MiB
    # of weights takes 32 blocks of 32 KiB, and the input is read once per block
    b = project_batch(toy_model(), toy_device(), toy_params(), 32).layers[1]
    assert b.spilled
    assert b.dram_bytes == 1048576 + 32 * 32768 + 32768


def test_resident_weights_cost_no_dram():
    # 4 MiB on chip: 1 MiB of weights fits in half of it -> resident; fc_b moves only the graph output
    pt = project_batch(toy_model(), toy_device(sram=4 << 20), toy_params(), 1)
    assert pt.weights_resident
    assert pt.layers[1].dram_bytes == 1024
    assert pt.layers[1].bound == "compute"


def test_mapping_losses_depthwise_and_three_channel_first_layer():
    # depthwise 3x3 over 32 channels: groups=32, N=1 -> padded to 16, K=9 -> 16: 9/256 of the slots used
    dw = layer("dw", 64, 1, 9, groups=32, in_b=2048, out_b=2048)
    # first layer, 3 input channels, 3x3: K=27 -> 32
    first = layer("first", 64, 16, 27, in_b=192, out_b=1024)
    prof = ModelProfile("m", {"x": (1, 3, 8, 8)}, "int8", 1, (first, dw), 2048, 2048, 4096)
    f, d = project_batch(prof, toy_device(), toy_params(), 1).layers
    assert f.mapped_macs == 64 * 16 * 32 and f.macs == 64 * 16 * 27
    assert d.mapped_macs == 32 * 64 * 16 * 16 and d.macs == 32 * 64 * 9
    assert d.compute_s == pytest.approx(32 * 64 * 16 * 16 / 1e10)


def test_wave_quantization_across_units():
    # 2 units: conv_a at batch 3 has 3 tiles -> 2 waves (the last one half empty)
    params = toy_params(units=2)
    a = project_batch(toy_model(), toy_device(), params, 3).layers[0]
    assert a.compute_s == pytest.approx(2 * 64 * 16 * 128 / (1e10 / 2))


def test_project_outputs_best_batch_energy_and_cost():
    prof = toy_model()
    p = project(prof, toy_device(), toy_params(max_batch=8), scenario="offline")
    assert p.latency_batch == 1 and p.latency_s == pytest.approx(2.250272e-4)
    assert [b for b, _ in p.batches] == [1, 2, 4, 8]
    assert p.throughput_batch == max(p.batches, key=lambda x: x[1])[0]
    per_sample = 1 / p.throughput_per_s
    assert p.energy_per_inference_j == pytest.approx(10.0 * per_sample)
    assert p.throughput_per_w == pytest.approx(p.throughput_per_s / 10.0)
    assert p.throughput_per_usd == pytest.approx(p.throughput_per_s / 100.0)
    d = p.to_dict()
    for key in ("device", "latency_s", "throughput_per_s", "mac_utilization", "bound", "layers", "assumptions"):
        assert key in d
    assert {"name", "time_s", "bound"} <= set(d["layers"][0])
    assert any("estimate" in a for a in p.assumptions)


def test_batch_search_stays_within_dram_capacity():
    # weights 1,050,624 B + b x 9,216 B of live activations must fit in 1.1 MB
    p = project(toy_model(), toy_device(dram_capacity_bytes=1_100_000), toy_params(), scenario="offline")
    assert max(b for b, _ in p.batches) == 4  # 1,050,624 + 8 x 9,216 > 1.1e6
    assert any("DRAM capacity" in a for a in p.assumptions)


def test_missing_precision_is_a_user_error():
    prof = ModelProfile("toy", {}, "fp16", 1, toy_model().layers, 1, 1, 1)
    with pytest.raises(UserError, match="no fp16 peak"):
        project(prof, toy_device(), toy_params())


def test_calibration_fit_recovers_known_parameters():
    true = toy_params(compute_efficiency=0.4, dram_efficiency=0.7, layer_overhead_s=5e-5)
    device = toy_device()
    prof = toy_model()
    points = [CalibrationPoint(prof, b, project_batch(prof, device, true, b).time_s) for b in (1, 4, 16, 64)]
    fit = fit_params(points, device, toy_params())
    assert fit.fitted_fields == ("compute_efficiency", "dram_efficiency", "layer_overhead_s")
    assert fit.values["compute_efficiency"] == pytest.approx(0.4, rel=0.06)
    assert fit.values["layer_overhead_s"] == pytest.approx(5e-5, rel=0.2)
    assert fit.median_abs_error_after < 0.03 < fit.median_abs_error_before


def test_calibration_with_one_point_fits_compute_efficiency_only():
    device, prof = toy_device(), toy_model()
    measured = 2 * project_batch(prof, device, toy_params(), 64).time_s
    fit = fit_params([CalibrationPoint(prof, 64, measured)], device, toy_params())
    assert fit.fitted_fields == ("compute_efficiency",)
    assert abs(fit.errors_after[0]) < 0.05
    with pytest.raises(UserError, match="positive number of seconds"):
        CalibrationPoint(prof, 1, -1.0)


def test_spearman():
    from accelbench.job.ranking import spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # d = (0, 0, 1, -1): 1 - 6*2 / (4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    assert spearman([1], [2]) is None  # undefined: JSON null, not NaN
