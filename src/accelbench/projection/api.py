"""Glue between the catalog, the device parameters, calibration, the profiler and the results store.

``device_params(device)`` gives the DeviceParams for a DeviceSpec (catalog id, or the detected
host), calibrated when it can be: from the device's own measurements when they are given
(projection/measured.py), else from a saved calibration file; ``project_devices`` projects one model
onto several devices, skipping those that cannot run the precision, and calibrates each device that
has measured records among the ``records`` it is given; ``calibrate_device`` fits a device's figures
to the measurements in a results store (`accelbench calibrate`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog
from accelbench.hardware.devices import get_device
from accelbench.hardware.host import detect_host, load_measured_peaks
from accelbench.hardware.spec import DeviceSpec
from accelbench.models.loader import load_model
from accelbench.profile import profile_model
from accelbench.profile.types import ModelProfile
from accelbench.projection.calibrate import (
    CalibrationFit, LeaveOneOut, calibration_for, calibration_path, fit_params, leave_one_out, save_calibration,
)
from accelbench.projection.measured import ExcludedRecord, calibration_from_records, calibration_selection
from accelbench.projection.model import DeviceProjection, project
from accelbench.projection.params import (
    FITTED_FIELDS, DeviceParams, ParamsFile, load_params_file, with_overrides,
)
from accelbench.results.records import utc_now
from accelbench.results.store import open_store

if TYPE_CHECKING:
    from accelbench.projection.measured import MeasuredCalibration

HOST_L2_BYTES_PER_CLOCK_PER_CORE = 64  # one 64-byte cache line per clock per core from L2


@dataclass(frozen=True)
class Skipped:
    device: str
    reason: str

    def to_dict(self) -> dict:
        return {"device": self.device, "skipped": True, "reason": self.reason}


def device_params(device: DeviceSpec, *, params_file: ParamsFile | None = None,
                  use_calibration: bool = True, measured: MeasuredCalibration | None = None
                  ) -> tuple[DeviceParams, bool]:
    """(params, calibrated) for ``device``; the host's unit count and bandwidths come from detection.

    Calibration, unless ``use_calibration`` is off: ``measured`` (figures fitted on the device's
    measurements) first, else the device's table in the saved calibration file."""
    pf = params_file or load_params_file()
    params = pf.params_for(device.id, device.kind)
    if device.id == "host":
        params = _host_params(params, device)
    if device.engines:
        params = replace(params, engines=engine_params(device, params, pf))
    if use_calibration and measured is not None:
        return measured.apply(params), True
    if use_calibration:
        table = calibration_for(device)
        if table:
            values = {k: float(table[k]) for k in FITTED_FIELDS if k in table}
            origin = f"calibrated {table.get('fitted_at', '')} from {table.get('points', '?')} measurement(s), {calibration_path()}"
            calibrated = with_overrides(params, values, origin)
            loo = table.get("loo_errors", [])
            if isinstance(loo, list) and all(isinstance(e, (int, float)) for e in loo):
                calibrated = replace(calibrated, calibration_loo_errors=tuple(float(e) for e in loo))
            return calibrated, True
    return params, False


def engine_params(device: DeviceSpec, params: DeviceParams, pf: ParamsFile) -> tuple[tuple[str, DeviceParams], ...]:
    """Params of each engine: an engine of the device's own kind is the device's table (a Jetson's
    GPU); another kind has ``[<device id>_<engine>]`` over its kind's defaults (the DLAs)."""
    out = []
    for engine in device.engines:
        if engine.kind == device.kind:
            out.append((engine.name, params))
        else:
            out.append((engine.name, pf.params_for(f"{device.id}_{engine.name}", engine.kind)))
    return tuple(out)


def _host_params(params: DeviceParams, device: DeviceSpec) -> DeviceParams:
    info = detect_host(with_gpus=False)
    assumptions = dict(params.assumptions)
    assumptions["units"] = f"detected: {info.physical_cores} physical cores"
    changes: dict = {"units": info.physical_cores}
    if params.sram_bw_bytes_per_s is None and device.clock_hz:
        changes["sram_bw_bytes_per_s"] = HOST_L2_BYTES_PER_CLOCK_PER_CORE * info.physical_cores * device.clock_hz
        assumptions["sram_bw_bytes_per_s"] = (
            f"{HOST_L2_BYTES_PER_CLOCK_PER_CORE} B/clock/core from L2 x {info.physical_cores} cores x detected clock")
    return replace(params, assumptions=assumptions, **changes)


