"""`accelbench project`, `accelbench rank`, `accelbench calibrate`: projections onto devices you
do not own (docs/projection.md). Every figure these commands print is an estimate ("projected")."""

from __future__ import annotations

import click

from accelbench.cli import app
from accelbench.cli.common import (batch_option, check_format, db_option, echo_json, format_option,
                                   input_shape_option, model_argument, resolution_option, warn_unknown_layers)
from accelbench.errors import UserError, choice_error

PROJECT_FORMATS = ("table", "json")
DEFAULT_PRECISION = "int8"  # what accelerators are compared at (MLPerf closed ResNet-50 is INT8)

precision_option = click.option("--precision", "-p", default=DEFAULT_PRECISION, show_default=True,
                                 help="fp32, fp16, bf16, int16 or int8.")


def _profile(model, resolution, input_shapes, precision):
    """The model's profile for projection: refused at 0 MACs, a loud warning when MAC layers are unknown."""
    from accelbench.precision import parse_precision
    from accelbench.projection.api import load_profile
    from accelbench.shapes import parse_input_shapes

    profile = load_profile(model, resolution=resolution, batch=1, input_shapes=parse_input_shapes(input_shapes),
                           precision=parse_precision(precision))
    profile.require_counted_macs("projections")
    warn_unknown_layers(profile, "projected figures leave those layers out and are too optimistic")
    return profile


def _incomplete_mark(profile) -> str:
    return "" if profile.unknown_layers.macs_complete else " [MACs INCOMPLETE: see the warning above]"


def _optional_batch(batch):
    from accelbench.shapes import parse_batch

    return None if batch is None else parse_batch(batch)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 10 else f"{seconds:.2f} s"


@app.command("project")
@model_argument
@click.option("--device", "-d", "device_spec", default="all", show_default=True,
              help="Catalog id(s), comma-separated (t4,l4), 'host', or 'all'.")
@precision_option
@batch_option
@resolution_option
@input_shape_option
@click.option("--scenario", "-s", default="offline", show_default=True, help="single-stream or offline.")
@click.option("--no-calibration", is_flag=True, help="Ignore saved calibrations (use the shipped parameters).")
@click.option("--layers", "show_layers", is_flag=True, help="Table format: also print the per-layer breakdown.")
@format_option(PROJECT_FORMATS)
def project_cmd(model, device_spec, precision, batch, resolution, input_shapes, scenario, no_calibration,
                show_layers, output_format):
    """Project MODEL onto accelerators you do not own: latency at batch 1, throughput at the best
    batch (1..256 within DRAM), MAC utilization, what bounds each layer, energy (TDP estimate),
    throughput per W and per $. All figures are projected estimates."""
    from accelbench.projection.api import project_devices, resolve_devices
    from accelbench.projection.model import SCENARIOS

    fmt = check_format(output_format, PROJECT_FORMATS)
    scenario_key = scenario.strip().lower()
    if scenario_key not in SCENARIOS:
        raise choice_error("scenario", scenario, SCENARIOS)
    batch_value = _optional_batch(batch)
    devices = resolve_devices(device_spec)
    profile = _profile(model, resolution, input_shapes, precision)
    done, skipped = project_devices(profile, devices, scenario=scenario_key, batch=batch_value,
                                    use_calibration=not no_calibration)
    if fmt == "json":
        echo_json({"model": profile.model, "input_shapes": {k: list(v) for k, v in profile.input_shapes.items()},
                   "precision": profile.precision, "scenario": scenario_key, "kind": "projected",
                   "devices": [p.to_dict() for p in done] + [s.to_dict() for s in skipped],
                   "macs": profile.macs, "unknown_layers": profile.unknown_layers.to_dict()})
        return
    shapes = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in profile.input_shapes.items())
    click.echo(f"{profile.model} ({shapes}), {profile.precision}, {profile.macs / 1e9:.2f} GMACs, "
               f"scenario {scenario_key}: PROJECTED figures (estimates from docs/projection.md, not measured)"
               + _incomplete_mark(profile))
    head = (f"{'device':<22} {'latency (proj.)':>16} {'throughput (proj.)':>19} {'batch':>5} {'MAC util':>8} "
            f"{'bound':<16} {'J/inf (est.)':>12} {'inf/s/W':>8} {'inf/s/$':>8}")
    click.echo(head)
    click.echo("-" * len(head))
    for p in done:
        tag = p.device + (" (cal.)" if p.calibrated else "")
        click.echo(f"{tag:<22} {_ms(p.latency_s) + ' @b' + str(p.latency_batch):>16} "
                   f"{p.throughput_per_s:>17,.1f}/s {p.throughput_batch:>5} {p.mac_utilization:>8.1%} "
                   f"{p.bound_summary:<16} {_fmt_opt(p.energy_per_inference_j, '.4g'):>12} "
                   f"{_fmt_opt(p.throughput_per_w, '.1f'):>8} {_fmt_opt(p.throughput_per_usd, '.2f'):>8}")
    for s in skipped:
        click.echo(f"{s.device:<22} skipped: {s.reason}")
    if show_layers:
        for p in done:
            click.echo(f"\n{p.device}: layers at batch {p.latency_batch if scenario_key == 'single-stream' else p.throughput_batch} (projected)")
            for layer in p.layers:
                click.echo(f"  {layer.name[:40]:<40} {layer.op:<12} {_ms(layer.time_s):>12} {layer.bound:<8} "
                           f"{layer.tile:<10} {'spill' if layer.spilled else ''}")
    if len(done) == 1:
        click.echo("assumptions: " + "; ".join(done[0].assumptions))
    else:
        click.echo("assumptions per device: --format json (key 'assumptions'); model: docs/projection.md")


