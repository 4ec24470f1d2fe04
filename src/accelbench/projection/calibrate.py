"""Fit a device's efficiency figures to measured latencies, and keep the fit in a user file.

The fit: for each measurement (profile, batch, measured latency_s) the projection splits every layer
into compute_s (at compute efficiency 1), sram_s, dram_s (at DRAM efficiency 1); the projected latency
with efficiencies (ce, de) and overhead o is  sum_l max(compute_l / ce, sram_l, dram_l / de) + L x o.
We search a log-spaced grid, then refine with Nelder-Mead in log space, for the figures that minimise the mean squared log error (so 2x too
slow and 2x too fast weigh the same), plus a tiny pull (weight 1e-6, a tie-breaker) towards the uncalibrated
figures so that a fit from few points stays put where the data say nothing. With one measurement
only compute_efficiency is fitted; with two, compute_efficiency and layer_overhead_s; with three or
more, all three.

Calibration file: $ACCELBENCH_CALIBRATION, else $XDG_CONFIG_HOME/accelbench/calibration.toml
(default ~/.config/accelbench/calibration.toml); one [device_id] table per calibrated device.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from accelbench.errors import UserError
from accelbench.files import write_atomically
from accelbench.hardware.spec import DeviceSpec
from accelbench.profile.types import ModelProfile
from accelbench.projection.model import _context, _project_batch
from accelbench.projection.params import FITTED_FIELDS, DeviceParams

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CALIBRATION_ENV = "ACCELBENCH_CALIBRATION"
PRIOR_WEIGHT = 1e-6
CE_GRID = np.geomspace(0.01, 1.0, 81)
DE_GRID = np.geomspace(0.05, 1.0, 31)
OVERHEAD_GRID = np.concatenate([[0.0], np.geomspace(1e-7, 2e-3, 61)])


@dataclass(frozen=True)
class CalibrationPoint:
    """One measurement: a profile (any batch), the batch that ran, and its measured latency in s."""

    profile: ModelProfile
    batch: int
    latency_s: float
    label: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.latency_s, (int, float)) and self.latency_s > 0 and math.isfinite(self.latency_s)):
            raise UserError(f"calibration: measured latency must be a positive number of seconds; got {self.latency_s!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise UserError(f"calibration: batch must be a positive integer; got {self.batch!r}")


@dataclass(frozen=True)
class CalibrationFit:
    """Fitted figures and the errors (projected / measured - 1) before and after, per point."""

    device: str
    values: dict[str, float]  # the fitted figures (a subset of FITTED_FIELDS)
    fitted_fields: tuple[str, ...]
    labels: tuple[str, ...]
    measured_s: tuple[float, ...]
    projected_before_s: tuple[float, ...]
    projected_after_s: tuple[float, ...]

    @property
    def errors_before(self) -> tuple[float, ...]:
        return tuple(p / m - 1 for p, m in zip(self.projected_before_s, self.measured_s))

    @property
    def errors_after(self) -> tuple[float, ...]:
        return tuple(p / m - 1 for p, m in zip(self.projected_after_s, self.measured_s))

    @property
    def median_abs_error_before(self) -> float:
        return float(np.median(np.abs(self.errors_before)))

    @property
    def median_abs_error_after(self) -> float:
        return float(np.median(np.abs(self.errors_after)))

    def to_dict(self) -> dict:
        return {
            "device": self.device, "values": dict(self.values), "fitted_fields": list(self.fitted_fields),
            "median_abs_error_before": self.median_abs_error_before,
            "median_abs_error_after": self.median_abs_error_after,
            "points": [
                {"label": lab, "measured_s": m, "projected_before_s": b, "projected_after_s": a,
                 "error_before": b / m - 1, "error_after": a / m - 1}
                for lab, m, b, a in zip(self.labels, self.measured_s, self.projected_before_s,
                                        self.projected_after_s)
            ],
        }


def split_terms(point: CalibrationPoint, device: DeviceSpec, params: DeviceParams):
    """Per-layer compute (at eff 1), sram, dram (at eff 1) seconds for one point, and how many of its
    layers pay the per-layer overhead, weighted by what the device's clock makes of it
    (params.overhead_scale: the count itself where the overhead is in seconds)."""
    unit = replace(params, compute_efficiency=1.0, dram_efficiency=1.0, layer_overhead_s=0.0)
    ctx = _context(point.profile, device, unit)
    batch = _project_batch(point.profile, ctx, point.batch)
    compute = np.array([layer.compute_s for layer in batch.layers])
    sram = np.array([layer.sram_s for layer in batch.layers])
    dram = np.array([layer.dram_s for layer in batch.layers])
    paying = sum(1 for layer in batch.layers if params.pays_overhead(layer.macs))
    return compute, sram, dram, paying * params.overhead_scale(device.clock_hz)


def _grid_search(points, terms, params, ce_grid, de_grid, o_grid) -> tuple[float, float, float]:
    """The grid point with the least mean squared log error (+ the tiny prior)."""
    loss = _grid_search_loss(points, terms, params, ce_grid, de_grid, o_grid)
    i, j, k = np.unravel_index(int(np.argmin(loss)), loss.shape)
    return float(ce_grid[i]), float(de_grid[j]), float(o_grid[k])


def _grid_search_loss(points, terms, params, ce_grid, de_grid, o_grid) -> np.ndarray:
    loss = np.zeros((ce_grid.size, de_grid.size, o_grid.size))
    for point, (compute, sram, dram, count) in zip(points, terms):
        # (ce, de, layer) -> layer time without overhead, summed over layers
        body = np.maximum(np.maximum(compute[None, None, :] / ce_grid[:, None, None], sram[None, None, :]),
                          dram[None, None, :] / de_grid[None, :, None]).sum(axis=2)
        total = body[:, :, None] + count * o_grid[None, None, :]
        loss += np.log(total / point.latency_s) ** 2
    loss /= len(points)
    floor = 1e-6  # overhead prior in log space needs a floor at 0 s
    loss += PRIOR_WEIGHT * (
        np.log(ce_grid / params.compute_efficiency)[:, None, None] ** 2
        + np.log(de_grid / params.dram_efficiency)[None, :, None] ** 2
        + np.log((o_grid + floor) / (params.layer_overhead_s + floor))[None, None, :] ** 2)
    return loss


def _loss(points, terms, params, ce: float, de: float, o: float) -> float:
    return float(_grid_search_loss(points, terms, params, np.array([ce]), np.array([de]), np.array([o]))[0, 0, 0])


def nelder_mead(f, x0: np.ndarray, *, step: float = 0.2, iterations: int = 300) -> np.ndarray:
    """Minimise ``f`` from ``x0`` (a simplex of side ``step``); returns the best point found."""
    simplex = [x0] + [x0 + np.eye(len(x0))[j] * step for j in range(len(x0))]
    values = [f(x) for x in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        if fr < values[0]:
            expanded = centroid + 2 * (centroid - simplex[-1])
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:  # shrink towards the best
                simplex = [simplex[0]] + [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex[1:]]
                values = [values[0]] + [f(x) for x in simplex[1:]]
    return simplex[int(np.argmin(values))]


def _refine(points, terms, params, start, fitted, iterations: int = 300) -> tuple[float, float, float]:
    """Nelder-Mead over the log of the fitted figures (efficiencies capped at 1)."""
    names = ("compute_efficiency", "dram_efficiency", "layer_overhead_s")
    free = [i for i, n in enumerate(names) if n in fitted]
    floor = 1e-9

    def unpack(x):
        v = list(start)
        for j, i in enumerate(free):
            v[i] = math.exp(x[j]) - (floor if i == 2 else 0.0)
        v[0], v[1], v[2] = min(v[0], 1.0), min(v[1], 1.0), max(v[2], 0.0)
        return v

    def f(x):
        return _loss(points, terms, params, *unpack(x))

    x0 = np.array([math.log(start[i] + (floor if i == 2 else 0.0)) for i in free])
    return tuple(unpack(nelder_mead(f, x0, step=0.2, iterations=iterations)))


def fit_params(points: list[CalibrationPoint], device: DeviceSpec, params: DeviceParams) -> CalibrationFit:
    """Fit compute_efficiency, dram_efficiency and layer_overhead_s (as many as the points allow)."""
    if not points:
        raise UserError(f"calibration: no measurements for device {device.id!r} to fit")
    fitted = ("compute_efficiency",) if len(points) == 1 else (
        ("compute_efficiency", "layer_overhead_s") if len(points) == 2 else FITTED_FIELDS)
    terms = [split_terms(p, device, params) for p in points]
    grids = [CE_GRID if "compute_efficiency" in fitted else np.array([params.compute_efficiency]),
             DE_GRID if "dram_efficiency" in fitted else np.array([params.dram_efficiency]),
             OVERHEAD_GRID if "layer_overhead_s" in fitted else np.array([params.layer_overhead_s])]
    best = _grid_search(points, terms, params, *grids)
    # then a local Nelder-Mead search in log space from the best grid point (the grid is coarse)
    ce, de, o = _refine(points, terms, params, best, fitted)
    values = {"compute_efficiency": float(min(ce, 1.0)), "dram_efficiency": float(min(de, 1.0)),
              "layer_overhead_s": float(o)}
    values = {key: values[key] for key in fitted}

    def latency(p: DeviceParams, point: CalibrationPoint) -> float:
        return _project_batch(point.profile, _context(point.profile, device, p), point.batch).time_s

    after = replace(params, **values)
    return CalibrationFit(
        device=device.id, values=values, fitted_fields=fitted,
        labels=tuple(p.label or f"{p.profile.model} b{p.batch}" for p in points),
        measured_s=tuple(p.latency_s for p in points),
        projected_before_s=tuple(latency(params, p) for p in points),
        projected_after_s=tuple(latency(after, p) for p in points),
    )


@dataclass(frozen=True)
class LeaveOneOut:
    """Each measurement projected with figures fitted on all the others (out-of-sample errors)."""

    device: str
    labels: tuple[str, ...]
    measured_s: tuple[float, ...]
    projected_s: tuple[float, ...]  # point i projected with a fit that never saw point i
    fitted_fields: tuple[tuple[str, ...], ...]  # what each of those fits could fit

    @property
    def errors(self) -> tuple[float, ...]:
        """projected / measured - 1 per point."""
        return tuple(p / m - 1 for p, m in zip(self.projected_s, self.measured_s))

    @property
    def median_abs_error(self) -> float:
        return float(np.median(np.abs(self.errors))) if self.errors else float("nan")

    def to_dict(self) -> dict:
        return {"device": self.device, "median_abs_error": self.median_abs_error,
                "points": [{"label": lab, "measured_s": m, "projected_s": p, "error": p / m - 1,
                            "fitted_fields": list(f)}
                           for lab, m, p, f in zip(self.labels, self.measured_s, self.projected_s,
                                                   self.fitted_fields)]}


def leave_one_out(points: list[CalibrationPoint], device: DeviceSpec, params: DeviceParams) -> LeaveOneOut:
    """Leave-one-measurement-out errors of ``fit_params``: needs at least two points (a fit on the
    others must exist); with n points each fit sees n - 1, so it may fit fewer figures than the fit
    on all of them (see fit_params)."""
    if len(points) < 2:
        raise UserError(f"calibration: leave-one-out needs at least 2 measurements for {device.id!r}; got {len(points)}")
    projected, fields = [], []
    for i, point in enumerate(points):
        fit = fit_params(points[:i] + points[i + 1:], device, params)
        fitted = replace(params, **fit.values)
        projected.append(_project_batch(point.profile, _context(point.profile, device, fitted), point.batch).time_s)
        fields.append(fit.fitted_fields)
    return LeaveOneOut(device.id, tuple(p.label or f"{p.profile.model} b{p.batch}" for p in points),
                       tuple(p.latency_s for p in points), tuple(projected), tuple(fields))


# -- the calibration file -----------------------------------------------------------------------

def calibration_path() -> Path:
    """Where calibrated figures are saved and read (see the module docstring)."""
    env = os.environ.get(CALIBRATION_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "accelbench" / "calibration.toml"


def read_calibration(path: Path | None = None) -> dict[str, dict]:
    """All calibrated devices in the file ({} when there is none). A broken file is a UserError."""
    file = path or calibration_path()
    if not file.exists():
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"calibration: cannot read {str(file)!r} ({exc}); fix or delete it") from None
    for device, table in data.items():
        if not isinstance(table, dict):
            raise UserError(f"calibration: {str(file)!r} key {device!r} must be a [device] table")
        for key in FITTED_FIELDS:
            if key in table and not (isinstance(table[key], (int, float)) and table[key] >= 0):
                raise UserError(f"calibration: {str(file)!r} [{device}] {key} must be a non-negative number; got {table[key]!r}")
    return data


def calibration_for(device: DeviceSpec, path: Path | None = None) -> dict | None:
    """The calibrated table for ``device`` (None when absent or fitted on a different device name)."""
    table = read_calibration(path).get(device.id)
    if table is None or table.get("device_name", device.name) != device.name:
        return None
    return table


def save_calibration(fit: CalibrationFit, device: DeviceSpec, *, source: str, fitted_at: str,
                     path: Path | None = None, loo: LeaveOneOut | None = None) -> Path:
    """Write (or replace) the device's table in the calibration file; returns the path. With ``loo``
    its leave-one-measurement-out errors are kept too (``loo_errors``): projections of the calibrated
    device draw their interval from them."""
    file = path or calibration_path()
    data = read_calibration(file)
    data[device.id] = {
        **fit.values,
        "device_name": device.name,
        "points": len(fit.measured_s),
        "median_abs_error_before": round(fit.median_abs_error_before, 4),
        "median_abs_error_after": round(fit.median_abs_error_after, 4),
        "source": source,
        "fitted_at": fitted_at,
    }
    if loo is not None:
        data[device.id]["loo_errors"] = [round(e, 5) for e in loo.errors]
        data[device.id]["loo_median_abs_error"] = round(loo.median_abs_error, 4)
    file.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# accelbench calibration: figures fitted by `accelbench calibrate`; used by `accelbench project`."]
    for dev, table in sorted(data.items()):
        lines.append("")
        lines.append(f"[{_toml_key(dev)}]")
        for key, value in table.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return write_atomically(file, "\n".join(lines) + "\n")  # never a half-written file


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else '"' + key.replace('"', '\\"') + '"'


def _toml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
