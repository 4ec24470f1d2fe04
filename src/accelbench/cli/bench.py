"""`accelbench bench` (measure one configuration) and `accelbench results` (list/export the store)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from accelbench.backends.base import describe_backends
from accelbench import api
from accelbench.cli import app
from accelbench.cli.common import (
    batch_option,
    check_choice,
    check_format,
    db_option,
    echo_json,
    input_shape_option,
    model_argument,
    number_option,
    precision_option,
    resolution_option,
    streams_option,
)
from accelbench.errors import EXIT_MEASUREMENT_FAILED, EXIT_RESULT_INVALID, UserError
from accelbench.measure.layers import DEFAULT_LAYER_RUNS
from accelbench.measure.loadgen import rules_minimums
from accelbench.measure.runner import estimated_duration_s, validate_config
from accelbench.models.registry import find_zoo_model
from accelbench.projection.layer_errors import slowest_layers_of
from accelbench.report.export import records_csv
from accelbench.report.progress import Progress
from accelbench.report.tables import layer_times_summary, layer_times_table, print_tables, top1_note
from accelbench.report.units import fmt_macs, fmt_ns, fmt_rate, fmt_unknown_layers, fmt_value
from accelbench.results.records import MODES, SCENARIOS, BenchConfig, BenchRecord
from accelbench.shapes import parse_input_shapes
from accelbench.sources import source_of_spec

BENCH_FORMATS = ("table", "json")
LAYERS_SHOWN = 15  # slowest layers printed by bench --layers (the record keeps all)
RESULTS_FORMATS = ("table", "json", "csv")


@app.command("bench")
@model_argument
@click.option("--backend", default="onnxruntime", show_default=True, help=f"{describe_backends()}.")
@click.option("--device", "-d", default="cpu", show_default=True, help="cpu, cuda, tensorrt, gpu, npu ...")
@precision_option
@batch_option
@resolution_option
@input_shape_option
@click.option("--scenario", "-s", default="single-stream", show_default=True,
              help="single-stream, multi-stream, offline or server (MLPerf definitions).")
@click.option("--mode", "-m", default="quick", show_default=True,
              help="quick (stop at +/-2 % CI or the time limit) or mlperf (LoadGen's full rules).")
@number_option("--threads", default=None, help="Intra-op threads (default: physical cores).")
@number_option("--time-limit", default="10", show_default=True, help="Cap on quick mode's wall time, seconds.")
@number_option("--target-ci", default="0.02", show_default=True,
               help="Quick mode's target: relative half-width of the 95 % CI (0.02 = +/-2 %).")
@number_option("--target-qps", default=None, help="Server scenario: arrival rate (queries/s).")
@number_option("--latency-bound-ms", default=None, help="Server scenario: p99 latency bound, ms.")
@number_option("--price", default=None, help="Device price, USD (for inferences/s per $).")
@number_option("--price-per-hour", default=None, help="Rental rate, USD/hour (for $ per million inferences).")
@number_option("--tdp", default=None, help="CPU package TDP, W: enables the labelled power ESTIMATE (TDP share).")
@number_option("--tdp-cores", default=None, help="Cores that --tdp covers (default: this host's physical cores).")
@db_option
@click.option("--no-save", is_flag=True, help="Do not write the record to the results store.")
@click.option("--no-isolation", is_flag=True, help="Measure in this process (no child process, no timeout).")
@number_option("--timeout", default=None, help="Child-process timeout, seconds (default: from the time limit).")
@streams_option
@number_option("--iterations", default=None,
               help="Exactly N timed queries after the warm-up (as benchmark_app -niter); the CI target and the "
                    "time limit then stop nothing.")
@number_option("--min-duration", default=None,
               help="Measure at least this many seconds (as trtexec --duration); with --iterations: at least both.")
@click.option("--inputs", "inputs", default=None, metavar="NPZ|NPY|DIR",
              help="Your input data (.npz with one array per input, .npy, or a folder of them) instead of random "
                   "inputs: the timed queries cycle through it; the deviation check runs on it.")
@click.option("--calibration-data", default=None, metavar="NPZ|NPY|DIR",
              help="Your INT8 calibration data (same format as --inputs) instead of random inputs.")
@click.option("--log-dir", default=None, help="Where LoadGen logs go (default: accelbench-logs beside the db).")
@click.option("--layers", is_flag=True,
              help="After the timed runs, collect per-layer times with the runtime's own profiler (a separate pass).")
@number_option("--layer-runs", default=None,
               help=f"Profiled runs the per-layer times average over (default {DEFAULT_LAYER_RUNS}).")
@click.option("--format", "-f", "output_format", default="table", show_default=True, help="table or json.")
def bench_command(model, backend, device, precision, batch, resolution, input_shapes, scenario, mode, threads,
                  time_limit, target_ci, target_qps, latency_bound_ms, price, price_per_hour, tdp, tdp_cores, db, no_save,
                  no_isolation, timeout, streams, iterations, min_duration, inputs, calibration_data, log_dir, layers,
                  layer_runs, output_format):
    """Measure MODEL (zoo name or .onnx file) on a real runtime and store the record."""
    fmt = check_format(output_format, BENCH_FORMATS)
    config = BenchConfig(
        model=model,
        source=source_of_spec(model),
        resolution=resolution,
        batch=batch or 1,
        input_shapes=tuple(parse_input_shapes(input_shapes).items()),
        backend=backend.strip().lower(),
        device=device.strip().lower(),
        precision=precision,
        scenario=check_choice("scenario", scenario, SCENARIOS),
        mode=check_choice("mode", mode, MODES),
        threads=threads,
        time_limit_s=time_limit,
        target_rel_ci=target_ci,
        price_usd=price,
        price_per_hour_usd=price_per_hour,
        target_qps=target_qps,
        latency_bound_ns=int(latency_bound_ms * 1e6) if latency_bound_ms else None,
        tdp_w=tdp,
        tdp_cores=tdp_cores,
        streams=streams,
        iterations=iterations,
        min_duration_s=min_duration,
        inputs=_existing_path("inputs", inputs),
        calibration_data=_existing_path("calibration-data", calibration_data),
    )
    if layer_runs is not None and not layers:
        raise UserError(f"layer-runs: only with --layers (collect per-layer times); got --layer-runs {layer_runs}")
    validate_config(config)  # a bad option fails before anything is announced
    runs = (layer_runs or DEFAULT_LAYER_RUNS) if layers else None
    with _progress(config, fmt, runs):
        record = api.bench(config, db=None if no_save else db, isolate=not no_isolation, timeout_s=timeout,
                           log_dir=log_dir, layers=layers, layer_runs=layer_runs)
    if fmt == "json":
        echo_json(record.to_dict())
    else:
        _print_record(record)
    if record.status == "invalid":
        click.echo(f"error: {record.error}", err=True)
        return EXIT_RESULT_INVALID
    if not record.ok:
        click.echo(f"error: measurement failed ({record.failure_kind}): {record.error}", err=True)
        return EXIT_MEASUREMENT_FAILED
    return 0


MLPERF_HEARTBEAT_S = 30.0
QUICK_HEARTBEAT_S = 5.0
PROGRESS_MIN_S = 3.0  # a run expected to be shorter than this shows no progress display


def mlperf_notice(config: BenchConfig) -> tuple[str, float]:
    """(what --mode mlperf will take, in words; the expected seconds) from LoadGen's own rules."""
    zoo = find_zoo_model(config.model) if config.source == "zoo" else None
    rules = rules_minimums(config.scenario, zoo.name if zoo else Path(config.model).stem)
    if rules is None:
        return "mlperf mode: LoadGen's full rules (mlperf.conf); MLPerf LoadGen is not installed here", 0.0
    seconds, queries = rules
    unit = "samples" if config.scenario == "offline" else "queries"
    return (f"mlperf mode: LoadGen's full rules for {config.scenario} run at least {seconds / 60:.0f} min and "
            f"{queries:,} {unit} (mlperf.conf), after the model is set up and warmed up: expect about "
            f"{seconds / 60:.0f} min or more; --mode quick takes seconds"), seconds


