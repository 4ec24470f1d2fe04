"""How long a sweep's configurations will take: from earlier results where the store has them,
else from the model's static profile (weights to build and calibrate, the host's projected
latency to fill quick mode's minimum sample). Rough by design: it says minutes, not seconds.

Per configuration: set-up (child process, runtime import, model build; INT8 calibration; the
trials of ``streams = "auto"``) plus the measurement (an earlier measurement of the same
configuration, else enough queries for quick mode's stopping rule, capped by the time limit, or
``iterations`` queries, which no time limit caps; at least ``min_duration_s``; MLPerf mode:
LoadGen's 10-minute minimum).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Mapping, Sequence

from accelbench.backends.base import physical_cores
from accelbench.measure.concurrency import candidate_streams
from accelbench.measure.runner import STREAMS_TRIAL_S
from accelbench.models.loader import load_model
from accelbench.profile import profile_model
from accelbench.projection import project_on_device
from accelbench.results.records import BenchRecord
from accelbench.sweep.plan import SweepItem

CHILD_SETUP_S = 5.0  # a fresh interpreter, the runtime's import, session creation
BUILD_BYTES_PER_S = 300e6  # building + compiling a model, per byte of weights
INT8_CALIBRATION_S = 3.0  # plus two passes over the weights
QUICK_QUERIES = 65  # warm-up windows + the 50-query minimum before the CI may stop a run
MLPERF_MIN_S = 600.0
WARMUP_SHARE = 1.2  # an earlier record's measure_wall_ns leaves out its warm-up


@lru_cache(maxsize=128)
def _profile_figures(model: str, resolution: str | None, batch: int, precision: str) -> tuple[int, float | None]:
    """(weight bytes, projected host latency s) of a zoo model or file; (0, None) when unknown."""
    try:
        loaded = load_model(model, resolution=resolution, batch=batch, with_weights=False)
        profile = profile_model(loaded, "fp32" if precision not in ("int8", "fp16", "bf16") else precision)
    except Exception:  # an estimate is never a reason to fail: fall back to the time limit
        return 0, None
    try:
        latency = project_on_device(profile, "host", batch=batch).latency_s
    except Exception:
        latency = None
    return profile.weight_bytes, latency


def estimate_s(item: SweepItem, earlier: BenchRecord | None = None) -> float:
    """Seconds to measure ``item`` (``earlier``: an ok record of the same configuration)."""
    cfg = item.config
    weights, latency = (0, None) if cfg.source == "torch" else _profile_figures(
        cfg.model, cfg.resolution, cfg.batch, cfg.precision)
    setup = CHILD_SETUP_S + weights / BUILD_BYTES_PER_S
    if cfg.precision == "int8":
        setup += INT8_CALIBRATION_S + 2 * weights / BUILD_BYTES_PER_S
    if cfg.streams == "auto":
        setup += len(candidate_streams(physical_cores(), cfg.threads)) * STREAMS_TRIAL_S
    if cfg.mode == "mlperf":
        return setup + MLPERF_MIN_S
    cap = math.inf if cfg.iterations is not None else cfg.time_limit_s  # a fixed count runs to its end
    if earlier is not None and earlier.measure_wall_ns:
        measure = min(cap, WARMUP_SHARE * earlier.measure_wall_ns / 1e9)
    elif latency is not None and item.device.kind == "cpu":
        measure = min(cap, (cfg.iterations or QUICK_QUERIES) * latency)
    else:
        measure = cfg.time_limit_s
    return setup + max(measure, cfg.min_duration_s or 0.0)


def sweep_eta_s(remaining: Sequence[SweepItem], estimates: Mapping[str, float],
                units: Mapping, pace: float = 1.0) -> float:
    """Wall time left: devices measure in parallel, each of its units one configuration at a time;
    ``pace`` scales the estimates by how the finished configurations compared with theirs."""
    per_device: dict = {}
    for item in remaining:
        per_device[item.device] = per_device.get(item.device, 0.0) + estimates.get(item.config_hash, 0.0)
    return max((total / max(units.get(device, 1), 1) for device, total in per_device.items()), default=0.0) * pace
