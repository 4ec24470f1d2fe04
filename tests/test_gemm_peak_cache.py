"""The remembered GEMM peak (issue 13, point 3): each measurement keeps its stability (the spread of
its runs) and when it was made; a later measurement replaces it when higher or quieter; a record
names the peak it divides by (value, how, when). The four-stage run's use of its own peak is tested
in test_json_output.py."""

import json

import pytest

from accelbench.hardware.host import (
    MeasuredPeak, detect_host, load_measured_peaks, measured_peaks_path, save_measured_peaks,
)
from accelbench.measure.gemm_peak import GemmMeasurement


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELBENCH_CACHE_DIR", str(tmp_path))
    return detect_host(with_gpus=False)


def peak(ops, spread, when="2026-01-01T00:00:00+00:00"):
    return MeasuredPeak(ops, f"test GEMM at {ops:g}", spread, when)


def test_higher_or_quieter_replaces_lower_and_noisier_does_not():
    busy = peak(50e9, 0.40)
    assert peak(80e9, 0.60).replaces(busy)  # higher, even if noisier
    assert peak(45e9, 0.02).replaces(busy)  # quieter
    assert not peak(45e9, 0.50).replaces(busy)  # lower and noisier
    assert peak(45e9, 0.50).replaces(None)
    unknown_spread = MeasuredPeak(60e9, "an older cache entry")
    assert peak(40e9, 0.10).replaces(unknown_spread) and not MeasuredPeak(40e9, "no spread").replaces(unknown_spread)


def test_the_cache_keeps_the_better_measurement_with_its_spread_and_date(cache):
    kept = save_measured_peaks(cache, {"fp32": peak(50e9, 0.40, "2026-01-01T00:00:00+00:00")})
    assert kept["fp32"].ops_per_s == 50e9
    kept = save_measured_peaks(cache, {"fp32": peak(45e9, 0.50, "2026-01-02T00:00:00+00:00")})
    assert kept["fp32"].measured_at == "2026-01-01T00:00:00+00:00"  # lower and noisier: not kept
    save_measured_peaks(cache, {"fp32": peak(48e9, 0.03, "2026-01-03T00:00:00+00:00"),
                                "int8": peak(150e9, 0.05, "2026-01-03T00:00:00+00:00")})
    loaded = load_measured_peaks(cache)
    assert loaded["fp32"] == peak(48e9, 0.03, "2026-01-03T00:00:00+00:00") and loaded["int8"].ops_per_s == 150e9
    stored = json.loads(measured_peaks_path().read_text())
    assert set(next(iter(stored.values()))["fp32"]) == {"ops_per_s", "how", "spread", "measured_at"}


def test_an_entry_written_before_spreads_were_kept_still_reads(cache):
    from accelbench.hardware.host import _host_key

    measured_peaks_path().parent.mkdir(parents=True, exist_ok=True)
    measured_peaks_path().write_text(json.dumps({_host_key(cache): {"fp32": {"ops_per_s": 9e10, "how": "old"},
                                                                    "int8": {"ops_per_s": "broken"}}}))
    assert load_measured_peaks(cache) == {"fp32": MeasuredPeak(9e10, "old")}


def test_a_measurement_knows_its_spread_and_stands_for_a_peak():
    m = GemmMeasurement("fp32", 64, 2 * 64**3 / 1e-3, (1_000_000, 1_100_000, 1_500_000), "numpy", "fp32", "dtype")
    assert m.spread == pytest.approx(0.1)
    p = m.as_peak()
    assert p.ops_per_s == m.ops_per_s and p.spread == m.spread and p.measured_at == m.measured_at
    assert "64^3 GEMM on numpy, best of 3" in p.how
    assert GemmMeasurement("int8", 64, None, (), "none", "none", "not run").as_peak() is None


def test_a_bench_record_names_the_remembered_peak_it_divides_by(cache):
    pytest.importorskip("onnxruntime")
    from accelbench.measure.runner import run_config
    from accelbench.results.records import BenchConfig

    save_measured_peaks(cache, {"fp32": peak(80e9, 0.05, "2026-02-03T04:05:06+00:00")})
    config = BenchConfig(model="resnet50", resolution="32", time_limit_s=0.2, threads=1)
    record = run_config(config, run_id="r", isolate=False)
    assert record.measured_peak_macs_per_s == 40e9
    assert record.measured_peak_at == "2026-02-03T04:05:06+00:00"
    assert "spread 5.0%" in record.measured_peak_source and "remembered" in record.measured_peak_source
    assert record.mac_utilization_measured_peak == pytest.approx(record.macs_per_s / 40e9)
    own = run_config(config, run_id="r", isolate=False, measured_peaks={"fp32": peak(90e9, 0.01, "now")})
    assert own.measured_peak_macs_per_s == 45e9 and "measured by this run" in own.measured_peak_source
    data = own.to_dict()
    assert data["measured_peak_at"] == "now" and "45 GMAC/s" not in data["provenance"]["mac_utilization_measured_peak"]
    assert "4.5e+10 MAC/s" in data["provenance"]["mac_utilization_measured_peak"]
