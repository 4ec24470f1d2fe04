"""End-to-end: `accelbench bench` on ONNX Runtime CPU through the CLI, the store, and failures."""

import json
import subprocess
import sys

import pytest

from accelbench.cli import main
from accelbench.measure.runner import run_config
from accelbench.results.records import BenchConfig
from accelbench.results.store import open_store

pytest.importorskip("onnxruntime")

CLI = [sys.executable, "-m", "accelbench"]


def _cli(args, cwd):
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_bench_resnet50_onnxruntime_cpu_json(tmp_path):
    db = tmp_path / "r.db"
    proc = _cli(["bench", "resnet50", "--resolution", "64", "--time-limit", "3", "--threads", "1",
                 "--db", str(db), "--format", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    for key in ("config", "backend", "precision_executed", "latency_ns", "latency_p50_ns", "latency_p90_ns",
                "latency_p99_ns", "throughput_per_s", "macs_per_s", "mac_utilization", "power_w", "power_source",
                "energy_per_inference_j", "environment"):
        assert key in d, key
    assert d["backend"] == "onnxruntime" and d["precision_executed"] == "fp32" and d["status"] == "ok"
    assert d["config"]["resolution"] == "64" and d["run_info"]["threads"] == 1
    lat = sorted(d["latency_ns"])
    assert len(lat) >= 50 and d["latency_p50_ns"] == pytest.approx((lat[(len(lat) - 1) // 2] + lat[len(lat) // 2]) / 2)
    assert d["throughput_per_s"] == pytest.approx(len(lat) * 1e9 / sum(lat))
    assert d["pixels_per_inference"] == 64 * 64
    if d["macs_per_inference"]:  # profiler present: MAC/s = throughput x MACs
        assert d["macs_per_s"] == pytest.approx(d["throughput_per_s"] * d["macs_per_inference"])
    assert d["power_source"] in ("rapl", "estimated-tdp", "unavailable")
    assert d["stop_reason"] in ("ci-target", "time-limit") and d["stability"]["verdict"] in ("stable", "unstable")
    assert d["environment"]["runtime_versions"]["onnxruntime"]
    # The record is in the store, and `results` exports it.
    with open_store(db) as store:
        (rec,) = store.query()
    assert rec.record_id == d["record_id"] and list(rec.latency_ns) == d["latency_ns"]
    proc = _cli(["results", "--db", str(db), "--format", "csv"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.splitlines()[1].startswith(d["run_id"] + ",")
    proc = _cli(["results", "--db", str(db), "--run", "latest", "--format", "json"], tmp_path)
    assert json.loads(proc.stdout)[0]["record_id"] == d["record_id"]


def test_fp16_on_cpu_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "resnet50", "-r", "64", "--precision", "fp16", "--db", str(tmp_path / "r.db")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: precision: onnxruntime on cpu cannot run 'fp16'") and err.endswith("fp32, int8")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--scenario", "burst"], "scenario: 'burst' is not allowed"),
    (["--mode", "fast"], "mode: 'fast' is not allowed"),
    (["--time-limit", "0"], "time-limit: must be a positive number"),
    (["--backend", "tvm"], "backend: 'tvm' is not allowed"),
    (["--batch", "4"], "batch: single-stream runs one sample per query"),
])
def test_bad_options_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "resnet50", "-r", "64", "--db", str(tmp_path / "r.db"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_crashing_config_becomes_failed_record_and_next_one_runs(tmp_path, monkeypatch):
    tiny = BenchConfig(model="resnet50", resolution="32", time_limit_s=1, threads=1)
    monkeypatch.setenv("ACCELBENCH_TEST_CRASH", "abort")
    crashed = run_config(tiny, run_id="r1", log_root=tmp_path)
    monkeypatch.delenv("ACCELBENCH_TEST_CRASH")
    ok = run_config(tiny, run_id="r1", log_root=tmp_path)
    assert crashed.status == "failed" and crashed.failure_kind == "crash" and "SIGABRT" in crashed.error
    assert ok.ok and ok.latency_ns
    with open_store(tmp_path / "r.db") as store:
        store.save(crashed)
        store.save(ok)
        assert [r.status for r in store.query(run_id="r1")] == ["failed", "ok"]


def test_results_without_db_is_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["results", "--db", str(tmp_path / "none.db")])
    assert exc.value.code == 2 and "does not exist" in capsys.readouterr().err
