"""`accelbench bench` (measure one configuration) and `accelbench results` (list/export the store)."""

from __future__ import annotations

import csv
import io
import sys

import click

from accelbench.cli import app
from accelbench.cli.common import (
    batch_option,
    check_format,
    db_option,
    echo_json,
    input_shape_option,
    model_argument,
    precision_option,
    resolution_option,
)
from accelbench.errors import UserError, choice_error

SCENARIO_NAMES = ("single-stream", "multi-stream", "offline", "server")
MODE_NAMES = ("quick", "mlperf")
BENCH_FORMATS = ("table", "json")
RESULTS_FORMATS = ("table", "json", "csv")


def _positive_float(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"{name}: {value!r} is not a number; give a positive number") from None
    if not number > 0:
        raise UserError(f"{name}: must be a positive number; got {value!r}")
    return number


def _positive_int(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"{name}: {value!r} is not a whole number; give a positive integer") from None
    if number < 1:
        raise UserError(f"{name}: must be a positive integer; got {value!r}")
    return number


@app.command("bench")
@model_argument
@click.option("--backend", default="onnxruntime", show_default=True,
              help="onnxruntime, openvino, torch or auto.")
@click.option("--device", "-d", default="cpu", show_default=True, help="cpu, cuda, tensorrt, gpu, npu ...")
@precision_option
@batch_option
@resolution_option
@input_shape_option
@click.option("--scenario", "-s", default="single-stream", show_default=True,
              help="single-stream, multi-stream, offline or server (MLPerf definitions).")
@click.option("--mode", "-m", default="quick", show_default=True,
              help="quick (stop at +/-2 % CI or the time limit) or mlperf (LoadGen's full rules).")
@click.option("--threads", default=None, help="Intra-op threads (default: physical cores).")
@click.option("--time-limit", default="10", show_default=True, help="Cap on quick mode's wall time, seconds.")
@click.option("--target-ci", default="0.02", show_default=True,
              help="Quick mode's target: relative half-width of the 95 % CI (0.02 = +/-2 %).")
@click.option("--target-qps", default=None, help="Server scenario: arrival rate (queries/s).")
@click.option("--latency-bound-ms", default=None, help="Server scenario: p99 latency bound, ms.")
@click.option("--price", default=None, help="Device price, USD (for inferences/s per $).")
@click.option("--price-per-hour", default=None, help="Rental rate, USD/hour (for $ per million inferences).")
@click.option("--tdp", default=None, help="CPU package TDP, W: enables the labelled power ESTIMATE (TDP share).")
@click.option("--tdp-cores", default=None, help="Cores that --tdp covers (default: this host's physical cores).")
@db_option
@click.option("--no-save", is_flag=True, help="Do not write the record to the results store.")
@click.option("--no-isolation", is_flag=True, help="Measure in this process (no child process, no timeout).")
@click.option("--timeout", default=None, help="Child-process timeout, seconds (default: from the time limit).")
@click.option("--log-dir", default=None, help="Where LoadGen logs go (default: accelbench-logs beside the db).")
@click.option("--format", "-f", "output_format", default="table", show_default=True, help="table or json.")
def bench_command(model, backend, device, precision, batch, resolution, input_shapes, scenario, mode, threads,
                  time_limit, target_ci, target_qps, latency_bound_ms, price, price_per_hour, tdp, tdp_cores, db, no_save,
                  no_isolation, timeout, log_dir, output_format):
    """Measure MODEL (zoo name or .onnx file) on a real runtime and store the record."""
    import os

    from accelbench.measure.runner import run_config
    from accelbench.results.records import BenchConfig, new_run_id
    from accelbench.results.store import default_log_root, open_store
    from accelbench.shapes import parse_batch, parse_input_shapes

    fmt = check_format(output_format, BENCH_FORMATS)
    scenario_key = scenario.strip().lower()
    if scenario_key not in SCENARIO_NAMES:
        raise choice_error("scenario", scenario, SCENARIO_NAMES)
    mode_key = mode.strip().lower()
    if mode_key not in MODE_NAMES:
        raise choice_error("mode", mode, MODE_NAMES)
    bound_ms = _positive_float("latency-bound-ms", latency_bound_ms)
    source = "torch" if model.startswith("torch:") else "file" if os.path.exists(model) else "zoo"
    config = BenchConfig(
        model=model,
        source=source,
        resolution=resolution,
        batch=parse_batch(batch) if batch is not None else 1,
        input_shapes=tuple(parse_input_shapes(input_shapes).items()),
        backend=backend.strip().lower(),
        device=device.strip().lower(),
        precision=precision,
        scenario=scenario_key,
        mode=mode_key,
        threads=_positive_int("threads", threads),
        time_limit_s=_positive_float("time-limit", time_limit),
        target_rel_ci=_positive_float("target-ci", target_ci),
        price_usd=_positive_float("price", price),
        price_per_hour_usd=_positive_float("price-per-hour", price_per_hour),
        target_qps=_positive_float("target-qps", target_qps),
        latency_bound_ns=int(bound_ms * 1e6) if bound_ms else None,
        tdp_w=_positive_float("tdp", tdp),
        tdp_cores=_positive_int("tdp-cores", tdp_cores),
    )
    store = None if no_save else open_store(db)  # opened first: a bad --db fails before measuring
    logs = log_dir or default_log_root(db)
    try:
        record = run_config(config, run_id=new_run_id(), isolate=not no_isolation,
                            timeout_s=_positive_float("timeout", timeout), log_root=logs)
        if store is not None:
            store.save(record)
    finally:
        if store is not None:
            store.close()
    if fmt == "json":
        echo_json(record.to_dict())
    else:
        _print_record(record)
    if not record.ok:
        click.echo(f"error: measurement failed ({record.failure_kind}): {record.error}", err=True)
        return 1
    return 0


