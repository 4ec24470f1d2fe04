"""The stages' summaries: what each stage measured, its models' activation memory and slowest
layers (measured where the stage collected per-layer times, with the projection beside them), the
zoo model closest to the user's (stage 3), and the one-line lesson that states the stage's point
in numbers (from measured records and static profiles only; figures formatted by report/units.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from accelbench.errors import one_line
from accelbench.hardware.catalog import load_catalog
from accelbench.job.plan import StageConfig
from accelbench.models.loader import load_model
from accelbench.models.similarity import closest_zoo_models
from accelbench.profile import profile_model
from accelbench.projection import project_on_device
from accelbench.projection.layer_errors import layer_measurement, record_profile, slowest_measured_layers
from accelbench.report.units import fmt_bytes, fmt_macs, fmt_pct, fmt_plain, fmt_rate, fmt_time, fmt_unknown_layers
from accelbench.results.summary import (
    ActivationRow, ClosestMeasured, ClosestModel, LayerMeasurement, LayerTime, MeasuredStageData, PeakFigure,
    SramFigure, StageConfigRef, StageSummary,
)

NA = "n/a"  # a missing figure inside a sentence
SLOWEST_LAYERS = 12


@dataclass(frozen=True)
class Measured:
    """One planned configuration at one precision and the record its measurement gave."""

    config: StageConfig
    precision: str
    record: object  # BenchRecord (a failed one too)


def utilization_text(record) -> str:
    """MAC utilization against the theoretical and (where known) the measured peak of the precision that ran."""
    text = f"{fmt_pct(record.mac_utilization, missing=NA)} of theoretical peak"
    if record.mac_utilization_measured_peak is not None:
        text += f" / {fmt_pct(record.mac_utilization_measured_peak, missing=NA)} of measured GEMM peak"
    return text


def mac_rate_text(macs_per_s: float | None) -> str:
    return fmt_rate(macs_per_s or None, "MAC/s", missing=NA)


def peak_lesson(peaks: Sequence[PeakFigure], physical_cores: int) -> str:
    """Stage 1: the host's FP32 peak in theory and as a large GEMM achieved it."""
    theoretical = {p.precision: p.peak_ops_per_s for p in peaks if p.device == "host" and p.source == "theoretical"}
    measured = {p.precision: p.peak_ops_per_s for p in peaks if p.device == "host" and p.source == "measured"}
    if "fp32" not in theoretical:
        return "this host's clock is unknown, so no theoretical peak; see the catalog devices"
    lesson = f"peak says {mac_rate_text(theoretical['fp32'] / 2)} FP32 on this host ({physical_cores} cores)"
    if "fp32" in measured:
        share = measured["fp32"] / theoretical["fp32"]
        lesson += f"; a large FP32 GEMM achieved {mac_rate_text(measured['fp32'] / 2)} ({fmt_pct(share)})"
        if share > 1.0:
            lesson += (" - above the theoretical peak, so this CPU runs faster than the clock the OS "
                       "reports; the measured peak is the better yardstick here")
        lesson += " - and real models get less (stages 2-4)"
    return lesson


def activation_rows(model: str, resolutions: Sequence[str | None], precision: str):
    """(rows, profile of the last resolution): activation memory per input size, statically profiled."""
    rows, profile = [], None
    for res in resolutions:
        loaded = load_model(model, resolution=res, batch=1, with_weights=False)
        profile = profile_model(loaded, precision=precision)
        rows.append(ActivationRow(resolution=res or "default", pixels=loaded.resolution.pixels if loaded.resolution
                                  else None, precision=precision, macs=profile.macs,
                                  largest_activation_bytes=profile.largest_activation_bytes,
                                  peak_live_activation_bytes=profile.peak_live_activation_bytes))
    return tuple(rows), profile


def slowest_layers(profile, limit: int = SLOWEST_LAYERS) -> tuple[LayerTime, ...]:
    """The slowest layers of ``profile`` as projected on this host (labelled projected)."""
    try:
        proj = project_on_device(profile, "host", batch=profile.batch)
    except Exception:  # projection unavailable for this host: fall back to MACs only
        layers = sorted(profile.layers, key=lambda l: -l.macs)[:limit]
        return tuple(LayerTime(name=l.name, op=l.op, macs=l.macs, output_bytes=l.output_bytes) for l in layers)
    by_name = {l.name: l for l in profile.layers}
    rows = []
    for lp in sorted(proj.layers, key=lambda l: -l.time_s)[:limit]:
        layer = by_name.get(lp.name)
        rows.append(LayerTime(name=lp.name, op=layer.op if layer else "", macs=layer.macs if layer else 0,
                              output_bytes=layer.output_bytes if layer else 0, time_s=lp.time_s,
                              time_source="projected:host", bound=lp.bound))
    return tuple(rows)


def catalog_sram() -> tuple[SramFigure, ...]:
    return tuple(SramFigure(device=s.id, name=s.name, onchip_sram_bytes=s.onchip_sram_bytes)
                 for s in load_catalog().values() if s.onchip_sram_bytes)


