"""Statistics and quick mode's stopping rules, driven by a fake clock (deterministic)."""

import math

import numpy as np
import pytest

from accelbench.errors import UserError
from accelbench.results.stats import median_ci, stability, summarize, z_value
from accelbench.measure.timing import TimingConfig, time_queries


class FakeClock:
    """clock() returns the fake time in ns; run() advances it by the next latency."""

    def __init__(self, latencies_ns):
        self.now = 0
        self._lat = iter(latencies_ns)

    def __call__(self) -> int:
        return self.now

    def run(self) -> None:
        self.now += next(self._lat)


def test_percentiles_mean_cv_by_hand():
    samples = list(range(1, 101))  # 1..100 ns
    s = summarize(samples)
    # linear interpolation: p50 = 50.5, p90 = 1 + 0.9 * 99 = 90.1, p99 = 99.01
    assert s.p50_ns == pytest.approx(50.5)
    assert s.p90_ns == pytest.approx(90.1)
    assert s.p99_ns == pytest.approx(99.01)
    assert s.p999_ns == pytest.approx(99.901)
    assert s.mean_ns == pytest.approx(50.5)
    assert s.std_ns == pytest.approx(29.011491975882016)  # sample std of 1..100
    assert s.cv == pytest.approx(29.011491975882016 / 50.5)
    assert (s.outliers_low, s.outliers_high) == (0, 0)
    assert s.drift == pytest.approx((84 - 17) / 17)  # medians of 1..33 and 68..100


def test_median_ci_order_statistics():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    samples = list(range(1, 101))
    # n = 100: half = 1.96 * 10 / 2 = 9.8 -> ranks floor(50 - 9.8) = 40 and ceil(51 + 9.8) = 61
    assert median_ci(samples) == (40.0, 61.0)
    assert median_ci(samples[:9]) is None  # fewer than 10 samples: no CI


def test_tukey_outliers_and_stability_warnings():
    samples = [100] * 50 + [101] * 49 + [1000]
    s = summarize(samples)
    assert s.outliers_high == 1 and s.outliers_low == 0
    verdict = stability(s, 0.02)
    assert verdict.verdict == "unstable"
    assert any("max is" in w for w in verdict.warnings)  # 1000 vs mean 109.5: +813 %
    quiet = stability(summarize([100, 101] * 50), 0.02)
    assert quiet.verdict == "stable" and quiet.warnings == ()


def test_drift_warns_about_throttling():
    samples = [100] * 30 + [110] * 30 + [120] * 30
    verdict = stability(summarize(samples), 0.5)
    assert any("drift: last third 20.0% slower" in w for w in verdict.warnings)


def test_quick_mode_stops_on_ci_target_with_fake_clock():
    rng = np.random.default_rng(0)
    latencies = (1_000_000 + rng.integers(-20_000, 20_000, 10_000)).tolist()  # 1 ms +/- 2 %
    clock = FakeClock(latencies)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60), clock=clock)
    assert result.stop_reason == "ci-target" and result.target_met
    # a first probe query sizes the windows, then 3 stable windows of 5
    assert result.warmup_converged and len(result.warmup_latency_ns) == 16
    assert result.queries == 50  # the first check (min_queries) already meets +/-2 %
    assert result.latency_ns == tuple(latencies[16:66])
    assert result.median_ci_rel <= 0.02 and result.mean_ci_rel <= 0.02
    assert result.throughput_per_s() == pytest.approx(1e9 / np.mean(latencies[16:66]))


def test_quick_mode_hits_time_limit_when_noisy():
    rng = np.random.default_rng(1)
    latencies = rng.choice([1_000_000, 3_000_000], 100_000).tolist()  # bimodal: CI stays wide for a while
    clock = FakeClock(latencies)
    cfg = TimingConfig(time_limit_s=0.2, warmup_max_s=0.05)
    result = time_queries(clock.run, cfg, clock=clock)
    assert result.stop_reason == "time-limit" and not result.target_met
    total_ns = sum(result.warmup_latency_ns) + sum(result.latency_ns)
    assert 0.2e9 <= total_ns < 0.2e9 + 3_000_000  # stops at the first query past the cap
    assert result.median_ci_rel > 0.02


def test_warmup_waits_for_latency_to_settle():
    # 30 slow queries (cold caches) then steady 1 ms: warm-up must run past the slow part.
    latencies = [5_000_000 - 100_000 * i for i in range(30)] + [1_000_000] * 1000
    clock = FakeClock(latencies)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60), clock=clock)
    assert len(result.warmup_latency_ns) >= 30
    assert set(result.latency_ns) == {1_000_000}


def test_warmup_cap_when_latency_keeps_drifting():
    latencies = [1_000_000 + 20_000 * i for i in range(100_000)]  # +2 % per query: never settles
    clock = FakeClock(latencies)
    result = time_queries(clock.run, TimingConfig(time_limit_s=3, warmup_max_s=0.1), clock=clock)
    assert not result.warmup_converged
    assert 0.1e9 <= sum(result.warmup_latency_ns) < 0.1e9 + 5 * 4_000_000  # stops at the window past the cap


def test_fixed_mode_and_config_validation():
    clock = FakeClock([10] * 100)
    result = time_queries(clock.run, TimingConfig(mode="fixed", max_queries=7, warmup_queries=2), clock=clock)
    assert result.queries == 7 and len(result.warmup_latency_ns) == 2 and result.stop_reason == "fixed"
    with pytest.raises(UserError, match="timing mode"):
        TimingConfig(mode="slow")
    with pytest.raises(UserError, match="time-limit"):
        TimingConfig(time_limit_s=0)
    assert math.isinf(summarize([5] * 3).median_ci_rel)


def test_slow_model_gets_small_warmup_windows_and_a_minimum_of_samples():
    # 0.85 s per query (ResNet-50 at 2 MP on 2 cores) with a 6 s limit: warm-up must not eat the
    # budget, and the time limit must not stop the run before min_samples queries.
    clock = FakeClock([850_000_000] * 100)
    result = time_queries(clock.run, TimingConfig(time_limit_s=6.0), clock=clock)
    assert result.stop_reason == "time-limit" and not result.target_met
    assert len(result.warmup_latency_ns) <= 4  # windows of one query, warm-up capped at 2 s
    assert result.queries >= 5
