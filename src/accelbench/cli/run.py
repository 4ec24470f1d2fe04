"""`accelbench run`: the four-stage main job, ending with a ranked answer and an HTML report."""

from __future__ import annotations

import sys

import click

from accelbench.cli import app
from accelbench.cli.common import check_format, db_option, echo_json


@app.command("run")
@click.option("--model", "-m", default=None, help="Stage 4: your model, an .onnx path or a zoo name.")
@click.option("--resolution", "-r", default=None, help="Input size of --model (224, WxH, 1mp/2mp/4mp; seq length).")
@click.option("--full", is_flag=True, help="The complete matrix (YOLOv3 at 1, 2 and 4 MP); shows its duration first.")
@click.option("--objective", default="latency", show_default=True,
              help="Rank by: latency, throughput, per-watt or per-dollar.")
@click.option("--backend", default="auto", show_default=True,
              help="onnxruntime, openvino, torch, or auto (a short trial picks the fastest).")
@click.option("--precision", "precisions", multiple=True,
              help="Precisions to measure (repeatable); default: fp32 and this host's best reduced precision.")
@click.option("--time-limit", type=float, default=None, help="Seconds of measurement per configuration.")
@db_option
@click.option("--report", "report_path", default=None,
              help="Where to write the HTML report (default accelbench-out/report-<run>.html).")
@click.option("--no-report", is_flag=True, help="Do not write the HTML report.")
@click.option("--quiet", "-q", is_flag=True, help="Only the lessons, the ranking and the report path.")
@click.option("--yes", "-y", is_flag=True, help="With --full: do not ask before a long run.")
@click.option("--format", "-f", "output_format", default="table", show_default=True, help="table or json.")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Run on every device of a Ray cluster (ray://HOST:PORT, HOST:PORT or auto): one report for all.")
def run_command(model, resolution, full, objective, backend, precisions, time_limit, db, report_path, no_report,
                quiet, yes, output_format, cluster):
    """Walk the four stages of inference benchmarking on this machine and end with an answer.

    \b
    1. peak TOPS: this host's theoretical and measured peak beside the catalog's devices;
    2. ResNet-50 at 224 with a batch (how datasheets quote it) versus 2 MP at batch 1;
    3. a real-world model: YOLOv3 at 1 MP (--full: 1, 2 and 4 MP);
    4. your model (--model).
    Each at FP32 and at the best reduced precision this host supports.
    """
    from accelbench.job.execute import run_job
    from accelbench.job.plan import make_plan
    from accelbench.precision import parse_precision
    from accelbench.report.progress import Progress
    from accelbench.results.store import default_db_path

    fmt = check_format(output_format, ("table", "json"))
    plan = make_plan(model=model, resolution=resolution, full=full, objective=objective.strip().lower(),
                     backend=backend.strip().lower(),
                     precisions=tuple(parse_precision(p) for p in precisions) or None, time_limit_s=time_limit)
    db_path = db or default_db_path()
    estimate = plan.estimated_duration_s()
    progress = Progress(estimate, quiet=quiet or fmt == "json")
    mode = "full matrix" if full else ("tiny sizes (ACCELBENCH_TINY=1)" if plan.tiny else "default sizes")
    progress.say(f"accelbench run: the four stages of inference benchmarking, {mode}: {plan.measurements} "
                 f"measurements at {', '.join(plan.precisions)}; estimated {estimate / 60:.1f} min on this machine")
    if full and not yes and sys.stdin.isatty():
        click.confirm(f"The full matrix takes about {estimate / 60:.0f} minutes. Start?", abort=True)
    if cluster is not None:  # every device of the cluster measures; sweep/cluster_run.py
        from accelbench.sweep.cluster_run import run_cluster_job

        outcome = run_cluster_job(plan, address=cluster, db_path=db_path, progress=progress,
                                  explicit_precisions=bool(precisions), report_path=report_path,
                                  write_html=not no_report, command="accelbench " + " ".join(sys.argv[1:]))
    else:
        outcome = run_job(plan, db_path=db_path, progress=progress, command="accelbench " + " ".join(sys.argv[1:]),
                          report_path=report_path, write_html=not no_report)
    summary = outcome.summary
    if fmt == "json":
        echo_json({**summary.to_dict(), "db": db_path, "report": outcome.report_path})
        return
    from accelbench.report.tables import print_tables, ranking_table

    print_tables([ranking_table(summary)], progress.console)
    where = ("run on the device its row names" if cluster else "run on this machine")
    progress.say(f"measured = {where}; projected = estimated from datasheet figures (accelbench project);"
                 " inf/s per W of this host is an estimate unless a power counter was read.", always=True)
    progress.say(f"Done in {summary.duration_s:.0f} s. Records: {db_path} (run {summary.run_id}).", always=True)
    if outcome.report_path:
        progress.say(f"HTML report: {outcome.report_path}", always=True)