def measured_layers(record, limit: int = SLOWEST_LAYERS) -> tuple[tuple[LayerTime, ...], LayerMeasurement | None, str]:
    """(slowest layers, measurement, note) of a record with per-layer times, against the projection
    onto this host of the record's own profile; ((), None, why) when that cannot be made."""
    try:
        profile = record_profile(record)
        return (slowest_measured_layers(record, profile, limit), layer_measurement(record, profile), "")
    except Exception as exc:  # noqa: BLE001 - the stage keeps its projected layers
        return (), None, f"measured layers not shown: {one_line(exc)}"


def stage_summary(stage_no: int, title: str, items: Sequence[Measured], activation_precision: str, *,
                  closest: ClosestMeasured | None = None) -> StageSummary:
    """The summary of a measured stage (2-4): its configurations, activation memory at
    ``activation_precision``, slowest layers (measured where a record has per-layer times), closest
    zoo models (stage 4), the closest zoo model measured in its place (``closest``, stage 3), and lesson."""
    model = items[0].config.model
    main = [m for m in items if m.config.model == model]
    resolutions = list(dict.fromkeys(m.config.resolution for m in main))
    activations, profile = activation_rows(model, resolutions, activation_precision)
    sram = catalog_sram()
    closest_list, closest_error = None, None
    if stage_no == 4:
        try:
            closest_list = tuple(ClosestModel(model=s.model, resolution=s.resolution, distance=s.distance, why=s.why)
                                 for s in closest_zoo_models(profile, resolution=None, exclude=model))
        except Exception as exc:  # the finder is a hint, never a reason to lose the stage
            closest_list, closest_error = (), str(exc)
    layers, measurement = slowest_layers(profile), None
    with_layers = next((m.record for m in main if m.record.ok and m.record.layer_times is not None), None)
    if with_layers is not None:
        measured, measurement, _ = measured_layers(with_layers)
        layers = measured or layers
    stand_in, stand_in_items = None, [m for m in items if closest is not None and m.config.model == closest.model]
    if closest is not None:
        stand_in = replace(closest, record_ids=tuple(m.record.record_id for m in stand_in_items))
    unknown = profile.unknown_layers
    data = MeasuredStageData(
        model=model,
        configs=tuple(StageConfigRef(record_id=m.record.record_id, label=m.config.label, resolution=m.config.resolution,
                                     batch=m.config.batch, precision=m.precision, scenario=m.config.scenario)
                      for m in items),
        activations=activations, sram=sram, layers=layers, closest=closest_list, closest_error=closest_error,
        layer_measurement=measurement, closest_measured=stand_in,
        unknown_layers=unknown if fmt_unknown_layers(unknown) else None)
    lesson = stage_lesson(stage_no, main, activations, sram)
    if measurement is not None and measurement.kinds:
        lesson += "; " + layer_lesson(measurement)
    if stand_in is not None:
        lesson += "; " + closest_lesson(stand_in, stand_in_items)
    if closest_list:
        lesson += f"; closest zoo model: {closest_list[0].model} ({closest_list[0].why})"
    if data.unknown_layers is not None:
        lesson += (f"; PROFILE INCOMPLETE: {fmt_unknown_layers(unknown)} (MAC/s, utilization and projections of "
                   "this model leave them out)")
    return StageSummary(stage_no, title, lesson, tuple(m.record.record_id for m in items), data)


def layer_lesson(measurement: LayerMeasurement) -> str:
    """Where the measured time goes by op kind, and how far the projection is off there."""
    total = sum(k.measured_s for k in measurement.kinds) or 1.0
    top = measurement.kinds[0]
    worst = max((k for k in measurement.kinds if k.error is not None and k.measured_s >= 0.05 * total),
                key=lambda k: abs(k.error), default=top)
    text = (f"measured per layer, {top.kind} layers take {fmt_pct(top.measured_s / total)} of the time"
            f" (projected {_off_by(top.error)})")
    if worst is not top:
        text += f"; the projection is furthest off on {worst.kind} layers ({_off_by(worst.error)})"
    return text


def _off_by(error: float | None) -> str:
    """projected / measured - 1 in words: "42 % lower", "10 % higher"."""
    return NA if error is None else f"{fmt_pct(abs(error))} {'lower' if error < 0 else 'higher'}"


def closest_lesson(stand_in: ClosestMeasured, items: Sequence[Measured]) -> str:
    """Stage 3 of `run --model`: the zoo model closest to the user's, why, and what it achieved."""
    text = f"closest zoo model to yours: {stand_in.model} @ {stand_in.resolution} ({stand_in.why})"
    if stand_in.size_note:
        text += f", {stand_in.size_note}"
    top = best([m for m in items if m.record.ok], _throughput)
    if top is None:
        return text + ": its measurement failed"
    rec = top.record
    return (text + f": {fmt_plain(rec.throughput_per_s)} inf/s at {rec.precision_executed}"
                   f" ({fmt_time(rec.stats.p50_ns / 1e9)} p50), MAC utilization {utilization_text(rec)}")


