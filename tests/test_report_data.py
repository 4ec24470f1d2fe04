"""Builders of a realistic results store for the report and compare tests (records with synthetic
latency samples and a RunSummary), plus tests of the data layer (latest run, units)."""

from __future__ import annotations

import numpy as np
import pytest

from accelbench.errors import UserError
from accelbench.results.records import BenchConfig, BenchRecord, Environment, PowerRecord
from accelbench.results.store import open_store
from accelbench.results.summary import (
    ActivationRow, BoundShares, ClosestModel, LayerTime, MeasuredStageData, PeakFigure, PeakStageData, ProjectionEntry,
    RankEntry, RunSummary, SramFigure, StageSummary,
)

EVIL = "<script>alert(1)</script>"
HOST_PEAK_FP32 = 269e9  # MAC/s, theoretical, for the synthetic host
HOST_PEAK_BF16 = 1.07e12

ENV = {
    "hostname": "bench-host", "os": "Linux 6.1", "platform": "Linux-6.1-x86_64", "python": "3.11.2",
    "cpu_model": "Intel(R) Xeon(R) Platinum 8480+", "cpu_family_model": "6/143",
    "cpu_flags": ["avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8"], "physical_cores": 2,
    "logical_cores": 2, "memory_bytes": 8 * 2**30, "runtime_versions": {"onnxruntime": "1.20.1", "numpy": "2.1.0"},
    "accelbench": "0.1.0", "cpu_clocks": {"cpuinfo_mhz": 2000.0},
}


def samples(median_s: float, n: int = 40, spread: float = 0.01, seed: int = 0) -> tuple[int, ...]:
    """Latencies in ns around ``median_s`` (lognormal, sigma ``spread``): measured-looking, reproducible."""
    rng = np.random.default_rng(seed)
    return tuple(int(x) for x in median_s * 1e9 * np.exp(rng.normal(0.0, spread, n)))


def make_record(model, resolution, pixels, macs, median_s, *, run_id, precision="fp32", ran=None, batch=1,
                backend="onnxruntime", env=None, runtime_version="1.20.1", deviation=None, n=40, spread=0.01,
                seed=0, power_w=60.0, price_usd=None):
    peak = HOST_PEAK_BF16 if (ran or precision) == "bf16" else HOST_PEAK_FP32
    cfg = BenchConfig(model=model, resolution=resolution, batch=batch, precision=precision, backend=backend)
    return BenchRecord(
        config=cfg, run_id=run_id, latency_ns=samples(median_s, n, spread, seed),
        run_info={"runtime": backend, "runtime_version": runtime_version, "device": "cpu",
                  "execution_provider": "CPUExecutionProvider", "threads": 2, "precision_requested": precision,
                  "precision_executed": ran or precision, "precision_source": "graph-inspection"},
        pixels_per_inference=pixels, macs_per_inference=macs, macs_source="static profile (conv+gemm)",
        peak_macs_per_s=peak, peak_source="derived: 2 cores x 2 FMA x 16 lanes x 2.1 GHz",
        power=PowerRecord(power_w, "estimated-tdp", None, "TDP 350 W x busy share"),
        price_usd=price_usd, price_source="user" if price_usd else None,
        deviation=deviation, environment=dict(env or ENV))


