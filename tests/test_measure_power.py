"""Power: RAPL counters (with wrap-around) read from a sysfs-shaped folder, and the TDP estimate."""

import pytest

from accelbench.measure.power import (
    PowerMeter,
    RaplCounter,
    estimate_tdp_power_w,
    rapl_delta_uj,
)
from accelbench.results.records import PowerRecord


def _domain(root, name, energy_uj, max_uj):
    d = root / name
    d.mkdir()
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def test_rapl_wraparound_and_package_sum(tmp_path):
    assert rapl_delta_uj(100, 250, 1000) == 150
    assert rapl_delta_uj(900, 100, 1000) == 200  # wrapped at 1000
    pkg0 = _domain(tmp_path, "intel-rapl:0", 900_000_000, 1_000_000_000)
    pkg1 = _domain(tmp_path, "intel-rapl:1", 5_000_000, 1_000_000_000)
    _domain(tmp_path, "intel-rapl:0:0", 1, 1_000_000_000)  # core sub-domain: already in the package figure
    counter = RaplCounter(str(tmp_path))
    assert len(counter.domains) == 2
    assert counter.read_j() == 0.0
    (pkg0 / "energy_uj").write_text("100000000\n")  # wrapped: +200 J
    (pkg1 / "energy_uj").write_text("8000000\n")  # +3 J
    assert counter.read_j() == pytest.approx(203.0)


def test_tdp_share_estimate_and_labels():
    # 2 cores busy for 1 s out of a 64-core 200 W part: 200 * 2 / 64 = 6.25 W
    assert estimate_tdp_power_w(200, busy_core_s=2.0, wall_s=1.0, tdp_cores=64) == pytest.approx(6.25)
    assert estimate_tdp_power_w(200, busy_core_s=500.0, wall_s=1.0, tdp_cores=64) == 200  # capped
    meter = PowerMeter("cpu", tdp_w=200, tdp_cores=64, counter=None)
    meter.counter = None  # no counter readable (as on this VM): fall back to the estimate
    import time

    cpu_start, wall_start = time.process_time(), time.perf_counter()
    meter.start()
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:  # one thread busy for 0.3 s
        pass
    record = meter.stop()
    # On a loaded machine the thread gets less than a whole core: the estimate follows the CPU time
    # the process really got (what it is meant to do), not the wall time.
    share = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    assert record.power_source == "estimated-tdp" and not record.measured
    assert record.detail.startswith("ESTIMATE")
    assert record.power_w == pytest.approx(200 / 64 * share, rel=0.25, abs=0.2)  # tick granularity
    assert record.power_w <= 200 / 64 * 1.2  # at most ~one busy core of 64


def test_measured_record_subtracts_idle():
    rec = PowerRecord(50.0, "rapl", idle_power_w=20.0)
    assert rec.measured and rec.net_power_w == 30.0
    assert PowerRecord.from_dict(rec.to_dict()) == rec
    assert PowerRecord(None, "unavailable").net_power_w is None
