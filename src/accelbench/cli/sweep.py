"""`accelbench sweep` (a plan of many configurations, on this machine or a Ray cluster),
`accelbench worker` (a machine joins the cluster), `accelbench export` and `accelbench merge`
(results between stores)."""

from __future__ import annotations

import os
import shlex
import sys

import click

from accelbench.cli import Terminated, app
from accelbench.cli.common import check_format, db_option, echo_json, number_option
from accelbench.errors import UserError
from accelbench.report.sweep_progress import SweepProgress
from accelbench.report.units import fmt_duration
from accelbench.results.exchange import export_runs, merge_files, write_export
from accelbench.results.store import default_log_root, open_store
from accelbench.sweep.plan import load_plan
from accelbench.sweep.resume import ACTIONS
from accelbench.sweep.runner import make_executor, preview, run_sweep
from accelbench.sweep.worker import (
    DEFAULT_CLIENT_PORT, DEFAULT_HEAD_PORT, WorkerSettings, advertised_devices, ray_start_command,
)

cluster_option = click.option(
    "--cluster", default=None, metavar="ADDRESS",
    help="Measure on every device of a Ray cluster: ray://HOST:PORT (Ray Client), HOST:PORT from a node, or auto.")


@app.command("sweep")
@click.argument("plan", metavar="PLAN")  # --config key: plan
@db_option
@cluster_option
@click.option("--dry-run", is_flag=True, help="Print the configurations and the estimated duration; measure nothing.")
@click.option("--rerun", is_flag=True, help="Measure configurations the store already holds again.")
@click.option("--retry-failed", is_flag=True, help="Measure again the configurations whose last attempts failed.")
@click.option("--log-dir", default=None, help="Where LoadGen logs go (default: accelbench-logs beside the db).")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary at the end.")
@click.option("--format", "-f", "output_format", default="table", show_default=True, help="table or json.")
def sweep_command(plan, db, cluster, dry_run, rerun, retry_failed, log_dir, quiet, output_format):
    """Measure every configuration of PLAN (a TOML file: axes, exclude/include rules, measurement
    settings; see docs/sweep.md) once. Configurations already in the store are skipped; run the
    same command again to resume an interrupted sweep."""
    fmt = check_format(output_format, ("table", "json"))
    sweep_plan = load_plan(plan)  # every key and value checked before anything connects or runs
    timeout_s, log_root = sweep_plan.measure.timeout_s, log_dir or default_log_root(db)
    with make_executor(cluster, timeout_s=timeout_s, log_root=log_root) as executor:
        if dry_run:
            shown = preview(sweep_plan, executor, db, rerun=rerun, retry_failed=retry_failed)
            _print_preview(shown, fmt)
            return 0

        def progress(current):
            display = SweepProgress(len(current.to_measure), eta_s=current.estimated_s, quiet=quiet or fmt == "json")
            display.say(_headline(current, db))
            return display

        try:
            outcome = run_sweep(sweep_plan, executor, db, rerun=rerun, retry_failed=retry_failed, progress_factory=progress)
        except (KeyboardInterrupt, Terminated):  # Ctrl-C or SIGTERM (cli.main gives the exit code)
            click.echo("interrupted: what was stored stays; run the same command to resume", err=True)
            raise
    if fmt == "json":
        echo_json(_outcome_dict(outcome))
    else:
        _print_outcome(outcome, db)
    return 1 if outcome.failed_in_sweep else 0


def _counts(shown) -> dict[str, int]:
    counts = {action: 0 for action in ACTIONS}
    for decision in shown.decisions:
        counts[decision.action] += 1
    return counts


def _headline(shown, db) -> str:
    counts = _counts(shown)
    devices = sorted({str(d.item.device) for d in shown.decisions})
    state = f"resuming sweep {shown.resumes}" if shown.resumes else "a new sweep"
    dropped = sum(n for _, n in shown.expansion.dropped)
    return (f"sweep {shown.plan.name!r}: {len(shown.decisions)} configurations on {', '.join(devices) or 'no device'}"
            f" ({state}; {counts['measure']} to measure, {counts['measured']} measured earlier,"
            f" {counts['failed']} failed earlier, {counts['in-sweep']} already in this sweep"
            + (f", {dropped} combinations dropped" if dropped else "")
            + f"); estimated {fmt_duration(shown.estimated_s)}; records go to {db}")


