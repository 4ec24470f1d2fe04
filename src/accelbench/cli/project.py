"""`accelbench project`, `accelbench rank`, `accelbench calibrate`: projections onto devices you
do not own (docs/projection.md). Every figure these commands print is an estimate ("projected")."""

from __future__ import annotations

import click

from accelbench import api
from accelbench.cli import app
from accelbench.cli.common import (batch_option, check_choice, check_format, constraint_options, db_option, echo_json,
                                   format_option, input_shape_option, model_argument, resolution_option,
                                   warn_unknown_layers)
from accelbench.projection.intervals import INTERVAL_LEVEL, shipped_coverage
from accelbench.projection.model import CALIBRATED_PROJECTION, SCENARIOS
from accelbench.report.units import (constraints_line, fmt_band, fmt_correlation, fmt_level, fmt_pct, fmt_time,
                                     fmt_time_band, fmt_value)

PROJECT_FORMATS = ("table", "json")
DEFAULT_PRECISION = "int8"  # what accelerators are compared at (MLPerf closed ResNet-50 is INT8)

precision_option = click.option("--precision", "-p", default=DEFAULT_PRECISION, show_default=True,
                                 help="fp32, fp16, bf16, int16 or int8.")


def _warn(profile) -> None:
    """A loud warning when MAC layers of the projected model are unknown."""
    warn_unknown_layers(profile, "projected figures leave those layers out and are too optimistic")


def _incomplete_mark(profile) -> str:
    return "" if profile.unknown_layers.macs_complete else " [MACs INCOMPLETE: see the warning above]"


@app.command("project")
@model_argument
@click.option("--device", "-d", "device_spec", default="all", show_default=True,
              help="Catalog id(s), comma-separated (t4,l4), 'host', or 'all'.")
@precision_option
@batch_option
@resolution_option
@input_shape_option
@click.option("--scenario", "-s", default="offline", show_default=True, help="single-stream or offline.")
@click.option("--no-calibration", is_flag=True,
              help="Use the shipped parameters: no calibration from measured records or a saved calibration.")
@click.option("--layers", "show_layers", is_flag=True, help="Table format: also print the per-layer breakdown.")
@db_option
@format_option(PROJECT_FORMATS)
def project_cmd(model, device_spec, precision, batch, resolution, input_shapes, scenario, no_calibration,
                show_layers, db, output_format):
    """Project MODEL onto accelerators you do not own: latency at batch 1, throughput at the best
    batch (1..256 within DRAM), MAC utilization, what bounds each layer, energy (TDP estimate),
    throughput per W and per $, each with its 80 % interval. A device with measured records in the
    store (--db) is calibrated from them ("calibrated projection"). All figures are projected estimates."""
    fmt = check_format(output_format, PROJECT_FORMATS)
    scenario_key = check_choice("scenario", scenario, SCENARIOS)
    result = api.project(model, devices=device_spec, precision=precision, batch=batch, resolution=resolution,
                         input_shapes=input_shapes, scenario=scenario_key, calibration=not no_calibration, db=db)
    profile, done, skipped = result.profile, result.devices, result.skipped
    _warn(profile)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    shapes = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in profile.input_shapes.items())
    click.echo(f"{profile.model} ({shapes}), {profile.precision}, {profile.macs / 1e9:.2f} GMACs, "
               f"scenario {scenario_key}: PROJECTED figures (estimates from docs/projection.md, not measured)"
               + _incomplete_mark(profile))
    head = (f"{'device':<22} {'latency (proj., 80 % band)':>30} {'throughput (proj., 80 % band)':>30} {'batch':>5} "
            f"{'MAC util':>8} {'bound':<16} {'J/inf (est.)':>12} {'inf/s/W':>8} {'inf/s/$':>8}")
    click.echo(head)
    click.echo("-" * len(head))
    for p in done:
        latency = fmt_time_band(p.latency_s, p.latency_s_low, p.latency_s_high) + f" @b{p.latency_batch}"
        throughput = fmt_band(p.throughput_per_s, p.throughput_per_s_low, p.throughput_per_s_high, suffix="/s")
        click.echo(f"{_device_tag(p):<22} {latency:>30} {throughput:>30} {p.throughput_batch:>5} "
                   f"{p.mac_utilization:>8.1%} {p.bound_summary:<16} {fmt_value(p.energy_per_inference_j, '.4g'):>12} "
                   f"{fmt_value(p.throughput_per_w, '.1f'):>8} {fmt_value(p.throughput_per_usd, '.2f'):>8}")
    for s in skipped:
        click.echo(f"{s.device:<22} skipped: {s.reason}")
    if show_layers:
        for p in done:
            click.echo(f"\n{p.device}: layers at batch {p.latency_batch if scenario_key == 'single-stream' else p.throughput_batch} (projected)")
            for layer in p.layers:
                click.echo(f"  {layer.name[:40]:<40} {layer.op:<12} {fmt_time(layer.time_s):>12} {layer.bound:<8} "
                           f"{layer.tile:<10} {'spill' if layer.spilled else ''}")
    click.echo(_band_legend())
    for line in _calibration_lines(done):
        click.echo(line)
    if len(done) == 1:
        click.echo("assumptions: " + "; ".join(done[0].assumptions))
    else:
        click.echo("assumptions per device: --format json (key 'assumptions'); model: docs/projection.md")