def projection_device(device_id: str, catalog: dict | None = None) -> DeviceSpec:
    """A device as projection sees it: the catalog's, or for "host" the detected CPU whose compute
    roof is the higher of its theoretical peak and its measured GEMM peak (a measured GEMM is a lower
    bound on the real peak; in a VM the OS often reports a base clock below the one the CPU runs at)."""
    device = get_device(device_id, catalog)
    if device.id != "host":
        return device
    peaks = dict(device.peak_ops_per_s)
    raised = []
    for precision, measured in load_measured_peaks().items():
        ops = measured.ops_per_s
        if precision in peaks and ops > peaks[precision]:
            peaks[precision] = ops
            raised.append(f"{precision} {ops / 1e9:,.0f} GOPS")
    if not raised:
        return device
    return replace(device, peak_ops_per_s=peaks,
                   notes=device.notes + f"; projection roof raised to the measured GEMM peak ({', '.join(raised)})")


def resolve_devices(spec: str | None) -> list[DeviceSpec]:
    """``None``/"all" -> every catalog device; else comma-separated ids (catalog, "host", "gpuN")."""
    if spec is None or spec.strip().lower() == "all":
        return list(load_catalog().values())
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids:
        raise UserError(f"device: {spec!r} names no device; give ids like t4,l4 or 'all'")
    catalog = load_catalog()
    return [projection_device(i, catalog) for i in ids]


def project_devices(profile: ModelProfile, devices: list[DeviceSpec], *, scenario: str = "offline",
                    batch: int | None = None, use_calibration: bool = True, records: Sequence = (),
                    store: str = "") -> tuple[list[DeviceProjection], list[Skipped]]:
    """Project onto each device; devices without the precision (or figures) are skipped with a reason.

    A device with measured ``records`` (BenchRecords, e.g. ``measured.store_records(db)``; ``store``
    names where they came from) is calibrated from them, ``profile``'s own model left out
    (projection/measured.py), unless ``use_calibration`` is off.
    When only one device is asked for, its problem is raised as a UserError instead.
    """
    pf = load_params_file()
    done: list[DeviceProjection] = []
    skipped: list[Skipped] = []
    for device in devices:
        try:
            measured = None
            if use_calibration and records:
                base, _ = device_params(device, params_file=pf, use_calibration=False)
                measured = calibration_from_records(records, device, base, target=profile, store=store)
            params, calibrated = device_params(device, params_file=pf, use_calibration=use_calibration,
                                               measured=measured)
            result = project(profile, device, params, scenario=scenario, batch=batch, calibrated=calibrated)
            done.append(replace(result, calibration=measured) if calibrated and measured is not None else result)
        except UserError as exc:
            if len(devices) == 1:
                raise
            skipped.append(Skipped(device.id, str(exc)))
    return done, skipped


def load_profile(model: str, *, resolution: str | None = None, batch: int = 1,
                 input_shapes: dict | None = None, precision: str = "int8") -> ModelProfile:
    """Profile ``model`` (zoo name or .onnx) weightless at batch ``batch`` and ``precision``."""
    loaded = load_model(model, resolution=resolution, batch=batch, input_shapes=input_shapes or None,
                        with_weights=False)
    return profile_model(loaded, precision)


@dataclass(frozen=True)
class Calibration:
    """What `accelbench calibrate` did: the fit of ``device`` to ``points`` measurements, from the
    uncalibrated ``params``; ``loo`` the leave-one-measurement-out errors (each measurement projected
    with figures fitted on the others; None with fewer than two); ``excluded`` the device's records
    left out of the fit, each with why (measured.select_points); ``saved`` is the calibration file
    written (None on a dry run)."""

    device: DeviceSpec
    points: int
    params: DeviceParams
    fit: CalibrationFit
    loo: LeaveOneOut | None
    saved: Path | None
    excluded: tuple[ExcludedRecord, ...] = ()

    @property
    def path(self) -> Path:
        """Where the fit is (or would be) saved."""
        return self.saved or calibration_path()


def calibrate_device(db: str, device_id: str, *, save: bool = True) -> Calibration:
    """Fit ``device_id``'s compute efficiency, DRAM efficiency and per-layer overhead to the `bench`
    records in the results store ``db`` that qualify (stable, full-size, single-stream or offline
    records of the device: measured.select_points); save the fit for `project` unless ``save`` is off."""
    device = projection_device(device_id)
    with open_store(db, read_only=True) as store:
        records = store.query()  # every status: the failed and invalid ones are listed as left out
    selection = calibration_selection(records, device)
    points = list(selection.points)
    params, _ = device_params(device, use_calibration=False)
    fit = fit_params(points, device, params)
    # out of sample: each measurement projected with figures fitted on the others (needs two)
    loo = leave_one_out(points, device, params) if len(points) >= 2 else None
    saved = (save_calibration(fit, device, source=os.path.abspath(db), fitted_at=utc_now(), loo=loo)
             if save else None)
    return Calibration(device, len(points), params, fit, loo, saved, selection.excluded)
