"""End to end: `accelbench run` on tiny sizes (ACCELBENCH_TINY=1, the same code path) produces
records, a run summary with the four stages and a ranking, and an HTML report that renders in a
real headless Chromium."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    db, report = tmp / "run.db", tmp / "report.html"
    env = {**os.environ, "ACCELBENCH_TINY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--db", str(db), "--report", str(report),
         "--model", "mobilenet_v2", "--resolution", "64", "--time-limit", "0.5",
         # a constraint everything meets: the run carries it to the summary without changing the answer
         "--max-latency-ms", "60000"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp)
    return result, db, report


def test_run_prints_four_stages_a_ranking_and_the_report_path(tiny_run):
    result, _, report = tiny_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for stage in ("Stage 1 - peak TOPS", "Stage 2 - ResNet-50", "Stage 3 - a real-world model", "Stage 4 - your model"):
        assert stage in out
    assert out.count("lesson: ") == 4
    assert re.search(r"estimated [\d.]+ min", out)  # said up front
    assert "Ranking by latency" in out and "(projected)" in out
    assert f"HTML report: {report}" in out
    assert re.search(r"constraints: latency <= 60\.0 s: 0 of \d+ excluded", out)
    assert "Traceback" not in result.stderr


def test_run_stores_every_measurement_and_its_summary(tiny_run):
    result, db, _ = tiny_run
    assert result.returncode == 0
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT model, resolution, batch, precision_requested, precision_executed, status "
                        "FROM records").fetchall()
    (summary_json,) = conn.execute("SELECT summary_json FROM run_summaries").fetchone()
    conn.close()
    summary = json.loads(summary_json)
    # stage 2: resnet50 at two sizes, stage 3: yolov3 and the zoo model closest to the user's, stage 4: the
    # user's model; fp32 + a reduced precision
    closest = summary["stages"][2]["data"]["closest_measured"]
    assert closest["model"] not in ("yolov3", "mobilenet_v2") and closest["why"] and len(closest["record_ids"]) == 2
    assert len(rows) == 10
    assert {r[0] for r in rows} == {"resnet50", "yolov3", "mobilenet_v2", closest["model"]}
    assert all(r[5] == "ok" for r in rows), rows
    assert {r[3] for r in rows} >= {"fp32"} and len({r[3] for r in rows}) == 2
    for _, _, _, requested, executed, _ in rows:
        assert executed.startswith(requested) or requested == "fp32" and executed == "fp32"
    assert [s["stage"] for s in summary["stages"]] == [1, 2, 3, 4]
    assert summary["constraints"] == {"max_latency_s": 60.0}
    assert not any("excluded" in e for e in summary["ranking"])
    assert all(s["lesson"] for s in summary["stages"])
    assert any(p["source"] == "measured" for p in summary["stages"][0]["data"]["peaks"])
    assert summary["stages"][3]["data"]["closest"][0]["model"] != "mobilenet_v2"
    assert f"closest zoo model to yours: {closest['model']}" in summary["stages"][2]["lesson"]
    # one configuration per stage has per-layer times: measured slowest layers with the projection beside them
    for stage in summary["stages"][1:]:
        measurement = stage["data"]["layer_measurement"]
        assert measurement["mapped_share"] > 0.9 and measurement["kinds"] and measurement["points"]
        assert stage["data"]["layers"][0]["time_source"] == "measured" and stage["data"]["layers"][0]["projected_s"] > 0
        assert "measured per layer" in stage["lesson"]
    assert any(note.startswith("per-layer times: 3 configuration(s)") for note in summary["notes"])
    kinds = {e["kind"] for e in summary["ranking"]}
    assert kinds == {"measured", "projected"}
    ranked = [e["latency_s"] for e in summary["ranking"] if e["rank"] is not None]
    assert ranked == sorted(ranked)


def test_run_says_how_sure_its_answer_is(tiny_run):
    """Every projection carries its band, the ranking its marks, the answer its uncertainty in words; a
    projection of this host (made only from stable measurements of its other models, which a busy test
    machine may not give) is a calibrated projection listed below the host's measurements."""
    result, db, report = tiny_run
    assert result.returncode == 0
    conn = sqlite3.connect(db)
    (summary_json,) = conn.execute("SELECT summary_json FROM run_summaries").fetchone()
    conn.close()
    summary = json.loads(summary_json)
    catalog = [p for p in summary["projections"] if p["device"] != "host"]
    assert catalog and all(p["throughput_per_s_low"] <= p["throughput_per_s"] <= p["throughput_per_s_high"]
                           and p["interval_level"] == 0.8 for p in catalog)
    ranked = [e for e in summary["ranking"] if e["rank"] is not None]
    assert all(e["value_low"] <= e["value"] <= e["value_high"] for e in ranked if e["kind"] == "projected")
    for this, after in zip(ranked, ranked[1:]):
        overlap = this["value_low"] <= after["value_high"] and after["value_low"] <= this["value_high"] \
            if None not in (this.get("value_low"), after.get("value_low")) else False
        assert this.get("indistinguishable_from") == (after["rank"] if overlap else None)
    best_host = min(e["rank"] for e in ranked if e["kind"] == "measured")
    for e in summary["ranking"]:
        if e["kind"] == "projected" and e["device"] == "host":
            assert e["calibrated"] and e["rank"] is None and e["superseded_by"] == best_host
    for p in summary["projections"]:
        if p["device"] == "host":
            assert p["provenance"] == "calibrated projection" and p["calibration"]["target_model"] == "mobilenet_v2"
    page = report.read_text(encoding="utf-8")
    assert 'class="uncertainty"' in page and ("is projected" in page or "is measured" in page)
    assert ("is projected" in result.stdout or "is measured" in result.stdout)


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium; .ci/run installs it")


def _chromium(args, tmp_path):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=120)


@needs_chromium
def test_run_report_renders_in_chromium(tiny_run, tmp_path, capsys):
    result, _, report = tiny_run
    assert result.returncode == 0
    dump = _chromium(["--dump-dom", report.resolve().as_uri()], tmp_path)
    dom = dump.stdout
    assert 'data-ready="1"' in dom, dump.stderr[-2000:]
    expected = int(re.search(r'data-charts-expected="(\d+)"', dom).group(1))
    assert expected >= 8
    assert re.search(r'data-charts-rendered="(\d+)"', dom).group(1) == str(expected)
    assert 'data-errors="0"' in dom
    assert not [line for line in dump.stderr.splitlines() if "Uncaught" in line]

    artifact = Path(__file__).resolve().parents[1] / "accelbench-out" / "run-report-screenshot.png"
    artifact.parent.mkdir(exist_ok=True)
    _chromium([f"--screenshot={artifact}", "--window-size=1400,7000", report.resolve().as_uri()], tmp_path)
    assert artifact.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with capsys.disabled():  # shown in CI's log even though the test passes
        print(f"\naccelbench run report screenshot: {artifact}")
