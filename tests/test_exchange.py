"""`accelbench export` / `accelbench merge`: a versioned JSON with provenance and raw samples moves
runs between stores (SQLite and PostgreSQL); duplicates and unknown formats are refused in one
line and nothing is merged."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from accelbench.errors import UserError
from accelbench.results.exchange import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, export_runs, merge_files, write_export
from accelbench.results.records import BenchConfig, BenchRecord, Environment, PowerRecord, RunInfo
from accelbench.results.store import open_store
from accelbench.results.summary import RunSummary, StageSummary
from cli_helpers import cli_exit_code
from pg_helpers import pg_admin_url, pg_url  # noqa: F401  (fixtures)
from record_helpers import small_layer_times


def _record(run_id: str, latency=(1_500_000, 1_700_000, 1_600_000), **kw) -> BenchRecord:
    return BenchRecord(config=BenchConfig(model="resnet50", resolution="64"), run_id=run_id, latency_ns=latency,
                       run_info=RunInfo("onnxruntime", "1.20.1", "cpu", "CPUExecutionProvider", 4, "fp32", "fp32",
                                        "runtime-reported"),
                       power=PowerRecord(20.0, "estimated-tdp", idle_power_w=5.0),
                       environment=Environment(hostname="edge-board", cpu_model="ARM Cortex-A78AE"), **kw)


def _newer_record(run_id: str) -> BenchRecord:
    """A record with the parts added after the export format: per-layer times, unknown layers, the
    measured peak it was divided by (with its date), and LoadGen's INVALID verdict."""
    return _record(run_id, status="invalid", error="LoadGen: INVALID (min queries not met)",
                   layer_times=small_layer_times(),
                   unknown_layers={"layers": 1, "total_layers": 54, "mac_layers": 0, "total_mac_layers": 21,
                                   "unknown_ops": ["MyCustomOp"], "macs": 4_089_184_256},
                   measured_peak_macs_per_s=1.2e12, measured_peak_source="onnxruntime GEMM 2048, 5 runs",
                   measured_peak_at="2030-01-01T00:00:00+00:00")


@pytest.fixture
def edge_store(tmp_path):
    """A store as an edge board leaves it: a bench run, a sweep run with hashes, a four-stage summary."""
    path = tmp_path / "edge.db"
    with open_store(path) as store:
        store.save(_record("bench-1"))
        store.save(_record("sweep-1"), config_hash="aaaa000011112222")
        store.save(BenchRecord.failed(BenchConfig(model="resnet50"), "sweep-1", "timed out after 5 s", "timeout"),
                   config_hash="bbbb000011112222")
        store.save_summary(RunSummary(run_id="sweep-1", created="2030-01-01T00:00:00+00:00", command="accelbench run",
                                      objective="latency", stages=(StageSummary(1, "peak TOPS", "peak says 1"),)))
    return path


