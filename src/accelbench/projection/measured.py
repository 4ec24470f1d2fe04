"""Calibration from measurements: the records a results store holds for a device become the points
its figures are fitted on (docs/projection.md, "Use measurements when they exist").

* ``device_records(records, device)``: the ok records that ran on ``device`` (this host: CPU records
  whose environment names this CPU; a GPU: records whose environment names that GPU).
* ``records_to_points(records, device)``: CalibrationPoints, each record's model re-profiled
  (what `accelbench calibrate` fits).
* ``calibration_from_records(records, device, params, target=profile)``: the automatic calibration
  used when ``target`` is projected on ``device``: fitted on the device's stable records at the
  target's precision with the target model's own records left out (a projection is never its own
  measurement; those records are what it is compared with), plus the leave-one-measurement-out
  errors its interval is made from. None when no record is left to fit on. Unstable records are not
  used: this happens without being asked, so it takes only measurements whose latency is the
  model's, not a busy machine's (`accelbench calibrate`, asked for, takes what it is given).
* ``store_records(db)``: the ok records of a results store (none when the file does not exist).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from accelbench.errors import UserError
from accelbench.hardware.catalog import match_device_name
from accelbench.hardware.spec import DeviceSpec
from accelbench.models.loader import load_model
from accelbench.profile import profile_model
from accelbench.profile.types import ModelProfile
from accelbench.projection.calibrate import CalibrationPoint, fit_params, leave_one_out
from accelbench.projection.model import _context, _project_batch
from accelbench.projection.params import DeviceParams, with_overrides
from accelbench.results.store import open_store


@dataclass(frozen=True)
class HeldOut:
    """One of the target model's own measurements beside its calibrated projection (never fitted on)."""

    label: str
    measured_s: float
    projected_s: float

    @property
    def error(self) -> float:
        """projected / measured - 1."""
        return self.projected_s / self.measured_s - 1

    def to_dict(self) -> dict:
        return {"label": self.label, "measured_s": self.measured_s, "projected_s": self.projected_s,
                "error": self.error}


@dataclass(frozen=True)
class MeasuredCalibration:
    """A device's figures fitted on its own measurements, for projecting one target model."""

    device: str
    precision: str
    target_model: str
    values: Mapping[str, float]  # the fitted figures (a subset of params.FITTED_FIELDS)
    fitted_fields: tuple[str, ...]
    labels: tuple[str, ...]  # the measurements fitted on
    fitted_errors: tuple[float, ...]  # in sample: projected / measured - 1 with the fitted figures
    loo_errors: tuple[float, ...]  # leave one measurement out (empty with one measurement)
    held_out: tuple[HeldOut, ...]  # the target model's own measurements, left out of the fit
    store: str = ""
    unstable: int = 0  # the device's other measurements at this precision not used: unstable

    @property
    def points(self) -> int:
        return len(self.labels)

    @property
    def loo_median_abs_error(self) -> float | None:
        return float(np.median(np.abs(self.loo_errors))) if self.loo_errors else None

    @property
    def origin(self) -> str:
        """One line: what the figures were fitted on and what was left out."""
        where = f" in {self.store}" if self.store else ""
        text = f"calibrated from {self.points} measurement(s) of this device at {self.precision}{where}"
        if self.held_out:
            text += f" ({self.target_model}'s own {len(self.held_out)} left out)"
        if self.unstable:
            text += f"; {self.unstable} unstable measurement(s) not used"
        return text

    def apply(self, params: DeviceParams) -> DeviceParams:
        """``params`` with the fitted figures; its interval then comes from the leave-one-out errors."""
        calibrated = with_overrides(params, dict(self.values), self.origin)
        return replace(calibrated, calibration_loo_errors=tuple(self.loo_errors))

    def to_dict(self) -> dict:
        return {"device": self.device, "precision": self.precision, "target_model": self.target_model,
                "values": dict(self.values), "fitted_fields": list(self.fitted_fields), "points": self.points,
                "labels": list(self.labels), "fitted_errors": list(self.fitted_errors),
                "loo_errors": list(self.loo_errors), "loo_median_abs_error": self.loo_median_abs_error,
                "held_out": [h.to_dict() for h in self.held_out], "store": self.store, "unstable": self.unstable,
                "origin": self.origin}


def record_device_name(record) -> str | None:
    """The name of the processor a record ran on, from its environment (None where it was not recorded)."""
    env = record.environment
    on_cpu = str(record.config.device).lower() == "cpu"
    name = env.cpu_model if on_cpu else (env.gpu.name if env.gpu is not None else None)
    return str(name) if name and name != "unknown" else None


