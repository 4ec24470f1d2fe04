"""Sweeps and the four-stage run on a real local Ray cluster (tests/ray_helpers.py): a head that
only schedules and two worker nodes, each a process group on loopback. Devices are given names
(`accelbench worker --device`) so that one machine stands for several: w1 has cpu:shared and
cpu:lonely, w2 has cpu:shared. The last test kills w1 in the middle of a measurement."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from accelbench.results.store import open_store  # noqa: E402
from ray_helpers import LocalRayCluster, ray_env  # noqa: E402

pytestmark = pytest.mark.slow

PLAN = """
name = "cluster"
[axes]
models = ["mobilenet_v2"]
resolutions = [{sizes}]
devices = [{devices}]
[measure]
time_limit_s = {limit}
{extra}"""


@pytest.fixture(scope="module")
def cluster():
    ray_cluster = LocalRayCluster()
    try:
        ray_cluster.start_head()  # schedules only: every measurement runs on a worker node
        ray_cluster.add_node("w1", ["cpu:shared", "cpu:lonely"])
        ray_cluster.add_node("w2", ["cpu:shared"])
        yield ray_cluster
    finally:
        ray_cluster.stop()


def _accelbench(args, cwd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accelbench", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=ray_env(kwargs.pop("env", None)), **kwargs)


def _plan(tmp_path: Path, sizes: str, devices: str, limit: float = 0.2, extra: str = "") -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(PLAN.format(sizes=sizes, devices=devices, limit=limit, extra=extra))
    return path


def _node_resources(address: str) -> dict[str, list[str]]:
    """Node id prefix (as progress lines show it) -> the accelbench devices it advertises."""
    code = ("import json, ray; ray.init(address=%r, log_to_driver=False, logging_level='ERROR');"
            "print(json.dumps({n['NodeID'][:8]: sorted(k for k in n['Resources'] if k.startswith('accelbench/'))"
            " for n in ray.nodes() if n['Alive']}))" % address)
    for _ in range(3):  # a busy head sometimes fails to start a Ray Client server (as RayExecutor, retry)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=ray_env())
        if out.returncode == 0:
            break
        time.sleep(2.0)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_sweep_runs_each_configuration_on_a_node_that_has_its_device(cluster, tmp_path):
    plan, db = _plan(tmp_path, '"32", "40"', '"all"'), tmp_path / "central.db"
    refused = _accelbench(["sweep", _plan(tmp_path, '"32"', '"cpu:nope"'), "--cluster", cluster.address,
                           "--db", db, "--dry-run"], tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == (
        f"error: devices: 'cpu:nope' is not on the cluster at {cluster.address}; available: cpu:lonely, cpu:shared")
    plan = _plan(tmp_path, '"32", "40"', '"all"')
    result = _accelbench(["sweep", plan, "--cluster", cluster.address, "--db", db], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "] ok mobilenet_v2" in line]
    assert len(lines) == 4
    nodes = _node_resources(cluster.address)
    for line in lines:
        device, node = re.search(r" on (\S+) \[[^/\]]+/([0-9a-f]+)\]", line).groups()
        assert f"accelbench/{device}" in nodes[node], (line, nodes)  # measured where its device is
    con = sqlite3.connect(db)
    rows = con.execute("SELECT config_hash, device, status FROM records").fetchall()
    con.close()
    assert len(rows) == 4 and len({r[0] for r in rows}) == 4 and {r[2] for r in rows} == {"ok"}
    with open_store(db, read_only=True) as store:
        for record in store.query():
            assert record.environment.hostname and record.environment.runtime_versions
    again = _accelbench(["sweep", plan, "--cluster", cluster.address, "--db", db, "--format", "json"], tmp_path)
    assert json.loads(again.stdout)["counts"]["measured"] == 4


def test_run_cluster_gives_one_summary_with_every_device_measured(cluster, tmp_path):
    db, report = tmp_path / "run.db", tmp_path / "report.html"
    # the constraints of `run` hold on a cluster too: --max-watts 100 leaves the big GPUs out of the ranking
    result = _accelbench(["run", "--cluster", cluster.address, "--db", db, "--report", report, "--precision", "fp32",
                          "--time-limit", "0.2", "--format", "json", "--quiet", "--max-watts", "100"], tmp_path,
                         env={"ACCELBENCH_TINY": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout)  # stdout is the JSON alone: the lessons went to stderr
    measured = [e for e in summary["ranking"] if e["kind"] == "measured"]
    assert {e["device"] for e in measured} == {"cpu:shared", "cpu:lonely"}
    assert all(e["label"].startswith(e["device"]) for e in measured)
    assert any(e["kind"] == "projected" for e in summary["ranking"])  # catalog devices nobody has
    assert [s["stage"] for s in summary["stages"]] == [1, 2, 3, 4] and "cpu:shared" in summary["stages"][0]["lesson"]
    with open_store(db, read_only=True) as store:
        records = store.query(run_id=summary["run_id"])
        hashes = store.config_hashes(summary["run_id"])
    assert len(records) == 2 * 3 and all(r.ok for r in records) and len(set(hashes.values())) == 6
    # as `run` does, one configuration of stages 2 and 3 gets per-layer times, on each device
    layered = [r for r in records if r.layer_times is not None]
    assert len(layered) == 2 * 2 and {r.config.model for r in layered} == {"resnet50", "yolov3"}
    assert any(note.startswith("per-layer times: 4 configuration(s)") for note in summary["notes"])
    html = report.read_text()
    assert "cpu:shared" in html and "cpu:lonely" in html
    assert summary["constraints"] == {"max_watts": 100.0}
    excluded = [e for e in summary["ranking"] if e.get("excluded")]
    assert any(e["kind"] == "projected" and e["excluded"].startswith("TDP ") for e in excluded)
    assert all(e["rank"] is None for e in excluded)
    assert all(e["power_w"] <= 100 for e in summary["ranking"] if e["rank"] is not None and e.get("power_w"))
    assert f"{len(excluded)} of {len(summary['ranking'])} excluded" in html


def test_a_plans_inputs_travel_to_the_node_with_the_streams_setting(cluster, tmp_path):
    """[measure] inputs (a folder, relative to the plan) reach a node that shares no file system
    with the driver: the record measured the user's data, with two requests in flight."""
    import numpy as np

    (tmp_path / "frames").mkdir()
    np.save(tmp_path / "frames" / "a.npy", np.random.default_rng(0).random((3, 1, 3, 32, 32), dtype=np.float32))
    plan, db = tmp_path / "inputs.toml", tmp_path / "inputs.db"
    plan.write_text('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32"]\nscenarios = ["offline"]\n'
                    'devices = ["cpu:lonely"]\n[measure]\ntime_limit_s = 0.2\nstreams = 2\ninputs = "frames"\n')
    result = _accelbench(["sweep", plan, "--cluster", cluster.address, "--db", db, "--format", "json"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open_store(db, read_only=True) as store:
        (record,) = store.query()
    assert record.ok, record.error
    assert record.config.inputs == str(tmp_path / "frames") and record.inputs_source == "user"
    assert record.streams == 2 and any("3 input set(s)" in note for note in record.notes), record.notes


def _measuring(cluster: LocalRayCluster, node: str) -> bool:
    for pid in cluster.node_processes(node):
        try:
            if "accelbench.measure.worker" in Path(f"/proc/{pid}/cmdline").read_text():
                return True
        except OSError:
            continue
    return False


def test_a_worker_killed_mid_measurement_loses_and_duplicates_nothing(cluster, tmp_path):
    # a CI target no 2 s can meet: each measurement lasts its whole time limit, long enough to be seen
    # and killed under load (the default target ends a 32x32 measurement in a tenth of a second)
    plan = _plan(tmp_path, '"32", "40"', '"cpu:shared", "cpu:lonely"', limit=2.0, extra="target_ci = 0.0001\n")
    db = tmp_path / "central.db"
    log = tmp_path / "sweep.log"
    with open(log, "w") as out:
        sweep = subprocess.Popen([sys.executable, "-m", "accelbench", "sweep", str(plan), "--cluster", cluster.address,
                                  "--db", str(db), "--format", "json"], stdout=out, stderr=subprocess.STDOUT,
                                 env=ray_env(), cwd=tmp_path)
    deadline = time.monotonic() + 300
    while not _measuring(cluster, "w1"):
        assert time.monotonic() < deadline and sweep.poll() is None, log.read_text()[-3000:]
        time.sleep(0.1)
    cluster.kill("w1")  # its raylet, its Ray workers and the measurements they were running
    assert sweep.wait(timeout=600) == 1, log.read_text()[-3000:]  # the lonely device's configurations failed
    with open_store(db, read_only=True) as store:
        records = store.query()
        (sweep_entry,) = store.sweeps()
    assert sweep_entry.finished is not None
    assert len(records) == 4 and len({(r.config.resolution, r.config.model, r.record_id) for r in records}) == 4
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(DISTINCT config_hash) FROM records").fetchone() == (4,)
    con.close()
    by_status = {}
    for record in records:
        by_status.setdefault(record.status, []).append(record)
    assert len(by_status["ok"]) == 2  # cpu:shared: what w1 was measuring ran again on w2
    assert len(by_status["failed"]) == 2
    for record in by_status["failed"]:
        assert record.failure_kind == "killed" and "cpu:lonely" in record.error


def _interrupted_summaries(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM run_summaries WHERE summary_json LIKE '%\"interrupted\"%'"
                               " AND run_id IN (SELECT run_id FROM records)").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_run_cluster_killed_leaves_an_interrupted_run_that_the_report_shows(cluster, tmp_path):
    """As `run` does (tests/test_run_interrupted.py): after each configuration a node hands back, the
    summary so far is stored marked interrupted. Last in this module: w1 is gone, cpu:shared is on w2."""
    db, report = tmp_path / "run.db", tmp_path / "report.html"
    run = subprocess.Popen([sys.executable, "-m", "accelbench", "run", "--cluster", cluster.address, "--db", str(db),
                            "--precision", "fp32", "--time-limit", "0.2", "--no-layers", "--no-report", "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
                           env=ray_env({"ACCELBENCH_TINY": "1"}))
    try:
        deadline = time.monotonic() + 300
        while not _interrupted_summaries(db) and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert run.poll() is None, "the run finished (or failed) before it could be killed"
        run.kill()
        run.wait(30)
    finally:
        if run.poll() is None:
            run.kill()
    result = _accelbench(["report", "--db", db, "-o", report, "-f", "json"], tmp_path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["interrupted"] is True and shown["records"] >= 1
    with open_store(db, read_only=True) as store:
        (run_id,) = store.run_ids()
        summary = store.load_summary(run_id)
    assert summary.interrupted and not summary.ranking and summary.stage(1) is not None
    assert any(note.startswith("did not finish: ") for note in summary.notes)