def _device_tag(p) -> str:
    """A device as the tables name it; "(cal.)" marks a calibrated projection."""
    return p.device + (" (cal.)" if p.calibrated else "")


def _band_legend() -> str:
    """What the bands are, and how often they held on the published table."""
    level = fmt_level(INTERVAL_LEVEL)
    cov = shipped_coverage()
    held = (f"; on the published MLPerf table they held in {cov.covered} of {cov.total} leave-one-device-out cases "
            f"({fmt_pct(cov.share)})" if cov.total else "")
    return (f"(low–high): {level} interval from the leave-one-device-out errors of the device's family, or from a "
            f"calibrated device's leave-one-measurement-out errors{held}")


def _calibration_lines(projections) -> list[str]:
    """One line per calibrated projection: what it was fitted on, its out-of-sample error, and the
    projected model's own measurements (left out of the fit) beside the projection."""
    lines = []
    for p in projections:
        if not p.calibrated:
            continue
        line = f"{_device_tag(p)}: {CALIBRATED_PROJECTION}, {p.params_origin}"
        cal = p.calibration
        if cal is not None and cal.loo_median_abs_error is not None:
            line += f"; leave-one-measurement-out median |error| {fmt_pct(cal.loo_median_abs_error)}"
        for held in cal.held_out if cal is not None else ():
            line += (f"; {held.label}: measured {fmt_time(held.measured_s)}, calibrated projection "
                     f"{fmt_time(held.projected_s)} ({held.error:+.0%})")
        lines.append(line)
    return lines


@app.command("rank")
@model_argument
@resolution_option
@batch_option
@precision_option
@input_shape_option
@click.option("--no-calibration", is_flag=True,
              help="Use the shipped parameters: no calibration from measured records or a saved calibration.")
@constraint_options
@db_option
@format_option(PROJECT_FORMATS)
def rank_cmd(model, resolution, batch, precision, input_shapes, no_calibration, max_latency_ms, max_watts, max_price,
             db, output_format):
    """Rank every catalog device by PROJECTED throughput on MODEL (and per W, per $), beside its
    rank by peak TOPS, with Spearman's rank correlation between the two. Each throughput carries its
    80 % interval; a device whose interval overlaps the next one's is marked (indistinguishable by
    projection). With --max-latency-ms, --max-watts or --max-price only the devices that meet them
    are ranked; the others are listed with the reason."""
    fmt = check_format(output_format, PROJECT_FORMATS)
    result = api.rank(model, precision=precision, batch=batch, resolution=resolution, input_shapes=input_shapes,
                      calibration=not no_calibration, db=db, max_latency_ms=max_latency_ms, max_watts=max_watts,
                      max_price=max_price)
    profile, ranking = result.profile, result.ranking
    _warn(profile)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(f"{profile.model}, {profile.precision}: devices ranked by PROJECTED throughput (estimates)"
               + _incomplete_mark(profile))
    head = (f"{'#':>2} {'device':<22} {'proj. inf/s (80 % band)':>30} {'batch':>5} {'MAC util':>8} {'peak TOPS':>9} "
            f"{'peak #':>6} {'inf/s/W':>8} {'W #':>4} {'inf/s/$':>8} {'$ #':>4} {'bottleneck':<16}  vs next")
    click.echo(head)
    click.echo("-" * len(head))
    for r in ranking.devices:
        tag = r.device + (" (cal.)" if r.calibrated else "")
        overlap = f"≈ #{r.indistinguishable_from}" if r.indistinguishable_from else ""
        click.echo(f"{r.rank:>2} {tag:<22} {fmt_band(r.throughput_per_s, r.throughput_per_s_low, r.throughput_per_s_high):>30} "
                   f"{r.batch:>5} {r.mac_utilization:>8.1%} {r.peak_ops_per_s / 1e12:>9.1f} {r.peak_rank:>6} "
                   f"{fmt_value(r.throughput_per_w, '.1f'):>8} {fmt_value(r.per_w_rank, 'd'):>4} "
                   f"{fmt_value(r.throughput_per_usd, '.2f'):>8} {fmt_value(r.per_usd_rank, 'd'):>4} "
                   f"{r.bound:<16}  {overlap}")
    for s in ranking.skipped:
        click.echo(f"   {s.device:<22} skipped: {s.reason}")
    for e in ranking.excluded:
        click.echo(f"   {e.device:<22} excluded: {e.reason}")
    if ranking.constraints is not None:
        click.echo(constraints_line(ranking.constraints, len(ranking.excluded),
                                    len(ranking.excluded) + len(ranking.devices)))
    click.echo("≈ #N: the two intervals overlap: indistinguishable from #N by projection (measure both before"
               " choosing); (cal.): calibrated projection")
    click.echo(_band_legend())
    click.echo(f"Spearman rank correlation, projected throughput vs peak TOPS: "
               f"{fmt_correlation(ranking.spearman_throughput_vs_peak)} "
               f"(1 = peak TOPS orders these devices exactly as the projection does)")