def test_export_is_versioned_with_provenance_and_raw_samples(edge_store, tmp_path):
    out = tmp_path / "results.json"
    assert cli_exit_code(["export", "--db", str(edge_store), "--run", "sweep-1", "--run", "bench-1",
                          "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == EXPORT_FORMAT and doc["format_version"] == EXPORT_FORMAT_VERSION
    assert doc["exported_by"]["store"] == str(edge_store) and doc["record_schema_version"] == 1
    assert [run["run_id"] for run in doc["runs"]] == ["sweep-1", "bench-1"]
    sweep = doc["runs"][0]
    assert sweep["summary"]["run_id"] == "sweep-1"
    ok, failed = sweep["records"]
    assert ok["config_hash"] == "aaaa000011112222" and failed["config_hash"] == "bbbb000011112222"
    assert ok["record"]["latency_ns"] == [1_500_000, 1_700_000, 1_600_000]  # raw samples, ns
    assert ok["record"]["provenance"]["power_w"].startswith("estimated")
    assert ok["record"]["environment"]["hostname"] == "edge-board"
    assert failed["record"]["status"] == "failed" and failed["record"]["failure_kind"] == "timeout"
    assert doc["runs"][1]["summary"] is None and doc["runs"][1]["records"][0]["config_hash"] is None


def test_merge_round_trip_then_refuses_duplicates(edge_store, tmp_path, capsys):
    out = tmp_path / "all.json"
    assert cli_exit_code(["export", "--db", str(edge_store), "--all", "-o", str(out)]) == 0
    central = tmp_path / "central.db"
    with open_store(central) as store:
        store.save(_record("central-run"))
    assert cli_exit_code(["merge", str(out), "--db", str(central)]) == 0
    assert "merged 3 records of 2 runs from 1 files" in capsys.readouterr().out
    with open_store(edge_store, read_only=True) as a, open_store(central, read_only=True) as b:
        for run in ("bench-1", "sweep-1"):
            assert [r.to_dict() for r in a.query(run_id=run)] == [r.to_dict() for r in b.query(run_id=run)]
            assert a.config_hashes(run) == b.config_hashes(run)
        assert b.load_summary("sweep-1").to_dict() == a.load_summary("sweep-1").to_dict()
        assert [o.run_id for o in b.config_outcomes(["aaaa000011112222"])] == ["sweep-1"]
        assert b.count() == 4
    assert cli_exit_code(["merge", str(out), "--db", str(central)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is already in" in err[0] and "nothing was merged" in err[0] and str(out) in err[0]
    with open_store(central, read_only=True) as store:
        assert store.count() == 4


@pytest.mark.parametrize("content, expected", [
    ('{"format": "accelbench-results", "format_version": 99, "runs": []}',
     "export format version 99 is unknown to this accelbench (it reads 1)"),
    ('{"hello": "world"}', 'not an accelbench export (no "format": "accelbench-results")'),
    ('{"format": "accelbench-results", "format_version": 1, "runs": [{"run_id": "x", "reco',
     "not an accelbench export (Unterminated string"),
    ('{"format": "accelbench-results", "format_version": 1, "runs": [{"run_id": "x"}]}',
     "malformed export (KeyError: 'records')"),
])
def test_merge_refuses_files_it_cannot_read(tmp_path, content, expected, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    db = tmp_path / "central.db"
    assert cli_exit_code(["merge", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: merge: {bad}: ") and expected in err[0], err


def test_a_record_of_an_unknown_schema_version_is_refused(edge_store, tmp_path):
    with open_store(edge_store, read_only=True) as store:
        doc = export_runs(store, ["bench-1"])
    doc["runs"][0]["records"][0]["record"]["schema_version"] = 7
    path = tmp_path / "future.json"
    write_export(doc, str(path))
    with open_store(tmp_path / "c.db") as store, pytest.raises(UserError, match="schema version 7 is not readable"):
        merge_files(store, [str(path)])


def test_the_same_record_in_two_files_is_refused_and_nothing_is_merged(edge_store, tmp_path):
    with open_store(edge_store, read_only=True) as store:
        doc = export_runs(store, ["bench-1"])
        other = export_runs(store, ["sweep-1"])
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    write_export(doc, str(a))
    write_export(doc, str(b))
    write_export(other, str(c))
    with open_store(tmp_path / "central.db") as store:
        with pytest.raises(UserError, match=f"merge: {b}: record .* is also in {a}; nothing was merged"):
            merge_files(store, [str(c), str(a), str(b)])
        assert store.count() == 0
        with pytest.raises(UserError, match="run: 'nope' is not in"):
            export_runs(store, ["nope"])


@pytest.mark.parametrize("central", ["sqlite", "postgresql"])
def test_export_and_merge_carry_layer_times_and_the_newer_record_fields(tmp_path, central, request):
    edge, out = tmp_path / "edge.db", tmp_path / "newer.json"
    newer = _newer_record("bench-2")
    with open_store(edge) as store:
        store.save(newer, config_hash="cccc000011112222")
    assert cli_exit_code(["export", "--db", str(edge), "--run", "bench-2", "-o", str(out)]) == 0
    (entry,) = json.loads(out.read_text())["runs"][0]["records"]
    record = entry["record"]
    assert record["status"] == "invalid" and record["measured_peak_at"] == "2030-01-01T00:00:00+00:00"
    assert record["unknown_layers"]["unknown_ops"] == ["MyCustomOp"]
    assert record["layer_times"]["runs"] == 2 and [la["name"] for la in record["layer_times"]["layers"]] == [
        "conv1", "fc"]
    db = str(tmp_path / "central.db") if central == "sqlite" else request.getfixturevalue("pg_url")
    assert cli_exit_code(["merge", str(out), "--db", db]) == 0
    with open_store(db, read_only=True) as store:
        (back,) = store.query(run_id="bench-2")
        assert store.config_hashes("bench-2") == {newer.record_id: "cccc000011112222"}
    assert back.to_dict() == newer.to_dict()
    assert back.layer_times == newer.layer_times and back.unknown_layers == newer.unknown_layers
    assert back.status == "invalid" and back.measured_peak_at == newer.measured_peak_at


def test_merge_into_postgresql_and_export_from_it(edge_store, tmp_path, pg_url):
    out, back = tmp_path / "edge.json", tmp_path / "back.json"
    assert cli_exit_code(["export", "--db", str(edge_store), "--all", "-o", str(out)]) == 0
    assert cli_exit_code(["merge", str(out), "--db", pg_url]) == 0
    assert cli_exit_code(["merge", str(out), "--db", pg_url]) == 2
    assert cli_exit_code(["export", "--db", pg_url, "--all", "-o", str(back)]) == 0
    first, second = json.loads(out.read_text()), json.loads(back.read_text())
    assert first["runs"] == second["runs"]


def test_an_edge_board_sweep_merged_centrally_is_not_measured_again(tmp_path):
    """The disconnected-device flow: sweep on the board, export, merge, and the same plan centrally
    finds the configuration measured (same device id, same configuration hash)."""
    plan = tmp_path / "plan.toml"
    plan.write_text('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32"]\n[measure]\ntime_limit_s = 0.2\n')
    edge, central, out = tmp_path / "edge.db", tmp_path / "central.db", tmp_path / "edge.json"
    run = lambda *args: subprocess.run([sys.executable, "-m", "accelbench", *map(str, args)],  # noqa: E731
                                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    swept = run("sweep", plan, "--db", edge, "--format", "json")
    assert swept.returncode == 0, swept.stderr
    sweep_id = json.loads(swept.stdout)["sweep_id"]
    assert run("export", "--db", edge, "--run", sweep_id, "-o", out).returncode == 0
    assert run("merge", out, "--db", central).returncode == 0
    dry = json.loads(run("sweep", plan, "--db", central, "--dry-run", "--format", "json").stdout)
    assert dry["counts"]["measured"] == 1 and dry["counts"]["measure"] == 0
    assert Path(out).stat().st_size > 0


@pytest.mark.parametrize("central", ["sqlite", "postgresql"])
def test_export_and_merge_carry_streams_the_new_settings_and_the_constraints(tmp_path, central, request):
    """Issue 13's record and summary fields survive export -> merge -> export: requests in flight,
    the fixed count, the minimum duration, the user's inputs, the constraints and what they excluded."""
    from accelbench.results.summary import Constraints, RankEntry

    config = BenchConfig(model="resnet50", resolution="64", scenario="offline", streams=4, iterations=50,
                         min_duration_s=2.0, inputs="/data/frames.npz")
    record = replace(_record("bench-3", latency=(4_000_000, 4_200_000, 4_100_000, 3_900_000), streams=4,
                             measure_wall_ns=5_000_000), config=config)
    constraints = Constraints(max_latency_s=0.010, max_watts=100.0)
    summary = RunSummary(
        run_id="bench-3", created="2030-01-01T00:00:00+00:00", command="accelbench run --max-latency-ms 10",
        objective="latency", stages=(StageSummary(1, "peak TOPS", "peak says 1"),), constraints=constraints,
        ranking=(RankEntry(label="this host", kind="measured", device="host", record_id=record.record_id, rank=1,
                           latency_s=0.004, latency_p99_s=0.0042, power_w=20.0, metric="latency_s", value=0.004),
                 RankEntry(label="a hot one", kind="projected", device="gpu-x", latency_s=0.002, power_w=300.0,
                           metric="latency_s", value=0.002, excluded="TDP 300 W > 100 W")))
    edge, out, again = tmp_path / "edge.db", tmp_path / "e.json", tmp_path / "again.json"
    with open_store(edge) as store:
        store.save(record)
        store.save_summary(summary)
    assert cli_exit_code(["export", "--db", str(edge), "--run", "bench-3", "-o", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    written = run["records"][0]["record"]
    assert written["streams"] == 4 and written["inputs_source"] == "user"
    assert {k: written["config"][k] for k in ("streams", "iterations", "min_duration_s", "inputs")} == {
        "streams": 4, "iterations": 50, "min_duration_s": 2.0, "inputs": "/data/frames.npz"}
    assert run["summary"]["constraints"] == {"max_latency_s": 0.010, "max_watts": 100.0}
    assert [e.get("excluded") for e in run["summary"]["ranking"]] == [None, "TDP 300 W > 100 W"]
    db = str(tmp_path / "central.db") if central == "sqlite" else request.getfixturevalue("pg_url")
    assert cli_exit_code(["merge", str(out), "--db", db]) == 0
    with open_store(db, read_only=True) as store:
        (back,) = store.query(run_id="bench-3")
        back_summary = store.load_summary("bench-3")
    assert back.to_dict() == record.to_dict() and back.streams == 4 and back.config == config
    assert back.throughput_per_s == record.throughput_per_s  # completed queries / wall time, 4 in flight
    assert back_summary.constraints == constraints and back_summary.excluded == summary.excluded
    assert back_summary.to_dict() == summary.to_dict()
    assert cli_exit_code(["export", "--db", db, "--run", "bench-3", "-o", str(again)]) == 0
    assert json.loads(again.read_text())["runs"] == json.loads(out.read_text())["runs"]
