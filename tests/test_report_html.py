"""The HTML report: content, escaping, a run without a summary, PNG export, the CLI, and the report
opened in a real headless Chromium (plots rendered, no console errors, `<script>` shown as text)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from accelbench.report.charts import all_charts, pareto_front, pareto_points
from accelbench.report.data import load_report_data
from accelbench.report.html import build_report_html
from cli_helpers import cli_exit_code
from test_report_data import EVIL, build_run

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("report") / "results.db")
    recs = build_run(db)
    return db, recs


def _cli(argv):
    return cli_exit_code(argv)


def test_report_content_and_escaping(run_db):
    db, recs = run_db
    data = load_report_data(db)
    page = build_report_html(data, plotly_js="/* plotly stub */")
    # The four stages in order, each with its lesson.
    positions = [page.index(f'id="stage-{n}"') for n in (1, 2, 3, 4)]
    assert positions == sorted(positions)
    assert "224x224 batch 32: 53 img/s" in page and "YOLOv3 at 1 MP achieved 51 GMAC/s (19 %)" in page
    # User text is escaped everywhere, also inside the chart JSON.
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "alert(1)</script" not in page
    # Provenance badges and environment.
    for kind in ("measured", "derived", "estimated", "projected", "datasheet"):
        assert f'class="badge b-{kind}"' in page
    assert "Intel(R) Xeon(R) Platinum 8480+" in page and "onnxruntime 1.20.1" in page
    # Hand-derived figures: ResNet-50 224 batch 1 median 37 ms -> 27.0 inferences/s; bf16 speed-up 37/17 = 2.18x.
    assert ">27.0<" in page and "2.18x" in page
    # Unstable YOLOv3 record (CV ~20 %) gets a stability warning.
    assert "latencies spread widely" in page


def test_charts_have_the_numbers(run_db):
    db, recs = run_db
    data = load_report_data(db)
    charts = all_charts(data)
    assert {"peak_tops", "latency_vs_resolution", "throughput_vs_resolution", "mac_utilization",
            "activation_vs_sram", "pareto", "precision", "layers_stage2", "layers_stage3"} <= set(charts)
    util = charts["mac_utilization"]
    r50_b1 = next(s for s in util.series if s.name == "resnet50 · fp32 · onnxruntime · batch 1")
    # 4.089 GMAC x (1/mean latency ~0.037 s) / 269 GMAC/s peak ~ 41 %
    assert r50_b1.y[0] == pytest.approx(4.089184256e9 / 0.037 / 269e9 * 100, rel=0.02)
    act = charts["activation_vs_sram"]
    assert act.series[0].y[1] == pytest.approx(265420800 / 2**20)  # 253.1 MiB at 2 MP
    assert [round(h.y) for h in act.hlines] == [4, 50]
    points, missing = pareto_points(data)
    assert {p.kind for p in points} == {"measured", "projected"}
    front = pareto_front(points)
    # H100 (114/W, 2.67/$) and T4 (85.7/W, 3.0/$) trade off; the host (0.98/W, 0.029/$) is dominated.
    assert [p.label for p in front] == ["NVIDIA T4 · resnet50 · int8", "NVIDIA H100 SXM · resnet50 · int8"]


def test_report_without_summary(tmp_path):
    db = str(tmp_path / "bench.db")
    build_run(db, run_id="bench-only", with_summary=False)
    data = load_report_data(db)
    assert data.summary is None and data.absent_stages == (1, 2, 3, 4)
    page = build_report_html(data, plotly_js="")
    assert page.count('class="card stage absent"') == 4
    assert "this run has no four-stage summary" in page
    assert "Fastest measured configuration" in page
    assert 'id="chart-latency_vs_resolution"' in page and 'id="chart-activation_vs_sram"' not in page


def test_record_with_missing_optional_fields(tmp_path):
    """No pixels, MACs, peak, power or run_info: the report still renders and says what is missing."""
    from accelbench.results.records import BenchConfig, BenchRecord, PowerRecord
    from accelbench.results.store import open_store

    db = str(tmp_path / "bare.db")
    rec = BenchRecord(config=BenchConfig(model="bert-base"), run_id="bare", latency_ns=(1000, 2000, 3000),
                      power=PowerRecord(None, "unavailable"))
    failed = BenchRecord.failed(BenchConfig(model="yolov3", precision="int8"), "bare", "out of memory", "oom")
    with open_store(db) as store:
        store.save(rec)
        store.save(failed)
    page = build_report_html(load_report_data(db), plotly_js="")
    assert "Failed configurations" in page and "out of memory" in page
    assert "Not shown:" in page


def test_cli_report_png_and_errors(run_db, tmp_path):
    db, _ = run_db
    out = tmp_path / "r.html"
    assert _cli(["report", "--db", db, "-o", str(out), "--png", str(tmp_path / "png")]) == 0
    assert out.stat().st_size > 1_000_000  # plotly.js inlined: no network needed
    pngs = sorted(p.name for p in (tmp_path / "png").iterdir())
    for name in ("peak_tops.png", "latency_vs_resolution.png", "mac_utilization.png", "activation_vs_sram.png",
                 "pareto.png"):
        assert name in pngs
        assert (tmp_path / "png" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = subprocess.run([sys.executable, "-m", "accelbench", "report", "--db", db, "--run", "nope",
                           "-o", str(tmp_path / "x.html")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: run: 'nope' is not in") and len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "accelbench", "report", "--db", str(tmp_path / "none.db")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_cli_report_json(run_db, tmp_path, capsys):
    import json

    db, _ = run_db
    assert _cli(["report", "--db", db, "-o", str(tmp_path / "j.html"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"] is True and doc["records"] == 6 and doc["absent_stages"] == []
    assert "pareto" in doc["charts"]


def _chromium(args, cwd):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={cwd / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium (Debian's chromium package); "
                    ".ci/run installs it")
def test_report_in_headless_chromium(run_db, tmp_path, capsys):
    db, _ = run_db
    out = tmp_path / "report.html"
    assert _cli(["report", "--db", db, "-o", str(out)]) == 0
    url = out.resolve().as_uri()
    dump = _chromium(["--dump-dom", url], tmp_path)
    dom = dump.stdout
    assert 'data-ready="1"' in dom, dump.stderr[-2000:]
    expected = int(re.search(r'data-charts-expected="(\d+)"', dom).group(1))
    assert expected >= 9
    assert re.search(r'data-charts-rendered="(\d+)"', dom).group(1) == str(expected)
    # plotly draws one .plot-container with .main-svg layers per chart once its JS ran.
    assert dom.count('class="plot-container plotly"') == expected
    assert dom.count('class="main-svg"') >= expected
    assert 'data-errors="0"' in dom
    console = [line for line in dump.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    # The model named <script>alert(1)</script> is text (escaped in the DOM dump), never an element;
    # also inside the plotly legend.
    assert "<script>alert(1)" not in dom
    assert dom.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert re.search(r'class="legendtext"[^>]*>&lt;script&gt;alert\(1\)&lt;/script&gt; · fp32', dom)

    shot = tmp_path / "report-screenshot.png"
    _chromium([f"--screenshot={shot}", "--window-size=1400,6400", url], tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    artifact_dir = REPO / "accelbench-out"
    artifact_dir.mkdir(exist_ok=True)
    artifact = artifact_dir / "report-screenshot.png"
    shutil.copyfile(shot, artifact)
    with capsys.disabled():  # shown in CI's log even though the test passes
        print(f"\nreport screenshot: {artifact} (also {shot})")


HOSTILE_LINK = '<a href="https://evil.example/">x</a>'
HOSTILE_BOLD = "<b>bold</b>"


def _strings(value, key=None):
    """Every (key, string) in a plotly figure, at any depth."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)


