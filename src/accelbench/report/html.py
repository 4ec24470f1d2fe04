"""The self-contained HTML report: one file, plotly.js inlined, opens without a network.

Layout: the answer (ranking) first, then the four stages in order (each with its lesson), then the
charts across the run, every measurement, projections and the environments. Every user-supplied
string (model names, paths, notes) goes through ``html.escape`` (and through ``_json_for_script``
inside <script>), so a model called ``<script>alert(1)</script>`` shows as text.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from accelbench.errors import UserError
from accelbench.report.charts import Chart, all_charts, precision_groups
from accelbench.report.data import STAGE_TITLES, ReportData, load_report_data
from accelbench.report.tables import (
    Table, environment_table, fallback_ranking_table, precision_table, projections_table, ranking_table,
    records_table,
)
from accelbench.report.units import fmt_bytes, fmt_plain, fmt_time

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569",
           "#ea580c")
BADGE_TEXT = {"measured": "measured", "derived": "derived", "estimated": "estimated", "projected": "projected",
              "datasheet": "datasheet"}
BADGE_HELP = {
    "measured": "timed on this host",
    "derived": "computed from measured figures and the static profile",
    "estimated": "a model stands in for a missing counter (e.g. power from TDP)",
    "projected": "analytical model of a device not measured here",
    "datasheet": "vendor-published figure from the device catalog",
}

e = html.escape


def _json_for_script(data) -> str:
    """JSON that cannot close its <script> element or start markup (<, >, & as \\u escapes)."""
    text = json.dumps(data, allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _clean(value):
    """NaN/inf -> None (strict JSON); escaped strings for plotly, which reads a few HTML tags and entities."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return e(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def badge(kind: str | None, title: str = "") -> str:
    if not kind:
        return ""
    tip = title or BADGE_HELP.get(kind, "")
    return f'<span class="badge b-{e(kind)}" title="{e(tip)}">{e(BADGE_TEXT.get(kind, kind))}</span>'


