"""Measured per-layer times (``bench --layers``) against the per-layer projection onto the same device:
which op kinds the projection gets wrong there.

``layer_measurement(record, profile)`` projects ``profile`` (the record's model at its size, batch
and executed precision: ``record_profile``) onto the host at the record's batch, layer by layer,
and sets each measured layer beside its projected time; the errors are summed per op kind (the
MAC family of profile/kind.py, "other" for layers without MACs: pooling, elementwise, resize...).
Per-layer projected times are single-stream figures at the record's batch (the projection's
``time_s`` of each layer, fixed per-layer overhead included).
"""

from __future__ import annotations

from accelbench.errors import UserError, one_line
from accelbench.precision import peak_precision
from accelbench.profile.types import ModelProfile
from accelbench.projection import project_on_device
from accelbench.projection.api import load_profile
from accelbench.results.summary import LayerKindError, LayerMeasurement, LayerPoint, LayerTime

OTHER_KIND = "other"  # layers without MACs


def record_profile(record) -> ModelProfile:
    """The static profile of what ``record`` measured: its model (built weightless) at its size, batch
    and executed precision. UserError when the model cannot be built here (a file that moved)."""
    cfg = record.config
    return load_profile(cfg.model, resolution=cfg.resolution, batch=cfg.batch,
                        input_shapes=dict(cfg.input_shapes) or None,
                        precision=peak_precision(record.precision_executed or cfg.precision))


def _kind(family: str | None) -> str:
    return family or OTHER_KIND


def layer_measurement(record, profile: ModelProfile, *, device: str = "host", label: str = "") -> LayerMeasurement:
    """The record's measured layers beside ``profile``'s projection onto ``device`` (see the module
    docstring). UserError when the record has no per-layer times or the profile is not its model."""
    times = record.layer_times
    if times is None:
        raise UserError(f"layers: record {record.record_id[:8]} has no per-layer times; measure with `bench --layers`")
    if len(times.layers) != len(profile.layers):
        raise UserError(f"layers: record {record.record_id[:8]} has {len(times.layers)} layers, the profile of "
                        f"{profile.model} {len(profile.layers)}: it is not the model that was measured")
    projection = project_on_device(profile, device, batch=profile.batch)
    points, kinds = [], {}
    for measured, projected in zip(times.layers, projection.layers):
        if measured.time_ns <= 0:
            continue  # the runtime ran it inside another layer's node: nothing to compare
        kind = _kind(measured.family)
        point = LayerPoint(name=measured.name, kind=kind, measured_s=measured.time_ns / 1e9,
                           projected_s=projected.time_s)
        points.append(point)
        count, m, p = kinds.get(kind, (0, 0.0, 0.0))
        kinds[kind] = (count + 1, m + point.measured_s, p + point.projected_s)
    kind_rows = sorted((LayerKindError(kind=k, layers=c, measured_s=m, projected_s=p) for k, (c, m, p) in kinds.items()),
                       key=lambda row: -row.measured_s)
    stats = record.stats
    return LayerMeasurement(
        record_id=record.record_id, label=label or _record_label(record), device=device, profiler=times.profiler,
        runs=times.runs, mapped_share=times.mapped_share, unmapped_s=times.unmapped_ns / 1e9,
        overhead=times.overhead_vs(stats.p50_ns if stats else None),
        collect_s=times.collect_wall_ns / 1e9 if times.collect_wall_ns else None,
        kinds=tuple(kind_rows), points=tuple(points))


def slowest_measured_layers(record, profile: ModelProfile, limit: int, *, device: str = "host") -> tuple[LayerTime, ...]:
    """The ``limit`` slowest measured layers of ``record``, each with its projected time beside it."""
    projection = project_on_device(profile, device, batch=profile.batch)
    rows = []
    for measured in record.layer_times.slowest(limit):
        layer, projected = profile.layers[measured.index], projection.layers[measured.index]
        rows.append(LayerTime(name=measured.name, op=measured.op, macs=layer.macs, output_bytes=layer.output_bytes,
                              time_s=measured.time_ns / 1e9, time_source="measured", bound=projected.bound,
                              projected_s=projected.time_s, family=_kind(measured.family)))
    return tuple(rows)


def slowest_layers_of(record, limit: int, *, device: str = "host") -> tuple[tuple[LayerTime, ...], str]:
    """(rows, note): ``slowest_measured_layers`` of the record's own profile; where its model cannot be
    profiled or projected here, the measured times alone and the reason in ``note``."""
    try:
        return slowest_measured_layers(record, record_profile(record), limit, device=device), ""
    except Exception as exc:  # noqa: BLE001 - the measured times stand without a projection
        rows = tuple(LayerTime(name=m.name, op=m.op, macs=m.macs, time_s=m.time_ns / 1e9, time_source="measured",
                               family=_kind(m.family)) for m in record.layer_times.slowest(limit))
        return rows, f"no projection beside them: {one_line(exc)}"


def _record_label(record) -> str:
    cfg = record.config
    ran = record.precision_executed or cfg.precision
    return f"{cfg.model} @ {cfg.resolution or 'default'}, batch {cfg.batch}, {ran}, {record.runtime}"