def _fmt_opt(value, spec):
    return "-" if value is None else format(value, spec)


@app.command("rank")
@model_argument
@resolution_option
@batch_option
@precision_option
@input_shape_option
@click.option("--no-calibration", is_flag=True, help="Ignore saved calibrations.")
@format_option(PROJECT_FORMATS)
def rank_cmd(model, resolution, batch, precision, input_shapes, no_calibration, output_format):
    """Rank every catalog device by PROJECTED throughput on MODEL (and per W, per $), beside its
    rank by peak TOPS, with Spearman's rank correlation between the two."""
    from accelbench.job.ranking import rank_devices
    from accelbench.report.units import fmt_correlation

    fmt = check_format(output_format, PROJECT_FORMATS)
    profile = _profile(model, resolution, input_shapes, precision)
    ranking = rank_devices(profile, batch=_optional_batch(batch), use_calibration=not no_calibration)
    if fmt == "json":
        echo_json({"model": profile.model, "precision": profile.precision, "kind": "projected",
                   "input_shapes": {k: list(v) for k, v in profile.input_shapes.items()},
                   "spearman_throughput_vs_peak": ranking.spearman_throughput_vs_peak,
                   "devices": [r.to_dict() for r in ranking.devices],
                   "skipped": [s.to_dict() for s in ranking.skipped],
                   "macs": profile.macs, "unknown_layers": profile.unknown_layers.to_dict()})
        return
    click.echo(f"{profile.model}, {profile.precision}: devices ranked by PROJECTED throughput (estimates)"
               + _incomplete_mark(profile))
    head = (f"{'#':>2} {'device':<22} {'proj. inf/s':>12} {'batch':>5} {'MAC util':>8} {'peak TOPS':>9} "
            f"{'peak #':>6} {'inf/s/W':>8} {'W #':>4} {'inf/s/$':>8} {'$ #':>4} {'bottleneck':<16}")
    click.echo(head)
    click.echo("-" * len(head))
    for r in ranking.devices:
        click.echo(f"{r.rank:>2} {r.device:<22} {r.throughput_per_s:>12,.1f} {r.batch:>5} "
                   f"{r.mac_utilization:>8.1%} {r.peak_ops_per_s / 1e12:>9.1f} {r.peak_rank:>6} "
                   f"{_fmt_opt(r.throughput_per_w, '.1f'):>8} {_fmt_opt(r.per_w_rank, 'd'):>4} "
                   f"{_fmt_opt(r.throughput_per_usd, '.2f'):>8} {_fmt_opt(r.per_usd_rank, 'd'):>4} {r.bound:<16}")
    for s in ranking.skipped:
        click.echo(f"   {s.device:<22} skipped: {s.reason}")
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
    device (the others are listed with the reason); reports the leave-one-out error and saves the fit
    for `project` (file: see docs/projection.md)."""
    import os

    from accelbench.projection.api import device_params, projection_device
    from accelbench.projection.calibrate import calibration_path, fit_params, leave_one_out, save_calibration
    from accelbench.projection.calibration_points import CALIBRATED_SCENARIOS, select_points
    from accelbench.results.records import utc_now
    from accelbench.results.store import open_store

    fmt = check_format(output_format, PROJECT_FORMATS)
    device = projection_device(device_id)
    with open_store(db, read_only=True) as store:
        records = store.query()
    selection = select_points(records, device)
    points = list(selection.points)
    if not points:
        why = "; ".join(f"{e.label}: {e.reason}" for e in selection.excluded[:3])
        raise UserError(f"calibrate: no ok `bench` records for device {device.id!r} in the results store that are "
                        f"stable, full-size and {'/'.join(CALIBRATED_SCENARIOS)}"
                        + (f" ({len(selection.excluded)} left out: {why})" if why else "")
                        + "; run e.g. `accelbench bench resnet50 --resolution 224` first")
    params, _ = device_params(device, use_calibration=False)
    fit = fit_params(points, device, params)
    loo = leave_one_out(points, device, params) if len(points) >= 2 else None
    path = calibration_path()
    saved = None if dry_run else save_calibration(fit, device, source=os.path.abspath(db), fitted_at=utc_now(), loo=loo)
    if fmt == "json":
        echo_json({**fit.to_dict(), "saved_to": str(saved) if saved else None, "db": db,
                   "leave_one_out": loo.to_dict() if loo else None,
                   "excluded": [e.to_dict() for e in selection.excluded], "would_save_to": str(path)})
        return
    click.echo(f"calibrating {device.id} ({device.name}) on {len(points)} measurement(s) from {db}")
    head = f"{'measurement':<44} {'measured':>11} {'proj. before':>12} {'err':>6} {'proj. after':>12} {'err':>6}"
    click.echo(head)
    click.echo("-" * len(head))
    for d in fit.to_dict()["points"]:
        click.echo(f"{d['label'][:44]:<44} {_ms(d['measured_s']):>11} {_ms(d['projected_before_s']):>12} "
                   f"{d['error_before']:>+6.0%} {_ms(d['projected_after_s']):>12} {d['error_after']:>+6.0%}")
    click.echo(f"median |error|: {fit.median_abs_error_before:.1%} uncalibrated -> {fit.median_abs_error_after:.1%} "
               "calibrated (in sample)")
    if loo is not None:
        click.echo(f"leave-one-out median |error|: {loo.median_abs_error:.1%} (each measurement projected with "
                   "figures fitted on the others: what to expect for a model it has not seen)")
    else:
        click.echo("leave-one-out error: needs at least 2 measurements")
    click.echo("fitted: " + ", ".join(f"{k} = {v:.4g} (was {getattr(params, k):.4g})" for k, v in fit.values.items()))
    if selection.excluded:
        click.echo(f"left out {len(selection.excluded)} record(s):")
        for e in selection.excluded:
            click.echo(f"  {e.record_id[:8]} {e.label}: {e.reason}")
    click.echo(f"saved to {saved}" if saved else f"not saved (--dry-run); would go to {path}")
