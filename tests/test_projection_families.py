"""Projection by device family, several-engine devices, intervals and leave-one-out validation.

Toy devices and profiles come from tests/test_projection.py (hand-checked equations); the family fit
and its leave-one-device-out validation run on real zoo profiles and the published MLPerf table
(tests/data/published/mlperf_inference.toml).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from accelbench.errors import UserError
from accelbench.hardware.catalog import device_from_dict, load_catalog
from accelbench.hardware.devices import get_device
from accelbench.projection.calibrate import CalibrationPoint, leave_one_out
from accelbench.projection.intervals import Residual, band_for, calibrated_band, coverage, t_quantile
from accelbench.projection.model import project
from accelbench.projection.params import load_params_file
from accelbench.projection.published import load_published_table
from test_projection import toy_device, toy_model, toy_params

TABLE = Path(__file__).parent / "data" / "published" / "mlperf_inference.toml"
BOUND_COMPUTE = {"compute": 1.0, "sram": 0.0, "dram": 0.0, "overhead": 0.0}


# -- the published table --------------------------------------------------------------------------
def test_published_table_is_the_issue_table():
    table = load_published_table(TABLE)
    assert len(table.rows) == 30 and len(table.devices) == 7
    values = {r.key: r.value for r in table.rows}
    assert values[("resnet50", "t4", "offline")] == 6035.57
    assert values[("retinanet", "a100_pcie_80gb", "single-stream")] == pytest.approx(6.015e-3)
    assert values[("bert_large", "h100", "offline")] == 9102.26
    assert values[("bert_large", "l4", "single-stream")] == pytest.approx(2.576e-3)
    assert ("retinanet", "t4", "offline") not in values  # T4 and A10 have no RetinaNet figure
    assert all("mlcommons/inference_results_v" in r.source for r in table.rows)
    assert table.workloads["bert_large"].variable_length and table.workloads["bert_large"].precision == "int8"
    assert not table.workloads["resnet50"].variable_length


def test_published_table_rejects_a_row_without_a_source(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[workload.resnet50]\nresolution = "224"\nprecision = "int8"\n[[result]]\nmodel = "resnet50"\n'
                    'device = "t4"\nscenario = "offline"\nthroughput_per_s = 10.0\n')
    with pytest.raises(UserError, match="source") as err:
        load_published_table(path)
    assert "\n" not in str(err.value)


def test_published_rows_name_their_post_processing():
    table = load_published_table(TABLE)
    assert set(table.workloads["retinanet"].postprocess) == {"efficient_nms", "nms_opt"}
    post = {(r.device, r.scenario): r.postprocess for r in table.rows if r.model == "retinanet"}
    assert post[("a100", "single-stream")] == "efficient_nms"  # v2.1
    assert post[("l4", "single-stream")] == "nms_opt"  # v3.1
    assert all(r.postprocess == "" for r in table.rows if r.model != "retinanet")


@pytest.mark.parametrize("row_post,declared,needle", [
    ("fast_nms", 'efficient_nms = "somewhere"', "postprocess must be one of efficient_nms; got 'fast_nms'"),
    ("efficient_nms", "", "postprocess must be one of none"),
    ("efficient_nms", '"Bad Name" = "x"', "must map names"),
    ("efficient_nms", 'efficient_nms = ""', "must map names"),
])
def test_published_post_processing_names_are_checked(tmp_path, row_post, declared, needle):
    path = tmp_path / "t.toml"
    path.write_text('[workload.retinanet]\nresolution = "800"\nprecision = "int8"\n'
                    f'[workload.retinanet.postprocess]\n{declared}\n'
                    '[[result]]\nmodel = "retinanet"\ndevice = "l4"\nscenario = "single-stream"\n'
                    f'latency_p90_s = 0.005\npostprocess = "{row_post}"\nsource = "here"\n')
    with pytest.raises(UserError, match="postprocess") as err:
        load_published_table(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


# -- catalog: the new devices and engines ---------------------------------------------------------
@pytest.mark.parametrize("device_id,int8_tops", [
    ("a10", 250), ("a2", 36), ("a100_pcie_80gb", 624), ("h100_pcie_80gb", 1513),
    ("jetson_orin_nx_16gb", 50), ("jetson_xavier_nx", 21),
])
def test_new_catalog_devices(device_id, int8_tops):
    device = get_device(device_id)
    assert device.peak_ops_per_s["int8"] == pytest.approx(int8_tops * 1e12)
    assert device.dram_bw_bytes_per_s and device.tdp_w and device.sources


@pytest.mark.parametrize("device_id", ["jetson_orin_nx_16gb", "jetson_xavier_nx", "jetson_agx_orin",
                                       "jetson_agx_xavier"])
def test_jetson_engines_add_up_to_the_module(device_id):
    device = get_device(device_id)
    assert [(e.name, e.kind, e.count) for e in device.engines] == [("gpu", "GPU", 1), ("dla", "NPU", 2)]
    total = sum(e.count * e.peak_ops_per_s["int8"] for e in device.engines)
    assert total == pytest.approx(device.peak_ops_per_s["int8"], rel=0.05)
    assert "int8" not in device.engines[0].peak_ops_per_s or device.engines[0].peak_ops_per_s["fp16"]
    assert all(e.sources.get("peak_ops_per_s") for e in device.engines)


def _orin_like(**engine_changes) -> dict:
    engine = {"name": "dla", "kind": "NPU", "count": 2, "peak_ops_per_s": {"int8": 10e12},
              "sources": {"peak_ops_per_s": "test"}}
    engine.update(engine_changes)
    return {"id": "x", "name": "X", "vendor": "v", "kind": "GPU", "peak_ops_per_s": {"int8": 50e12},
            "sources": {"peak_ops_per_s": "test"},
            "engines": [{"name": "gpu", "kind": "GPU", "count": 1, "peak_ops_per_s": {"int8": 30e12},
                         "sources": {"peak_ops_per_s": "test"}}, engine]}


@pytest.mark.parametrize("change,needle", [
    ({"count": 3}, "add up to"),
    ({"kind": "DSP"}, "kind"),
    ({"name": "gpu"}, "unique"),
    ({"sources": {}}, "sources.peak_ops_per_s"),
    ({"bogus": 1}, "not an engine field"),
])
def test_bad_engines_are_one_line_errors(change, needle):
    with pytest.raises(UserError) as err:
        device_from_dict(_orin_like(**change), origin="x.toml")
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert device_from_dict(_orin_like(), origin="x.toml").engines[1].count == 2


# -- families in device_params.toml ---------------------------------------------------------------
def test_devices_resolve_through_their_family_chain():
    pf = load_params_file()
    t4 = pf.params_for("t4", "GPU")
    assert t4.family_chain == ("nvidia_tensor_core", "nvidia_turing") and t4.family == "nvidia_turing"
    assert t4.layer_overhead_s == pf.families["nvidia_turing"]["layer_overhead_s"]
    assert "fitted in-sample" in t4.sources["compute_efficiency"] and "t4" in t4.sources["compute_efficiency"]
    orin = pf.params_for("jetson_orin_nx_16gb", "GPU")
    # no published Jetson row: the Orin GPU inherits Ampere's fitted figures
    assert orin.family_chain[-2:] == ("nvidia_ampere", "jetson_orin")
    assert orin.compute_efficiency == pf.families["nvidia_ampere"]["compute_efficiency"]
    xavier = pf.params_for("jetson_xavier_nx", "GPU")  # Volta: nothing fitted, the root's figures
    assert xavier.compute_efficiency == pf.families["nvidia_tensor_core"]["compute_efficiency"]
    dla = pf.params_for("jetson_orin_nx_16gb_dla", "NPU")
    assert dla.family_chain == ("npu", "nvdla") and dla.tile_shapes == ((65536, 32),)
    assert pf.params_for("hailo8", "NPU").family_chain == ("npu",)


def test_family_tables_are_checked(tmp_path):
    base = textwrap.dedent("""
        [defaults.NPU]
        units = 1
        tile_shapes = [[64, 64]]
        compute_efficiency = 0.5
        dram_efficiency = 0.5
        layer_overhead_s = 1e-6
        [defaults.NPU.assumptions]
        units = "a"
        tile_shapes = "b"
        compute_efficiency = "c"
        dram_efficiency = "d"
        layer_overhead_s = "e"
        [family.fam]
        compute_efficiency = 0.25
        [family.fam.sources]
        compute_efficiency = "fitted"
        [toy]
        family = "fam"
        """)
    path = tmp_path / "p.toml"
    path.write_text(base)
    params = load_params_file(path).params_for("toy", "NPU")
    assert params.compute_efficiency == 0.25 and params.sources["compute_efficiency"] == "fitted"
    assert "compute_efficiency" not in params.assumptions  # the family's reason replaced the default's
    path.write_text(base.replace('family = "fam"', 'family = "nope"'))
    with pytest.raises(UserError, match="family 'nope' has no"):
        load_params_file(path).params_for("toy", "NPU")
    path.write_text(base.replace("[family.fam]\n", "[family.fam]\nbogus = 1\n"))
    with pytest.raises(UserError, match="unknown field 'bogus'"):
        load_params_file(path)
    path.write_text(base.replace("[family.fam]\n", '[family.fam]\nparent = "fam"\n'))
    with pytest.raises(UserError, match="its own ancestor"):
        load_params_file(path).params_for("toy", "NPU")


def test_overhead_paid_by_mac_layers_only_when_the_runtime_fuses():
    model = toy_model()
    no_macs = replace(model.layers[1], name="softmax", op="Softmax", macs=0, gemm=None, weight_bytes=0, params=0)
    model = replace(model, layers=(model.layers[0], no_macs))
    every = project(model, toy_device(), toy_params(), with_interval=False)
    fused = project(model, toy_device(), toy_params(overhead_layers="macs"), with_interval=False)
    assert [layer.overhead_s for layer in every.layers] == [1e-6, 1e-6]
    assert [layer.overhead_s for layer in fused.layers] == [1e-6, 0.0]
    assert every.latency_s - fused.latency_s == pytest.approx(1e-6)
    with pytest.raises(UserError, match="overhead_layers"):
        toy_params(overhead_layers="some")


def test_gpu_overhead_is_paid_in_clock_cycles():
    """With overhead_clock_hz the fixed cost per layer is clock cycles: half the clock, twice the time;
    without it (CPUs) the clock does not matter."""
    model = toy_model()
    cycles = toy_params(overhead_clock_hz=2e9)
    fast = project(model, toy_device(clock_hz=2e9), cycles, with_interval=False)
    slow = project(model, toy_device(clock_hz=1e9), cycles, with_interval=False)
    assert [layer.overhead_s for layer in fast.layers] == pytest.approx([1e-6, 1e-6])
    assert [layer.overhead_s for layer in slow.layers] == pytest.approx([2e-6, 2e-6])
    assert slow.latency_s - fast.latency_s == pytest.approx(2e-6)
    assert any("paid in clock cycles" in a and "2 us" in a for a in slow.assumptions)
    seconds = [project(model, toy_device(clock_hz=c), toy_params(), with_interval=False) for c in (1e9, 2e9)]
    assert [layer.overhead_s for p in seconds for layer in p.layers] == [1e-6] * 4
    assert toy_params(overhead_clock_hz=2e9).overhead_s(None) == 1e-6  # no clock known: seconds as given
    # the fit's per-point terms weigh the overhead the same way
    from accelbench.projection.calibrate import split_terms
    assert split_terms(CalibrationPoint(model, 1, 1e-3), toy_device(clock_hz=1e9), cycles)[3] == pytest.approx(4.0)
    # shipped: every NVIDIA GPU pays cycles at its own clock, the host CPU pays seconds
    params_file = load_params_file()
    l4 = params_file.params_for("l4", "GPU")
    assert l4.overhead_clock_hz == 1.41e9
    assert l4.overhead_s(get_device("l4").clock_hz) == pytest.approx(l4.layer_overhead_s * 1.41 / 2.04)
    assert params_file.params_for("xeon_8480plus", "CPU").overhead_clock_hz is None


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), 1e12, True, "1.41e9"])
def test_bad_overhead_clock_is_a_one_line_error(value):
    with pytest.raises(UserError, match="overhead_clock_hz must be a clock in Hz") as err:
        toy_params(overhead_clock_hz=value)
    assert "\n" not in str(err.value)


# -- several engines --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resnet50_int8():
    from accelbench.projection.api import load_profile

    return load_profile("resnet50", resolution="224", precision="int8")


def test_jetson_offline_uses_every_engine_single_stream_the_fastest(resnet50_int8):
    from accelbench.projection.api import device_params

    device = get_device("jetson_orin_nx_16gb")
    params, _ = device_params(device, use_calibration=False)
    assert [name for name, _ in params.engines] == ["gpu", "dla"]
    offline = project(resnet50_int8, device, params, scenario="offline")
    single = project(resnet50_int8, device, params, scenario="single-stream")
    engines = {e.name: e for e in offline.engines}
    assert set(engines) == {"gpu", "dla"} and engines["dla"].count == 2
    added = engines["gpu"].throughput_per_s + 2 * engines["dla"].throughput_per_s
    assert offline.throughput_per_s <= added * (1 + 1e-9)
    assert offline.throughput_per_s > engines["gpu"].throughput_per_s  # the DLAs add throughput
    assert single.latency_s == pytest.approx(min(e.latency_s for e in offline.engines))
    assert single.latency_s == pytest.approx(engines["gpu"].latency_s)  # the GPU runs one sample fastest
    data = offline.to_dict(with_layers=False)
    assert [e["name"] for e in data["engines"]] == ["gpu", "dla"] and data["engines"][1]["family"] == "nvdla"
    assert data["throughput_per_s_low"] < data["throughput_per_s"] < data["throughput_per_s_high"]
    assert "dla:" in data["interval_source"] and "gpu:" in data["interval_source"]


def test_engines_share_the_dram_bandwidth(resnet50_int8):
    from accelbench.projection.api import device_params

    device = get_device("jetson_orin_nx_16gb")
    params, _ = device_params(device, use_calibration=False)
    roomy = project(resnet50_int8, device, params)
    starved_device = replace(device, dram_bw_bytes_per_s=1e9)
    starved = project(resnet50_int8, starved_device, params)
    assert starved.throughput_per_s < roomy.throughput_per_s
    assert any("DRAM" in a and "scaled" in a for a in starved.assumptions)


def test_a_transformer_does_not_run_on_the_dlas():
    from accelbench.projection.api import device_params, load_profile

    device = get_device("jetson_agx_orin")
    params, _ = device_params(device, use_calibration=False)
    dla = dict(params.engines)["dla"]
    bert = load_profile("bert_base", resolution="16", precision="int8")
    assert "LayerNormalization" in dla.unsupported_ops(bert) and "MatMul" in dla.unsupported_ops(bert)
    result = project(bert, device, params)
    assert [e.name for e in result.engines] == ["gpu"]
    assert any(a.startswith("dla cannot run") for a in result.assumptions)
    with pytest.raises(UserError, match="supported_ops"):
        toy_params(supported_ops="Conv")


def test_an_engine_without_the_precision_is_left_out(resnet50_int8):
    from accelbench.projection.api import device_params

    device = get_device("jetson_orin_nx_16gb")
    params, _ = device_params(device, use_calibration=False)
    fp16 = replace(resnet50_int8, precision="fp16")
    result = project(fp16, device, params)
    assert [e.name for e in result.engines] == ["gpu"]
    assert any("dla has no fp16 peak" in a for a in result.assumptions)


# -- intervals ----------------------------------------------------------------------------------------
def _residuals(values, family="fam", scenario="offline", devices=None, bound=None):
    devices = devices or [f"d{i}" for i in range(len(values))]
    return tuple(Residual(d, ("root", family), "m", scenario, v, dict(bound or BOUND_COMPUTE))
                 for d, v in zip(devices, values))


def test_t_quantile_matches_tables():
    assert t_quantile(0.9, 1e9) == pytest.approx(1.2816, abs=1e-3)
    assert t_quantile(0.9, 10) == pytest.approx(1.372, abs=5e-3)
    assert t_quantile(0.9, 3) == pytest.approx(1.638, abs=0.02)
    assert t_quantile(0.9, 1) == pytest.approx(3.078, rel=0.05)


def test_band_contains_the_projection_and_is_centred_on_the_bias():
    residuals = _residuals([0.10, 0.12, 0.08, 0.11, 0.09, 0.10])  # projected 10 % slow, consistently
    band = band_for(("root", "fam"), BOUND_COMPUTE, "offline", residuals)
    assert band.distance == 0 and band.pool_family == "fam" and band.pool_devices == 6
    # real time = projected x exp(-0.1): the band is around 0.905 and narrow
    assert band.time_factor_low < math.exp(-0.10) < band.time_factor_high
    assert band.time_factor_high < 1.0
    low, high = band.time_range(2.0)
    assert low == pytest.approx(2.0 * band.time_factor_low) and high < 2.0
    t_low, t_high = band.throughput_range(100.0)
    assert t_low == pytest.approx(100.0 / band.time_factor_high)


def test_bands_widen_with_less_data():
    spread = [0.3, -0.2, 0.1, -0.1, 0.25, -0.3, 0.05, -0.05, 0.2, -0.15]
    many = band_for(("root", "fam"), BOUND_COMPUTE, "offline", _residuals(spread))
    few = band_for(("root", "fam"), BOUND_COMPUTE, "offline", _residuals(spread[:3]))
    assert math.log(few.time_factor_high / few.time_factor_low) > math.log(many.time_factor_high / many.time_factor_low)
    assert few.effective_rows < many.effective_rows


def test_bands_widen_for_a_farther_family():
    residuals = _residuals([0.3, -0.2, 0.1, -0.1, 0.25, -0.3])
    own = band_for(("root", "fam"), BOUND_COMPUTE, "offline", residuals)
    cousin = band_for(("root", "other"), BOUND_COMPUTE, "offline", residuals)  # only the root is shared
    stranger = band_for(("npu",), BOUND_COMPUTE, "offline", residuals)  # no published row on its chain
    widths = [math.log(b.time_factor_high / b.time_factor_low) for b in (own, cousin, stranger)]
    assert (own.distance, cousin.distance, stranger.distance) == (0, 1, 3)
    assert widths[0] < widths[1] < widths[2]
    assert "no published results" in stranger.source and cousin.pool_family == "root"


def test_bands_weigh_rows_with_a_similar_bound_mix():
    overhead = {"compute": 0.0, "sram": 0.0, "dram": 0.0, "overhead": 1.0}
    rows = _residuals([0.0] * 4, bound=BOUND_COMPUTE) + _residuals([0.6] * 4, devices=list("wxyz"), bound=overhead)
    compute_band = band_for(("root", "fam"), BOUND_COMPUTE, "offline", rows)
    overhead_band = band_for(("root", "fam"), overhead, "offline", rows)
    exact, slow = 1.0, math.exp(-0.6)  # real / projected time of the two kinds of rows

    def inside(band, ratio):
        return band.time_factor_low <= ratio <= band.time_factor_high

    assert inside(compute_band, exact) and inside(overhead_band, slow)
    # without the weighting both bands would be the same
    assert compute_band.time_factor_low > overhead_band.time_factor_low
    assert compute_band.time_factor_high > overhead_band.time_factor_high


def test_band_excludes_the_device_asked_to():
    residuals = _residuals([0.0, 0.0, 0.0, 2.0], devices=["a", "b", "c", "bad"])
    with_bad = band_for(("root", "fam"), BOUND_COMPUTE, "offline", residuals)
    without = band_for(("root", "fam"), BOUND_COMPUTE, "offline", residuals, exclude_device="bad")
    assert without.pool_devices == 3 and with_bad.pool_devices == 4
    assert without.time_factor_low > with_bad.time_factor_low


def test_coverage_counts_published_figures_inside_their_leave_one_out_band():
    # eight devices whose errors are small and alike, and one far off: the far one is outside its band
    values = [0.05, -0.05, 0.02, -0.02, 0.04, -0.04, 0.0, 0.01, 1.5]
    result = coverage(_residuals(values))
    assert result.total == 9 and result.inside[-1] is False and all(result.inside[:-1])
    assert result.covered == 8 and result.share == pytest.approx(8 / 9)
    # the far one's band was built without it: it does not stretch to cover itself
    assert result.bands[-1].time_factor_low > math.exp(-1.5)


def test_calibrated_band_from_leave_one_out_errors():
    band = calibrated_band([0.05, -0.03, 0.02, -0.04])
    assert band.time_factor_low < 1.0 < band.time_factor_high and "leave-one-measurement-out" in band.source
    assert calibrated_band([0.1]) is None


def test_projection_json_carries_its_interval(resnet50_int8):
    from accelbench.projection.api import device_params

    device = get_device("a2")  # not in the table: Ampere's rows, its own family
    params, _ = device_params(device, use_calibration=False)
    data = project(resnet50_int8, device, params).to_dict(with_layers=False)
    assert data["interval_level"] == 0.8 and "family nvidia_ampere" in data["interval_source"]
    assert data["latency_s_low"] < data["latency_s"] < data["latency_s_high"]
    assert data["throughput_per_s_low"] < data["throughput_per_s"] < data["throughput_per_s_high"]
    assert data["family"] == "nvidia_ampere"
    bare = project(resnet50_int8, device, params, with_interval=False).to_dict(with_layers=False)
    assert bare["latency_s_low"] is None and bare["interval_level"] is None
    far = project(resnet50_int8, get_device("hailo8"), device_params(get_device("hailo8"))[0]).to_dict()
    width = lambda d: d["throughput_per_s_high"] / d["throughput_per_s_low"]  # noqa: E731
    assert width(far) > width(data)


def test_overlapping_intervals_are_indistinguishable(resnet50_int8):
    from accelbench.projection.api import device_params

    def proj(device_id):
        device = get_device(device_id)
        return project(resnet50_int8, device, device_params(device, use_calibration=False)[0])

    a100, a100_pcie, a2 = proj("a100"), proj("a100_pcie_80gb"), proj("a2")
    assert a100.indistinguishable_from(a100_pcie) and a100_pcie.indistinguishable_from(a100)
    assert not a100.indistinguishable_from(a2)  # 17x the peak: far apart
    bare = replace(a2, throughput_per_s_low=None)
    assert not bare.indistinguishable_from(a100) and bare.indistinguishable_from(replace(a2, throughput_per_s_high=None))


def test_calibrated_device_uses_its_leave_one_out_band(resnet50_int8):
    from accelbench.projection.api import device_params

    device = get_device("a2")
    params, _ = device_params(device, use_calibration=False)
    calibrated = replace(params, calibration_loo_errors=(0.02, -0.01, 0.015))
    data = project(resnet50_int8, device, calibrated).to_dict(with_layers=False)
    assert "leave-one-measurement-out" in data["interval_source"]


# -- calibration: leave one measurement out ---------------------------------------------------------
def test_leave_one_out_projects_each_point_without_it():
    truth = toy_params(compute_efficiency=0.5, layer_overhead_s=3e-6)
    device = toy_device()
    points = []
    for b in (1, 4, 16, 64):
        latency = project(toy_model(), device, truth, batch=b, scenario="single-stream", with_interval=False).latency_s
        points.append(CalibrationPoint(toy_model(), b, latency, f"b{b}"))
    start = toy_params(compute_efficiency=0.9, layer_overhead_s=1e-5)
    loo = leave_one_out(points, device, start)
    assert len(loo.errors) == 4 and loo.median_abs_error < 0.02  # the model is exact: out of sample too
    # a point that disagrees with the others: its own left-out error is large, the in-sample fit hides it
    bad = points[:3] + [replace(points[3], latency_s=points[3].latency_s * 2)]
    loo_bad = leave_one_out(bad, device, start)
    assert abs(loo_bad.errors[3]) > 0.3
    from accelbench.projection.calibrate import fit_params

    assert abs(fit_params(bad, device, start).errors_after[3]) < abs(loo_bad.errors[3])
    assert loo_bad.to_dict()["points"][3]["label"] == "b64"
    with pytest.raises(UserError, match="at least 2"):
        leave_one_out(points[:1], device, start)


def test_saved_calibration_keeps_leave_one_out_errors(tmp_path, monkeypatch):
    from accelbench.projection.api import device_params
    from accelbench.projection.calibrate import CalibrationFit, LeaveOneOut, save_calibration

    device = get_device("a2")
    fit = CalibrationFit("a2", {"compute_efficiency": 0.4}, ("compute_efficiency",), ("x",), (1.0,), (1.1,), (1.0,))
    loo = LeaveOneOut("a2", ("x", "y"), (1.0, 1.0), (1.05, 0.97), (("compute_efficiency",),) * 2)
    path = tmp_path / "cal.toml"
    monkeypatch.setenv("ACCELBENCH_CALIBRATION", str(path))
    save_calibration(fit, device, source="test", fitted_at="now", loo=loo)
    params, calibrated = device_params(device)
    assert calibrated and params.calibration_loo_errors == pytest.approx((0.05, -0.03))


# -- the family fit, leave one device out --------------------------------------------------------------
@pytest.fixture(scope="module")
def small_fitter():
    """ResNet-50 only, three devices of two families: fast, and enough to see leave-one-out at work."""
    from accelbench.projection.family_fit import PublishedFitter

    table = load_published_table(TABLE)
    keep = {"a100", "a100_pcie_80gb", "a10"}
    rows = tuple(r for r in table.rows if r.model == "resnet50" and r.device in keep)
    small = replace(table, rows=rows, workloads={"resnet50": table.workloads["resnet50"]})
    return PublishedFitter(small)


def test_leave_one_device_out_never_sees_the_device(small_fitter):
    """Change a device's own published figures tenfold: its in-sample projection moves, its
    leave-one-device-out projection does not (it would, if its rows leaked into its fit)."""
    from accelbench.projection.family_fit import PublishedFitter

    device = "a10"
    lodo, _ = small_fitter.leave_one_device_out()
    fit_in = small_fitter.fit()
    doctored_rows = tuple(replace(r, value=r.value * (10 if r.scenario == "offline" else 0.1))
                          if r.device == device else r for r in small_fitter.table.rows)
    doctored = PublishedFitter(replace(small_fitter.table, rows=doctored_rows))
    lodo2, _ = doctored.leave_one_device_out()
    before = [r.projected_time_s for r in lodo if r.row.device == device]
    after = [r.projected_time_s for r in lodo2 if r.row.device == device]
    assert after == pytest.approx(before, rel=1e-9)
    # ...whereas the in-sample fit follows the doctored figures
    assert doctored.fit().values["nvidia_ampere"] != pytest.approx(fit_in.values["nvidia_ampere"], rel=1e-3)
    # and the device's leave-one-out error is its real error against the figure it was not fitted on
    errors = [r.error for r in lodo2 if r.row.device == device]
    assert all(abs(e) > 0.5 for e in errors)


def test_a_family_without_rows_falls_back_to_its_parent(small_fitter):
    fit = small_fitter.fit(exclude_device="a10")
    assert "nvidia_ampere" in fit.values  # the two A100s are still there
    family, figures = fit.values_for(("nvidia_tensor_core", "nvidia_ampere", "jetson_orin"))
    assert family == "nvidia_ampere" and figures == fit.values["nvidia_ampere"]
    assert fit.values_for(("npu",)) == ("", None)


@pytest.fixture(scope="module")
def retinanet_fitter():
    """RetinaNet SingleStream on the two A100s (EfficientNMS, v2.1) and L4 (NMS_OPT, v3.1), with the
    ResNet-50 rows of those devices so that the family figures have something else to stand on."""
    from accelbench.projection.family_fit import PublishedFitter

    table = load_published_table(TABLE)
    keep = {"a100", "a100_pcie_80gb", "l4"}
    rows = tuple(r for r in table.rows if r.device in keep and (
        r.model == "resnet50" or (r.model == "retinanet" and r.scenario == "single-stream")))
    workloads = {m: table.workloads[m] for m in ("resnet50", "retinanet")}
    return PublishedFitter(replace(table, rows=rows, workloads=workloads))


@pytest.mark.slow
def test_post_processing_is_fitted_per_implementation_from_its_own_rows(retinanet_fitter):
    from accelbench.projection.family_fit import PublishedFitter

    fit = retinanet_fitter.fit()
    ss = "single-stream"
    assert set(fit.postprocess_s) == {("efficient_nms", ss), ("nms_opt", ss)}  # Offline rows carry none
    assert fit.postprocess_s[("efficient_nms", ss)] > 1e-3  # the A100s' p90 is ~3x their network's time
    # leave L4 out: no nms_opt row is left, so no nms_opt time is made up for it
    without_l4 = retinanet_fitter.fit(exclude_device="l4")
    assert set(without_l4.postprocess_s) == {("efficient_nms", ss)}
    lodo_l4 = retinanet_fitter.project_rows(without_l4, "l4")
    bare = PublishedFitter(retinanet_fitter.table, model_postprocess=False)
    # the same figures without the term project the same L4 times: nothing was added for nms_opt
    assert [r.projected_time_s for r in lodo_l4] == pytest.approx(
        [r.projected_time_s for r in bare.project_rows(without_l4, "l4")], rel=1e-12)
    # ...whereas an A100's RetinaNet SingleStream row carries the EfficientNMS time at the A100's clock
    a100 = {r.row.key: r for r in retinanet_fitter.project_rows(fit, "a100")}
    a100_bare = {r.row.key: r for r in bare.project_rows(fit, "a100")}
    key = ("retinanet", "a100", "single-stream")
    assert a100[key].projected_time_s - a100_bare[key].projected_time_s == pytest.approx(
        fit.postprocess_s[("efficient_nms", ss)] * 1.41e9 / get_device("a100").clock_hz)
    assert abs(a100[key].residual) < abs(a100_bare[key].residual)
    # a fitter told not to model it fits none
    assert bare.fit().postprocess_s == {}


@pytest.mark.slow
def test_shipped_family_figures_and_residuals_are_a_fresh_fit():
    """device_params.toml's fitted figures and lodo_residuals.toml are what the fit gives today
    (regenerate with `python benchmarks/projection_accuracy.py --write`), and the validation holds
    what docs/projection.md reports."""
    from accelbench.projection.family_fit import PublishedFitter, median_abs_error, residuals_from
    from accelbench.projection.intervals import coverage, load_residuals

    fitter = PublishedFitter(load_published_table(TABLE))
    fit = fitter.fit()
    shipped = load_params_file().families
    for family, values in fit.values.items():
        for key, value in values.items():
            assert shipped[family][key] == pytest.approx(value, rel=0.02, abs=2e-8), (family, key)
    lodo, _ = fitter.leave_one_device_out()
    fresh = {(r.row.model, r.row.device, r.row.scenario): r.residual for r in lodo}
    stored = {(r.model, r.device, r.scenario): r.residual for r in load_residuals()}
    assert stored.keys() == fresh.keys()
    assert all(abs(stored[k] - fresh[k]) < 0.02 for k in fresh)
    import tomllib

    from accelbench.projection.intervals import RESIDUALS_FILE
    stored_post = tomllib.loads(RESIDUALS_FILE.read_text(encoding="utf-8"))["postprocess_s"]
    assert stored_post == pytest.approx({f"{name}/{scenario}": v for (name, scenario), v in fit.postprocess_s.items()},
                                        rel=0.02, abs=2e-5)
    chains = {d: p.family_chain for d, p in fitter.base.items()}
    assert median_abs_error(lodo) <= 0.20  # the issue's goal on the median
    # the factor goal (every row within 1.6x) holds on every row but T4's ResNet-50 SingleStream (docs/projection.md)
    assert [r.row.key for r in lodo if r.factor > 1.6] == [("resnet50", "t4", "single-stream")]
    cov = coverage(residuals_from(lodo, chains))
    assert 0.7 <= cov.share <= 0.95


def test_every_catalog_device_projects_with_an_interval(resnet50_int8):
    from accelbench.projection.api import project_devices, resolve_devices

    done, skipped = project_devices(resnet50_int8, resolve_devices("all"), use_calibration=False)
    assert {p.device for p in done} >= {"jetson_orin_nx_16gb", "jetson_xavier_nx", "a2", "a10"}
    for p in done:
        assert p.throughput_per_s_low < p.throughput_per_s < p.throughput_per_s_high, p.device
        assert p.latency_s_low < p.latency_s < p.latency_s_high, p.device
    assert len(load_catalog()) == len(done) + len(skipped)
