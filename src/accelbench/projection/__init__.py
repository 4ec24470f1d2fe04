"""Analytical per-layer projection of a profiled model onto catalog devices (docs/projection.md).

Entry points: ``project_on_device(profile, device_id)`` -> DeviceProjection, and
``project_all(profile)`` -> one dict per catalog device that supports the profile's precision.
Every figure is an estimate ("projected"). No runtime imports here.
"""

from __future__ import annotations

from accelbench.errors import UserError
from accelbench.projection.api import device_params, project_devices, projection_device, resolve_devices
from accelbench.projection.model import DeviceProjection, LayerProjection, project, project_batch
from accelbench.projection.params import DeviceParams


def project_on_device(profile, device_id: str, *, batch: int | None = None, scenario: str | None = None,
                      use_calibration: bool = True) -> DeviceProjection:
    """Project ``profile`` onto one device ("host", a catalog id, "gpuN"). With ``batch`` the layer
    breakdown is at that batch (scenario single-stream by default then); else offline."""
    device = projection_device(device_id)
    params, calibrated = device_params(device, use_calibration=use_calibration)
    chosen = scenario or ("single-stream" if batch is not None else "offline")
    return project(profile, device, params, scenario=chosen, batch=batch, calibrated=calibrated)


def project_all(profile, *, precision: str | None = None, scenario: str = "offline",
                batch: int | None = None, use_calibration: bool = True, records=(), store: str = "") -> list[dict]:
    """Every catalog device that has the profile's precision, as ``DeviceProjection.to_dict()``
    without layers (``precision`` must match the profile's; it is accepted for clarity). Devices with
    measured ``records`` are calibrated from them (api.project_devices)."""
    if precision is not None and precision != profile.precision:
        raise UserError(f"precision: the profile is at {profile.precision}; got {precision!r} (profile again)")
    done, _ = project_devices(profile, resolve_devices("all"), scenario=scenario, batch=batch,
                              use_calibration=use_calibration, records=records, store=store)
    return [p.to_dict(with_layers=False) for p in done]


__all__ = ["DeviceParams", "DeviceProjection", "LayerProjection", "project", "project_all", "project_batch",
           "project_on_device"]
