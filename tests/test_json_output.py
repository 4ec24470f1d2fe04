"""Clean machine output and the peak each record divides by (issue 13, points 5 and 3).

Every command with ``--format json`` writes one JSON document on stdout and nothing else (messages
go to stderr; docs/json.md documents each). The four-stage run measures its own GEMM peak in
stage 1 and every record's MAC utilization is divided by that peak, named with its value, how it
was measured and when, even when an older, lower peak is remembered in the cache (before, records
used the cached one and showed utilizations over 100 %). The run here also takes a fixed-size
ONNX file reshaped by -r (point 2).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from accelbench.hardware.host import MeasuredPeak, detect_host, _host_key

pytest.importorskip("onnxruntime")

STALE_FP32_OPS = 1e9  # a peak "measured" on a machine busy with something else: far too low


@pytest.fixture(scope="module")
def tiny_json_run(tmp_path_factory):
    from test_shapes_user_exports import static_cnn

    tmp = tmp_path_factory.mktemp("json-run")
    cache = tmp / "cache"
    cache.mkdir()
    stale = MeasuredPeak(STALE_FP32_OPS, "512^3 GEMM on numpy, best of 3, ran as fp32", 0.8, "2020-01-01T00:00:00+00:00")
    (cache / "measured_peaks.json").write_text(json.dumps({_host_key(detect_host(with_gpus=False)):
                                                           {"fp32": stale.to_dict()}}))
    model = static_cnn(tmp / "static.onnx")
    db = tmp / "run.db"
    env = {**os.environ, "ACCELBENCH_TINY": "1", "ACCELBENCH_CACHE_DIR": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--db", str(db), "--format", "json", "--quiet",
         "--precision", "fp32", "--time-limit", "0.3", "--no-report", "--model", model, "-r", "64x48"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp)
    return proc, db, tmp


def test_run_json_is_the_only_thing_on_stdout(tiny_json_run):
    proc, db, _ = tiny_json_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert summary["db"] == str(db) and [s["stage"] for s in summary["stages"]] == [1, 2, 3, 4]
    assert "lesson: " in proc.stderr  # the lessons went to stderr


def test_run_divides_by_the_peak_its_stage_1_measured(tiny_json_run):
    from accelbench.results.store import open_store

    proc, db, _ = tiny_json_run
    summary = json.loads(proc.stdout)
    measured = {p["precision"]: p for p in summary["stages"][0]["data"]["peaks"]
                if p["device"] == "host" and p["source"] == "measured"}
    assert measured["fp32"]["peak_ops_per_s"] != STALE_FP32_OPS and "spread" in measured["fp32"]["arithmetic"]
    with open_store(db, read_only=True) as store:
        records = store.query(status="ok")
    # resnet50 at two sizes, yolov3 and the zoo model closest to the user's (stage 3), the user's model: fp32 only
    closest = summary["stages"][2]["data"]["closest_measured"]["model"]
    assert len(records) == 5 and {"resnet50", "yolov3", closest} < {r.config.model for r in records}
    for rec in records:
        assert rec.measured_peak_macs_per_s == pytest.approx(measured["fp32"]["peak_ops_per_s"] / 2)
        assert "measured by this run" in rec.measured_peak_source and "spread" in rec.measured_peak_source
        assert rec.measured_peak_at and rec.measured_peak_at in measured["fp32"]["arithmetic"]
        assert rec.mac_utilization_measured_peak < 3  # against the stale peak it would be ~100x
        assert f"{rec.measured_peak_macs_per_s:.4g} MAC/s" in rec.provenance["mac_utilization_measured_peak"]


def test_run_measures_a_reshaped_user_model_at_the_size_it_names(tiny_json_run):
    from accelbench.results.store import open_store

    proc, db, _ = tiny_json_run
    with open_store(db, read_only=True) as store:
        (user,) = [r for r in store.query() if r.config.model.endswith("static.onnx")]
    assert user.ok and user.config.resolution == "64x48" and user.pixels_per_inference == 64 * 48


def _json_commands(db, tmp, record_ids, plan):
    model = str(tmp / "static.onnx")
    return [
        ["sweep", str(plan), "--db", str(db), "--dry-run"], ["sweep", str(plan), "--db", str(db)],
        ["models"], ["models", "closest", model, "--limit", "2"], ["profile", "resnet50", "-r", "64"],
        ["devices"], ["tops", "t4"], ["tops", "host", "--no-measure"],
        ["bench", model, "--time-limit", "0.2", "--threads", "1", "--db", str(db)],
        ["results", "--db", str(db)], ["project", "resnet50", "-r", "64", "-d", "t4,l4"], ["rank", "resnet50", "-r", "64"],
        ["calibrate", "--db", str(db), "--dry-run"], ["report", "--db", str(db), "-o", str(tmp / "r.html")],
        ["compare", f"record:{record_ids[0]}", f"record:{record_ids[1]}", "--db", str(db)],
    ]


def test_every_command_writes_only_json_on_stdout(tiny_json_run, capfd, tmp_path):
    from accelbench.cli import main
    from accelbench.results.records import BenchConfig, BenchRecord, RunInfo
    from accelbench.results.store import open_store

    proc, run_db, tmp = tiny_json_run
    assert proc.returncode == 0
    db = tmp_path / "copy.db"
    shutil.copy(run_db, db)
    with open_store(db) as store:  # tiny records are not calibrated on: one steady full-size record is
        store.save(BenchRecord(config=BenchConfig(model="resnet50", resolution="64"), run_id="steady",
                               latency_ns=tuple(20_000_000 + i for i in range(30)),
                               run_info=RunInfo(runtime="onnxruntime", runtime_version="test", device="cpu",
                                                execution_provider="test", threads=1, precision_requested="fp32",
                                                precision_executed="fp32", precision_source="test")))
        ids = [r.record_id for r in store.query(status="ok")]
    plan = tmp_path / "plan.toml"
    plan.write_text('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32"]\n[measure]\ntime_limit_s = 0.2\n')
    commands = _json_commands(db, tmp, ids, plan)
    assert {c[0] for c in commands} | {"run"} >= {"models", "profile", "devices", "tops", "bench", "results", "project",
                                                  "rank", "calibrate", "report", "compare", "run", "sweep"}
    for argv in commands:
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--format", "json"])
        out, err = capfd.readouterr()  # file-descriptor level: runtimes' own prints count too
        assert exc.value.code == 0, (argv, err)
        try:
            json.loads(out)
        except ValueError:
            pytest.fail(f"{' '.join(argv)} --format json wrote more than JSON on stdout: {out[:300]!r}")
