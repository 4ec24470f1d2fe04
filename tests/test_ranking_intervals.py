"""Say how sure it is: the ranking orders by the central figure, marks an entry whose interval
overlaps the next one's, puts measured figures above projections of the same device, and the answer
states its uncertainty in words; the summary keeps the intervals; the report draws them as error bars."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from accelbench.job.plan import StageConfig
from accelbench.job.ranking import metric_interval, rank_devices, rank_entries
from accelbench.job.stages import Measured
from accelbench.report.answer import answer_in_words
from accelbench.results.store import open_store
from accelbench.results.summary import (
    BoundShares, ProjectionEntry, RankEntry, RunSummary, StageSummary, intervals_overlap,
)
from test_report_data import make_record

CFG = StageConfig(3, "yolov3", "1mp", 1, "single-stream", "YOLOv3 @ 1mp")


def _projection(device, latency, band, throughput, *, calibrated=False, per_w=None):
    low, high = band
    return ProjectionEntry(device=device, device_name=device.upper(), model="yolov3", precision="int8",
                           scenario="offline", latency_s=latency, latency_s_low=latency * low,
                           latency_s_high=latency * high, throughput_per_s=throughput,
                           throughput_per_s_low=throughput / high, throughput_per_s_high=throughput / low,
                           throughput_per_w=per_w, interval_level=0.8, calibrated=calibrated,
                           provenance="calibrated projection" if calibrated else "projection", resolution="1mp")


@pytest.fixture(scope="module")
def ranked():
    measured = [Measured(CFG, "fp32", make_record("yolov3", "1mp", 921600, 97e9, 0.50, run_id="r", seed=1)),
                Measured(CFG, "int8", make_record("yolov3", "1mp", 921600, 97e9, 0.20, run_id="r",
                                                  precision="int8", seed=2))]
    projections = [_projection("t4", 0.020, (0.8, 1.5), 80.0, per_w=1.0),
                   _projection("l4", 0.025, (0.8, 1.4), 60.0),
                   _projection("a2", 0.100, (0.9, 1.2), 15.0),
                   # this host's calibrated projection looks faster than its own measurements
                   _projection("host", 0.150, (0.7, 1.3), 9.0, calibrated=True)]
    return rank_entries(measured, projections, "latency"), measured, projections


def test_ranking_orders_by_the_central_value_and_marks_overlaps(ranked):
    entries, _, _ = ranked
    assert [(e.device, e.precision, e.rank) for e in entries] == [
        ("t4", "int8", 1), ("l4", "int8", 2), ("a2", "int8", 3), ("host", "int8", 4), ("host", "fp32", 5),
        ("host", "int8", None)]
    t4, l4, a2, host_int8 = entries[:4]
    # T4 16-30 ms and L4 20-35 ms overlap; L4 and A2 (90-120 ms) do not; nor A2 and the host (~200 ms)
    assert t4.indistinguishable_from == 2 and l4.indistinguishable_from is None and a2.indistinguishable_from is None
    assert (t4.value, t4.value_low, t4.value_high) == pytest.approx((0.020, 0.016, 0.030))
    # a measurement carries the confidence interval of its median
    assert host_int8.interval_level == 0.95 and host_int8.value_low < 0.20 < host_int8.value_high


def test_measured_figures_outrank_projections_of_the_same_device(ranked):
    entries, _, _ = ranked
    projection = entries[-1]
    assert projection.kind == "projected" and projection.calibrated and projection.provenance == "calibrated"
    # its 150 ms beats the host's measured 200 ms, yet it is listed after every ranked entry, unranked
    assert projection.value == pytest.approx(0.150) and projection.rank is None and projection.superseded_by == 4
    ranked_values = [e.value for e in entries if e.rank is not None]
    assert ranked_values == sorted(ranked_values)


def test_other_objectives_scale_the_band(ranked):
    _, measured, projections = ranked
    by_watt = rank_entries(measured, projections, "per-watt")
    t4 = next(e for e in by_watt if e.device == "t4")
    # inferences/s per W = throughput / a fixed TDP: the throughput's relative band (80/1.5 .. 80/0.8 of 80)
    assert (t4.value_low, t4.value_high) == pytest.approx((1 / 1.5, 1 / 0.8))
    assert metric_interval(t4, "per_usd") == (None, None)  # no price, no figure, no interval
    assert intervals_overlap((1, 2), (2, 3)) and not intervals_overlap((1, 2), (2.5, 3))
    assert not intervals_overlap((1, None), (0, 5))  # an unknown end: no claim


def test_answer_states_the_uncertainty_in_words(ranked):
    entries, _, _ = ranked
    words = answer_in_words(entries)
    assert words == "T4 (int8) @ 1mp is projected fastest, but within the band of L4 (int8) @ 1mp: measure both before buying."
    clear = [e for e in entries if e.device != "l4"]
    assert answer_in_words(clear) == ("T4 (int8) @ 1mp is projected fastest, clear of A2 (int8) @ 1mp at the 80 % level;"
                                      " still a projection, not a measurement: confirm it on the device before buying.")
    # a measured winner whose interval overlaps a projection: measure the projected one
    first = RankEntry(label="this host", kind="measured", device="host", rank=1, metric="latency_s", value=1.0,
                      value_low=0.9, value_high=1.1, interval_level=0.95)
    rivals = [RankEntry(label=f"D{i}", kind="projected", device=f"d{i}", rank=i + 1, metric="latency_s",
                        value=1.0 + i / 100, value_low=0.8, value_high=1.5, interval_level=0.8) for i in range(1, 6)]
    assert answer_in_words([first, rivals[0]]) == (
        "this host is measured fastest, but within the band of D1: measure D1 before buying.")
    many = answer_in_words([replace(first, kind="projected"), *rivals])
    assert "within the band of D1, D2, D3 and 2 more: 6 devices cannot be told apart by projection" in many
    # a summary written before intervals existed says nothing about them
    assert answer_in_words([RankEntry(label="x", kind="projected", device="x", rank=1, metric="latency_s",
                                      value=1.0)]) == ""


def test_rank_devices_marks_the_next_device_whose_band_overlaps():
    from accelbench.projection.api import load_profile

    ranking = rank_devices(load_profile("resnet50", resolution="64", precision="int8"), use_calibration=False)
    rows = ranking.devices
    thr = [r.throughput_per_s for r in rows]
    assert thr == sorted(thr, reverse=True)  # the central value orders
    marked = 0
    for this, after in zip(rows, rows[1:]):
        overlap = intervals_overlap((this.throughput_per_s_low, this.throughput_per_s_high),
                                    (after.throughput_per_s_low, after.throughput_per_s_high))
        assert this.indistinguishable_from == (after.rank if overlap else None)
        marked += overlap
    assert 0 < marked < len(rows) - 1  # some neighbours are told apart, some are not
    assert rows[-1].indistinguishable_from is None
    assert all(r.provenance == "projection" and r.interval_level == 0.8 for r in rows)


# -- the summary and the report ------------------------------------------------------------------
def test_summary_keeps_intervals_and_reads_summaries_without_them(ranked):
    entries, _, projections = ranked
    summary = RunSummary(run_id="r", created="now", command="accelbench run", objective="latency",
                         stages=(StageSummary(1, "peak TOPS", "lesson"),), ranking=tuple(entries),
                         projections=tuple(projections))
    data = json.loads(json.dumps(summary.to_dict()))
    again = RunSummary.from_dict(data)
    assert again == summary and again.to_dict() == data
    assert data["ranking"][0]["indistinguishable_from"] == 2 and data["ranking"][-1]["superseded_by"] == 4
    assert data["projections"][-1]["provenance"] == "calibrated projection"
    # an entry without intervals (a first-version summary) reads with None and writes no interval keys
    old = RankEntry.from_dict({"label": "x", "kind": "projected", "device": "t4", "latency_s": 0.01})
    assert old.latency_s_low is None and old.indistinguishable_from is None
    assert "latency_s_low" not in old.to_dict() and "superseded_by" not in old.to_dict()


def test_projection_entries_type_the_projection_modules_interval_keys():
    from accelbench.projection import project_all
    from accelbench.projection.api import load_profile

    row = next(r for r in project_all(load_profile("resnet50", resolution="64", precision="int8"),
                                      use_calibration=False) if r["device"] == "a2")
    entry = ProjectionEntry.from_dict(row)
    assert entry.throughput_per_s_low == row["throughput_per_s_low"] and entry.interval_level == 0.8
    assert entry.family == "nvidia_ampere" and entry.provenance == "projection"
    assert not {"latency_s_low", "interval_source", "provenance"} & set(entry.extra)
    assert {k: v for k, v in entry.to_dict().items() if k not in ("resolution", "label")} == row  # the run's own


@pytest.fixture(scope="module")
def interval_report(tmp_path_factory, ranked):
    from test_report_data import build_run

    _, measured, projections = ranked
    db = str(tmp_path_factory.mktemp("intervals") / "r.db")
    build_run(db, run_id="run-intervals", with_summary=False)
    priced = [replace(p, throughput_per_w=1.0, throughput_per_usd=0.01, bound=BoundShares(summary="compute"))
              for p in projections]
    entries = rank_entries(measured, priced, "latency")
    with open_store(db) as store:
        store.save_summary(RunSummary(run_id="run-intervals", created="now", command="accelbench run",
                                      objective="latency", stages=(StageSummary(1, "peak TOPS", "lesson"),),
                                      ranking=tuple(entries), projections=tuple(priced)))
    return db


def test_report_draws_intervals_as_error_bars(interval_report):
    from accelbench.report.charts import all_charts
    from accelbench.report.data import load_report_data
    from accelbench.report.html import plotly_figure

    data = load_report_data(interval_report)
    charts = all_charts(data)
    ranking = charts["ranking"]
    assert {s.provenance for s in ranking.series} == {"measured", "projected", "calibrated"}
    assert ranking.categories[-1].startswith("#1 T4")  # drawn bottom-up: #1 on top
    projected = next(s for s in ranking.series if s.provenance == "projected")
    t4 = projected.y.index(next(y for y in projected.y if y.startswith("#1 ")))
    assert (projected.x_low[t4], projected.x[t4], projected.x_high[t4]) == pytest.approx((16.0, 20.0, 30.0))  # ms
    trace = next(t for t in plotly_figure(ranking)["data"] if t["name"] == "projected")
    assert trace["error_x"]["array"][t4] == pytest.approx(10.0) and trace["error_x"]["arrayminus"][t4] == pytest.approx(4.0)
    pareto = plotly_figure(charts["pareto"])
    dots = next(t for t in pareto["data"] if t["name"] == "projected")
    assert dots["error_x"]["array"] and dots["error_y"]["arrayminus"]
    assert any(t["name"] == "calibrated projection" for t in pareto["data"])


def test_report_states_the_uncertainty_and_labels_calibrated_projections(interval_report):
    from accelbench.report.data import load_report_data
    from accelbench.report.html import build_report_html

    page = build_report_html(load_report_data(interval_report), plotly_js="/* stub */")
    assert 'class="uncertainty"' in page and "within the band of L4 (int8) @ 1mp: measure both before buying" in page
    assert 'class="badge b-calibrated"' in page and ">calibrated projection<" in page
    assert "≈ #2 by projection" in page and "measured #4 outranks it" in page
    assert "20.0 (16.0–30.0)" in page  # T4's latency in ms with its band


def test_png_charts_draw_the_error_bars(interval_report, tmp_path):
    from accelbench.report.charts import all_charts
    from accelbench.report.data import load_report_data
    from accelbench.report.png import write_pngs

    written = write_pngs(all_charts(load_report_data(interval_report)), tmp_path / "png")
    names = {p.name for p in written}
    assert {"ranking.png", "pareto.png"} <= names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
