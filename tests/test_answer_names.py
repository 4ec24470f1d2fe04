"""The answer names what it answers (issue 13, point 8): the report's headline names the model, its
size, the batch and the objective in words (it used to say "20,859 throughput_per_s"); the ranking
(terminal and HTML) has batch and bottleneck columns; `compare` shows each side's backend and
precision (it showed A's only)."""

import json

import pytest

from accelbench.job.plan import StageConfig
from accelbench.job.ranking import rank_entries
from accelbench.job.stages import Measured
from accelbench.report.tables import ranking_table, to_rich
from accelbench.results.records import BenchConfig, BenchRecord, RunInfo
from accelbench.results.summary import ProjectionEntry, RankEntry, RunSummary, StageSummary


def summary_with(*entries, objective="throughput"):
    return RunSummary(run_id="r", created="2026-01-01T00:00:00+00:00", command="accelbench run", objective=objective,
                      stages=(StageSummary(1, "peak TOPS", "lesson"),), ranking=entries)


WINNER = RankEntry(label="this host (openvino, int8) @ 1mp", kind="measured", record_id="abc", device="host",
                   model="yolov3", resolution="1mp", batch=1, bound="compute (81%) (projected)", precision="int8",
                   latency_s=0.048, throughput_per_s=20859.0, rank=1, metric="throughput_per_s", value=20859.0)
RUNNER_UP = RankEntry(label="NVIDIA T4 (int8) @ 1mp", kind="projected", device="t4", model="yolov3",
                      resolution="1mp", batch=8, bound="dram (64%)", precision="int8", latency_s=0.01,
                      throughput_per_s=900.0, rank=2, metric="throughput_per_s", value=900.0)


def test_the_headline_names_model_size_batch_and_objective_in_words():
    from accelbench.report.data import ReportData
    from accelbench.report.html import _headline

    data = ReportData(db_path="x.db", run_id="r", records=(), summary=summary_with(WINNER, RUNNER_UP))
    headline = _headline(data)
    assert headline.objective == "the highest throughput on yolov3 at 1mp, batch 1"
    assert headline.metric == "20,859 inferences/s" and "throughput_per_s" not in headline.metric
    assert headline.winner == WINNER.label
    latency = _headline(ReportData(db_path="x.db", run_id="r", records=(), summary=summary_with(
        RankEntry(label="t4", kind="projected", device="t4", model="resnet50", resolution="224", batch=1,
                  latency_s=0.0011, rank=1, metric="latency_s", value=0.0011), objective="latency")))
    assert latency.objective == "the lowest latency on resnet50 at 224, batch 1" and latency.metric == "1.10 ms"


def test_the_ranking_has_batch_and_bottleneck_columns_on_the_terminal_and_in_html():
    table = ranking_table(summary_with(WINNER, RUNNER_UP))
    assert table.columns[2] == "batch" and table.columns[-1] == "bottleneck"
    assert [row[2].text for row in table.rows] == ["1", "8"]
    assert [row[-1].text for row in table.rows] == ["compute (81%) (projected)", "dram (64%)"]
    assert table.title == "Ranking by throughput (highest throughput first) on yolov3 at 1mp"
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(to_rich(table))
    text = console.export_text()
    assert "bottleneck" in text and "dram (64%)" in text and "batch" in text


def test_the_run_records_batch_and_bottleneck_of_every_entry():
    def Rec():  # a measured record of resnet50 @ 64, 20 ms per query
        return BenchRecord(config=BenchConfig(model="resnet50", resolution="64"), run_id="m",
                           latency_ns=tuple(20_000_000 + i for i in range(20)), run_info=RunInfo(
                               runtime="onnxruntime", runtime_version="test", device="cpu", execution_provider="test",
                               threads=1, precision_requested="fp32", precision_executed="fp32",
                               precision_source="test"))

    cfg = StageConfig(2, "resnet50", "64", 1, "single-stream", "ResNet-50 @ 64")
    proj = ProjectionEntry.from_dict({"device": "t4", "precision": "int8", "latency_s": 0.001, "latency_batch": 1,
                                      "throughput_per_s": 9000.0, "throughput_batch": 64, "resolution": "64",
                                      "model": "resnet50", "bound": {"summary": "compute (70%)", "compute": 0.7}})
    by_latency = rank_entries([Measured(cfg, "fp32", Rec())], [proj], "latency")
    host = next(e for e in by_latency if e.kind == "measured")
    t4 = next(e for e in by_latency if e.kind == "projected")
    assert (host.batch, host.resolution) == (1, "64") and host.bound.endswith("(projected)")
    assert host.bound.split(" ")[0] in ("compute", "sram", "dram", "overhead")
    assert (t4.batch, t4.bound) == (1, "compute (70%)")
    by_throughput = rank_entries([Measured(cfg, "fp32", Rec())], [proj], "throughput")
    assert next(e for e in by_throughput if e.kind == "projected").batch == 64  # the throughput figure's batch
    again = RankEntry.from_dict(t4.to_dict())
    assert again == t4


def test_compare_shows_both_sides_backend_and_precision(tmp_path, capsys):
    from accelbench.cli import main
    from accelbench.results.store import open_store
    from test_report_data import make_record

    db = str(tmp_path / "c.db")
    a = make_record("resnet50", "224", 50176, 4 * 10**9, 0.030, run_id="ra", seed=1)
    b = make_record("resnet50", "224", 50176, 4 * 10**9, 0.012, precision="int8", backend="openvino", run_id="rb",
                    seed=2, ran="int8+fp32")
    with open_store(db) as store:
        store.save(a)
        store.save(b)
    with pytest.raises(SystemExit):
        main(["compare", f"record:{a.record_id}", f"record:{b.record_id}", "--db", db, "-f", "json"])
    pair = json.loads(capsys.readouterr().out)["pairs"][0]
    assert (pair["a"]["backend"], pair["a"]["precision_requested"], pair["a"]["precision_executed"]) == \
        ("onnxruntime", "fp32", "fp32")
    assert (pair["b"]["backend"], pair["b"]["precision_requested"], pair["b"]["precision_executed"]) == \
        ("openvino", "int8", "int8+fp32")
    with pytest.raises(SystemExit):
        main(["compare", f"record:{a.record_id}", f"record:{b.record_id}", "--db", db])
    out = capsys.readouterr().out
    assert "A: onnxruntime fp32" in out and "B: openvino int8 (ran int8+fp32)" in out