def layer_notes(plan, measured: Sequence[Measured]) -> tuple[str, ...]:
    """What collecting per-layer times cost the run, for the summary's notes."""
    records = [m.record for m in measured if m.record.ok and m.record.layer_times is not None]
    failed = [note for m in measured for note in m.record.notes if note.startswith("per-layer times not collected")]
    if not plan.layer_runs:
        return ("per-layer times not collected (--no-layers)",)
    notes = []
    if records:
        spent = sum((r.layer_times.collect_wall_ns or 0) for r in records) / 1e9
        overheads = [o for o in (r.layer_profiling_overhead for r in records) if o is not None]
        text = (f"per-layer times: {len(records)} configuration(s), one per stage, {plan.layer_runs} profiled runs each"
                f" in a separate pass after the timed runs: {fmt_time(spent)} added to the run")
        if overheads:
            text += (f"; profiled runs were {fmt_pct(min(overheads))} to {fmt_pct(max(overheads))} slower than timed"
                     " ones" if min(overheads) >= 0 else
                     f"; profiled p50 / timed p50 - 1 from {min(overheads):+.0%} to {max(overheads):+.0%}")
            text += " (the record's latencies never come from them)"
        notes.append(text)
    notes.extend(failed)
    return tuple(notes)


def best(items: Sequence[Measured], key: Callable) -> Measured | None:
    ok = [m for m in items if m.record.ok and key(m) is not None]
    return max(ok, key=key) if ok else None


def _throughput(m: Measured) -> float | None:
    return m.record.throughput_per_s


def stage_lesson(stage_no: int, items: Sequence[Measured], activations: Sequence[ActivationRow],
                 sram: Sequence[SramFigure]) -> str:
    """One line that states the stage's lesson in numbers (only from measured records and profiles)."""
    ok = [m for m in items if m.record.ok]
    if not ok:
        return "every configuration of this stage failed; see the records for why"
    if stage_no == 2 and len(activations) >= 2:
        return _resolution_lesson(items, ok, activations, sram)
    top = best(ok, _throughput)
    rec = top.record
    line = (f"{top.config.label}: {fmt_macs(rec.macs_per_inference or None, missing=NA)} per inference, "
            f"{fmt_plain(rec.throughput_per_s)} inf/s at {rec.precision_executed} "
            f"({fmt_time(rec.stats.p50_ns / 1e9)} p50); ")
    if rec.peak_macs_per_s:
        line += (f"peak says {mac_rate_text(rec.peak_macs_per_s)}; it achieved {mac_rate_text(rec.macs_per_s)} "
                 f"({utilization_text(rec)})")
        if rec.mac_utilization and rec.mac_utilization > 1.0:
            line += (" - above 100 % of theoretical: the theoretical peak uses the clock the OS reports, "
                     "and this CPU runs faster")
    else:
        line += f"it achieved {mac_rate_text(rec.macs_per_s)}"
    fp32 = [m for m in ok if m.record.precision_executed == "fp32" and m.config == top.config]
    if fp32 and top.precision != "fp32":
        line += f"; {rec.throughput_per_s / fp32[0].record.throughput_per_s:.1f}x the FP32 rate"
    line += f"; peak live activations {fmt_bytes(activations[-1].peak_live_activation_bytes, missing=NA)}"
    return line


def _resolution_lesson(items, ok, activations, sram) -> str:
    """Stage 2: ResNet-50 the datasheet way (small input, a batch) against a large input at batch 1."""
    first_resolution = items[0].config.resolution
    datasheet = best([m for m in ok if m.config.resolution == first_resolution], _throughput)
    large = best([m for m in ok if m.config.resolution != first_resolution], _throughput)
    lo, hi = activations[0], activations[-1]
    grow = (hi.peak_live_activation_bytes or 0) / max(lo.peak_live_activation_bytes or 0, 1)
    beyond = sum(1 for s in sram if s.onchip_sram_bytes < (hi.peak_live_activation_bytes or 0))
    parts = []
    if datasheet is not None:
        rec = datasheet.record
        parts.append(f"datasheet-style {datasheet.config.label} ({rec.precision_executed}): "
                     f"{fmt_plain(rec.throughput_per_s)} inf/s, MAC utilization {utilization_text(rec)}")
    if large is not None:
        rec = large.record
        parts.append(f"{large.config.label} ({rec.precision_executed}): {fmt_time(rec.stats.p50_ns / 1e9)} per frame, "
                     f"{fmt_plain(rec.throughput_per_s)} inf/s, MAC utilization {utilization_text(rec)}")
    parts.append(f"live activations grow {grow:,.0f}x ({fmt_bytes(lo.peak_live_activation_bytes, missing=NA)} -> "
                 f"{fmt_bytes(hi.peak_live_activation_bytes, missing=NA)} at {lo.precision}), more than the on-chip "
                 f"memory of {beyond} of {len(sram)} catalog devices")
    return "; ".join(parts)
