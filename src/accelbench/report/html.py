"""The self-contained HTML report: one file, plotly.js inlined, opens without a network.

The page is a Jinja2 template (``report/templates/report.html.j2`` and its macros) with its style
sheet and scripts in ``report/assets/``, all inlined into the one file. This module turns the
report data into what the template shows (tables, charts as plotly figures, the stages) and renders
it with autoescaping on, so every user-supplied string (model names, paths, notes) is escaped by
the engine: a model called ``<script>alert(1)</script>`` shows as text. Chart data goes into a
``<script type="application/json">`` through the ``script_json`` filter, which cannot close the
element; strings handed to plotly are entity-escaped at every depth, because plotly renders a few
HTML tags (<a>, <b>, <br>, ...) found in labels.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from accelbench.errors import UserError
from accelbench.files import write_atomically
from accelbench.projection.layer_errors import layer_measurement, record_profile, slowest_layers_of
from accelbench.report.answer import answer_in_words
from accelbench.report.charts import (
    LABEL_FONT_PX, PEAK_PROVENANCE, Chart, all_charts, layer_error_chart, precision_groups, series_styles,
    slowest_layers_chart,
)
from accelbench.report.data import STAGE_TITLES, ReportData, load_report_data
from accelbench.report.tables import (
    Cell, Table, environment_table, fallback_ranking_table, layer_kinds_table, layer_times_summary, layer_times_table,
    precision_table, projections_table, ranking_table, records_table,
)
from accelbench.report.units import (
    METRIC_WORDS, constraints_line, fmt_bytes, fmt_constraints, fmt_metric, fmt_plain, fmt_time, fmt_workload,
)
from accelbench.results.summary import ClosestMeasured, ClosestModel, StageSummary

BADGE_TEXT = {"measured": "measured", "derived": "derived", "estimated": "estimated", "projected": "projected",
              "calibrated": "calibrated projection", "datasheet": "datasheet"}
BADGE_HELP = {
    "measured": "timed on this host",
    "derived": "computed from measured figures and the static profile",
    "estimated": "a model stands in for a missing counter (e.g. power from TDP)",
    "projected": "analytical model of a device not measured here, with its 80 % band",
    "calibrated": "the analytical model with figures fitted on the device's own measurements of other models",
    "datasheet": "vendor-published figure from the device catalog",
}
ERROR_BAR_STYLE = {"color": "#374151", "thickness": 1.2, "width": 4}
FOLD_ROWS = 20  # a table longer than this folds away behind "show all N rows"
ANSWER_ROWS = 10  # the answer's own table shows this many rows, the rest behind "show all N rows"
ASSETS = {"css": "report.css", "error_hook": "error-hook.js", "render": "report.js"}
TEMPLATE = "report.html.j2"
# Plotly keys whose strings are plotly's own templates, not text: never escaped.
PLOTLY_TEMPLATE_KEYS = frozenset({"hovertemplate"})
REPORT_EXTRA_HINT = "install it with `pip install 'accelbench[report]'`"


def _json_for_script(data) -> str:
    """JSON that cannot close its <script> element or start markup (<, >, & as \\u escapes)."""
    text = json.dumps(data, allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _clean(value, key: str | None = None):
    """NaN/inf -> None (strict JSON); every string at every depth entity-escaped (&, <, >) for
    plotly, which reads a few HTML tags and entities in labels; plotly's own templates kept."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if key in PLOTLY_TEMPLATE_KEYS else html.escape(value, quote=False)
    if isinstance(value, dict):
        return {k: _clean(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, key) for v in value]
    return value


def _error_bars(values, low, high) -> dict:
    """Plotly's asymmetric error bars from interval ends (a point without an interval gets null: no bar)."""
    plus = [None if v is None or h is None else max(h - v, 0.0) for v, h in zip(values, high)]
    minus = [None if v is None or lo is None else max(v - lo, 0.0) for v, lo in zip(values, low)]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "visible": True, **ERROR_BAR_STYLE}


