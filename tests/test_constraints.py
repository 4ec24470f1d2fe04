"""Constraints in the answer: `run` and `rank` take --max-latency-ms, --max-watts, --max-price, rank
only what meets them, and say what was excluded and why, in the ranking data, the terminal table,
the HTML report and the JSON."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from accelbench import api
from accelbench.job.plan import StageConfig
from accelbench.job.ranking import rank_entries
from accelbench.job.stages import Measured
from accelbench.report.data import load_report_data
from accelbench.report.html import build_report_html
from accelbench.report.tables import ranking_table
from accelbench.report.units import fmt_time
from accelbench.results.store import open_store
from accelbench.results.summary import Constraints, ProjectionEntry, RunSummary, StageSummary
from accelbench.errors import UserError
from cli_helpers import cli_exit_code
from test_report_data import make_record

CFG = StageConfig(3, "yolov3", "1mp", 1, "single-stream", "YOLOv3 @ 1mp")


def _projection(device, latency, tdp, price):
    throughput = 1 / latency
    return ProjectionEntry(device=device, device_name=device.upper(), model="yolov3", precision="int8",
                           scenario="offline", latency_s=latency, throughput_per_s=throughput,
                           throughput_per_w=throughput / tdp if tdp else None,
                           throughput_per_usd=throughput / price if price else None, resolution="1mp")


@pytest.fixture(scope="module")
def candidates():
    measured = [Measured(CFG, "int8", make_record("yolov3", "1mp", 921600, 97e9, 0.20, run_id="r", precision="int8",
                                                  seed=2, power_w=90.0))]
    projections = [_projection("h100", 0.002, 700.0, 30000.0), _projection("l4", 0.006, 72.0, 2500.0),
                   _projection("t4", 0.010, 70.0, 1200.0), _projection("hailo8", 0.050, 2.5, None)]
    return measured, projections


def test_only_what_meets_the_constraints_is_ranked_and_the_rest_say_why(candidates):
    measured, projections = candidates
    entries = rank_entries(measured, projections, "latency", Constraints(max_latency_s=0.020, max_watts=100.0,
                                                                        max_price_usd=5000.0))
    ranked = [(e.device, e.rank) for e in entries if e.rank is not None]
    assert ranked == [("l4", 1), ("t4", 2)]  # ranks renumbered among the entries that meet them
    why = {e.device: e.excluded for e in entries if e.excluded}
    host = next(e for e in entries if e.device == "host")
    assert why == {
        "h100": "TDP 700 W > 100 W; price $30,000 > $5,000",
        "hailo8": "projected latency 50.0 ms > 20.0 ms; no price known (the limit is $5,000)",
        # a measurement's latency is its p99 (a bound is a tail bound); its power the record's figure
        "host": f"p99 latency {fmt_time(host.latency_p99_s)} > 20.0 ms; no price known (the limit is $5,000)",
    }
    assert all(e.rank is None for e in entries if e.excluded) and entries[-1].excluded  # listed last
    h100 = next(e for e in entries if e.device == "h100")
    assert h100.power_w == pytest.approx(700.0) and h100.price_usd == pytest.approx(30000.0)
    # without constraints nothing is excluded
    assert not any(e.excluded for e in rank_entries(measured, projections, "latency"))


def test_the_summary_keeps_the_constraints_and_reads_summaries_without_them(candidates):
    measured, projections = candidates
    constraints = Constraints(max_watts=100.0)
    entries = rank_entries(measured, projections, "throughput", constraints)
    summary = RunSummary(run_id="r", created="now", command="accelbench run --max-watts 100", objective="throughput",
                         stages=(StageSummary(1, "peak TOPS", ""),), ranking=tuple(entries), constraints=constraints)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["constraints"] == {"max_watts": 100.0}
    assert [e["excluded"] for e in data["ranking"] if "excluded" in e] == ["TDP 700 W > 100 W"]
    back = RunSummary.from_dict(data)
    assert back == summary and back.excluded[0].device == "h100"
    plain = replace(summary, constraints=None)
    assert "constraints" not in plain.to_dict() and RunSummary.from_dict(plain.to_dict()).constraints is None
    with pytest.raises(UserError, match="max_watts: must be a positive number; got -1"):
        Constraints(max_watts=-1)


def _report_page(tmp_path, record, summary) -> str:
    """The HTML report of a store holding ``record`` and ``summary``."""
    db = str(tmp_path / "report.db")
    with open_store(db) as store:
        store.save(record)
        store.save_summary(summary)
    return build_report_html(load_report_data(db), plotly_js="")


def test_the_terminal_table_and_the_report_say_what_was_excluded(candidates, tmp_path):
    measured, projections = candidates
    constraints = Constraints(max_latency_s=0.005)
    entries = rank_entries(measured, projections, "latency", constraints)
    summary = RunSummary(run_id="cons", created="now", command="accelbench run --max-latency-ms 5", objective="latency",
                         stages=(StageSummary(1, "peak TOPS", ""),), ranking=tuple(entries), constraints=constraints)
    table = ranking_table(summary)
    assert table.title.endswith("only what meets latency <= 5.00 ms")
    texts = {row[1].text: row[7].text for row in table.rows}
    assert texts["L4 (int8) @ 1mp"] == "excluded: projected latency 6.00 ms > 5.00 ms"
    assert "Constraints: latency <= 5.00 ms; 4 configuration(s) fail them" in table.caption
    page = _report_page(tmp_path, measured[0].record, summary)
    assert "Constraints: latency &lt;= 5.00 ms: 4 of 5 excluded (listed last, with the reason)." in page
    assert "excluded: projected latency 6.00 ms &gt; 5.00 ms" in page
    assert "H100 (int8) @ 1mp" in page  # the one that meets it is the answer


def test_when_nothing_meets_the_constraints_the_answer_says_so(candidates, tmp_path):
    measured, projections = candidates
    constraints = Constraints(max_latency_s=0.0001)
    summary = RunSummary(run_id="none", created="now", command="c", objective="latency",
                         stages=(StageSummary(1, "peak TOPS", ""),),
                         ranking=tuple(rank_entries(measured, projections, "latency", constraints)),
                         constraints=constraints)
    page = _report_page(tmp_path, measured[0].record, summary)
    assert "No configuration meets the constraints (latency &lt;= 100 µs)" in page


def test_rank_ranks_only_the_devices_that_meet_them():
    result = api.rank("resnet50", resolution="224", max_watts=100, max_price=5000)
    devices, excluded = result.ranking.devices, result.ranking.excluded
    assert devices and excluded
    assert all(d.power_w <= 100 and d.price_usd <= 5000 for d in devices)
    assert [d.rank for d in devices] == list(range(1, len(devices) + 1))
    reasons = {e.device: e.reason for e in excluded}
    assert reasons["h100"].startswith("TDP 700 W > 100 W") and "price $" in reasons["h100"]
    data = result.to_dict()
    assert data["constraints"] == {"max_watts": 100, "max_price_usd": 5000}
    assert {e["device"] for e in data["excluded"]} == set(reasons) and data["excluded"][0]["excluded"] is True


def test_rank_cli_prints_and_writes_the_exclusions(capsys):
    assert cli_exit_code(["rank", "resnet50", "-r", "224", "--max-latency-ms", "1", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["constraints"] == {"max_latency_s": 0.001}
    assert all(d["latency_s"] <= 0.001 for d in data["devices"])
    assert all("projected latency" in e["reason"] for e in data["excluded"])
    assert cli_exit_code(["rank", "resnet50", "-r", "224", "--max-latency-ms", "1"]) == 0
    out = capsys.readouterr().out
    assert "excluded: projected latency" in out
    assert f"constraints: latency <= 1.00 ms: {len(data['excluded'])} of " in out
    assert cli_exit_code(["rank", "resnet50", "--max-watts", "0"]) == 2
    assert "max-watts: must be a positive number of watts" in capsys.readouterr().err
