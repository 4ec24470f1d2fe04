"""Charts a person can read: no two series look alike, the peak-TOPS chart has one colour per
precision, the Pareto chart's labels and the on-chip-SRAM lines' labels never overprint nor leave
the plot, the legend is not clipped, and the answer's own table shows its top rows. Checked on the
figure data and, in a headless Chromium at 1400 px wide, on what the browser actually drew."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from accelbench.hardware.catalog import load_catalog
from accelbench.report.charts import (
    LABEL_HEIGHT_PX, LABEL_PLOT_WIDTH_PX, PARETO_HEIGHT_PX, PARETO_PLOT_MARGIN_PX, PRECISION_COLORS,
    SRAM_PLOT_MARGIN_PX, _box, _common_suffix, _to_px, all_charts, label_width_px, place_labels, series_styles,
)
from accelbench.report.data import load_report_data
from accelbench.report.html import ANSWER_ROWS, build_report_html, plotly_figure
from accelbench.results.store import open_store
from accelbench.results.summary import PeakFigure, PeakStageData, RankEntry, SramFigure
from test_report_data import build_run

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]
WIDTH = 1400


def dense_run(db: str) -> None:
    """A run with what makes charts crowded: every catalog device projected (Pareto points, SRAM
    lines, 20+ ranking rows) and this host's peaks at four precisions beside the catalog's."""
    build_run(db)
    catalog = load_catalog()
    with open_store(db) as store:
        summary = store.load_summary(store.run_ids()[-1])
    ranking = []
    for spec in catalog.values():
        ops = spec.peak_ops_per_s.get("int8") or max(spec.peak_ops_per_s.values())
        throughput = (ops / 1e12) ** 0.8 * 40.0
        ranking.append(RankEntry(label=f"{spec.name} (int8) @ 1mp", kind="projected", device=spec.id, model="yolov3",
                                 resolution="1mp", batch=1, precision="int8", latency_s=1 / throughput,
                                 throughput_per_s=throughput,
                                 per_w=throughput / spec.tdp_w if spec.tdp_w else None,
                                 per_usd=throughput / spec.price_usd if spec.price_usd else None,
                                 metric="latency_s", value=1 / throughput))
    ranking.sort(key=lambda e: e.value)
    ranking = [replace(e, rank=i) for i, e in enumerate(ranking, 1)]
    sram = tuple(SramFigure(device=s.id, name=s.name, onchip_sram_bytes=s.onchip_sram_bytes)
                 for s in catalog.values() if s.onchip_sram_bytes)
    host = tuple(PeakFigure(device="host", name="Intel Xeon test host", kind="CPU", precision=p,
                            peak_ops_per_s=ops, source=source)
                 for p, ops in (("fp32", 5e11), ("bf16", 1e12), ("int8", 2e12), ("int16", 1e12))
                 for source in ("theoretical", "measured"))
    stages = []
    for st in summary.stages:
        if st.stage == 1:
            st = replace(st, data=PeakStageData(peaks=host))
        elif st.measured_data is not None:
            st = replace(st, data=replace(st.measured_data, sram=sram))
        stages.append(st)
    with open_store(db) as store:
        store.save_summary(replace(summary, ranking=tuple(ranking), stages=tuple(stages)))


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("dense") / "dense.db")
    dense_run(db)
    return db, load_report_data(db)


def test_no_two_series_of_a_chart_look_alike(dense):
    _, data = dense
    charts = all_charts(data)
    assert {"peak_tops", "pareto", "activation_vs_sram", "ranking"} <= set(charts)
    for chart in charts.values():
        styles = series_styles(chart)
        assert len(set(styles)) == len(styles), chart.id
        figure = plotly_figure(chart)
        drawn = [(t["marker"]["color"], json.dumps(t["marker"].get("pattern")), t.get("line", {}).get("dash"))
                 for t in figure["data"]]
        assert len(set(drawn)) == len(drawn), chart.id
    many = replace(charts["latency_vs_resolution"], series=charts["latency_vs_resolution"].series * 8)
    assert len(set(series_styles(many))) == len(many.series)  # past the palette: the colours come round dashed


def test_peak_tops_has_one_colour_per_precision_with_this_host_first(dense):
    _, data = dense
    chart = all_charts(data)["peak_tops"]
    assert [s.name for s in chart.series] == ["FP32", "BF16", "FP16", "INT16", "INT8"]
    assert [style.color for style in series_styles(chart)] == [PRECISION_COLORS[s.name] for s in chart.series]
    assert chart.categories[:2] == ("Intel Xeon test host (theoretical)", "Intel Xeon test host (measured)")
    assert {"derived", "measured", "datasheet"} <= set(chart.provenances)
    int8 = next(s for s in chart.series if s.name == "INT8")
    assert int8.point_provenance[:2] == ("derived", "measured") and int8.point_provenance[-1] == "datasheet"
    assert "(datasheet)" in int8.text[-1] and "(measured GEMM)" in int8.text[1]
    assert not int8.labels  # 60+ bars: figures in the hover, not printed over each other


def _label_boxes(chart):
    width, height = LABEL_PLOT_WIDTH_PX, PARETO_HEIGHT_PX - PARETO_PLOT_MARGIN_PX
    boxes = []
    for label in chart.point_labels:
        px = _to_px(label.x, *chart.x_range, chart.log_x, width)
        py = _to_px(label.y, *chart.y_range, chart.log_y, height)
        boxes.append(_box(px, py, (label.dx, label.dy, label.xanchor, label.yanchor), label_width_px(label.text)))
    return boxes, width, height


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_pareto_labels_never_overprint_nor_leave_the_plot(dense):
    _, data = dense
    chart = all_charts(data)["pareto"]
    boxes, width, height = _label_boxes(chart)
    assert len(boxes) >= 5
    assert not [pair for pair in itertools.combinations(boxes, 2) if _overlap(*pair)]
    assert all(0 <= b[0] and b[2] <= width and 0 <= b[1] and b[3] <= height for b in boxes)
    # a size every point shares is said once in the caption, not on each label
    assert _common_suffix(["T4 (int8) @ 1mp", "L4 (int8) @ 1mp"]) == " @ 1mp"
    assert _common_suffix(["T4 (int8) @ 1mp", "host · resnet50"]) == ""
    unlabeled = sum(len(s.x) for s in chart.series if s.name != "Pareto front") - len(boxes)
    if unlabeled:
        assert f"{unlabeled} crowded point(s) are named in their hover text only" in chart.caption


def test_place_labels_on_a_crowd():
    points = [(10 ** (i / 7), 10 ** ((i * 3 % 11) / 9), f"device number {i}") for i in range(40)]
    placed = place_labels(points, x_range=(0.5, 500), y_range=(0.5, 50), log_x=True, log_y=True, width_px=430,
                          height_px=300)
    boxes = [_box(_to_px(p.x, 0.5, 500, True, 430), _to_px(p.y, 0.5, 50, True, 300),
                  (p.dx, p.dy, p.xanchor, p.yanchor), label_width_px(p.text)) for p in placed if p]
    assert boxes and not [pair for pair in itertools.combinations(boxes, 2) if _overlap(*pair)]
    assert placed[0] is not None  # the first asked gets its place


def test_sram_lines_share_labels_that_never_overprint(dense):
    _, data = dense
    chart = all_charts(data)["activation_vs_sram"]
    height = chart.height_px - SRAM_PLOT_MARGIN_PX
    boxes = []
    for ref in chart.hlines:
        if not ref.label:
            continue
        width = label_width_px(ref.label)
        left = ref.x * LABEL_PLOT_WIDTH_PX - {"left": 0, "center": width / 2, "right": width}[ref.anchor]
        py = _to_px(ref.y, *chart.y_range, True, height)
        bottom = py if ref.yanchor == "bottom" else py - LABEL_HEIGHT_PX
        boxes.append((left, bottom, left + width, bottom + LABEL_HEIGHT_PX))
    assert len(boxes) >= 6 and not [pair for pair in itertools.combinations(boxes, 2) if _overlap(*pair)]
    # devices with the same on-chip memory share one line: the A100s, the H100s ...
    values = [round(ref.y, 3) for ref in chart.hlines]
    assert len(values) == len(set(values))
    assert "NVIDIA A100 SXM4 80GB, NVIDIA A100 PCIe 80GB" in chart.caption


def test_the_answers_table_shows_its_top_rows(dense):
    db, data = dense
    page = build_report_html(data, plotly_js="")
    table = re.search(r'<table class="sortable" id="t-ranking" data-head="(\d+)">(.*?)</table>', page, re.S)
    assert table and int(table.group(1)) == ANSWER_ROWS
    rows = re.findall(r"<tr( class=\"more\")?>", table.group(2).split("<tbody>")[1])
    assert len(rows) == 20 and sum(1 for r in rows if r) == 20 - ANSWER_ROWS
    assert "show all 20 rows" in page and "show the top 10 only" in page


PROBE = """<script>window.addEventListener('load', function(){ setTimeout(function(){
  var out = {charts: {}, visibleRanking: 0};
  document.querySelectorAll('.plot').forEach(function(el){
    var svg = el.querySelector('svg.main-svg'); if (!svg) return;
    var r = function(n){ var b = n.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
    var legend = el.querySelector('g.legend');
    out.charts[el.id] = {svg: r(svg), legend: legend ? r(legend) : null,
      annotations: Array.prototype.map.call(el.querySelectorAll('g.annotation-text-g'), r)};
  });
  document.querySelectorAll('#t-ranking tbody tr').forEach(function(tr){
    if (getComputedStyle(tr).display !== 'none') out.visibleRanking += 1; });
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300); });</script></body>"""


def _chromium(args, cwd):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={cwd / 'profile'}",
         "--hide-scrollbars", "--virtual-time-budget=15000", *args],
        capture_output=True, text=True, timeout=180, cwd=cwd)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium (Debian's chromium package)")
def test_what_the_browser_draws_at_1400_px(dense, tmp_path, capsys):
    _, data = dense
    page = build_report_html(data)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE))
    dom = _chromium([f"--window-size={WIDTH},4000", "--dump-dom", probe.as_uri()], tmp_path).stdout
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1))
    charts = found["charts"]
    assert {"chart-pareto", "chart-activation_vs_sram", "chart-peak_tops"} <= set(charts)
    for chart_id, drawn in charts.items():
        left, top, right, bottom = drawn["svg"]
        inside = lambda box: box[0] >= left - 1 and box[2] <= right + 1 and box[1] >= top - 1 and box[3] <= bottom + 1
        if drawn["legend"]:
            assert inside(drawn["legend"]), f"{chart_id}: legend clipped"
        boxes = drawn["annotations"]
        assert all(inside(b) for b in boxes), f"{chart_id}: a label leaves the chart"
        shrunk = [(b[0] + 1, b[1] + 1, b[2] - 1, b[3] - 1) for b in boxes]  # touching edges are not overprint
        clashes = [pair for pair in itertools.combinations(shrunk, 2) if _overlap(*pair)]
        assert not clashes, f"{chart_id}: labels overprint: {clashes}"
    assert len(charts["chart-pareto"]["annotations"]) >= 5 and len(charts["chart-activation_vs_sram"]["annotations"]) >= 6
    assert found["visibleRanking"] == ANSWER_ROWS
    shot, plain = tmp_path / "charts-1400.png", tmp_path / "report.html"
    plain.write_text(page)
    _chromium([f"--window-size={WIDTH},7000", f"--screenshot={shot}", plain.as_uri()], tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    artifact = REPO / "accelbench-out" / "charts-1400-screenshot.png"
    artifact.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, artifact)
    with capsys.disabled():
        print(f"\ncharts at {WIDTH} px: {artifact}")