def ran_on(record, device: DeviceSpec, *, require_name: bool = True) -> bool:
    """Did ``record`` run on ``device``? Same kind (CPU records for a CPU device), and the name its
    environment recorded is the device's (directly, or through the catalog's aliases: NVML's "Tesla T4"
    is the catalog's "NVIDIA T4"). A record without a recorded name counts only when not ``require_name``."""
    on_cpu = str(record.config.device).lower() == "cpu"
    if on_cpu != (device.kind == "CPU"):
        return False
    name = record_device_name(record)
    if name is None:
        return not require_name
    if name == device.name:
        return True

    match = match_device_name(name)
    return match is not None and match.name == device.name


def device_records(records: Iterable, device: DeviceSpec, *, require_name: bool = True) -> list:
    """The ok records of ``records`` that ran on ``device`` (see ``ran_on``)."""
    return [r for r in records if r.ok and ran_on(r, device, require_name=require_name)]


def points_from_records(records: Iterable, device: DeviceSpec) -> list[CalibrationPoint]:
    """A CalibrationPoint per record at a precision the device has a peak for (the record's model
    re-profiled weightless; a model file that moved is skipped). Latency: batch / LoadGen's
    throughput when LoadGen drove the run, else the p50 per query."""
    cache: dict = {}
    points = []
    for rec in records:
        cfg = rec.config
        precision = rec.precision_executed or cfg.precision
        if device.peak_macs_per_s(precision) is None:
            continue
        batch = rec.inferences_per_query
        if rec.loadgen_throughput_per_s:
            latency_s = batch / rec.loadgen_throughput_per_s
        elif rec.stats is not None:
            latency_s = rec.stats.p50_ns / 1e9
        else:
            continue
        key = (cfg.model, cfg.resolution, repr(dict(cfg.input_shapes)), precision)
        if key not in cache:
            try:
                loaded = load_model(cfg.model, resolution=cfg.resolution, batch=1,
                                    input_shapes=dict(cfg.input_shapes) or None, with_weights=False)
                cache[key] = profile_model(loaded, precision)
            except UserError:
                cache[key] = None  # a model file that moved: skip its records
        if cache[key] is None:
            continue
        label = f"{cfg.model}@{cfg.resolution or 'default'} {precision} b{batch} {cfg.backend}"
        points.append(CalibrationPoint(cache[key], batch, latency_s, label))
    return points


def records_to_points(records: Iterable, device: DeviceSpec) -> list[CalibrationPoint]:
    """CalibrationPoints from the ok records that ran on ``device`` (`accelbench calibrate`: a record
    without a recorded processor name counts, one naming another processor does not)."""
    points = points_from_records(device_records(records, device, require_name=False), device)
    if not points:
        raise UserError(f"calibrate: no ok `bench` records for device {device.id!r} in the results store; "
                        "run e.g. `accelbench bench resnet50 --resolution 224` first")
    return points


def _latency(point: CalibrationPoint, device: DeviceSpec, params: DeviceParams) -> float:
    return _project_batch(point.profile, _context(point.profile, device, params), point.batch).time_s


def calibration_from_records(records: Sequence, device: DeviceSpec, params: DeviceParams, *,
                             target: ModelProfile, store: str = "") -> MeasuredCalibration | None:
    """Fit ``device``'s figures on its stable records at ``target``'s precision, leaving ``target``'s
    own model out; None when nothing is left (or the device has several engines: records do not say
    which engine ran). ``params``: the device's uncalibrated figures."""
    if device.engines:
        return None
    at_precision = [r for r in device_records(records, device)
                    if (r.precision_executed or r.config.precision) == target.precision]
    stable = points_from_records([r for r in at_precision if _stable(r)], device)
    unstable = points_from_records([r for r in at_precision if not _stable(r)], device)
    fitted_on = [p for p in stable if p.profile.model != target.model]
    if not fitted_on:
        return None
    fit = fit_params(fitted_on, device, params)
    loo = leave_one_out(fitted_on, device, params).errors if len(fitted_on) >= 2 else ()
    after = replace(params, **fit.values)
    held_out = tuple(HeldOut(p.label, p.latency_s, _latency(p, device, after))
                     for p in stable + unstable if p.profile.model == target.model)
    return MeasuredCalibration(device=device.id, precision=target.precision, target_model=target.model,
                               values=dict(fit.values), fitted_fields=fit.fitted_fields, labels=fit.labels,
                               fitted_errors=fit.errors_after, loo_errors=tuple(loo), held_out=held_out, store=store,
                               unstable=sum(1 for p in unstable if p.profile.model != target.model))


def _stable(record) -> bool:
    return record.stability is not None and record.stability.verdict == "stable"


def store_records(db: str | os.PathLike) -> tuple:
    """The ok records of the results store ``db``; () when it is a file that does not exist (a
    projection needs no store; calibration simply has nothing to use)."""
    location = str(db)
    path = location[len("sqlite:///"):] if location.startswith("sqlite:///") else location
    if "://" not in path and not os.path.exists(path):
        return ()
    with open_store(location, read_only=True) as store:
        return tuple(store.query(status="ok"))