def plotly_figure(chart: Chart) -> dict:
    """A plotly.js figure (data, layout, config) for a Chart; every string escaped."""
    traces = []
    for s, style in zip(chart.series, series_styles(chart)):
        color = style.color
        # hovertext, not text: plotly would print `text` on the bars themselves
        t: dict = {"name": s.name, "hovertext": list(s.text) if s.text else None,
                   "hovertemplate": "%{hovertext}<extra></extra>" if s.text else None}
        if s.labels:
            t.update(text=list(s.labels), textfont={"size": 10, "color": "#374151"})
        marker = {"color": color, **({"pattern": {"shape": style.pattern}} if style.pattern else {})}
        if s.kind == "bar":
            t.update(type="bar", x=list(s.x), y=list(s.y), marker=marker,
                     textposition="outside" if s.labels else "none", cliponaxis=False)
        elif s.kind == "hbar":
            t.update(type="bar", orientation="h", x=list(s.x), y=list(s.y), marker=marker,
                     textposition="auto" if s.labels else "none", insidetextanchor="end",
                     insidetextfont={"color": "#ffffff", "size": 10}, outsidetextfont={"color": "#374151", "size": 10})
        else:
            mode = "markers" if s.kind == "markers" else "lines+markers"
            t.update(type="scatter", x=list(s.x), y=list(s.y), mode=mode + ("+text" if s.labels else ""),
                     # alternate above/below so that labels of close points do not overprint
                     textposition=[("top center", "bottom center")[k % 2] for k in range(len(s.x))],
                     marker={"size": 11 if s.kind == "markers" else 7, "color": color},
                     line={"color": color, "width": 2, "dash": style.dash})
        if s.has_y_interval:
            t["error_y"] = _error_bars(s.y, s.y_low, s.y_high)
        if s.has_x_interval:
            t["error_x"] = _error_bars(s.x, s.x_low, s.x_high)
        traces.append({k: v for k, v in t.items() if v is not None})
    axis = {"gridcolor": "#e5e7eb", "zerolinecolor": "#e5e7eb", "automargin": True}
    xaxis = {**axis, "title": {"text": chart.x_title}}
    yaxis = {**axis, "title": {"text": chart.y_title}}
    if chart.log_x:
        xaxis["type"] = "log"
    if chart.log_y:
        yaxis["type"] = "log"
    elif not chart.categorical_x:
        yaxis["rangemode"] = "tozero"
    if chart.categorical_x:
        xaxis["type"] = "category"
    if any(s.kind == "hbar" for s in chart.series):
        yaxis["type"] = "category"
    if chart.categories:
        category_axis = yaxis if any(s.kind == "hbar" for s in chart.series) else xaxis
        category_axis.update(categoryorder="array", categoryarray=list(chart.categories))
    # The chart's own ranges (its labels were placed for them); plotly wants log10 ends on log axes.
    for ax, rng, is_log in ((xaxis, chart.x_range, chart.log_x), (yaxis, chart.y_range, chart.log_y)):
        if rng is not None:
            ax["range"] = [math.log10(v) for v in rng] if is_log else list(rng)
    shapes, annotations = [], []

    def axis_value(value, is_log):
        return math.log10(value) if is_log else value

    for ref in chart.hlines:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": ref.y, "y1": ref.y,
                       "line": {"color": "#6b7280", "width": 1, "dash": "dot"}})
        if ref.label:
            annotations.append({"xref": "paper", "x": ref.x, "xanchor": ref.anchor, "y": axis_value(ref.y, chart.log_y),
                                "yanchor": ref.yanchor, "text": ref.label, "showarrow": False,
                                "bgcolor": "rgba(255,255,255,0.85)", "borderpad": 1,
                                "font": {"size": LABEL_FONT_PX, "color": "#374151"}})
    for label in chart.point_labels:
        annotations.append({"x": axis_value(label.x, chart.log_x), "y": axis_value(label.y, chart.log_y),
                            "xshift": label.dx, "yshift": label.dy, "xanchor": label.xanchor,
                            "yanchor": label.yanchor, "text": label.text, "showarrow": False, "borderpad": 1,
                            "bgcolor": "rgba(255,255,255,0.75)", "font": {"size": LABEL_FONT_PX, "color": "#374151"}})
    # Long category names are drawn slanted under the axis: the legend then goes above the plot.
    legend = ({"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}}
              if chart.categorical_x else {"orientation": "h", "y": -0.22, "x": 0, "font": {"size": 11}})
    layout = {
        "height": chart.height_px, "margin": {"l": 60, "r": 20, "t": 40 if chart.categorical_x else 10, "b": 50},
        "xaxis": xaxis, "yaxis": yaxis, "barmode": chart.barmode, "shapes": shapes, "annotations": annotations,
        "legend": legend,
        "font": {"family": "Inter, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", "size": 12,
                 "color": "#1f2937"},
        "bargap": 0.3, "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#ffffff", "hoverlabel": {"align": "left"},
        "showlegend": len(chart.series) > 1,
    }
    return _clean({"data": traces, "layout": layout})


# -- what the template shows ----------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnView:
    name: str
    numeric: bool
    badge: str | None  # the provenance all its cells share, shown once in the header


@dataclass(frozen=True)
class CellView:
    text: str
    sort: str  # data-sort: the base-unit value, or the text
    css_class: str
    title: str
    badge: str | None  # None where the column's header carries it


@dataclass(frozen=True)
class TableView:
    id: str
    columns: tuple[ColumnView, ...]
    rows: tuple[tuple[CellView, ...], ...]
    caption: str
    fold: bool
    head: int | None = None  # rows shown before the rest folds (the answer's table); None: all or none


@dataclass(frozen=True)
class StageView:
    number: int
    title: str
    summary: StageSummary | None  # None: absent from the run
    absent: bool  # absent or skipped (greyed in the navigation)
    absent_reason: str = ""
    chart_first: Chart | None = None
    tables: tuple[TableView, ...] = ()
    chart_last: Chart | None = None
    closest: tuple[ClosestModel, ...] = ()
    layer_line: str = ""  # how the stage's per-layer times were collected ("" when it has none)
    layer_chart: Chart | None = None  # projected vs measured per layer
    closest_measured: ClosestMeasured | None = None  # stage 3 of `run --model`


@dataclass(frozen=True)
class RecordLayersView:
    """Per-layer times of a record that no stage shows (``bench --layers``)."""

    title: str
    line: str
    note: str
    tables: tuple[TableView, ...]
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class Headline:
    lead: str = ""  # "" when nothing ran successfully
    objective: str | None = None
    winner: str = ""
    kind: str | None = None  # provenance badge
    metric: str = ""
    uncertainty: str = ""  # how sure the answer is, in words ("" when no figure has an interval)
    empty: str = "No successful measurement in this run."  # shown when there is no winner


def _column_badges(table: Table) -> list[str | None]:
    """A column whose cells all share one provenance shows it once, in the header."""
    out = []
    for i in range(len(table.columns)):
        kinds = {row[i].badge for row in table.rows if row[i].badge}
        out.append(kinds.pop() if len(kinds) == 1 else None)
    return out


def _sort_text(cell: Cell) -> str:
    sort = cell.text if cell.sort is None else cell.sort
    if isinstance(sort, float) and not math.isfinite(sort):
        return ""
    return str(sort)


def table_view(table: Table | None, head: int | None = None) -> TableView | None:
    """What the template shows of ``table``: longer than FOLD_ROWS, it folds away; with ``head``
    (the answer's table), its first ``head`` rows stay in view and only the rows after them fold."""
    if table is None:
        return None
    numeric = table.numeric or (False,) * len(table.columns)
    col_badges = _column_badges(table)
    columns = tuple(ColumnView(c, n, b) for c, n, b in zip(table.columns, numeric, col_badges))
    rows = tuple(tuple(
        CellView(cell.text, _sort_text(cell),
                 " ".join(x for x in ("num" if n else "", f"s-{cell.style}" if cell.style else "") if x),
                 cell.title, None if col_badge else cell.badge)
        for cell, n, col_badge in zip(row, numeric, col_badges)) for row in table.rows)
    folds = len(table.rows) > (head if head is not None else FOLD_ROWS)
    return TableView(table.id, columns, rows, table.caption, folds, head if head is not None and folds else None)


def _headline(data: ReportData) -> Headline:
    s = data.summary
    top = next((e for e in s.ranking if e.rank is not None), None) if s is not None else None
    if s is not None and s.ranking and top is None and s.excluded:
        return Headline(empty=f"No configuration meets the constraints ({fmt_constraints(s.constraints)}): "
                              "every one is listed below with the reason.")
    if s is not None and top is not None:
        # "Best for the lowest latency on yolov3 at 1mp, batch 1: <winner> 12.3 ms": what it answers, in words.
        objective = (f"the {METRIC_WORDS.get(top.metric or '', s.objective)} on "
                     f"{fmt_workload(top.model, top.resolution, top.batch)}")
        value_text = (fmt_metric(top.metric, top.value, top.value_low, top.value_high)
                      if isinstance(top.value, (int, float)) else "")
        return Headline("Best for", objective, top.label or top.device, top.provenance, value_text,
                        answer_in_words(s.ranking))
    ok = list(data.ok_records)
    if ok:
        best = min(ok, key=lambda r: r.stats.p50_ns / r.inferences_per_query)
        winner = (f"{best.config.model} · {best.precision_executed or best.config.precision} · "
                  f"{best.runtime} · batch {best.config.batch}")
        return Headline("Fastest measured configuration:", None, winner, "measured",
                        f"{fmt_time(best.stats.p50_ns / 1e9)} p50")
    return Headline()


def _constraints_text(summary) -> str:
    """The answer's constraints and what they left out, in words ("" when the run had none)."""
    if summary is None:
        return ""
    return constraints_line(summary.constraints, len(summary.excluded), len(summary.ranking))


def _peaks_table(stage: StageSummary) -> Table | None:
    peaks = stage.peak_data.peaks if stage.peak_data is not None else ()
    if not peaks:
        return None
    rows = tuple((Cell(p.name or p.device), Cell(p.kind), Cell(p.precision),
                  Cell(fmt_plain(p.peak_ops_per_s / 1e12 if p.peak_ops_per_s else None), p.peak_ops_per_s,
                       PEAK_PROVENANCE[p.source]),
                  Cell(fmt_plain(p.peak_ops_per_s / 2e9 if p.peak_ops_per_s else None), p.peak_ops_per_s))
                 for p in peaks)
    return Table("peaks", "Peaks", ("device", "kind", "precision", "peak TOPS", "peak GMAC/s"), rows,
                 (False, False, False, True, True))


def _activation_table(data: ReportData, n: int, stage: StageSummary) -> Table | None:
    stage_data = stage.measured_data
    if stage_data is None or not stage_data.activations:
        return None
    sram = sorted((s for s in (stage_data.sram or data.catalog_sram) if s.onchip_sram_bytes),
                  key=lambda s: s.onchip_sram_bytes)
    rows = []
    for a in stage_data.activations:
        peak = a.peak_live_activation_bytes
        fits = [s.name or s.device for s in sram if peak and peak <= s.onchip_sram_bytes]
        rows.append((Cell(str(a.resolution)), Cell(a.precision or ""), Cell(fmt_bytes(peak), peak, "derived"),
                     Cell(fmt_bytes(a.largest_activation_bytes), a.largest_activation_bytes, "derived"),
                     Cell(", ".join(fits) if fits else "none of the catalog's devices", style="good" if fits else "bad")))
    return Table(f"stage{n}-act", "Activations", ("input", "precision", "peak live activations", "largest activation",
                                                  "fits on-chip on"), tuple(rows), (False, False, True, True, False))


def _stage_view(data: ReportData, n: int, charts: dict[str, Chart]) -> StageView:
    st = data.stage(n)
    title = STAGE_TITLES[n]
    absent = n in data.absent_stages
    if st is None:
        if data.summary is None:
            why = "this run has no four-stage summary (records from `accelbench bench`); run `accelbench run` for it"
        elif data.summary.interrupted:
            why = "the run was interrupted before this stage finished"
        else:
            why = "the run did not record this stage"
        return StageView(n, title, None, absent, absent_reason=why)
    if st.skipped:
        return StageView(n, title, st, absent)
    if n == 1:
        return StageView(n, title, st, absent, chart_first=charts.get("peak_tops"),
                         tables=tuple(v for v in (table_view(_peaks_table(st)),) if v))
    stage_data = st.measured_data
    recs = [r for r in (data.record(rid) for rid in st.record_ids) if r is not None]
    if not recs and stage_data is not None:
        recs = [r for r in data.records if r.config.model == stage_data.model]
    measurement = stage_data.layer_measurement if stage_data is not None else None
    layer_record = data.record(measurement.record_id) if measurement is not None else None
    tables = (table_view(records_table(recs, "Configurations", f"stage{n}-records")) if recs else None,
              table_view(_activation_table(data, n, st)),
              table_view(layer_kinds_table(measurement, f"stage{n}-layer-kinds")))
    return StageView(n, title, st, absent, tables=tuple(t for t in tables if t),
                     chart_last=charts.get(f"layers_stage{n}"),
                     closest=(stage_data.closest or ()) if stage_data is not None else (),
                     layer_line=layer_times_summary(layer_record) if layer_record is not None else "",
                     layer_chart=charts.get(f"layer_errors_stage{n}"),
                     closest_measured=stage_data.closest_measured if stage_data is not None else None)


def shown_by_stages(data: ReportData) -> set[str]:
    """Record ids whose per-layer times a stage of the summary shows."""
    shown = set()
    for n in STAGE_TITLES:
        st = data.stage(n)
        measurement = st.measured_data.layer_measurement if st is not None and st.measured_data else None
        if measurement is not None:
            shown.add(measurement.record_id)
    return shown


def record_layer_views(data: ReportData, limit: int = 12) -> list[RecordLayersView]:
    """A view per ok record with per-layer times that no stage shows, its projection made here from
    the record's model (built weightless); without one (a model file that moved) the measured times
    alone, with the reason."""
    views = []
    shown = shown_by_stages(data)
    for rec in data.ok_records:
        if rec.layer_times is None or rec.record_id in shown:
            continue
        key = f"record-{rec.record_id[:8]}"
        rows, note = slowest_layers_of(rec, limit)
        measurement = None
        if not note:
            try:
                measurement = layer_measurement(rec, record_profile(rec))
            except UserError as exc:
                note = str(exc)
        charts = (slowest_layers_chart(rows, f"layers_{key}", rec.config.model) if rows else None,
                  layer_error_chart(measurement, f"layer_errors_{key}"))
        tables = (table_view(layer_times_table(rows, f"Slowest {len(rows)} layers", f"{key}-layers")),
                  table_view(layer_kinds_table(measurement, f"{key}-layer-kinds")))
        label = measurement.label if measurement is not None else rec.config.model
        views.append(RecordLayersView(f"{label} (record {rec.record_id[:8]})", layer_times_summary(rec), note,
                                      tuple(t for t in tables if t), tuple(c for c in charts if c)))
    return views


ACROSS_CHARTS = ("latency_vs_resolution", "throughput_vs_resolution", "mac_utilization", "activation_vs_sram",
                 "pareto", "precision")
NOT_SHOWN = (("latency_vs_resolution", "latency/throughput vs input size (no image records)"),
             ("mac_utilization", "MAC utilization (no MAC count or peak in the records)"),
             ("activation_vs_sram", "activation memory vs SRAM (needs a four-stage summary)"),
             ("pareto", "Pareto (no configuration with both power and price)"),
             ("precision", "precision comparison (one precision only)"))


# -- rendering ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _environment():
    """The Jinja2 environment (autoescaping on) with the report's filters and globals."""
    try:
        import jinja2
        from markupsafe import Markup
    except ImportError:
        raise UserError(f"report: the HTML report needs jinja2; {REPORT_EXTRA_HINT}") from None
    env = jinja2.Environment(loader=jinja2.PackageLoader("accelbench.report", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["script_json"] = lambda data: Markup(_json_for_script(data))
    env.globals.update(badge_help=BADGE_HELP, badge_text=BADGE_TEXT, fmt_plain=fmt_plain, fmt_time=fmt_time)
    return env


def _assets() -> dict:
    """The style sheet and scripts shipped in report/assets, trusted and inlined as they are."""
    from markupsafe import Markup

    folder = resources.files("accelbench.report") / "assets"
    return {key: Markup((folder / name).read_text(encoding="utf-8")) for key, name in ASSETS.items()}


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise UserError(f"report: the HTML report needs plotly; {REPORT_EXTRA_HINT}") from None
    return get_plotlyjs()


def build_report_html(data: ReportData, *, plotly_js: str | None = None) -> str:
    """The whole report as one HTML string (plotly.js inlined)."""
    from markupsafe import Markup

    env = _environment()
    charts = all_charts(data)
    layer_views = record_layer_views(data)
    stages = [_stage_view(data, n, charts) for n in STAGE_TITLES]
    across = [charts[k] for k in ACROSS_CHARTS if k in charts]
    # Only the charts the page places (the page counts them to know when every one has rendered).
    ranking_chart = charts.get("ranking")
    placed = [ranking_chart] if ranking_chart is not None else []
    placed += [c for s in stages for c in (s.chart_first, s.chart_last, s.layer_chart) if c is not None]
    placed += across + [c for view in layer_views for c in view.charts]
    figures = {c.id: plotly_figure(c) for c in placed}
    js = _plotly_js() if plotly_js is None else plotly_js
    stamps = sorted(r.timestamp for r in data.records)
    return env.get_template(TEMPLATE).render(
        run_id=data.run_id, db_path=data.db_path, summary=data.summary, record_count=len(data.records),
        first_measured=stamps[0] if stamps else None,
        assets=_assets(), plotly_js=Markup(js.replace("</script", "<\\/script")),
        headline=_headline(data),
        ranking=table_view(ranking_table(data.summary) or fallback_ranking_table(data.records), head=ANSWER_ROWS),
        constraints=_constraints_text(data.summary),
        ranking_chart=ranking_chart,
        absent_titles=[STAGE_TITLES[n] for n in data.absent_stages],
        stages=stages,
        across=across,
        precision=table_view(precision_table(precision_groups(data))),
        not_shown=[name for key, name in NOT_SHOWN if key not in charts],
        records=table_view(records_table(data.records)) if data.records else None,
        unstable=[r for r in data.ok_records if r.stability and r.stability.warnings],
        failed=[r for r in data.records if not r.ok],
        projections=table_view(projections_table(data.summary)),
        environment=table_view(environment_table(data.records)),
        layer_views=layer_views,
        figures=figures,
    )


def write_report(db_path: str, run_id: str | None = None, out_path: str | Path = "report.html") -> tuple[Path, ReportData]:
    """Render the report of ``run_id`` (default: the newest run) to ``out_path``; returns (path, data)."""
    out = Path(out_path)
    if not out.parent.exists():
        raise UserError(f"output: folder {str(out.parent)!r} does not exist; give -o a path in an existing folder")
    data = load_report_data(db_path, run_id)
    write_atomically(out, build_report_html(data))
    return out, data