def _print_preview(shown, fmt: str) -> None:
    if fmt == "json":
        echo_json({"plan": shown.plan.name, "plan_key": shown.plan_key, "resumes": shown.resumes,
                   "estimated_s": shown.estimated_s, "counts": _counts(shown),
                   "dropped": [{"why": why, "combinations": n} for why, n in shown.expansion.dropped],
                   "configurations": [{"config_hash": d.item.config_hash, "device": str(d.item.device),
                                       "action": d.action, "why": d.why, "record_id": d.record_id,
                                       "estimated_s": shown.estimates.get(d.item.config_hash),
                                       "config": d.item.config.to_dict()} for d in shown.decisions]})
        return
    header = ("#", "hash", "model", "res", "batch", "precision", "backend", "scenario", "device", "action", "est.")
    rows = [header]
    for number, d in enumerate(shown.decisions, 1):
        cfg = d.item.config
        est = shown.estimates.get(d.item.config_hash)
        rows.append((str(number), d.item.config_hash, d.item.label.split(" @ ")[0], cfg.resolution or "default",
                     str(cfg.batch), cfg.precision, cfg.backend, cfg.scenario, str(d.item.device), d.why,
                     fmt_duration(est) if est is not None else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    for why, n in shown.expansion.dropped:
        click.echo(f"dropped {n} combinations: {why}")
    click.echo(_headline(shown, "the store").replace("; records go to the store", ""))


def _outcome_dict(outcome) -> dict:
    return {"sweep_id": outcome.sweep.sweep_id, "plan": outcome.preview.plan.name, "resumed": outcome.sweep.resumed,
            "counts": _counts(outcome.preview), "measured_ok": outcome.measured_ok,
            "measured_failed": outcome.measured_failed, "failed_in_sweep": outcome.failed_in_sweep,
            "duplicates_dropped": outcome.duplicates, "wall_s": outcome.wall_s,
            "records": [r.record_id for r in outcome.records]}


def _print_outcome(outcome, db) -> None:
    run = outcome.sweep.sweep_id
    if not outcome.preview.to_measure:
        counts = _counts(outcome.preview)
        click.echo(f"nothing to measure: the store holds every configuration ({counts['measured']} measured,"
                   f" {counts['failed']} failed, {counts['in-sweep']} in this sweep); --retry-failed or --rerun"
                   " measure again")
        return
    click.echo(f"sweep {run} finished in {fmt_duration(outcome.wall_s)}: measured {outcome.measured_ok} ok,"
               f" {outcome.measured_failed} failed now; {outcome.failed_in_sweep} failed in this sweep in all"
               + (f"; {outcome.duplicates} results dropped (already recorded)" if outcome.duplicates else ""))
    click.echo(f"records: {db} (run {run}); `accelbench results --run {run}`, `accelbench report --run {run}`")
    if outcome.failed_in_sweep:
        click.echo("failed configurations keep their reason in the store; --retry-failed measures them again")


@app.command("worker")
@click.option("--address", default=None, metavar="HOST:PORT", help="Join the cluster whose head listens here.")
@click.option("--head", is_flag=True, help="Start the cluster's head on this machine instead.")
@number_option("--port", default=str(DEFAULT_HEAD_PORT), show_default=True, help="Head: the GCS port other nodes join.")
@number_option("--client-port", default=str(DEFAULT_CLIENT_PORT), show_default=True,
               help="Head: the Ray Client port (ray://HOST:PORT).")
@click.option("--device", "devices", multiple=True, metavar="KIND:NAME",
              help="Advertise these devices instead of the detected ones (repeat an id for several units).")
@click.option("--no-devices", is_flag=True, help="Advertise no device (a head that only schedules).")
@click.option("--node-ip-address", default=None, help="The address other nodes reach this one at.")
@click.option("--temp-dir", default=None, help="Head: Ray's temporary files.")
@number_option("--num-cpus", default=None, help="CPUs Ray may use on this node.")
@click.option("--block", is_flag=True, help="Stay in the foreground until the node stops.")
@click.option("--dry-run", is_flag=True, help="Print the devices and the `ray start` command; start nothing.")
def worker_command(address, head, port, client_port, devices, no_devices, node_ip_address, temp_dir, num_cpus,
                   block, dry_run):
    """Start a Ray node that offers this machine's devices to sweeps (wraps `ray start`)."""
    settings = WorkerSettings(advertised_devices(devices, no_devices), head=head, address=address, port=port,
                              client_port=client_port, node_ip_address=node_ip_address, temp_dir=temp_dir,
                              num_cpus=num_cpus, block=block)
    cmd = ray_start_command(settings)
    shown = ", ".join(f"{d} x{n}" if n > 1 else str(d) for d, n in settings.devices.items()) or "none"
    click.echo(f"devices advertised: {shown}", err=True)
    if dry_run:
        click.echo(shlex.join(cmd))
        return 0
    os.execv(cmd[0], cmd)  # this process becomes the ray node (with --block, until it stops)


@app.command("export")
@db_option
@click.option("--run", "run_ids", multiple=True, help="A run or sweep id (repeatable; 'latest' for the newest).")
@click.option("--all", "every_run", is_flag=True, help="Every run in the store.")
@click.option("--output", "-o", "out_path", required=True, help="The JSON file to write ('-' for stdout).")
def export_command(db, run_ids, every_run, out_path):
    """Write runs (records with raw samples, environment, provenance; summaries) to a versioned JSON file."""
    if every_run and run_ids:
        raise UserError("export: give --run IDs or --all, not both")
    with open_store(db, read_only=True) as store:
        if every_run:
            wanted = store.run_ids()
        else:
            wanted = [store.latest_run_id() if r == "latest" else r for r in (run_ids or ("latest",))]
            if None in wanted:
                raise UserError(f"db: {store.location} holds no runs yet; nothing to export")
        document = export_runs(store, list(dict.fromkeys(wanted)))
    if out_path == "-":
        echo_json(document)
    else:
        write_export(document, out_path)
        count = sum(len(run["records"]) for run in document["runs"])
        click.echo(f"exported {count} records of {len(document['runs'])} runs to {out_path}", err=True)
    sys.stdout.flush()
    return 0


@app.command("merge")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@db_option
def merge_command(files, db):
    """Add exported results (accelbench export) to a store: all of them, or none."""
    with open_store(db) as store:
        merged = merge_files(store, files)
    records = sum(f.record_count for f in merged)
    runs = sum(len(f.runs) for f in merged)
    click.echo(f"merged {records} records of {runs} runs from {len(merged)} files into {db}")
    return 0