def build_run(db, run_id="20261101T100000Z-abcdef", *, with_summary=True, model4=EVIL):
    """A four-stage run: ResNet-50 224/b32 and 2 MP, YOLOv3 at 1 MP, the user's model; plus a summary."""
    r50 = 4_089_184_256
    recs = [
        make_record("resnet50", "224", 224 * 224, r50, 0.60, batch=32, run_id=run_id, seed=1),
        make_record("resnet50", "224", 224 * 224, r50, 0.037, run_id=run_id, seed=2),
        make_record("resnet50", "2mp", 1920 * 1080, int(r50 * 1920 * 1080 / 224 / 224), 1.45, run_id=run_id,
                    n=12, spread=0.03, seed=3),
        make_record("resnet50", "224", 224 * 224, r50, 0.017, precision="bf16", run_id=run_id, seed=4,
                    deviation={"cosine_similarity": 0.99991, "max_abs_error": 0.02, "max_relative_error": 0.0031,
                               "relative_l2_error": 0.004, "top1_agreement": 1.0, "values_compared": 2000,
                               "reference": "onnxruntime cpu fp32"}),
        make_record("yolov3", "1mp", 1280 * 720, 97_000_000_000, 1.9, run_id=run_id, n=12, spread=0.2, seed=5),
        make_record(model4, "640x480", 640 * 480, 2_000_000_000, 0.05, run_id=run_id, seed=6),
    ]
    with open_store(db) as store:
        for r in recs:
            store.save(r)
    if with_summary:
        sram = (SramFigure(device="t4", name="NVIDIA T4", onchip_sram_bytes=4 * 2**20),
                SramFigure(device="h100", name="NVIDIA H100 SXM", onchip_sram_bytes=50 * 2**20))
        layers = tuple(LayerTime(name=f"conv{i}", op="Conv", macs=10**8 * (i + 1), output_bytes=2**20,
                                 time_s=0.001 * (i + 1), time_source="measured") for i in range(5))
        stages = (
            StageSummary(1, "Peak TOPS", "peak says 269 GMAC/s FP32, 1.07 TMAC/s BF16 (AMX); a T4 quotes 65 TMAC/s INT8",
                         data=PeakStageData(peaks=(
                             PeakFigure(device="host", name="This host", kind="CPU", precision="fp32",
                                        peak_ops_per_s=2 * HOST_PEAK_FP32, source="theoretical"),
                             PeakFigure(device="host", name="This host", kind="CPU", precision="fp32",
                                        peak_ops_per_s=3.16e11, source="measured"),
                             PeakFigure(device="t4", name="NVIDIA T4", kind="GPU", precision="int8",
                                        peak_ops_per_s=130e12, source="catalog")))),
            StageSummary(2, "ResNet-50, done right", "224x224 batch 32: 53 img/s; 2 MP batch 1: 0.69 img/s",
                         record_ids=tuple(r.record_id for r in recs[:4]),
                         data=MeasuredStageData(model="resnet50", configs=(), sram=sram, layers=layers, activations=(
                             ActivationRow(resolution="224", pixels=50176, largest_activation_bytes=3211264,
                                           peak_live_activation_bytes=6422528, precision="fp32"),
                             ActivationRow(resolution="2mp", pixels=2073600, largest_activation_bytes=132710400,
                                           peak_live_activation_bytes=265420800, precision="fp32")))),
            StageSummary(3, "A real-world model", "peak says 269 GMAC/s; YOLOv3 at 1 MP achieved 51 GMAC/s (19 %)",
                         record_ids=(recs[4].record_id,),
                         data=MeasuredStageData(model="yolov3", sram=sram, layers=layers[:3], activations=(
                             ActivationRow(resolution="1mp", pixels=921600, largest_activation_bytes=235929600,
                                           peak_live_activation_bytes=353894400, precision="fp32"),))),
            StageSummary(4, "Your model", f"{model4} at 640x480: 20 inferences/s",
                         record_ids=(recs[5].record_id,),
                         data=MeasuredStageData(model=model4, closest=(
                             ClosestModel(model="resnet50", distance=0.3, why="conv stack"),))),
        )
        ranking = (
            RankEntry(label="NVIDIA T4 · resnet50 · int8", kind="projected", device="t4", model="resnet50",
                      precision="int8", latency_s=0.0011, throughput_per_s=6000.0, per_w=85.7, per_usd=3.0,
                      value=0.0011, metric="latency_s"),
            RankEntry(label="resnet50 bf16 · host", kind="measured", record_id=recs[3].record_id, device="host",
                      model="resnet50", precision="bf16", latency_s=0.017, throughput_per_s=58.8, per_w=0.98,
                      per_usd=0.0294, value=0.017, metric="latency_s"),
        )
        projections = (ProjectionEntry(device="h100", device_name="NVIDIA H100 SXM", model="resnet50",
                                       precision="int8", latency_s=0.0004, throughput_per_s=80000.0,
                                       mac_utilization=0.33, bound=BoundShares(summary="compute"),
                                       throughput_per_w=114.0, throughput_per_usd=2.67,
                                       assumptions=("batch 1 latency", "weights resident in L2")),)
        summary = RunSummary(run_id=run_id, created="2025-01-01T10:00:00+00:00",
                             command=f"accelbench run --model {model4}", objective="latency",
                             stages=stages, ranking=ranking, projections=projections, duration_s=151.0,
                             environment=Environment.from_dict(ENV), notes=(f"model file /tmp/{model4}.onnx",))
        with open_store(db) as store:
            store.save_summary(summary)
    return recs