def _progress(config: BenchConfig, fmt: str, layer_runs: int | None):
    """A live display (a bar with the time left on a terminal; plain lines with a heartbeat when piped)
    while the measurement runs; with --format json it is on stderr, and only on a terminal, so that
    stdout carries the JSON alone. --mode mlperf first says how long LoadGen's rules take."""
    if config.mode == "mlperf":
        text, seconds = mlperf_notice(config)
        click.echo(text, err=True)
        progress = Progress(seconds, stderr=True, heartbeat_s=MLPERF_HEARTBEAT_S)
        what = f"LoadGen {config.scenario} run, mlperf mode ({config.model})"
    else:
        seconds = estimated_duration_s(config, layer_runs)
        if seconds is not None and seconds < PROGRESS_MIN_S:
            return contextlib.nullcontext()
        # JSON: stdout is the record alone; stderr shows the bar on a terminal, and stays clean in a pipe
        json_output = fmt == "json"
        progress = Progress(seconds, stderr=json_output, heartbeat_s=QUICK_HEARTBEAT_S,
                            quiet=json_output and not sys.stderr.isatty())
        what = (f"measuring {config.model} on {config.backend} {config.precision}, {config.scenario}"
                + (f", {config.streams} requests in flight" if config.streams != 1 else ""))

    @contextlib.contextmanager
    def running():
        with progress:
            progress.step(what)
            yield
            if config.mode == "mlperf":
                progress.done(f"LoadGen run finished after {progress.elapsed_s / 60:.1f} min")

    return running()


