"""Statistics over raw per-query latencies (nanoseconds). Pure numpy + stdlib.

Conventions (docs/measurement.md):

* Percentiles use linear interpolation between order statistics (numpy's default,
  Hyndman-Fan type 7). ``p999`` is the 99.9th percentile.
* The confidence interval of the **median** is distribution-free: the order statistics
  ``x(j)`` and ``x(k)`` with ``j, k = n/2 -/+ z*sqrt(n)/2`` (the normal approximation of the
  Binomial(n, 1/2) count of samples below the median; Conover, *Practical Nonparametric
  Statistics*, 3.2). It needs no assumption on the latency distribution, which is skewed.
* The confidence interval of the **mean** (and so of throughput = batch / mean latency for a
  sequential loop) is the normal one, ``mean +/- z*s/sqrt(n)``.
* Relative half-width = the larger distance from the estimate to a CI bound, divided by the
  estimate. Quick mode stops when both are within the target (default 0.02 = +/-2 %).
* Outliers: Tukey fences, below Q1 - 1.5 IQR or above Q3 + 1.5 IQR.
* Drift: (median of the last third - median of the first third) / median of the first third;
  positive = the run got slower (throttling, heat, a noisy neighbour).

Stability warnings follow pyperf's checks: CV >= 10 %, min or max >= 50 % off the mean, CI
wider than the target, |drift| >= 5 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

CV_WARN = 0.10
MINMAX_WARN = 0.50
DRIFT_WARN = 0.05
MIN_SAMPLES_FOR_CI = 10


def z_value(confidence: float) -> float:
    """Two-sided normal quantile: 1.959964 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def percentile(samples: Sequence[int] | np.ndarray, q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN when there are no samples."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size == 0:
        return math.nan
    return float(np.percentile(arr, q))


def median_ci(samples: Sequence[int] | np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free CI of the median from order statistics; None below 10 samples."""
    arr = np.sort(np.asarray(samples, dtype=np.float64))
    n = arr.size
    if n < MIN_SAMPLES_FOR_CI:
        return None
    half = z_value(confidence) * math.sqrt(n) / 2.0
    # 1-based ranks j = floor(n/2 - half), k = ceil(1 + n/2 + half), clipped to the sample.
    j = max(1, math.floor(n / 2.0 - half))
    k = min(n, math.ceil(1 + n / 2.0 + half))
    return float(arr[j - 1]), float(arr[k - 1])


def mean_ci(samples: Sequence[int] | np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Normal CI of the mean, mean +/- z*s/sqrt(n); None below 10 samples."""
    arr = np.asarray(samples, dtype=np.float64)
    n = arr.size
    if n < MIN_SAMPLES_FOR_CI:
        return None
    mean = float(arr.mean())
    half = z_value(confidence) * float(arr.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def relative_half_width(estimate: float, ci: tuple[float, float] | None) -> float:
    """max(|estimate - lo|, |hi - estimate|) / estimate; inf when there is no CI."""
    if ci is None or not estimate:
        return math.inf
    lo, hi = ci
    return max(abs(estimate - lo), abs(hi - estimate)) / abs(estimate)


def ci_half_widths(samples: Sequence[int] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """(relative half-width of the median CI, of the mean CI): what quick mode's stopping rule tests."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size < MIN_SAMPLES_FOR_CI:
        return math.inf, math.inf
    med = float(np.median(arr))
    return relative_half_width(med, median_ci(arr, confidence)), relative_half_width(
        float(arr.mean()), mean_ci(arr, confidence)
    )


@dataclass(frozen=True)
class LatencyStats:
    """Figures derived from raw latencies (ns). Never rounded; display layers round."""

    n: int
    mean_ns: float
    std_ns: float
    cv: float  # std / mean
    min_ns: float
    max_ns: float
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    confidence: float
    median_ci_ns: tuple[float, float] | None
    median_ci_rel: float  # relative half-width of the median CI (inf without a CI)
    mean_ci_ns: tuple[float, float] | None
    mean_ci_rel: float
    outliers_low: int
    outliers_high: int
    drift: float  # (median last third - median first third) / median first third; NaN below 6 samples

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "mean_ns": self.mean_ns,
            "std_ns": self.std_ns,
            "cv": self.cv,
            "min_ns": self.min_ns,
            "max_ns": self.max_ns,
            "p50_ns": self.p50_ns,
            "p90_ns": self.p90_ns,
            "p99_ns": self.p99_ns,
            "p999_ns": self.p999_ns,
            "confidence": self.confidence,
            "median_ci_ns": list(self.median_ci_ns) if self.median_ci_ns else None,
            "median_ci_rel": _finite_or_none(self.median_ci_rel),
            "mean_ci_ns": list(self.mean_ci_ns) if self.mean_ci_ns else None,
            "mean_ci_rel": _finite_or_none(self.mean_ci_rel),
            "outliers_low": self.outliers_low,
            "outliers_high": self.outliers_high,
            "drift": _finite_or_none(self.drift),
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summarize(samples: Sequence[int] | np.ndarray, confidence: float = 0.95) -> LatencyStats:
    """Derive LatencyStats from raw latencies in ns. Raises ValueError on an empty sample."""
    arr = np.asarray(samples, dtype=np.float64)
    n = int(arr.size)
    if n == 0:
        raise ValueError("no latency samples to summarize")
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if n > 1 else 0.0
    p25, p50, p75, p90, p99, p999 = (float(v) for v in np.percentile(arr, [25, 50, 75, 90, 99, 99.9]))
    iqr = p75 - p25
    lo_fence, hi_fence = p25 - 1.5 * iqr, p75 + 1.5 * iqr
    med_ci = median_ci(arr, confidence)
    mn_ci = mean_ci(arr, confidence)
    return LatencyStats(
        n=n,
        mean_ns=mean,
        std_ns=std,
        cv=std / mean if mean else math.nan,
        min_ns=float(arr.min()),
        max_ns=float(arr.max()),
        p50_ns=p50,
        p90_ns=p90,
        p99_ns=p99,
        p999_ns=p999,
        confidence=confidence,
        median_ci_ns=med_ci,
        median_ci_rel=relative_half_width(p50, med_ci),
        mean_ci_ns=mn_ci,
        mean_ci_rel=relative_half_width(mean, mn_ci),
        outliers_low=int((arr < lo_fence).sum()),
        outliers_high=int((arr > hi_fence).sum()),
        drift=drift(arr),
    )


def drift(samples: Sequence[int] | np.ndarray) -> float:
    """Relative change of the median from the first third to the last third (in run order)."""
    arr = np.asarray(samples, dtype=np.float64)
    third = arr.size // 3
    if third < 2:
        return math.nan
    first = float(np.median(arr[:third]))
    last = float(np.median(arr[-third:]))
    return (last - first) / first if first else math.nan


@dataclass(frozen=True)
class Stability:
    """The verdict stored with every measurement: "stable" or "unstable", with the reasons."""

    verdict: str
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "warnings": list(self.warnings)}


def stability(stats: LatencyStats, target_rel: float = 0.02) -> Stability:
    """pyperf-style checks on a measurement (see module docstring for thresholds)."""
    warnings: list[str] = []
    if stats.n < MIN_SAMPLES_FOR_CI:
        warnings.append(f"only {stats.n} samples: no confidence interval (need {MIN_SAMPLES_FOR_CI})")
    if math.isfinite(stats.cv) and stats.cv >= CV_WARN:
        warnings.append(f"CV {stats.cv:.1%} >= {CV_WARN:.0%}: latencies spread widely")
    if stats.mean_ns:
        if (stats.mean_ns - stats.min_ns) / stats.mean_ns >= MINMAX_WARN:
            warnings.append(f"min is {(stats.mean_ns - stats.min_ns) / stats.mean_ns:.0%} below the mean")
        if (stats.max_ns - stats.mean_ns) / stats.mean_ns >= MINMAX_WARN:
            warnings.append(f"max is {(stats.max_ns - stats.mean_ns) / stats.mean_ns:.0%} above the mean")
    if stats.n >= MIN_SAMPLES_FOR_CI:
        widest = max(stats.median_ci_rel, stats.mean_ci_rel)
        if widest > target_rel:
            warnings.append(
                f"{stats.confidence:.0%} CI is +/-{widest:.1%}, wider than the +/-{target_rel:.1%} target"
            )
    if math.isfinite(stats.drift) and abs(stats.drift) >= DRIFT_WARN:
        direction = "slower" if stats.drift > 0 else "faster"
        warnings.append(
            f"drift: last third {abs(stats.drift):.1%} {direction} than the first"
            + (" (throttling or interference?)" if stats.drift > 0 else "")
        )
    return Stability("unstable" if warnings else "stable", tuple(warnings))