def test_latest_run_prefers_newest(tmp_path):
    from accelbench.report.data import load_report_data

    db = str(tmp_path / "r.db")
    build_run(db)
    assert load_report_data(db).summary is not None
    # A later bench-only run becomes the default; the summary run is still reachable by id.
    later = make_record("resnet50", "224", 50176, 4_089_184_256, 0.04, run_id="bench-2")
    with open_store(db) as store:
        store.save(later)
    data = load_report_data(db)
    assert data.run_id == "bench-2" and data.summary is None and len(data.records) == 1
    assert data.absent_stages == (1, 2, 3, 4)
    assert len(load_report_data(db, "20261101T100000Z-abcdef").records) == 6


def test_unknown_run_and_missing_db(tmp_path):
    from accelbench.report.data import load_report_data

    db = str(tmp_path / "r.db")
    build_run(db, with_summary=False)
    with pytest.raises(UserError, match="run: 'nope' is not in"):
        load_report_data(db, "nope")
    with pytest.raises(UserError, match="does not exist"):
        load_report_data(str(tmp_path / "absent.db"))


def test_units():
    from accelbench.report.units import fmt_bytes, fmt_rate, fmt_time, select_time_unit

    assert select_time_unit([0.037, 0.017, 0.6]) == ("ms", 1e-3)
    assert fmt_time(0.0371) == "37.1 ms" and fmt_time(1.45) == "1.45 s" and fmt_time(42e-6) == "42.0 µs"
    assert fmt_bytes(265420800) == "253 MiB"
    assert fmt_rate(2.69e11, "MAC/s") == "269 GMAC/s"


def test_units_for_sentences():
    from accelbench.report.units import fmt_correlation, fmt_macs, fmt_pct, fmt_rate

    assert fmt_macs(2.338e9) == "2.34 GMAC" and fmt_macs(25.7e6) == "25.7 MMAC"
    assert fmt_macs(None) == "–" and fmt_macs(None, missing="n/a") == "n/a"
    assert fmt_rate(None, "MAC/s", missing="n/a") == "n/a" and fmt_pct(None, missing="n/a") == "n/a"
    assert fmt_correlation(0.8404) == "+0.84" and fmt_correlation(-1.0) == "-1.00"
    assert fmt_correlation(None) == "n/a" and fmt_correlation(float("nan")) == "n/a"


def test_units_show_intervals():
    from accelbench.report.units import fmt_band, fmt_level, fmt_time_band

    assert fmt_band(1234, 980, 1510) == "1,234 (980–1,510)"
    assert fmt_band(1234, None, 1510) == "1,234" and fmt_band(None, 1, 2) == "–"
    assert fmt_band(12345.0, 9800.0, 15100.0, suffix="/s") == "12,345/s (9,800–15,100)"
    assert fmt_time_band(0.00123, 0.00098, 0.00151) == "1.23 ms (0.98–1.51)"
    assert fmt_time_band(0.00123, 0.00098, 0.00151, ("µs", 1e-6)) == "1,230 µs (980–1,510)"
    assert fmt_level(0.8) == "80 %" and fmt_level(None) == ""
