"""`accelbench run`: the four-stage main job, ending with a ranked answer and an HTML report."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from accelbench import api
from accelbench.backends.base import describe_backends
from accelbench.cli import app
from accelbench.cli.common import check_format, constraint_options, db_option, echo_json, number_option
from accelbench.errors import EXIT_MEASUREMENT_FAILED
from accelbench.report.answer import answer_in_words
from accelbench.report.progress import Progress
from accelbench.report.tables import print_tables, ranking_table
from accelbench.report.units import constraints_line


@app.command("run")
@click.option("--model", "-m", default=None, help="Stage 4: your model, an .onnx path or a zoo name.")
@click.option("--resolution", "-r", default=None, help="Input size of --model (224, WxH, 1mp/2mp/4mp; seq length).")
@click.option("--full", is_flag=True, help="The complete matrix (YOLOv3 at 1, 2 and 4 MP); shows its duration first.")
@click.option("--objective", default="latency", show_default=True,
              help="Rank by: latency, throughput, per-watt or per-dollar.")
@click.option("--backend", default="auto", show_default=True,
              help=f"{describe_backends()} (a short trial picks the fastest).")
@click.option("--precision", "precisions", multiple=True,
              help="Precisions to measure (repeatable); default: fp32 and this host's best reduced precision.")
@number_option("--time-limit", default=None, help="Seconds of measurement per configuration.")
@db_option
@click.option("--report", "report_path", default=None,
              help="Where to write the HTML report (default accelbench-out/report-<run>.html).")
@click.option("--no-report", is_flag=True, help="Do not write the HTML report.")
@click.option("--no-layers", is_flag=True,
              help="Do not collect per-layer times (by default one configuration per stage gets a profiled pass).")
@click.option("--quiet", "-q", is_flag=True, help="Only the lessons, the ranking and the report path.")
@click.option("--yes", "-y", is_flag=True, help="With --full: do not ask before a long run.")
@constraint_options
@click.option("--format", "-f", "output_format", default="table", show_default=True, help="table or json.")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Run on every device of a Ray cluster (ray://HOST:PORT, HOST:PORT or auto): one report for all.")
def run_command(model, resolution, full, objective, backend, precisions, time_limit, db, report_path, no_report,
                no_layers, quiet, yes, max_latency_ms, max_watts, max_price, output_format, cluster):
    """Walk the four stages of inference benchmarking on this machine and end with an answer.

    \b
    1. peak TOPS: this host's theoretical and measured peak beside the catalog's devices;
    2. ResNet-50 at 224 with a batch (how datasheets quote it) versus 2 MP at batch 1;
    3. a real-world model: YOLOv3 at 1 MP (--full: 1, 2 and 4 MP), and with --model the zoo
       model closest to yours;
    4. your model (--model).
    Each at FP32 and at the best reduced precision this host supports.
    """
    fmt = check_format(output_format, ("table", "json"))
    plan = api.plan_run(model, resolution=resolution, full=full, objective=objective, backend=backend,
                        precisions=precisions or None, time_limit_s=time_limit, layers=not no_layers,
                        max_latency_ms=max_latency_ms, max_watts=max_watts, max_price=max_price)
    estimate = plan.estimated_duration_s()
    # JSON: stdout carries the summary alone; the lessons and messages go to stderr.
    progress = Progress(estimate, quiet=quiet or fmt == "json", stderr=fmt == "json")
    mode = "full matrix" if full else ("tiny sizes (ACCELBENCH_TINY=1)" if plan.tiny else "default sizes")
    progress.say(f"accelbench run: the four stages of inference benchmarking, {mode}: {plan.measurements} "
                 f"measurements at {', '.join(plan.precisions)}"
                 + (f", per-layer times for {plan.layer_configs} of them" if plan.layer_configs else "")
                 + f"; estimated {estimate / 60:.1f} min on this machine")
    if plan.closest is not None:
        progress.say(f"stage 3 adds {plan.closest.model} @ {plan.closest.resolution}, the zoo model closest to yours"
                     f" ({plan.closest.why})")
    if full and not yes and sys.stdin.isatty():
        click.confirm(f"The full matrix takes about {estimate / 60:.0f} minutes. Start?", abort=True, err=True)
    # --cluster: every device of the cluster measures (sweep/cluster_run.py)
    outcome = api.run(plan=plan, db=db, progress=progress, command="accelbench " + " ".join(sys.argv[1:]),
                      report=report_path, write_report_html=not no_report, cluster=cluster,
                      explicit_precisions=bool(precisions))
    summary = outcome.summary
    failed = bool(outcome.records) and not any(record.ok for record in outcome.records)
    if fmt == "json":
        echo_json({**summary.to_dict(), "db": db, "report": outcome.report_path})
        return _all_failed(outcome) if failed else 0
    print_tables([ranking_table(summary)], progress.console)
    line = constraints_line(summary.constraints, len(summary.excluded), len(summary.ranking))
    if line:
        progress.say(escape(line), always=True)
    if answer_in_words(summary.ranking):
        progress.say(escape(answer_in_words(summary.ranking)), always=True)  # labels hold user text
    where = "run on the device its row names" if cluster else "run on this machine"
    progress.say(f"measured = {where}; projected = estimated from datasheet figures (accelbench project),"
                 " in brackets its 80 % band; calibrated projection = this host's projection fitted on its other"
                 " measurements; inf/s per W of this host is an estimate unless a power counter was read.", always=True)
    progress.say(f"Done in {summary.duration_s:.0f} s. Records: {db} (run {summary.run_id}).", always=True, markup=False)
    if outcome.report_path:
        progress.say(f"HTML report: {outcome.report_path}", always=True, markup=False)
    return _all_failed(outcome) if failed else 0


def _all_failed(outcome) -> int:
    """Every configuration failed: say so (the first failure's reason) and exit non-zero."""
    first = outcome.records[0]
    click.echo(f"error: every configuration of the run failed ({len(outcome.records)}); the first: "
               f"{first.failure_kind}: {first.error}", err=True)
    return EXIT_MEASUREMENT_FAILED