def _existing_path(field: str, value: str | None) -> str | None:
    """A user data path made absolute (the measurement runs in a child process), or None."""
    if value is None:
        return None
    if not os.path.exists(value):
        raise UserError(f"{field}: {value!r} does not exist; give an .npz/.npy file or a folder of them")
    return os.path.abspath(value)


def _print_record(record: BenchRecord) -> None:
    d = record.to_dict(include_samples=False)
    cfg, info = record.config, record.run_info
    if record.status == "invalid":
        status = "INVALID: " + (record.error or "")
    else:
        status = record.status + (f": {record.failure_kind}: {record.error}" if not record.ok else "")
    rows = [
        ("model", f"{cfg.model} @ {cfg.resolution or 'default'}, batch {cfg.batch}"),
        ("backend", f"{d['backend']} on {d['device']} ({info.execution_provider if info else '-'})"),
        ("precision", f"requested {cfg.precision}, executed {d['precision_executed'] or '-'}"
                      f" ({info.precision_source if info else '-'})"),
        ("scenario / mode", f"{cfg.scenario} / {cfg.mode}"),
        ("status", status),
    ]
    if record.streams:
        trials = (info.extra.get("streams_auto") if info else None) or ()
        rows.append(("requests in flight", f"{record.streams} (throughput = completed queries / wall time)" + (
            "; auto tried " + ", ".join(f"{t['streams']}: {fmt_rate(t['throughput_per_s'], 'inf/s')}" for t in trials)
            if trials else "")))
    for field, path in (("inputs", cfg.inputs), ("calibration data", cfg.calibration_data)):
        if path is not None:
            described = next((n for n in record.notes if n.startswith(field.replace(" ", "-") + ":")), path)
            rows.append((field, described.split(": ", 1)[-1]))
    if record.measured:
        stats = d["latency_stats"] or {}
        ci = stats.get("median_ci_rel")
        unknown = fmt_unknown_layers(record.unknown_layers)
        rows += [
            ("queries", f"{d['queries']} (stop: {record.stop_reason}, target met: {record.target_met})"),
            ("latency p50", fmt_ns(d["latency_p50_ns"]) + (f"  (95 % CI +/-{ci:.1%})" if ci is not None else "")),
            ("latency p90 / p99", f"{fmt_ns(d['latency_p90_ns'])} / {fmt_ns(d['latency_p99_ns'])}"),
            ("throughput", fmt_value(d["throughput_per_s"], ".2f", " inferences/s")),
            ("megapixels/s", fmt_value(d["megapixels_per_s"], ".2f")),
            ("MACs / inference", f"{fmt_macs(record.macs_per_inference)} ({record.macs_source or 'not counted'})"
                                 + (f"; {unknown}" if unknown else "")),
            ("MAC/s", fmt_value(d["macs_per_s"], ".3e")),
            ("MAC utilization", fmt_value(d["mac_utilization"] * 100 if d["mac_utilization"] else None, ".1f", " %")
             + (f" of {record.peak_source}" if record.peak_source else "")),
            ("vs measured peak", fmt_value(d["mac_utilization_measured_peak"] * 100
                                           if d["mac_utilization_measured_peak"] else None, ".1f", " %")
             + (f" of {fmt_rate(record.measured_peak_macs_per_s, 'MAC/s')} ({record.measured_peak_source}, "
                f"{record.measured_peak_at or 'date not recorded'})" if record.measured_peak_macs_per_s else "")),
            ("power", (fmt_value(d["power_w"], ".1f", " W") + f" ({d['power_source']}"
                       + (", ESTIMATE" if d["power_source"] == "estimated-tdp" else "") + ")")),
            ("energy/inference", fmt_value(d["energy_per_inference_j"], ".4g", " J")),
            ("peak RSS", fmt_value(record.peak_rss_bytes / 2**20 if record.peak_rss_bytes else None, ".0f", " MiB")),
            ("stability", f"{d['stability']['verdict']}" + (
                "; " + "; ".join(d["stability"]["warnings"]) if d["stability"]["warnings"] else "")),
        ]
        if d["inferences_per_s_per_usd"] is not None:
            rows.append(("inferences/s per $", fmt_value(d["inferences_per_s_per_usd"], ".4g")))
        if d["usd_per_million_inferences"] is not None:
            rows.append(("$ per million inferences", fmt_value(d["usd_per_million_inferences"], ".4g")))
        dev = record.deviation
        if dev is not None:
            note = top1_note(dev)
            rows.append(("deviation vs fp32", f"cosine {dev.cosine_similarity:.5f}, max rel err "
                                              f"{dev.max_relative_error:.3g}, top-1 agreement "
                                              f"{fmt_value(dev.top1_agreement, '.3f')}" + (f" ({note})" if note else "")))
    rows.append(("run id", record.run_id))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
    if record.layer_times is not None:
        click.echo(layer_times_summary(record))
        rows, note = slowest_layers_of(record, LAYERS_SHOWN)
        print_tables([layer_times_table(rows, f"Slowest {len(rows)} layers")])
        if note:
            click.echo(note)


