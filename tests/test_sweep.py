"""`accelbench sweep` on this machine, through the CLI on tiny configurations: the dry run,
skipping what the store holds, resume after kill -9 with every configuration recorded exactly
once, failures recorded without stopping the sweep (and --retry-failed), two sweeps racing on one
plan, one-line refusals before anything runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from accelbench.results.store import open_store
from process_helpers import measurement_children

TINY_PLAN = """
name = "tiny"
[axes]
models = ["mobilenet_v2"]
resolutions = ["32", "40"{extra}]
precisions = [{precisions}]
[measure]
time_limit_s = 0.2
"""


def _plan(tmp_path: Path, *, sizes: int = 2, precisions: str = '"fp32"') -> Path:
    extra = ', "48"' if sizes == 3 else ""
    path = tmp_path / "plan.toml"
    path.write_text(TINY_PLAN.format(extra=extra, precisions=precisions))
    return path


def _sweep(args, cwd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accelbench", "sweep", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd, **kwargs)


def _sweep_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT run_id, config_hash, status FROM records WHERE config_hash IS NOT NULL"
                           " ORDER BY seq").fetchall()
    finally:
        con.close()


def test_dry_run_lists_configurations_and_an_estimate_and_measures_nothing(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32", "64"]\nbatches = [1, 4]\n'
                    'scenarios = ["single-stream", "offline"]\n[measure]\ntime_limit_s = 0.5\n')
    db = tmp_path / "s.db"
    result = _sweep([plan, "--db", db, "--dry-run"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "hash", "model", "res"]
    rows = [line for line in lines if line.split()[0].isdigit()]
    assert len(rows) == 6 and all(" new " in row for row in rows)
    assert "dropped 2 combinations: single-stream measures batch 1" in result.stdout
    assert "6 to measure" in lines[-1] and "estimated " in lines[-1]
    assert not db.exists()
    as_json = json.loads(_sweep([plan, "--db", db, "--dry-run", "--format", "json"], tmp_path).stdout)
    assert as_json["counts"]["measure"] == 6 and as_json["estimated_s"] > 0
    assert len({c["config_hash"] for c in as_json["configurations"]}) == 6


def test_sweep_measures_each_configuration_once_and_skips_them_afterwards(tmp_path):
    plan, db = _plan(tmp_path), tmp_path / "s.db"
    first = _sweep([plan, "--db", db], tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "[1/2] ok mobilenet_v2 @ 32" in out and "[2/2] ok mobilenet_v2 @ 40" in out
    rows = _sweep_rows(db)
    assert len(rows) == 2 and len({r[1] for r in rows}) == 2 and {r[2] for r in rows} == {"ok"}
    again = _sweep([plan, "--db", db, "--format", "json"], tmp_path)
    summary = json.loads(again.stdout)
    assert again.returncode == 0 and summary["counts"] == {"measure": 0, "in-sweep": 0, "measured": 2, "failed": 0}
    assert len(_sweep_rows(db)) == 2
    with open_store(db, read_only=True) as store:
        sweeps = store.sweeps()
        assert len(sweeps) == 2 and all(s.finished for s in sweeps)
        (record,) = store.query(run_id=rows[0][0], record_id=store.query(run_id=rows[0][0])[0].record_id)
        assert record.config.time_limit_s == 0.2 and record.environment.runtime_versions


def test_resume_after_kill_9_records_every_configuration_exactly_once(tmp_path):
    plan, db = _plan(tmp_path, sizes=3), tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-m", "accelbench", "sweep", str(plan), "--db", str(db)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not db.exists() or len(_sweep_rows(db)) < 1):
        time.sleep(0.2)
    while time.monotonic() < deadline and not measurement_children(proc.pid):
        time.sleep(0.05)  # kill while the second configuration is being measured
    children = measurement_children(proc.pid)
    assert children, "no measurement was running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(children, timeout=10)  # the measurement dies with the sweep (PR_SET_PDEATHSIG)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    before = _sweep_rows(db)
    assert 1 <= len(before) < 3
    resumed = _sweep([plan, "--db", db], tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming sweep" in resumed.stdout
    rows = _sweep_rows(db)
    assert len(rows) == 3 and len({r[1] for r in rows}) == 3 and len({r[0] for r in rows}) == 1
    assert rows[:len(before)] == before
    with open_store(db, read_only=True) as store:
        (sweep,) = store.sweeps()
        assert sweep.finished is not None and sweep.sweep_id == rows[0][0]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT COUNT(*) FROM records r LEFT JOIN samples s USING (record_id)"
                       " WHERE s.record_id IS NULL").fetchone() == (0,)


def test_failures_are_recorded_with_their_reason_and_retried_on_request(tmp_path):
    plan, db = _plan(tmp_path, precisions='"fp16", "fp32"'), tmp_path / "s.db"
    first = _sweep([plan, "--db", db, "--format", "json"], tmp_path)
    assert first.returncode == 1, first.stderr  # some configurations failed
    outcome = json.loads(first.stdout)
    assert outcome["measured_ok"] == 2 and outcome["measured_failed"] == 2
    with open_store(db, read_only=True) as store:
        failed = store.query(status="failed")
    assert len(failed) == 2 and {r.failure_kind for r in failed} == {"user-error"}
    assert all("fp16" in r.error for r in failed)
    skipped = json.loads(_sweep([plan, "--db", db, "--format", "json"], tmp_path).stdout)
    assert skipped["counts"] == {"measure": 0, "in-sweep": 0, "measured": 2, "failed": 2}
    retried = json.loads(_sweep([plan, "--db", db, "--format", "json", "--retry-failed"], tmp_path).stdout)
    assert retried["counts"]["measure"] == 2 and retried["measured_failed"] == 2 and retried["measured_ok"] == 0
    assert len(_sweep_rows(db)) == 6


def test_two_sweeps_racing_on_one_plan_record_each_configuration_once(tmp_path):
    plan, db = _plan(tmp_path), tmp_path / "s.db"
    open_store(db).close()
    procs = [subprocess.Popen([sys.executable, "-m", "accelbench", "sweep", str(plan), "--db", str(db),
                               "--format", "json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out))
    assert outcomes[0]["sweep_id"] == outcomes[1]["sweep_id"]  # both continued the one open sweep
    rows = _sweep_rows(db)
    assert len(rows) == 2 and len({r[1] for r in rows}) == 2
    assert sum(o["measured_ok"] for o in outcomes) == 2  # each stored by exactly one of them
    for o in outcomes:  # what a sweep measured was stored, or dropped because the other had stored it
        assert o["counts"]["measure"] == o["measured_ok"] + o["duplicates_dropped"]


def test_bad_plans_are_refused_before_anything_runs(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('[axes]\nmodels = ["mobilenet_v2"]\nprecison = ["int8"]\n')
    db = tmp_path / "s.db"
    result = _sweep([plan, "--db", db], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: plan [axes]: unknown key 'precison' (did you mean 'precisions'?); allowed: models, resolutions,"
        " batches, precisions, backends, scenarios, devices"]
    assert not db.exists()
    missing = _sweep([tmp_path / "nope.toml", "--db", db], tmp_path)
    assert missing.returncode == 2 and "is not a file" in missing.stderr


def test_progress_counts_and_eta():
    from accelbench.report.sweep_progress import SweepProgress

    shown = SweepProgress(3, eta_s=90.0, live=False)
    with shown:
        shown.finished(True, "ok a", in_flight=2, eta_s=60.0)
        shown.finished(False, "FAILED b: crash", in_flight=1, eta_s=30.0)
        assert shown.status() == "done 1, failed 1, left 1, 1 running; ETA 30 s"
    assert (shown.done, shown.failed, shown.left) == (1, 1, 1)
    live = SweepProgress(2, eta_s=20.0, live=True)  # the rich bar: counts in its description
    with live:
        live.update(in_flight=2, eta_s=15.0)
        live.finished(True, "ok a", in_flight=1, eta_s=5.0)
        assert live._bar.tasks[0].description == "done 1, failed 0, left 1" and live._bar.tasks[0].completed == 1


def test_crashes_are_recorded_and_never_stop_the_sweep(tmp_path):
    plan, db = _plan(tmp_path), tmp_path / "s.db"
    result = _sweep([plan, "--db", db, "--format", "json"], tmp_path,
                    env={**os.environ, "ACCELBENCH_TEST_CRASH": "abort"})  # every measurement child aborts
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["measured_failed"] == 2
    with open_store(db, read_only=True) as store:
        failed = store.query(status="failed")
    assert [r.failure_kind for r in failed] == ["crash", "crash"] and all("SIGABRT" in r.error for r in failed)


def test_a_configuration_too_large_for_memory_is_a_failed_record_and_the_sweep_goes_on(tmp_path):
    """The memory estimate (measure/memory.py, via run_config) refuses 65536x65536 before anything
    allocates; in a sweep that is one failed user-error record, not the end of the sweep."""
    plan, db = tmp_path / "plan.toml", tmp_path / "s.db"
    plan.write_text('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["65536", "32"]\n[measure]\ntime_limit_s = 0.2\n')
    result = _sweep([plan, "--db", db, "--format", "json"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["measured_failed"] == 1
    with open_store(db, read_only=True) as store:
        (failed,) = store.query(status="failed")
        (ok,) = store.query(status="ok")
    assert failed.failure_kind == "user-error" and failed.error.startswith("memory: "), failed.error
    assert "more than the" in failed.error and ok.config.resolution == "32"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_says_how_to_resume(tmp_path, sig, code):
    """Ctrl-C, and SIGTERM (cli.main raises it as an exception, so the sweep's own handler runs)."""
    plan, db = _plan(tmp_path), tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-m", "accelbench", "sweep", str(plan), "--db", str(db)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not measurement_children(proc.pid):
        time.sleep(0.05)
    children = measurement_children(proc.pid)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    psutil.wait_procs(children, timeout=10)  # the measurement was stopped with the sweep
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert "run the same command to resume" in err and "Traceback" not in err
    with open_store(db, read_only=True) as store:
        (sweep,) = store.sweeps()
    assert sweep.finished is None  # the next run of the command continues it


def test_worker_builds_the_ray_start_command(capsys):
    from cli_helpers import cli_exit_code

    assert cli_exit_code(["worker", "--head", "--port", "7000", "--client-port", "7001", "--device", "cpu:a",
                          "--device", "cpu:a", "--device", "gpu:nvidia-l4", "--temp-dir", "/tmp/r", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "devices advertised: cpu:a x2, gpu:nvidia-l4" in captured.err
    cmd = captured.out.strip()
    assert " start " in cmd and "--head --port 7000 --ray-client-server-port 7001" in cmd
    assert '\'{"accelbench/cpu:a": 2, "accelbench/gpu:nvidia-l4": 1}\'' in cmd and "--num-gpus 1" in cmd
    assert "--temp-dir /tmp/r" in cmd
    assert cli_exit_code(["worker", "--address", "10.0.0.1:6379", "--no-devices", "--dry-run"]) == 0
    assert "--address 10.0.0.1:6379" in capsys.readouterr().out
    for argv, message in ((["worker", "--dry-run"], "give --address HOST:PORT to join a cluster, or --head"),
                          (["worker", "--head", "--address", "h:1", "--dry-run"], "or --head to start one (not both)"),
                          (["worker", "--address", "h:1", "--temp-dir", "/x", "--dry-run"], "applies to the head only"),
                          (["worker", "--head", "--device", "tpu", "--dry-run"], "is not a device id")):
        assert cli_exit_code(argv) == 2
        assert message in capsys.readouterr().err


def test_a_missing_extra_is_named(monkeypatch, tmp_path):
    from accelbench.errors import UserError
    from accelbench.sweep.runner import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the cluster extra were not installed
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UserError, match=r"--cluster needs Ray .* pip install 'accelbench\[cluster\]'"):
        make_executor("ray://127.0.0.1:10001")
    with pytest.raises(UserError, match=r"pip install 'accelbench\[postgres\]'"):
        open_store("postgresql://me@127.0.0.1/none")
    with pytest.raises(UserError, match="is not a cluster address"):
        make_executor("localhost")


def test_cluster_run_helpers():
    from accelbench.job.plan import RunPlan, StageConfig
    from accelbench.job.stages import Measured
    from accelbench.results.records import BenchConfig, BenchRecord, Environment, GpuEnvironment, RunInfo
    from accelbench.sweep.cluster_run import cluster_peaks, device_precisions, owned_catalog_devices
    from accelbench.sweep.devices import DeviceId

    cfg = StageConfig(2, "resnet50", "64", 1, "single-stream", "ResNet-50 @ 64, batch 1")
    plan = RunPlan((cfg,), ("fp32", "bf16"), "auto", 0.2, "latency", True, False)
    cpu, gpu = DeviceId("cpu", "a"), DeviceId("gpu", "nvidia-l4")
    assert device_precisions(plan, cpu, False, {cpu: "int8"}) == ("fp32", "int8")  # as its node reports
    assert device_precisions(plan, gpu, False, {}) == ("fp32", "fp16")
    assert device_precisions(plan, gpu, True, {}) == ("fp32", "bf16")  # --precision as given
    xeon = BenchRecord(config=BenchConfig(model="resnet50"), run_id="r", latency_ns=(1,), peak_macs_per_s=5e12,
                       peak_source="host theoretical",
                       run_info=RunInfo("onnxruntime", "1.20.1", "cpu", "CPUExecutionProvider", 1, "fp32", "fp32",
                                        "runtime-reported"),
                       environment=Environment(cpu_model="Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz"))
    l4 = BenchRecord(config=BenchConfig(model="resnet50", device="cuda"), run_id="r", latency_ns=(1,),
                     environment=Environment(gpu=GpuEnvironment(name="NVIDIA L4")))
    measured = [Measured(cfg, "fp32", xeon), Measured(cfg, "fp16", l4)]
    assert owned_catalog_devices(measured) == {"xeon_8480plus", "l4"}  # measured, so not projected
    stage1 = cluster_peaks(measured, {xeon.record_id: "cpu:a", l4.record_id: "gpu:nvidia-l4"})
    own = [p for p in stage1.peak_data.peaks if p.source == "theoretical"]
    assert [(p.device, p.precision, p.peak_ops_per_s) for p in own] == [("cpu:a", "fp32", 1e13)]
    assert stage1.lesson.startswith("peaks of the cluster's devices: cpu:a fp32 10")
    assert any(p.source == "catalog" for p in stage1.peak_data.peaks)


def test_a_node_measures_a_shipped_onnx_file(tmp_path, monkeypatch):
    """What a Ray task does with an ONNX file sent through the object store (without Ray)."""
    import onnx

    from accelbench.models.loader import load_model
    from accelbench.results.records import BenchConfig, BenchRecord
    from accelbench.sweep.ray_executor import measure_on_node, node_cache_dir

    pytest.importorskip("ray")

    onnx.save(load_model("mobilenet_v2", resolution="32").proto, tmp_path / "net.onnx")
    config = BenchConfig(model="/elsewhere/net.onnx", source="file", time_limit_s=0.2)
    payload = {"config": config.to_dict(), "run_id": "r", "timeout_s": 120, "model_digest": "abc123"}
    result = measure_on_node(payload, (tmp_path / "net.onnx").read_bytes())
    record = BenchRecord.from_dict(result["record"])
    assert record.ok, record.error
    assert record.config.model == str(node_cache_dir() / "models" / "abc123.onnx")  # the driver restores its own
    assert result["node"].endswith("/local") and result["seconds"] > 0
    import ray

    assert not ray.is_initialized()  # nothing started a Ray instance here


def test_a_node_measures_with_the_users_shipped_inputs(tmp_path, monkeypatch):
    """--inputs / calibration_data of a plan travel to the node like ONNX files (without Ray): a
    folder arrives as a folder, a file as a file, each once per digest, and the node measures on them."""
    import numpy as np

    from accelbench.hardware.host import MEASURED_PEAKS_ENV
    from accelbench.results.records import BenchConfig, BenchRecord
    from accelbench.sweep.ray_executor import data_payload, measure_on_node, node_cache_dir, unpack_data

    pytest.importorskip("ray")
    monkeypatch.setenv(MEASURED_PEAKS_ENV, str(tmp_path / "node"))
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    np.save(frames / "a.npy", rng.random((2, 1, 3, 32, 32), dtype=np.float32))
    np.savez(frames / "b.npz", input=rng.random((1, 3, 32, 32), dtype=np.float32))
    (frames / "README").write_text("not data")
    np.save(tmp_path / "one.npy", rng.random((1, 3, 32, 32), dtype=np.float32))

    shipped = data_payload(str(frames))
    assert shipped["folder"] and sorted(shipped["files"]) == ["a.npy", "b.npz"]
    folder = unpack_data(shipped)
    assert folder == str(node_cache_dir() / "data" / shipped["digest"]) and unpack_data(shipped) == folder
    assert sorted(p.name for p in Path(folder).iterdir()) == ["a.npy", "b.npz"]
    one = data_payload(str(tmp_path / "one.npy"))
    assert not one["folder"] and unpack_data(one).endswith("/one.npy")

    config = BenchConfig(model="mobilenet_v2", resolution="32", time_limit_s=0.2, inputs="/driver/only/frames")
    payload = {"config": config.to_dict(), "run_id": "r", "timeout_s": 120}
    record = BenchRecord.from_dict(measure_on_node(payload, None, shipped, None)["record"])
    assert record.ok, record.error
    assert record.config.inputs == folder and record.inputs_source == "user"
    assert any("3 input set(s)" in note for note in record.notes), record.notes