@app.command("calibrate")
@db_option
@click.option("--device", "-d", "device_id", default="host", show_default=True,
              help="Device to calibrate: 'host' (CPU records) or a catalog id (GPU records).")
@click.option("--dry-run", is_flag=True, help="Show the fit, do not save it.")
@format_option(PROJECT_FORMATS)
def calibrate_cmd(db, device_id, dry_run, output_format):
    """Fit a device's compute efficiency, DRAM efficiency and per-layer overhead to `accelbench bench`
    measurements in the results store: only stable, full-size single-stream or offline records of the
    device (the others are listed with the reason); shows the fitted (in-sample) error beside the
    leave-one-measurement-out error; saves the fit for `project` (file: see docs/projection.md)."""
    fmt = check_format(output_format, PROJECT_FORMATS)
    calibration = api.calibrate(db, device_id, save=not dry_run)
    fit, device, params, loo = calibration.fit, calibration.device, calibration.params, calibration.loo
    if fmt == "json":
        echo_json({**fit.to_dict(), "median_abs_error_loo": loo.median_abs_error if loo else None,
                   "leave_one_out": loo.to_dict() if loo else None,
                   "saved_to": str(calibration.saved) if calibration.saved else None, "db": db,
                   "excluded": [e.to_dict() for e in calibration.excluded], "would_save_to": str(calibration.path)})
        return
    click.echo(f"calibrating {device.id} ({device.name}) on {calibration.points} measurement(s) from {db}")
    head = (f"{'measurement':<44} {'measured':>11} {'proj. before':>12} {'err':>6} {'fitted':>12} {'err':>6} "
            f"{'left out':>12} {'err':>6}")
    click.echo(head)
    click.echo("-" * len(head))
    loo_cells = ([(fmt_time(p), f"{e:+.0%}") for p, e in zip(loo.projected_s, loo.errors)] if loo
                 else [("-", "")] * calibration.points)
    for d, (loo_time, loo_err) in zip(fit.to_dict()["points"], loo_cells):
        click.echo(f"{d['label'][:44]:<44} {fmt_time(d['measured_s']):>11} {fmt_time(d['projected_before_s']):>12} "
                   f"{d['error_before']:>+6.0%} {fmt_time(d['projected_after_s']):>12} {d['error_after']:>+6.0%} "
                   f"{loo_time:>12} {loo_err:>6}")
    click.echo(f"median |error|: {fmt_pct(fit.median_abs_error_before)} uncalibrated -> "
               f"{fmt_pct(fit.median_abs_error_after)} fitted (in sample)")
    click.echo(f"leave-one-out median |error|: {fmt_pct(loo.median_abs_error)} (leave-one-measurement-out: each "
               "measurement projected with figures fitted on the others, the error to expect on a model not measured)"
               if loo else "leave-one-out median |error|: none (leave-one-measurement-out needs two measurements)")
    click.echo("fitted: " + ", ".join(f"{k} = {v:.4g} (was {getattr(params, k):.4g})" for k, v in fit.values.items()))
    if calibration.excluded:
        click.echo(f"left out {len(calibration.excluded)} record(s):")
        for e in calibration.excluded:
            click.echo(f"  {e.record_id[:8]} {e.label}: {e.reason}")
    click.echo(f"saved to {calibration.saved}" if calibration.saved
               else f"not saved (--dry-run); would go to {calibration.path}")