@app.command("results")
@db_option
@click.option("--run", "run_id", default=None, help="Only this run id ('latest' for the last run).")
@click.option("--model", default=None, help="Only this model.")
@click.option("--backend", default=None, help="Only this backend.")
@click.option("--precision", default=None, help="Only this requested precision.")
@click.option("--samples/--no-samples", default=False, help="JSON: include raw latency samples.")
@click.option("--format", "-f", "output_format", default="table", show_default=True, help="table, json or csv.")
def results_command(db, run_id, model, backend, precision, samples, output_format):
    """List or export stored measurements."""
    fmt = check_format(output_format, RESULTS_FORMATS)
    records = api.results(db, run=run_id, model=model, backend=backend, precision=precision)
    if fmt == "json":
        echo_json([r.to_dict(include_samples=samples) for r in records])
    elif fmt == "csv":
        sys.stdout.write(records_csv(records))
    else:
        if not records:
            click.echo("no records match")
            return 0
        header = ("run", "model", "res", "b", "backend", "dev", "prec", "ran", "scenario", "p50", "p90",
                  "inf/s", "power", "status")
        lines = [header]
        for r in records:
            d = r.to_dict(include_samples=False)
            lines.append((r.run_id, r.config.model, r.config.resolution or "-", str(r.config.batch), d["backend"],
                          str(d["device"]), r.config.precision, str(d["precision_executed"] or "-"),
                          r.config.scenario, fmt_ns(d["latency_p50_ns"]), fmt_ns(d["latency_p90_ns"]),
                          fmt_value(d["throughput_per_s"], ".2f"),
                          (fmt_value(d["power_w"], ".1f", " W") + ("~" if d["power_source"] == "estimated-tdp" else ""))
                          if d["power_w"] is not None else "-",
                          r.status if r.ok else "INVALID" if r.status == "invalid" else f"failed: {r.failure_kind}"))
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        for line in lines:
            click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip())
        click.echo("~ = estimated from TDP, not measured")
    return 0
