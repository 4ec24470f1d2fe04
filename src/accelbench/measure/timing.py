"""The timing loop: warm up until latency stops drifting, then measure until the CI is tight.

The clock is injectable (a callable returning integer nanoseconds; default
``time.perf_counter_ns``) so tests drive the loop with a fake clock. Each query is timed on
its own: ``t0 = clock(); run_once(); t1 = clock()``, and ``t1 - t0`` is stored raw in ns.

quick mode (docs/measurement.md):

1. Warm-up in windows of ``warmup_window`` queries. Warm-up ends when the medians of the
   last ``warmup_stable_windows`` windows are within ``warmup_tolerance`` (5 %) of each other
   (max/min - 1), or when ``warmup_max_s`` (capped at a third of the time limit) has passed.
   Slow models get smaller windows (about 0.25 s each, at least one query).
2. Measure. After ``min_queries`` and then every time the sample grows by ~10 %, compute the
   relative half-widths of the 95 % CI of the median latency and of the mean latency (whose
   reciprocal is throughput for a sequential loop). Stop when both are within
   ``target_rel_ci`` ("ci-target", target met), or when the total wall time (warm-up +
   measure) reaches ``time_limit_s`` with at least ``min_samples`` measured queries
   ("time-limit", target not met), or at ``max_queries``.

The conventions users bring from benchmark_app and trtexec, in quick mode:

* ``iterations`` (``bench --iterations N``, as ``benchmark_app -niter``): exactly N measured
  queries after the warm-up; the CI target and the time limit stop nothing ("iterations").
* ``min_duration_s`` (``bench --min-duration S``, as ``trtexec --duration``): the measured phase
  lasts at least S seconds; neither the CI target nor the time limit stops it earlier. With
  ``iterations``: at least N queries *and* at least S seconds (trtexec's --iterations with
  --duration); the stop reason is then "iterations" or "min-duration", whichever came last.

The stopping rule (``StopRule``) is shared with the loop that keeps several requests in flight
(accelbench.measure.concurrency).

fixed mode runs exactly ``warmup_queries`` then ``max_queries`` queries (no stopping rule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from accelbench.errors import UserError, check_stop_conventions, choice_error
from accelbench.results.stats import ci_half_widths

Clock = Callable[[], int]
TIMING_MODES = ("quick", "fixed")


@dataclass(frozen=True)
class TimingConfig:
    """How long and how precisely to time. Durations in seconds, fractions as 0.02 = 2 %."""

    mode: str = "quick"
    time_limit_s: float = 10.0  # cap on warm-up + measurement wall time
    target_rel_ci: float = 0.02
    confidence: float = 0.95
    min_queries: int = 50  # no stop on the CI before this many (a 20-sample CI is fragile)
    min_samples: int = 5  # the time limit never stops a run with fewer measured queries than this
    max_queries: int | None = None  # required in fixed mode
    warmup_window: int = 5
    warmup_stable_windows: int = 3
    warmup_tolerance: float = 0.05
    warmup_max_s: float = 3.0
    warmup_queries: int = 1  # fixed mode only
    check_growth: float = 0.10  # re-test the stopping rule when the sample grew by this fraction
    iterations: int | None = None  # quick mode: exactly this many measured queries (benchmark_app -niter)
    min_duration_s: float | None = None  # quick mode: measure at least this long (trtexec --duration)

    def __post_init__(self) -> None:
        if self.mode not in TIMING_MODES:
            raise choice_error("timing mode", self.mode, TIMING_MODES)
        if not self.time_limit_s > 0:
            raise UserError(f"time-limit: must be a positive number of seconds; got {self.time_limit_s}")
        if not 0 < self.target_rel_ci < 1:
            raise UserError(f"target CI: must be a fraction in (0, 1) such as 0.02; got {self.target_rel_ci}")
        if not 0 < self.confidence < 1:
            raise UserError(f"confidence: must be in (0, 1) such as 0.95; got {self.confidence}")
        for name in ("min_queries", "warmup_window", "warmup_stable_windows"):
            if getattr(self, name) < 1:
                raise UserError(f"{name}: must be a positive integer; got {getattr(self, name)}")
        if self.max_queries is not None and self.max_queries < 1:
            raise UserError(f"max_queries: must be a positive integer; got {self.max_queries}")
        if self.mode == "fixed" and self.max_queries is None:
            raise UserError("max_queries: fixed timing mode needs a query count")
        if self.warmup_queries < 0 or self.warmup_max_s < 0:
            raise UserError("warm-up: counts and durations must not be negative")
        check_stop_conventions(self.iterations, self.min_duration_s)
        if self.mode == "fixed" and (self.iterations is not None or self.min_duration_s is not None):
            raise UserError("iterations/min-duration: quick mode's options; fixed mode counts max_queries")


@dataclass(frozen=True)
class TimingResult:
    """Raw figures of one timing run. Latencies in ns, in run order."""

    latency_ns: tuple[int, ...]
    warmup_latency_ns: tuple[int, ...]
    measure_wall_ns: int  # first query start to last query end of the measured phase
    warmup_wall_ns: int
    target_met: bool
    stop_reason: str  # "ci-target", "time-limit", "max-queries", "iterations", "min-duration", "fixed"
    warmup_converged: bool
    median_ci_rel: float  # at stop time
    mean_ci_rel: float
    streams: int = 1  # requests in flight (accelbench.measure.concurrency)

    @property
    def queries(self) -> int:
        return len(self.latency_ns)

    def throughput_per_s(self, batch: int = 1) -> float:
        """Inferences per second. One request at a time: batch x queries / sum of query latencies
        (= batch / mean latency), so the loop's own bookkeeping (the stopping-rule checks) is not
        charged to the model; for a sequential loop the two differ by well under 1 %. Several
        requests in flight: batch x completed queries / wall time of the measured phase."""
        if self.streams > 1:
            return self.queries * batch * 1e9 / self.measure_wall_ns if self.measure_wall_ns else float("nan")
        total_ns = sum(self.latency_ns)
        return self.queries * batch * 1e9 / total_ns if total_ns else float("nan")


class StopRule:
    """When quick mode's measured phase stops (module docstring): the CI target after
    ``min_queries`` (re-tested as the sample grows), the time limit, ``max_queries``,
    ``iterations`` and ``min_duration_s``. ``start_ns``: when the whole run (warm-up included)
    started; ``measure_start_ns``: when the measured phase did."""

    def __init__(self, config: TimingConfig, start_ns: int, measure_start_ns: int):
        self.config = config
        self.start_ns = start_ns
        self.measure_start_ns = measure_start_ns
        self.limit_ns = int(config.time_limit_s * 1e9)
        self.min_measure_ns = int((config.min_duration_s or 0.0) * 1e9)
        self.next_check = config.min_queries
        self.median_ci_rel = self.mean_ci_rel = float("inf")
        self.target_met = False

    def long_enough(self, now_ns: int) -> bool:
        """The measured phase has lasted its minimum duration (always true without one)."""
        return now_ns - self.measure_start_ns >= self.min_measure_ns

    def enough_iterations(self, started: int, now_ns: int) -> bool:
        """With ``iterations``: no query past the N-th may start (unless the minimum duration is not over)."""
        return self.config.iterations is not None and started >= self.config.iterations and self.long_enough(now_ns)

    def stop_reason(self, samples, now_ns: int) -> str | None:
        """Why to stop after the measured queries ``samples`` (ns) at ``now_ns``; None: go on."""
        config = self.config
        n = len(samples)
        long_enough = self.long_enough(now_ns)
        if config.iterations is not None:
            if n >= config.iterations and long_enough:
                return "min-duration" if self.min_measure_ns and n > config.iterations else "iterations"
            return None
        if n >= self.next_check:
            self.median_ci_rel, self.mean_ci_rel = ci_half_widths(samples, config.confidence)
            self.target_met = self.median_ci_rel <= config.target_rel_ci and self.mean_ci_rel <= config.target_rel_ci
            self.next_check = n + max(1, int(n * config.check_growth))
            if self.target_met and long_enough:
                return "ci-target"
        if config.max_queries is not None and n >= config.max_queries:
            return "max-queries"
        if now_ns - self.start_ns >= self.limit_ns and n >= config.min_samples and long_enough:
            return "time-limit"
        return None

    def final_widths(self, samples) -> tuple[float, float]:
        """The CI half-widths of the whole sample (the last check may be older than the last query)."""
        self.median_ci_rel, self.mean_ci_rel = ci_half_widths(samples, self.config.confidence)
        self.target_met = (self.median_ci_rel <= self.config.target_rel_ci
                           and self.mean_ci_rel <= self.config.target_rel_ci)
        return self.median_ci_rel, self.mean_ci_rel


def _stable(window_medians: list[float], k: int, tolerance: float) -> bool:
    if len(window_medians) < k:
        return False
    last = window_medians[-k:]
    return min(last) > 0 and max(last) / min(last) - 1.0 <= tolerance


def time_queries(run_once: Callable[[], Any], config: TimingConfig, clock: Clock = time.perf_counter_ns) -> TimingResult:
    """Run ``run_once`` repeatedly under ``config``; return raw latencies and the stop reason."""
    start = clock()
    warm: list[int] = []
    converged = False
    if config.mode == "fixed":
        for _ in range(config.warmup_queries):
            t0 = clock()
            run_once()
            warm.append(clock() - t0)
        converged = True
    else:
        warm_cap_ns = int(min(config.warmup_max_s, config.time_limit_s / 3.0) * 1e9)
        medians: list[float] = []
        # A slow model (a second per query at 2 MP) gets smaller windows, so that warm-up does not
        # spend the whole time limit: windows of about a quarter of a second, at least one query.
        t0 = clock()
        run_once()
        first = clock() - t0
        warm.append(first)
        window_size = max(1, min(config.warmup_window, int(0.25e9 / max(first, 1))))
        while True:
            window = []
            for _ in range(window_size):
                t0 = clock()
                run_once()
                window.append(clock() - t0)
            warm.extend(window)
            medians.append(float(np.median(window)))
            if _stable(medians, config.warmup_stable_windows, config.warmup_tolerance):
                converged = True
                break
            if clock() - start >= warm_cap_ns:
                break
    warm_end = clock()

    samples: list[int] = []
    append = samples.append
    stop_reason = "fixed"
    target_met = False
    med_rel = mean_rel = float("inf")
    if config.mode == "fixed":
        for _ in range(config.max_queries or 0):
            t0 = clock()
            run_once()
            append(clock() - t0)
    else:
        rule = StopRule(config, start, warm_end)
        while True:
            t0 = clock()
            run_once()
            t1 = clock()
            append(t1 - t0)
            reason = rule.stop_reason(samples, t1)
            if reason is not None:
                stop_reason = reason
                break
        if stop_reason == "ci-target":
            med_rel, mean_rel, target_met = rule.median_ci_rel, rule.mean_ci_rel, True
        else:
            med_rel, mean_rel = rule.final_widths(samples)
            # a count or a duration stopped it: it says whether the CI got there anyway
            target_met = rule.target_met and stop_reason in ("iterations", "min-duration")
    end = clock()
    return TimingResult(
        latency_ns=tuple(int(x) for x in samples),
        warmup_latency_ns=tuple(int(x) for x in warm),
        measure_wall_ns=int(end - warm_end),
        warmup_wall_ns=int(warm_end - start),
        target_met=target_met,
        stop_reason=stop_reason,
        warmup_converged=converged,
        median_ci_rel=med_rel,
        mean_ci_rel=mean_rel,
    )
