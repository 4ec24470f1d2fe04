"""The report's per-layer views: measured slowest layers with the projected time beside them, the
projected-vs-measured chart per op kind, the per-kind error table; for `bench --layers` records
without a four-stage summary too, also when the measured model file has gone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import onnx
import pytest

from accelbench.models.loader import load_model
from accelbench.report.charts import layer_error_chart, slowest_layers_chart
from accelbench.report.data import load_report_data
from accelbench.report.html import build_report_html, record_layer_views
from accelbench.results.records import BenchConfig
from accelbench.results.store import open_store
from accelbench.results.summary import LayerKindError, LayerMeasurement, LayerPoint, LayerTime

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def layers_db(tmp_path_factory):
    from accelbench.measure.runner import run_config

    tmp = tmp_path_factory.mktemp("layers")
    model_file = tmp / "tiny_resnet.onnx"
    onnx.save(load_model("resnet18", resolution="32").proto, model_file)
    db = tmp / "layers.db"
    zoo = run_config(BenchConfig(model="resnet18", resolution="32", time_limit_s=0.2, threads=1), run_id="run-a",
                     isolate=False, layer_runs=2)
    gone = run_config(BenchConfig(model=str(model_file), source="file", time_limit_s=0.2, threads=1), run_id="run-a",
                      isolate=False, layer_runs=2)
    with open_store(db) as store:
        store.save(zoo)
        store.save(gone)
    model_file.unlink()  # the report can no longer profile it: measured times alone
    return str(db), zoo, gone


def test_slowest_layers_chart_puts_the_projection_beside_measured_bars():
    rows = [LayerTime(name="a", op="Conv", macs=10, time_s=2e-3, time_source="measured", bound="compute",
                      projected_s=1e-3, family="conv"),
            LayerTime(name="b", op="MaxPool", time_s=1e-3, time_source="measured", projected_s=None)]
    chart = slowest_layers_chart(rows, "layers_x", "m")
    bars, markers = chart.series
    assert (bars.kind, markers.kind) == ("hbar", "markers") and chart.provenances == ("measured", "projected")
    assert bars.y == ("b (MaxPool)", "a (Conv)") and bars.x == (1.0, 2.0)  # ms, slowest on top
    assert markers.y == ("a (Conv)",) and markers.x == (1.0,)  # only where a projection exists
    only_projected = slowest_layers_chart([LayerTime(name="a", op="Conv", time_s=1e-3, time_source="projected:host")],
                                          "p", "m")
    assert [s.kind for s in only_projected.series] == ["hbar"] and only_projected.provenances == ("projected",)


def test_layer_error_chart_has_one_series_per_kind_and_the_diagonal():
    measurement = LayerMeasurement(record_id="r", label="m", device="host", profiler="p", runs=1,
                                   kinds=(LayerKindError(kind="conv", layers=2, measured_s=3e-3, projected_s=2e-3),),
                                   points=(LayerPoint(name="a", kind="conv", measured_s=2e-3, projected_s=1e-3),
                                           LayerPoint(name="b", kind="conv", measured_s=1e-3, projected_s=1e-3),
                                           LayerPoint(name="p", kind="other", measured_s=1e-4, projected_s=4e-4)))
    chart = layer_error_chart(measurement, "errors")
    assert [s.name for s in chart.series] == ["conv", "other", "projection = measurement"]
    assert chart.log_x and chart.log_y and chart.series[0].x == (2.0, 1.0) and chart.series[0].y == (1.0, 1.0)
    assert chart.series[-1].x == chart.series[-1].y == (0.1, 2.0) and chart.series[-1].dash
    assert "-50%" in chart.series[0].text[0] and "+300%" in chart.series[1].text[0]
    assert layer_error_chart(None, "none") is None


def test_bench_records_with_layers_get_their_own_section(layers_db):
    db, zoo, gone = layers_db
    data = load_report_data(db)
    views = record_layer_views(data)
    assert [v.title.endswith(f"(record {r.record_id[:8]})") for v, r in zip(views, (zoo, gone))] == [True, True]
    full, alone = views
    assert [c.id for c in full.charts] == [f"layers_record-{zoo.record_id[:8]}", f"layer_errors_record-{zoo.record_id[:8]}"]
    assert len(full.tables) == 2 and not full.note
    # the file is gone: measured times alone, and why
    assert [c.id for c in alone.charts] == [f"layers_record-{gone.record_id[:8]}"] and len(alone.tables) == 1
    assert alone.note.startswith("no projection beside them: ") and "nor an existing file" in alone.note
    page = build_report_html(data, plotly_js="/* plotly stub */")
    assert 'id="layers"' in page and "Per-layer times" in page and "Projection error per op kind on host" in page
    assert "onnxruntime session profiling" in page and "never used for latency" in page
    figures = re.search(r'id="ab-figures">(.*?)</script>', page, re.S).group(1)
    assert f"layer_errors_record-{zoo.record_id[:8]}" in figures
    assert page.count('data-chart="') == int(re.search(r'data-charts-expected="(\d+)"', page).group(1))


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium; .ci/run installs it")
def test_layer_section_renders_in_chromium(layers_db, tmp_path):
    db, _, _ = layers_db
    out = tmp_path / "layers.html"
    out.write_text(build_report_html(load_report_data(db)), encoding="utf-8")
    dump = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
         "--hide-scrollbars", "--virtual-time-budget=10000", "--dump-dom", out.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = dump.stdout
    expected = int(re.search(r'data-charts-expected="(\d+)"', dom).group(1))
    assert expected >= 6  # latency, throughput, MAC utilization + three layer charts
    assert re.search(r'data-charts-rendered="(\d+)"', dom).group(1) == str(expected)
    assert 'data-errors="0"' in dom