def _fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.0f} ns"


def _fmt(value, spec: str = ".4g", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _print_record(record) -> None:
    d = record.to_dict(include_samples=False)
    cfg = record.config
    rows = [
        ("model", f"{cfg.model} @ {cfg.resolution or 'default'}, batch {cfg.batch}"),
        ("backend", f"{d['backend']} on {d['device']} ({(record.run_info or {}).get('execution_provider', '-')})"),
        ("precision", f"requested {cfg.precision}, executed {d['precision_executed'] or '-'}"
                      f" ({(record.run_info or {}).get('precision_source', '-')})"),
        ("scenario / mode", f"{cfg.scenario} / {cfg.mode}"),
        ("status", record.status + (f": {record.failure_kind}: {record.error}" if not record.ok else "")),
    ]
    if record.ok:
        stats = d["latency_stats"] or {}
        ci = stats.get("median_ci_rel")
        rows += [
            ("queries", f"{d['queries']} (stop: {record.stop_reason}, target met: {record.target_met})"),
            ("latency p50", _fmt_ns(d["latency_p50_ns"]) + (f"  (95 % CI +/-{ci:.1%})" if ci is not None else "")),
            ("latency p90 / p99", f"{_fmt_ns(d['latency_p90_ns'])} / {_fmt_ns(d['latency_p99_ns'])}"),
            ("throughput", _fmt(d["throughput_per_s"], ".2f", " inferences/s")),
            ("megapixels/s", _fmt(d["megapixels_per_s"], ".2f")),
            ("MAC/s", _fmt(d["macs_per_s"], ".3e")),
            ("MAC utilization", _fmt(d["mac_utilization"] * 100 if d["mac_utilization"] else None, ".1f", " %")
             + (f" of {record.peak_source}" if record.peak_source else "")),
            ("power", (_fmt(d["power_w"], ".1f", " W") + f" ({d['power_source']}"
                       + (", ESTIMATE" if d["power_source"] == "estimated-tdp" else "") + ")")),
            ("energy/inference", _fmt(d["energy_per_inference_j"], ".4g", " J")),
            ("peak RSS", _fmt(record.peak_rss_bytes / 2**20 if record.peak_rss_bytes else None, ".0f", " MiB")),
            ("stability", f"{d['stability']['verdict']}" + (
                "; " + "; ".join(d["stability"]["warnings"]) if d["stability"]["warnings"] else "")),
        ]
        if d["inferences_per_s_per_usd"] is not None:
            rows.append(("inferences/s per $", _fmt(d["inferences_per_s_per_usd"], ".4g")))
        if d["usd_per_million_inferences"] is not None:
            rows.append(("$ per million inferences", _fmt(d["usd_per_million_inferences"], ".4g")))
        if record.deviation:
            dev = record.deviation
            rows.append(("deviation vs fp32", f"cosine {dev.get('cosine_similarity'):.5f}, max rel err "
                                              f"{dev.get('max_relative_error'):.3g}, top-1 agreement "
                                              f"{_fmt(dev.get('top1_agreement'), '.3f')}"))
    rows.append(("run id", record.run_id))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


CSV_COLUMNS = ("run_id", "record_id", "timestamp", "status", "model", "resolution", "batch", "backend", "device",
               "precision_requested", "precision_executed", "scenario", "mode", "queries", "latency_p50_ns",
               "latency_p90_ns", "latency_p99_ns", "throughput_per_s", "megapixels_per_s", "macs_per_s",
               "mac_utilization", "power_w", "power_source", "energy_per_inference_j", "inferences_per_s_per_w",
               "inferences_per_s_per_usd", "usd_per_million_inferences", "stability", "error")


def _flat_row(record) -> dict:
    d = record.to_dict(include_samples=False)
    cfg = record.config
    row = {k: d.get(k) for k in CSV_COLUMNS}
    row.update({"model": cfg.model, "resolution": cfg.resolution, "batch": cfg.batch,
                "scenario": cfg.scenario, "mode": cfg.mode,
                "stability": (d["stability"] or {}).get("verdict")})
    return row


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
    from accelbench.precision import parse_precision
    from accelbench.results.store import open_store

    fmt = check_format(output_format, RESULTS_FORMATS)
    with open_store(db, read_only=True) as store:
        if run_id == "latest":
            ids = store.run_ids()
            run_id = ids[-1] if ids else None
        records = store.query(run_id=run_id, model=model, backend=backend,
                              precision=parse_precision(precision) if precision else None)
    if fmt == "json":
        echo_json([r.to_dict(include_samples=samples) for r in records])
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow(_flat_row(r))
        sys.stdout.write(buf.getvalue())
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
                          r.config.scenario, _fmt_ns(d["latency_p50_ns"]), _fmt_ns(d["latency_p90_ns"]),
                          _fmt(d["throughput_per_s"], ".2f"),
                          (_fmt(d["power_w"], ".1f", " W") + ("~" if d["power_source"] == "estimated-tdp" else ""))
                          if d["power_w"] is not None else "-",
                          r.status if r.ok else f"failed: {r.failure_kind}"))
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        for line in lines:
            click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip())
        click.echo("~ = estimated from TDP, not measured")
    return 0
