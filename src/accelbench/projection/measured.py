"""Calibration from measurements: the records a results store holds for a device become the points
its figures are fitted on (docs/projection.md, "Use measurements when they exist").

A record is a point only when it measured what the projection models: one query at a batch, run
back to back on an otherwise idle device. So it must be ok (not failed, not LoadGen-INVALID),
single-stream or offline (multi-stream and server add queueing), full-size (not shrunk by
ACCELBENCH_TINY=1: tiny inputs are all per-layer overhead), stable (its stability verdict: on a busy
machine the latency is the machine's, not the model's), run on the device (by the processor name
its environment recorded), at a precision the device has a peak for, of a model whose MACs are all
counted. Every record of the device's kind left out is named with its reason.

* ``select_points(records, device)``: the CalibrationSelection: points (each record's model
  re-profiled) and the records left out, with why.
* ``calibration_selection(records, device)`` / ``records_to_points``: what `accelbench calibrate`
  fits (a record without a recorded processor name counts); a UserError when nothing qualifies.
* ``device_records(records, device)``: the ok records that ran on ``device`` (this host: CPU records
  whose environment names this CPU; a GPU: records whose environment names that GPU).
* ``calibration_from_records(records, device, params, target=profile)``: the automatic calibration
  used when ``target`` is projected on ``device``: fitted on the device's qualifying records at the
  target's precision (named: a record without a processor name does not count) with the target
  model's own records left out (a projection is never its own measurement; those records are what
  it is compared with), plus the leave-one-measurement-out errors its interval is made from. None
  when no record is left to fit on.
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

# The scenarios whose latency is one query's compute: multi-stream and server add queueing and
# concurrency that the projection does not model.
CALIBRATED_SCENARIOS = ("single-stream", "offline")


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


@dataclass(frozen=True)
class ExcludedRecord:
    """A stored measurement of the device that a fit does not use, and why."""

    record_id: str
    label: str
    reason: str

    def to_dict(self) -> dict:
        return {"record_id": self.record_id, "label": self.label, "reason": self.reason}


@dataclass(frozen=True)
class CalibrationSelection:
    """The points a fit may use, and the device's other records with the reason each is left out."""

    points: tuple[CalibrationPoint, ...]
    excluded: tuple[ExcludedRecord, ...]


def record_label(record) -> str:
    """A record as calibration tables name it: "resnet50@224 int8 b1 onnxruntime"."""
    cfg = record.config
    precision = record.precision_executed or cfg.precision
    return f"{cfg.model}@{cfg.resolution or 'default'} {precision} b{record.inferences_per_query} {cfg.backend}"


def select_points(records: Iterable, device: DeviceSpec, *, require_name: bool = False,
                  require_stable: bool = True) -> CalibrationSelection:
    """CalibrationPoints from the records of ``device``'s kind (host: CPU records) that qualify (see
    the module docstring: ok, single-stream or offline, full-size, stable unless not
    ``require_stable``, run on this device by the name its environment recorded, at a precision the
    device has a peak for, of a model whose MACs are all counted), each record's model re-profiled
    weightless; the others of that kind come back as ExcludedRecords with their reason. A record
    without a recorded processor name counts only when not ``require_name``. Latency: batch /
    LoadGen's throughput when LoadGen drove the run, else the p50 per query."""
    profiles: dict[tuple, ModelProfile | str] = {}
    points: list[CalibrationPoint] = []
    excluded: list[ExcludedRecord] = []
    for rec in records:
        if (str(rec.config.device).lower() == "cpu") != (device.kind == "CPU"):
            continue  # another kind of device's measurement: not this fit's business
        cfg = rec.config
        precision = rec.precision_executed or cfg.precision
        reason = _unfit_reason(rec, device, precision, require_name=require_name, require_stable=require_stable)
        if reason is None:
            key = (cfg.model, cfg.resolution, repr(dict(cfg.input_shapes)), precision)
            if key not in profiles:
                profiles[key] = _profile_again(cfg, precision)
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