def plotly_figure(chart: Chart) -> dict:
    """A plotly.js figure (data, layout, config) for a Chart; every string escaped."""
    traces = []
    for i, s in enumerate(chart.series):
        color = PALETTE[i % len(PALETTE)]
        # hovertext, not text: plotly would print `text` on the bars themselves
        t: dict = {"name": s.name, "hovertext": list(s.text) if s.text else None,
                   "hovertemplate": "%{hovertext}<extra></extra>" if s.text else None}
        if s.labels:
            t.update(text=list(s.labels), textfont={"size": 10, "color": "#374151"})
        if s.kind == "bar":
            t.update(type="bar", x=list(s.x), y=list(s.y), marker={"color": color},
                     textposition="outside" if s.labels else "none", cliponaxis=False)
        elif s.kind == "hbar":
            t.update(type="bar", orientation="h", x=list(s.x), y=list(s.y), marker={"color": color},
                     textposition="auto" if s.labels else "none", insidetextanchor="end",
                     insidetextfont={"color": "#ffffff", "size": 10}, outsidetextfont={"color": "#374151", "size": 10})
        else:
            mode = "markers" if s.kind == "markers" else "lines+markers"
            t.update(type="scatter", x=list(s.x), y=list(s.y), mode=mode + ("+text" if s.labels else ""),
                     # alternate above/below so that labels of close points do not overprint
                     textposition=[("top center", "bottom center")[k % 2] for k in range(len(s.x))],
                     marker={"size": 11 if s.kind == "markers" else 7, "color": color},
                     line={"color": color, "width": 2, "dash": "dash" if s.dash else "solid"})
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
    # Labelled points on log axes: pad the range so that labels at the edges are not clipped.
    for key, ax, is_log in (("x", xaxis, chart.log_x), ("y", yaxis, chart.log_y)):
        vals = [v for s in chart.series if s.labels and s.kind in ("markers", "line")
                for v in (s.x if key == "x" else s.y) if isinstance(v, (int, float)) and v > 0]
        if is_log and vals:
            ax["range"] = [math.log10(min(vals)) - 0.35, math.log10(max(vals)) + 0.35]
    shapes, annotations = [], []
    for j, ref in enumerate(chart.hlines):
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": ref.y, "y1": ref.y,
                       "line": {"color": "#6b7280", "width": 1, "dash": "dot"}})
        annotations.append({"xref": "paper", "x": 0.01, "xanchor": "left", "y": math.log10(ref.y) if chart.log_y
                            else ref.y, "yanchor": "bottom", "text": ref.label, "showarrow": False,
                            "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 10, "color": "#374151"}})
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


def _column_badges(table: Table) -> list[str | None]:
    """A column whose cells all share one provenance shows it once, in the header."""
    out = []
    for i in range(len(table.columns)):
        kinds = {row[i].badge for row in table.rows if row[i].badge}
        out.append(kinds.pop() if len(kinds) == 1 else None)
    return out


def _table_html(table: Table | None, limit_note: str = "") -> str:
    if table is None:
        return ""
    numeric = table.numeric or (False,) * len(table.columns)
    col_badges = _column_badges(table)
    head = "".join(f'<th class="{"num" if n else ""}" title="click to sort">{e(c)}{badge(b)}</th>'
                   for c, n, b in zip(table.columns, numeric, col_badges))
    body = []
    for row in table.rows:
        cells = []
        for cell, n, col_badge in zip(row, numeric, col_badges):
            sort = cell.text if cell.sort is None else cell.sort
            if isinstance(sort, float) and not math.isfinite(sort):
                sort = ""
            cls = " ".join(x for x in ("num" if n else "", f"s-{cell.style}" if cell.style else "") if x)
            title = f' title="{e(cell.title)}"' if cell.title else ""
            cells.append(f'<td class="{cls}" data-sort="{e(str(sort))}"{title}>{e(cell.text)}{"" if col_badge else badge(cell.badge)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f'<p class="caption">{e(table.caption)}{e(limit_note)}</p>' if table.caption or limit_note else ""
    html = (f'<div class="table-wrap"><table class="sortable" id="t-{e(table.id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{caption}')
    if len(table.rows) > FOLD_ROWS:
        # A long reference table (the catalog's peaks) folds away so the stages stay readable.
        html = f'<details class="fold"><summary>show all {len(table.rows)} rows</summary>{html}</details>'
    return html


FOLD_ROWS = 20


def _chart_html(chart: Chart | None) -> str:
    if chart is None:
        return ""
    badges = "".join(badge(p) for p in chart.provenances)
    return (f'<figure class="chart"><figcaption><span class="chart-title">{e(chart.title)}</span>{badges}</figcaption>'
            f'<div class="plot" id="chart-{e(chart.id)}" data-chart="{e(chart.id)}"></div>'
            f'<p class="caption">{e(chart.caption)}</p></figure>')


def _headline(data: ReportData) -> str:
    s = data.summary
    if s is not None and s.ranking:
        top = s.ranking[0]
        metric, value = top.get("metric") or s.objective, top.get("value")
        value_text = ""
        if isinstance(value, (int, float)):
            value_text = fmt_time(value) if "latency" in str(metric) else f"{fmt_plain(value)} {metric}"
        kind = "projected" if top.get("kind") == "projected" else "measured"
        return (f'<div class="answer-line">Best for <b>{e(s.objective)}</b>: <span class="winner">'
                f'{e(str(top.get("label") or top.get("device") or ""))}</span>{badge(kind)}'
                f'{f" <span class=metric>{e(value_text)}</span>" if value_text else ""}</div>')
    ok = [r for r in data.ok_records]
    if ok:
        best = min(ok, key=lambda r: r.stats.p50_ns / r.inferences_per_query)
        return (f'<div class="answer-line">Fastest measured configuration: <span class="winner">'
                f'{e(best.config.model)} · {e(best.precision_executed or best.config.precision)} · '
                f'{e((best.run_info or {}).get("runtime", best.config.backend))} · batch {best.config.batch}</span>'
                f'{badge("measured")} <span class="metric">{e(fmt_time(best.stats.p50_ns / 1e9))} p50</span></div>')
    return '<div class="answer-line">No successful measurement in this run.</div>'


def _stage_html(data: ReportData, n: int, charts: dict) -> str:
    st = data.stage(n)
    title = STAGE_TITLES[n]
    if st is None:
        why = ("this run has no four-stage summary (records from `accelbench bench`); run `accelbench run` for it"
               if data.summary is None else "the run did not record this stage")
        return (f'<section class="card stage absent" id="stage-{n}"><h2><span class="num">{n}</span>{e(title)}'
                f'<span class="pill">absent</span></h2><p class="muted">Absent: {e(why)}.</p></section>')
    parts = [f'<section class="card stage" id="stage-{n}"><h2><span class="num">{n}</span>{e(st.title or title)}'
             + ('<span class="pill">skipped</span>' if st.skipped else "") + "</h2>"]
    if st.lesson:
        parts.append(f'<p class="lesson">{e(st.lesson)}</p>')
    if st.skipped:
        parts.append(f'<p class="muted">Skipped: {e(st.skipped)}</p></section>')
        return "".join(parts)
    d = st.data or {}
    if n == 1:
        parts.append(_chart_html(charts.get("peak_tops")))
        peaks = d.get("peaks") or []
        if peaks:
            rows = []
            kinds = {"measured": "measured", "theoretical": "derived", "catalog": "datasheet"}
            from accelbench.report.tables import Cell
            for p in peaks:
                ops = p.get("peak_ops_per_s")
                rows.append((Cell(str(p.get("name") or p.get("device") or "")), Cell(str(p.get("kind") or "")),
                             Cell(str(p.get("precision") or "")),
                             Cell(fmt_plain(ops / 1e12 if ops else None), ops, kinds.get(p.get("source"), "datasheet")),
                             Cell(fmt_plain(ops / 2e9 if ops else None), ops)))
            parts.append(_table_html(Table("peaks", "Peaks", ("device", "kind", "precision", "peak TOPS", "peak GMAC/s"),
                                           tuple(rows), (False, False, False, True, True))))
    else:
        recs = [r for r in (data.record(rid) for rid in st.record_ids) if r is not None]
        if not recs:
            recs = [r for r in data.records if r.config.model == d.get("model")]
        if recs:
            parts.append(_table_html(records_table(recs, "Configurations", f"stage{n}-records")))
        acts = d.get("activations") or []
        if acts:
            sram = sorted((s for s in (d.get("sram") or data.catalog_sram) if s.get("onchip_sram_bytes")),
                          key=lambda s: s["onchip_sram_bytes"])
            from accelbench.report.tables import Cell
            rows = []
            for a in acts:
                peak = a.get("peak_live_activation_bytes")
                fits = [str(s.get("name") or s.get("device")) for s in sram if peak and peak <= s["onchip_sram_bytes"]]
                rows.append((Cell(str(a.get("resolution"))), Cell(str(a.get("precision") or "")),
                             Cell(fmt_bytes(peak), peak, "derived"),
                             Cell(fmt_bytes(a.get("largest_activation_bytes")), a.get("largest_activation_bytes"), "derived"),
                             Cell(", ".join(fits) if fits else "none of the catalog's devices",
                                  style="good" if fits else "bad")))
            parts.append(_table_html(Table(f"stage{n}-act", "Activations", ("input", "precision", "peak live activations",
                                                                         "largest activation", "fits on-chip on"),
                                           tuple(rows), (False, False, True, True, False))))
        parts.append(_chart_html(charts.get(f"layers_stage{n}")))
        closest = d.get("closest") or []
        if closest:
            items = "".join(f"<li><b>{e(str(c.get('model')))}</b> (distance {e(fmt_plain(c.get('distance')))}):"
                            f" {e(str(c.get('why') or ''))}</li>" for c in closest)
            parts.append(f'<div class="closest"><h3>Closest zoo models</h3><ul>{items}</ul></div>')
    parts.append("</section>")
    return "".join(parts)


CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--accent:#2563eb}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 Inter,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header.top{background:linear-gradient(120deg,#0f172a,#1e3a8a);color:#fff;padding:28px 40px 22px}
header.top h1{margin:0 0 4px;font-size:26px;font-weight:650;letter-spacing:-.01em}
header.top .meta{color:#c7d2fe;font-size:13px}header.top .meta code{color:#e0e7ff}
main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:20px 24px;margin:0 0 20px;
box-shadow:0 1px 2px rgba(0,0,0,.04)}
.answer{border-left:5px solid var(--accent)}.answer-line{font-size:20px;margin:2px 0 14px}
.winner{font-weight:700}.metric{color:#1d4ed8;font-weight:600;margin-left:6px}
h2{font-size:19px;margin:0 0 10px;display:flex;align-items:center;gap:10px}
h2 .num{display:inline-flex;width:28px;height:28px;border-radius:50%;background:var(--accent);color:#fff;
font-size:15px;align-items:center;justify-content:center}
h3{font-size:15px;margin:16px 0 6px}
.lesson{font-size:16px;background:#eff6ff;border-radius:8px;padding:10px 14px;margin:4px 0 14px;color:#1e3a8a}
.lesson:before{content:"Lesson  ";font-weight:700}
.absent{opacity:.75}.muted{color:var(--muted)}
.pill{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;background:#f3f4f6;
color:#6b7280;border-radius:999px;padding:2px 8px}
nav.stages{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 18px}
nav.stages a{text-decoration:none;color:var(--ink);background:#fff;border:1px solid var(--line);border-radius:999px;
padding:4px 12px;font-size:13px}nav.stages a.off{color:#9ca3af;text-decoration:line-through}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:18px}
figure.chart{margin:10px 0 6px;min-width:0}figcaption{display:flex;align-items:center;gap:6px;flex-wrap:wrap}
.chart-title{font-weight:600;font-size:14px;margin-right:4px}
.caption{color:var(--muted);font-size:12px;margin:4px 0 10px}details.fold>summary{cursor:pointer;color:var(--accent);font-size:13px;margin:6px 0}
.badge{display:inline-block;font-size:10px;font-weight:600;text-transform:uppercase;letter-spacing:.03em;
border-radius:4px;padding:1px 5px;margin-left:5px;vertical-align:1px;cursor:help}
.b-measured{background:#dcfce7;color:#166534}.b-derived{background:#dbeafe;color:#1e40af}
.b-estimated{background:#fef3c7;color:#92400e}.b-projected{background:#ede9fe;color:#5b21b6}
.b-datasheet{background:#f3f4f6;color:#374151}
.table-wrap{overflow-x:auto;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th{text-align:left;font-weight:600;color:#374151;border-bottom:2px solid var(--line);padding:6px 8px;
cursor:pointer;white-space:nowrap;user-select:none;background:#fafafa}
th:hover{color:var(--accent)}th[data-dir=asc]:after{content:" ▲"}th[data-dir=desc]:after{content:" ▼"}
td{border-bottom:1px solid #f0f1f3;padding:5px 8px;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:hover td{background:#f9fafb}.s-good{color:#15803d}.s-bad{color:#b91c1c}.s-warn{color:#b45309}
ul.warn{color:#92400e;font-size:12.5px}
#ab-errors{display:none;background:#fee2e2;color:#991b1b;padding:10px 14px;border-radius:8px;margin:0 0 16px}
footer{color:var(--muted);font-size:12px;max-width:1240px;margin:0 auto;padding:0 28px 40px}
footer dl{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0 0 10px}footer dt{margin:0}
footer dd{margin:0 0 0 -12px}
th .badge{display:block;width:fit-content;margin:2px 0 0}th.num .badge{margin-left:auto}
"""

ERROR_HOOK = """
window.__abErrors = [];
function __abReport(msg){ window.__abErrors.push(String(msg));
  var box = document.getElementById('ab-errors');
  if (box) { box.style.display = 'block'; box.textContent = 'Report script error: ' + window.__abErrors.join(' | '); }
  var st = document.getElementById('ab-status'); if (st) st.setAttribute('data-errors', String(window.__abErrors.length)); }
window.addEventListener('error', function(ev){ __abReport(ev.message || 'error'); });
window.addEventListener('unhandledrejection', function(ev){ __abReport('promise: ' + (ev.reason && ev.reason.message || ev.reason)); });
"""

RENDER = """
(function(){
  var figs = JSON.parse(document.getElementById('ab-figures').textContent);
  var st = document.getElementById('ab-status');
  var done = 0;
  if (typeof Plotly === 'undefined') { __abReport('plotly.js did not load'); return; }
  Object.keys(figs).forEach(function(id){
    var el = document.getElementById('chart-' + id);
    if (!el) return;
    try {
      Plotly.newPlot(el, figs[id].data, figs[id].layout, {displaylogo:false, responsive:true,
        displayModeBar:false});
      done += 1;
    } catch (err) { __abReport('chart ' + id + ': ' + err.message); }
  });
  st.setAttribute('data-charts-rendered', String(done));
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th, i){
      th.addEventListener('click', function(){
        var asc = th.getAttribute('data-dir') !== 'asc';
        table.querySelectorAll('th').forEach(function(h){ h.removeAttribute('data-dir'); });
        th.setAttribute('data-dir', asc ? 'asc' : 'desc');
        var tbody = table.tBodies[0], rows = Array.prototype.slice.call(tbody.rows);
        rows.sort(function(a, b){
          var x = a.cells[i].getAttribute('data-sort'), y = b.cells[i].getAttribute('data-sort');
          var nx = parseFloat(x), ny = parseFloat(y), c;
          if (!isNaN(nx) && !isNaN(ny)) c = nx - ny;
          else if (isNaN(nx) !== isNaN(ny)) return isNaN(nx) ? 1 : -1;  // blanks last
          else c = String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function(r){ tbody.appendChild(r); });
      });
    });
  });
  st.setAttribute('data-ready', '1');
})();
"""


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise UserError("report: the HTML report needs plotly; install it with `pip install 'accelbench[report]'`") from None
    return get_plotlyjs().replace("</script", "<\\/script")


def build_report_html(data: ReportData, *, plotly_js: str | None = None) -> str:
    """The whole report as one HTML string (plotly.js inlined)."""
    charts = all_charts(data)
    s = data.summary
    meta = [f"run <code>{e(data.run_id)}</code>"]
    if s is not None:
        meta.append(f"created {e(str(s.created))}")
        if s.duration_s is not None:
            meta.append(f"took {e(fmt_time(s.duration_s))}")
        if s.command:
            meta.append(f"<code>{e(s.command)}</code>")
    else:
        stamps = sorted(r.timestamp for r in data.records)
        if stamps:
            meta.append(f"measured {e(stamps[0])}")
    meta.append(f"{len(data.records)} record(s) from <code>{e(data.db_path)}</code>")

    nav = "".join(
        f'<a href="#stage-{n}" class="{"off" if n in data.absent_stages else ""}">{n} · {e(t)}</a>'
        for n, t in STAGE_TITLES.items())
    ranking = ranking_table(s) or fallback_ranking_table(data.records)
    absent = [STAGE_TITLES[n] for n in data.absent_stages]
    absent_line = (f'<p class="muted">Stages absent from this run: {e(", ".join(absent))}.</p>' if absent else "")
    notes = "".join(f"<li>{e(str(n))}</li>" for n in (s.notes if s else ()))

    body = [f'<div id="ab-errors"></div><section class="card answer"><h2>The answer</h2>{_headline(data)}',
            _table_html(ranking), absent_line, f'<ul class="muted">{notes}</ul>' if notes else "", "</section>",
            f'<nav class="stages">{nav}</nav>']
    for n in STAGE_TITLES:
        body.append(_stage_html(data, n, charts))

    across = [charts.get(k) for k in ("latency_vs_resolution", "throughput_vs_resolution", "mac_utilization",
                                      "activation_vs_sram", "pareto", "precision")]
    across_html = "".join(_chart_html(c) for c in across if c is not None)
    missing = [name for key, name in (("latency_vs_resolution", "latency/throughput vs input size (no image records)"),
                                      ("mac_utilization", "MAC utilization (no MAC count or peak in the records)"),
                                      ("activation_vs_sram", "activation memory vs SRAM (needs a four-stage summary)"),
                                      ("pareto", "Pareto (no configuration with both power and price)"),
                                      ("precision", "precision comparison (one precision only)"))
               if key not in charts]
    body.append(f'<section class="card" id="across"><h2>Across the run</h2><div class="grid">{across_html}</div>'
                + _table_html(precision_table(precision_groups(data)))
                + (f'<p class="muted">Not shown: {e("; ".join(missing))}.</p>' if missing else "") + "</section>")

    warnings = [(r, r.stability) for r in data.ok_records if r.stability and r.stability.warnings]
    warn_html = ("<h3>Stability warnings</h3><ul class='warn'>" + "".join(
        f"<li><code>{e(r.record_id[:8])}</code> {e(r.config.model)}: {e('; '.join(st.warnings))}</li>"
        for r, st in warnings) + "</ul>") if warnings else ""
    failed = [r for r in data.records if not r.ok]
    failed_html = ("<h3>Failed configurations</h3><ul class='warn'>" + "".join(
        f"<li>{e(r.config.model)} {e(r.config.precision)} {e(r.config.backend)}: {e(r.error or '')}</li>"
        for r in failed) + "</ul>") if failed else ""
    body.append(f'<section class="card" id="records"><h2>Every measurement</h2>'
                f'{_table_html(records_table(data.records)) if data.records else "<p class=muted>No records.</p>"}'
                f'{warn_html}{failed_html}</section>')
    proj = projections_table(s)
    if proj is not None:
        body.append(f'<section class="card" id="projections"><h2>Projected devices</h2>{_table_html(proj)}</section>')
    env = environment_table(data.records)
    if env is not None:
        body.append(f'<section class="card" id="environment"><h2>Environment</h2>{_table_html(env)}</section>')

    legend = "".join(f"<dt>{badge(k)}</dt><dd>{e(v)}</dd>" for k, v in BADGE_HELP.items())
    footer = (f"<footer><dl>{legend}</dl><p>Units: latency per query (one batch); throughput in inferences"
              " (images) per second; 1 MAC = one multiply-accumulate; TOPS count 2 ops per MAC; memory in binary"
              " units (1 MiB = 2^20 bytes). Timing on a shared machine is noisy: read the stability column.</p>"
              "<p>Generated by accelbench; this file is self-contained and opens offline.</p></footer>")
    figures = {cid: plotly_figure(c) for cid, c in charts.items()}
    js = _plotly_js() if plotly_js is None else plotly_js
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>accelbench report · {e(data.run_id)}</title><style>{CSS}</style>"
        f"<script>{ERROR_HOOK}</script><script>{js}</script></head><body>"
        f'<header class="top"><h1>Which accelerator for your network?</h1><div class="meta">{" · ".join(meta)}</div>'
        f"</header><main>{''.join(body)}</main>{footer}"
        f'<div id="ab-status" hidden data-charts-expected="{len(figures)}" data-charts-rendered="0" data-errors="0"></div>'
        f'<script type="application/json" id="ab-figures">{_json_for_script(figures)}</script>'
        f"<script>{RENDER}</script></body></html>"
    )


def write_report(db_path: str, run_id: str | None = None, out_path: str | Path = "report.html") -> tuple[Path, ReportData]:
    """Render the report of ``run_id`` (default: the newest run) to ``out_path``; returns (path, data)."""
    out = Path(out_path)
    if not out.parent.exists():
        raise UserError(f"output: folder {str(out.parent)!r} does not exist; give -o a path in an existing folder")
    data = load_report_data(db_path, run_id)
    out.write_text(build_report_html(data), encoding="utf-8")
    return out, data
