"""`accelbench report` (self-contained HTML, optional PNGs) and `accelbench compare A B`."""

from __future__ import annotations

import click

from accelbench.cli import app
from accelbench.cli.common import check_format, db_option, echo_json, format_option
from accelbench.report.answer import answer_in_words
from accelbench.report.charts import all_charts
from accelbench.report.compare import compare, comparison_tables
from accelbench.report.html import write_report
from accelbench.report.png import write_pngs
from accelbench.report.tables import fallback_ranking_table, print_tables, ranking_table

REPORT_FORMATS = ("table", "json")


@app.command("report")
@db_option
@click.option("--run", "run_id", default=None, help="Run id (default: the newest run in the store).")
@click.option("-o", "--output", "output", default="report.html", show_default=True, help="HTML file to write.")
@click.option("--png", "png_dir", default=None, help="Also write the key charts as PNG files into this folder.")
@format_option(REPORT_FORMATS)
def report_command(db, run_id, output, png_dir, output_format):
    """Write a self-contained HTML report of one run (opens offline: plotly.js is inlined)."""
    fmt = check_format(output_format, REPORT_FORMATS)
    path, data = write_report(db, run_id, output)
    pngs = write_pngs(all_charts(data), png_dir) if png_dir else []
    absent = [n for n in data.absent_stages]
    if fmt == "json":
        echo_json({"report": str(path.resolve()), "run_id": data.run_id, "records": len(data.records),
                   "summary": data.summary is not None,
                   "interrupted": data.summary is not None and data.summary.interrupted, "absent_stages": absent,
                   "charts": sorted(all_charts(data)), "png": [str(p) for p in pngs]})
        return
    if data.summary is not None and data.summary.interrupted:
        click.echo(f"run {data.run_id} was interrupted: the report shows the stages and configurations that finished")
    ranking = ranking_table(data.summary) or fallback_ranking_table(data.records)
    print_tables([ranking])
    if data.summary is not None and answer_in_words(data.summary.ranking):
        click.echo(answer_in_words(data.summary.ranking))
    if absent:
        click.echo(f"stages absent from run {data.run_id}: {', '.join(str(n) for n in absent)}")
    for p in pngs:
        click.echo(f"png: {p}")
    click.echo(f"report: {path.resolve()}")


@app.command("compare")
@click.argument("a")
@click.argument("b")
@db_option
@click.option("--force", is_flag=True, help="Compare even when the environments (host, CPU, runtime version) differ.")
@format_option(REPORT_FORMATS)
def compare_command(a, b, db, force, output_format):
    """Compare A and B side by side (record ids, run ids, or run:ID / record:ID): ratio B/A and
    whether each difference is larger than the measurement noise (95 % CIs overlapping or not)."""
    fmt = check_format(output_format, REPORT_FORMATS)
    comp = compare(db, a, b, force=force)
    if fmt == "json":
        echo_json(comp.to_dict())
        return
    click.echo(f"A = {comp.a.kind} {comp.a.ident}   B = {comp.b.kind} {comp.b.ident}")
    if comp.mismatches:
        click.echo(f"warning: environments differ (forced): {'; '.join(comp.mismatches)}")
    print_tables(comparison_tables(comp))
    for label, keys in (("only in A", comp.only_a), ("only in B", comp.only_b)):
        if keys:
            click.echo(f"{label}: " + "; ".join(keys))