def _profile_again(cfg, precision: str) -> ModelProfile | str:
    """The record's model profiled again (weightless), or why it cannot be (a model file that moved)."""
    try:
        loaded = load_model(cfg.model, resolution=cfg.resolution, batch=1,
                            input_shapes=dict(cfg.input_shapes) or None, with_weights=False)
        return profile_model(loaded, precision)
    except UserError as exc:
        return f"cannot profile the model again: {exc}"


def _unfit_reason(rec, device: DeviceSpec, precision: str, *, require_name: bool, require_stable: bool) -> str | None:
    """Why ``rec`` (of ``device``'s kind) cannot be a calibration point (None: it can, if its model profiles)."""
    cfg = rec.config
    if rec.status != "ok":
        return "LoadGen judged the run INVALID" if rec.status == "invalid" else f"failed ({rec.failure_kind})"
    if not ran_on(rec, device, require_name=require_name):
        name = record_device_name(rec)
        return (f"ran on {name}, not on {device.name}" if name else
                "its environment does not name the processor it ran on")
    if cfg.scenario not in CALIBRATED_SCENARIOS:
        return (f"scenario {cfg.scenario}: its latencies include queueing and concurrency; calibration models "
                f"{' and '.join(CALIBRATED_SCENARIOS)} runs")
    if cfg.tiny:
        return "tiny sizes (ACCELBENCH_TINY=1): not a full-size measurement"
    if require_stable and not _stable(rec):
        why = "; ".join(rec.stability.warnings[:2]) if rec.stability else "no latencies"
        return f"unstable ({why})"
    if device.peak_macs_per_s(precision) is None:
        return f"{device.id} has no {precision} peak to calibrate against"
    if rec.stats is None and not rec.loadgen_throughput_per_s:
        return "no latency to fit"
    return None


def calibration_selection(records: Iterable, device: DeviceSpec) -> CalibrationSelection:
    """What `accelbench calibrate` fits ``device`` on: ``select_points`` (a record without a recorded
    processor name counts, one naming another processor does not); a UserError naming the first
    records left out when nothing qualifies."""
    selection = select_points(records, device, require_name=False)
    if not selection.points:
        why = "; ".join(f"{e.label}: {e.reason}" for e in selection.excluded[:3])
        raise UserError(f"calibrate: no ok `bench` records for device {device.id!r} in the results store that are "
                        f"stable, full-size and {'/'.join(CALIBRATED_SCENARIOS)}"
                        + (f" ({len(selection.excluded)} left out: {why})" if why else "")
                        + "; run e.g. `accelbench bench resnet50 --resolution 224` first")
    return selection


def records_to_points(records: Iterable, device: DeviceSpec) -> list[CalibrationPoint]:
    """The CalibrationPoints of ``calibration_selection``."""
    return list(calibration_selection(records, device).points)


def _latency(point: CalibrationPoint, device: DeviceSpec, params: DeviceParams) -> float:
    return _project_batch(point.profile, _context(point.profile, device, params), point.batch).time_s


def calibration_from_records(records: Sequence, device: DeviceSpec, params: DeviceParams, *,
                             target: ModelProfile, store: str = "") -> MeasuredCalibration | None:
    """Fit ``device``'s figures on its stable records at ``target``'s precision, leaving ``target``'s
    own model out; None when nothing is left (or the device has several engines: records do not say
    which engine ran). ``params``: the device's uncalibrated figures."""
    if device.engines:
        return None
    at_precision = [r for r in records if (r.precision_executed or r.config.precision) == target.precision]
    stable = select_points([r for r in at_precision if _stable(r)], device, require_name=True).points
    unstable = select_points([r for r in at_precision if not _stable(r)], device, require_name=True,
                             require_stable=False).points
    fitted_on = [p for p in stable if p.profile.model != target.model]
    if not fitted_on:
        return None
    fit = fit_params(fitted_on, device, params)
    loo = leave_one_out(fitted_on, device, params).errors if len(fitted_on) >= 2 else ()
    after = replace(params, **fit.values)
    held_out = tuple(HeldOut(p.label, p.latency_s, _latency(p, device, after))
                     for p in (*stable, *unstable) if p.profile.model == target.model)
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
