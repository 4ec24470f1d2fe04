"""The conventions users bring from benchmark_app and trtexec: a fixed iteration count (-niter)
beside the CI-based stop, and a minimum duration (--duration); driven by a fake clock."""

import numpy as np
import pytest

from accelbench.errors import UserError
from accelbench.measure.timing import TimingConfig, time_queries
from test_results_stats import FakeClock

STEADY = [1_000_000] * 100_000  # 1 ms per query: the CI target is met at the first check


def test_iterations_runs_exactly_n_queries_past_the_ci_target():
    clock = FakeClock(STEADY)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60, iterations=500), clock=clock)
    # quick mode would stop at 50 queries (the CI target); -niter 500 measures 500
    assert result.queries == 500 and result.stop_reason == "iterations"
    assert result.target_met  # the CI says it is tight, but the count stopped it


def test_iterations_is_not_cut_by_the_time_limit():
    clock = FakeClock([100_000_000] * 1000)  # 0.1 s per query
    result = time_queries(clock.run, TimingConfig(time_limit_s=1.0, iterations=30), clock=clock)
    assert result.queries == 30 and result.stop_reason == "iterations"
    assert sum(result.latency_ns) == 30 * 100_000_000  # 3 s of measurement under a 1 s limit


def test_fewer_iterations_than_the_ci_check_still_stop_at_n():
    clock = FakeClock(STEADY)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60, iterations=7), clock=clock)
    assert result.queries == 7 and result.stop_reason == "iterations"


def test_min_duration_keeps_measuring_after_the_ci_target():
    clock = FakeClock(STEADY)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60, min_duration_s=2.0), clock=clock)
    # the CI target is met after 50 queries (50 ms); the minimum duration holds it to >= 2 s
    assert result.stop_reason == "ci-target" and result.target_met
    assert sum(result.latency_ns) >= 2_000_000_000
    assert sum(result.latency_ns) < 2_000_000_000 + 300 * 1_000_000  # the next check after 2 s (10 % growth)


def test_min_duration_beyond_the_time_limit_wins():
    rng = np.random.default_rng(1)
    noisy = rng.choice([1_000_000, 3_000_000], 100_000).tolist()  # the CI never gets tight
    clock = FakeClock(noisy)
    result = time_queries(clock.run, TimingConfig(time_limit_s=0.5, min_duration_s=1.5), clock=clock)
    assert result.stop_reason == "time-limit"
    assert 1.5e9 <= sum(result.latency_ns) < 1.5e9 + 3_000_000


def test_iterations_and_min_duration_are_both_minimums():
    clock = FakeClock(STEADY)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60, iterations=100, min_duration_s=1.0), clock=clock)
    assert result.queries == 1000 and result.stop_reason == "min-duration"  # 1 s of 1 ms queries
    clock = FakeClock([100_000_000] * 1000)
    result = time_queries(clock.run, TimingConfig(time_limit_s=60, iterations=20, min_duration_s=1.0), clock=clock)
    assert result.queries == 20 and result.stop_reason == "iterations"  # 2 s: the count came last


@pytest.mark.parametrize("kwargs, message", [
    ({"iterations": 0}, "iterations: must be a positive integer; got 0"),
    ({"iterations": 2.5}, "iterations: must be a positive integer; got 2.5"),
    ({"min_duration_s": 0}, "min-duration: must be a positive number of seconds; got 0"),
    ({"min_duration_s": float("inf")}, "min-duration: must be a positive number of seconds; got inf"),
    ({"mode": "fixed", "max_queries": 5, "iterations": 5}, "iterations/min-duration: quick mode's options"),
])
def test_timing_config_refuses_bad_counts(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TimingConfig(**kwargs)
