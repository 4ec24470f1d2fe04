"""Which stored measurements `accelbench calibrate` may fit a device's figures on, and why the others
may not.

The projection models one query at a batch, run back to back on an otherwise idle device; a point
for the fit must be a measurement of exactly that (single-stream or offline), stable (its stability
verdict is "stable": on a busy machine the latency is the machine's, not the model's), full-size
(not shrunk by ACCELBENCH_TINY=1: tiny inputs are all per-layer overhead), of a model whose MACs
were all counted, on the device being calibrated, at a precision that device has a peak for.
Every record left out is named with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from accelbench.errors import UserError
from accelbench.hardware.spec import DeviceSpec
from accelbench.projection.calibrate import CalibrationPoint

# The scenarios whose latency is one query's compute: multi-stream and server add queueing and
# concurrency that the projection does not model.
CALIBRATED_SCENARIOS = ("single-stream", "offline")


@dataclass(frozen=True)
class ExcludedRecord:
    """A stored measurement the fit does not use, and why."""

    record_id: str
    label: str
    reason: str

    def to_dict(self) -> dict:
        return {"record_id": self.record_id, "label": self.label, "reason": self.reason}


@dataclass(frozen=True)
class CalibrationSelection:
    points: tuple[CalibrationPoint, ...]
    excluded: tuple[ExcludedRecord, ...]


def record_label(record) -> str:
    cfg = record.config
    precision = record.precision_executed or cfg.precision
    return f"{cfg.model}@{cfg.resolution or 'default'} {precision} b{record.inferences_per_query} {cfg.backend}"


def select_points(records: Iterable, device: DeviceSpec,
                  load_profile: Callable | None = None) -> CalibrationSelection:
    """CalibrationPoints from the records that ran on ``device`` (host: CPU records) and qualify
    (see the module docstring); the others of that device come back as ExcludedRecords.
    ``load_profile(model, resolution=, batch=, input_shapes=, precision=)`` profiles a model
    (default: projection.api.load_profile)."""
    if load_profile is None:
        from accelbench.projection.api import load_profile
    profiles: dict[tuple, object] = {}
    points: list[CalibrationPoint] = []
    excluded: list[ExcludedRecord] = []
    for rec in records:
        cfg = rec.config
        if (device.id == "host") != (str(cfg.device).lower() == "cpu"):
            continue  # another device's measurement: not this fit's business
        precision = rec.precision_executed or cfg.precision
        reason = _unfit_reason(rec, device, precision)
        if reason is None:
            key = (cfg.model, cfg.resolution, repr(dict(cfg.input_shapes)), precision)
            if key not in profiles:
                try:
                    profiles[key] = load_profile(cfg.model, resolution=cfg.resolution, batch=1,
                                                 input_shapes=dict(cfg.input_shapes) or None, precision=precision)
                except UserError as exc:  # a model file that moved, or no longer profiles
                    profiles[key] = f"cannot profile the model again: {exc}"
            profile = profiles[key]
            if isinstance(profile, str):
                reason = profile
            elif not profile.unknown_layers.macs_complete:
                reason = "its profile has MAC layers of unknown shape: projected times leave them out"
        if reason is not None:
            excluded.append(ExcludedRecord(rec.record_id, record_label(rec), reason))
            continue
        batch = rec.inferences_per_query
        latency_s = batch / rec.loadgen_throughput_per_s if rec.loadgen_throughput_per_s else rec.stats.p50_ns / 1e9
        points.append(CalibrationPoint(profile, batch, latency_s, record_label(rec)))
    return CalibrationSelection(tuple(points), tuple(excluded))


def _unfit_reason(rec, device: DeviceSpec, precision: str) -> str | None:
    """Why ``rec`` cannot be a calibration point (None: it can, if its model profiles)."""
    cfg = rec.config
    if rec.status != "ok":
        return "LoadGen judged the run INVALID" if rec.status == "invalid" else f"failed ({rec.failure_kind})"
    if cfg.scenario not in CALIBRATED_SCENARIOS:
        return (f"scenario {cfg.scenario}: its latencies include queueing and concurrency; calibration models "
                f"{' and '.join(CALIBRATED_SCENARIOS)} runs")
    if cfg.tiny:
        return "tiny sizes (ACCELBENCH_TINY=1): not a full-size measurement"
    if rec.stability is None or rec.stability.verdict != "stable":
        why = "; ".join(rec.stability.warnings[:2]) if rec.stability else "no latencies"
        return f"unstable ({why})"
    if device.peak_macs_per_s(precision) is None:
        return f"{device.id} has no {precision} peak to calibrate against"
    if rec.stats is None and not rec.loadgen_throughput_per_s:
        return "no latency to fit"
    return None