def test_hostile_names_never_become_markup_in_charts(tmp_path):
    """Plotly renders <a href> and <b> found in labels: node and model names are escaped at every
    depth of the figure (names, hover text, bar labels, axis categories)."""
    from dataclasses import replace

    from accelbench.report.html import plotly_figure
    from accelbench.results.summary import LayerTime

    db = str(tmp_path / "hostile.db")
    build_run(db, model4=HOSTILE_BOLD)
    data = load_report_data(db)
    stage2 = data.stage(2)
    hostile_layers = (LayerTime(name=HOSTILE_LINK, op=HOSTILE_BOLD, macs=10**9, time_s=0.01, time_source="measured"),)
    stages = tuple(replace(s, data=replace(s.data, layers=hostile_layers)) if s is stage2 else s
                   for s in data.summary.stages)
    data = replace(data, summary=replace(data.summary, stages=stages))
    charts = all_charts(data)
    figures = {cid: plotly_figure(c) for cid, c in charts.items()}
    labels = [s for fig in figures.values() for key, s in _strings(fig) if key != "hovertemplate"]
    assert any("&lt;a href=" in s for s in labels) and any("&lt;b&gt;bold" in s for s in labels)
    assert not [s for s in labels if "<a" in s or "<b>" in s]
    page = build_report_html(data, plotly_js="")
    assert HOSTILE_LINK not in page and HOSTILE_BOLD not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page  # the tables show the model's name as text


def test_report_page_ships_as_templates_and_assets():
    from importlib import resources

    package = resources.files("accelbench.report")
    assert (package / "templates" / "report.html.j2").is_file()
    for asset in ("report.css", "report.js", "error-hook.js"):
        text = (package / "assets" / asset).read_text()
        assert "</script" not in text and "</style" not in text  # inlined as they are


def test_report_without_jinja2_names_the_extra(run_db, tmp_path):
    db, _ = run_db
    blocked = ("import sys; sys.modules['jinja2'] = None; from accelbench.cli import main; "
               f"main(['report', '--db', {db!r}, '-o', {str(tmp_path / 'x.html')!r}])")
    proc = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: report: the HTML report needs jinja2; install it with "
                                   "`pip install 'accelbench[report]'`")
    assert not (tmp_path / "x.html").exists()
