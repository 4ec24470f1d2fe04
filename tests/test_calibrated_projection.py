"""Use measurements when they exist: a device with measured records in the results store is
calibrated from them when another model is projected on it (that model's own records left out),
labelled "calibrated projection" everywhere; `calibrate` shows the leave-one-measurement-out error.

The "measurements" are real records in a real SQLite store whose latencies were made by projecting
with known figures (compute efficiency 0.3, 30 us per layer) on this host: a fit on the other models
must recover figures that reproduce the left-out model.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from accelbench.hardware.devices import get_device
from accelbench.projection.api import device_params, load_profile, project_devices
from accelbench.projection.measured import (
    calibration_from_records, device_records, ran_on, records_to_points, store_records,
)
from accelbench.projection.model import CALIBRATED_PROJECTION, PROJECTION, project_batch
from accelbench.results.records import BenchConfig, BenchRecord, RunInfo, new_run_id
from accelbench.results.store import open_store
from cli_helpers import cli_exit_code

TRUE_FIGURES = {"compute_efficiency": 0.3, "layer_overhead_s": 3e-5}
CASES = (("resnet50", "64"), ("resnet50", "96"), ("mobilenet_v2", "96"), ("mobilenet_v2", "160"), ("resnet18", "128"))


def _run_info(precision, device="cpu"):
    return RunInfo(runtime="onnxruntime", runtime_version="test", device=device, execution_provider="test",
                   threads=1, precision_requested=precision, precision_executed=precision,
                   precision_source="test")


def _record(model, resolution, seconds, run_id, *, precision="fp32", device="cpu", environment=None):
    cfg = BenchConfig(model=model, resolution=resolution, batch=1, device=device, precision=precision)
    return BenchRecord(config=cfg, run_id=run_id, latency_ns=tuple(int(seconds * 1e9) + i for i in range(20)),
                       run_info=_run_info(precision, device), environment=environment or {})


@pytest.fixture(scope="module")
def host():
    return get_device("host")


@pytest.fixture(scope="module")
def truth(host):
    return replace(device_params(host, use_calibration=False)[0], **TRUE_FIGURES)


@pytest.fixture(scope="module")
def measured(tmp_path_factory, host, truth):
    """A store of this host's fp32 records (its CPU named in each environment), one int8 record, and
    records of another CPU that must never count."""
    db = tmp_path_factory.mktemp("measured") / "host.db"
    run_id = new_run_id()
    seconds = {case: project_batch(load_profile(case[0], resolution=case[1], precision="fp32"), host, truth, 1).time_s
               for case in CASES}
    this_cpu = {"cpu_model": host.name}
    with open_store(db) as store:
        for (model, res), s in seconds.items():
            store.save(_record(model, res, s, run_id, environment=this_cpu))
            # the same models on another machine, 10x slower: never this host's
            store.save(_record(model, res, 10 * s, run_id, environment={"cpu_model": "Some Other CPU 9000"}))
        store.save(_record("resnet18", "96", 0.5, run_id, precision="int8", environment=this_cpu))
    return db, seconds


def test_records_count_only_for_the_device_they_ran_on(measured, host):
    db, _ = measured
    records = store_records(db)
    mine = device_records(records, host)
    assert len(records) == 11 and len(mine) == 6
    assert all(r.environment.cpu_model == host.name for r in mine)
    # a GPU record names its GPU: NVML's "Tesla T4" is the catalog's T4 (an alias), not the L4
    gpu = _record("resnet50", "64", 0.001, "r", device="cuda", environment={"gpu": {"name": "Tesla T4"}})
    assert ran_on(gpu, get_device("t4")) and not ran_on(gpu, get_device("l4")) and not ran_on(gpu, host)
    unnamed = _record("resnet50", "64", 0.001, "r", device="cuda")
    assert not ran_on(unnamed, get_device("t4"))  # automatic calibration needs the name
    assert ran_on(unnamed, get_device("t4"), require_name=False)  # `calibrate --device t4` takes it


def test_missing_store_has_no_records(tmp_path):
    assert store_records(tmp_path / "absent.db") == ()
    assert store_records(f"sqlite:///{tmp_path / 'absent.db'}") == ()


def test_projection_of_another_model_is_calibrated_from_the_others(measured, host):
    db, seconds = measured
    profile = load_profile("resnet50", resolution="64", precision="fp32")
    (proj,), _ = project_devices(profile, [host], scenario="single-stream", batch=1, records=store_records(db),
                                 store=str(db))
    assert proj.calibrated and proj.provenance == CALIBRATED_PROJECTION
    cal = proj.calibration
    # fitted on the other three models' records only; resnet50's own two are what it is compared with
    assert cal.points == 3 and not any(label.startswith("resnet50@") for label in cal.labels)
    assert [h.label.split()[0] for h in cal.held_out] == ["resnet50@64", "resnet50@96"]
    assert cal.values["compute_efficiency"] == pytest.approx(0.3, rel=0.05)
    assert proj.latency_s == pytest.approx(seconds[("resnet50", "64")], rel=0.05)
    assert all(abs(h.error) < 0.05 for h in cal.held_out)
    assert "resnet50's own 2 left out" in proj.params_origin and str(db) in proj.params_origin
    # the interval comes from the fit's leave-one-measurement-out errors, not the CPU family's
    assert len(cal.loo_errors) == 3 and "leave-one-measurement-out" in proj.interval_source
    data = proj.to_dict(with_layers=False)
    assert data["provenance"] == CALIBRATED_PROJECTION and data["calibration"]["held_out"][0]["measured_s"] > 0


def test_no_calibration_without_other_models_or_at_another_precision(measured, host):
    db, _ = measured
    records = store_records(db)
    params, _ = device_params(host, use_calibration=False)
    only_own = [r for r in records if r.config.model == "resnet18"]
    target = load_profile("resnet18", resolution="128", precision="fp32")
    assert calibration_from_records(only_own, host, params, target=target) is None
    # the one int8 record is resnet18's: nothing else at int8 to fit a resnet50 int8 projection on...
    int8 = load_profile("resnet50", resolution="64", precision="int8")
    cal = calibration_from_records(records, host, params, target=int8)
    assert cal is not None and cal.points == 1 and cal.precision == "int8" and cal.loo_errors == ()
    assert cal.fitted_fields == ("compute_efficiency",)  # one point: one figure
    # ...and a single point has no leave-one-out errors: the interval stays the family's
    (proj,), _ = project_devices(int8, [host], records=records)
    assert proj.calibrated and "leave-one-measurement-out" not in proj.interval_source
    (plain,), _ = project_devices(int8, [host], records=records, use_calibration=False)
    assert not plain.calibrated and plain.provenance == PROJECTION and plain.calibration is None


def test_project_cli_labels_the_calibrated_projection(measured, capsys):
    db, _ = measured
    argv = ["project", "resnet50", "-r", "64", "-d", "host,t4", "-p", "fp32", "--scenario", "single-stream",
            "--db", str(db)]
    assert cli_exit_code(argv) == 0
    out = capsys.readouterr().out
    assert "host (cal.)" in out and "t4 (cal.)" not in out
    line = next(x for x in out.splitlines() if x.startswith("host (cal.): calibrated projection"))
    assert "resnet50's own 2 left out" in line and "leave-one-measurement-out median |error|" in line
    assert "resnet50@64 fp32 b1 onnxruntime: measured" in line
    assert "held in 26 of 30 leave-one-device-out cases" in out  # the bands' record on the published table
    assert cli_exit_code(argv + ["--format", "json"]) == 0
    host_json, t4_json = json.loads(capsys.readouterr().out)["devices"]
    assert host_json["provenance"] == CALIBRATED_PROJECTION and host_json["calibrated"]
    assert t4_json["provenance"] == PROJECTION and "calibration" not in t4_json
    assert cli_exit_code(argv + ["--format", "json", "--no-calibration"]) == 0
    assert not json.loads(capsys.readouterr().out)["devices"][0]["calibrated"]


def test_project_table_shows_the_bands(capsys):
    assert cli_exit_code(["project", "resnet50", "-r", "64", "-d", "a2", "--no-calibration"]) == 0
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.startswith("a2 "))
    assert row.count("–") == 2  # latency and throughput, each "central (low–high)"
    assert cli_exit_code(["project", "resnet50", "-r", "64", "-d", "a2", "--no-calibration", "-f", "json"]) == 0
    a2 = json.loads(capsys.readouterr().out)["devices"][0]
    from accelbench.report.units import fmt_band, fmt_time_band

    assert fmt_band(a2["throughput_per_s"], a2["throughput_per_s_low"], a2["throughput_per_s_high"], suffix="/s") in row
    assert fmt_time_band(a2["latency_s"], a2["latency_s_low"], a2["latency_s_high"]) + " @b1" in row


def test_calibrate_reports_leave_one_measurement_out_beside_the_fit(measured, tmp_path, monkeypatch, capsys, host):
    db, _ = measured
    cal_file = tmp_path / "calibration.toml"
    monkeypatch.setenv("ACCELBENCH_CALIBRATION", str(cal_file))
    assert cli_exit_code(["calibrate", "--db", str(db), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    loo = data["leave_one_out"]
    assert len(loo["points"]) == len(data["points"]) == 6 and data["median_abs_error_loo"] == loo["median_abs_error"]
    assert [p["label"] for p in loo["points"]] == [p["label"] for p in data["points"]]
    # five consistent fp32 measurements and an int8 one that disagrees (0.5 s): the fit on all six
    # absorbs some of it, the left-out error of that point cannot
    odd = next(i for i, p in enumerate(data["points"]) if " int8 " in p["label"])
    assert abs(loo["points"][odd]["error"]) > abs(data["points"][odd]["error_after"])
    assert data["median_abs_error_loo"] >= data["median_abs_error_after"]
    assert "loo_errors" in cal_file.read_text()
    params, calibrated = device_params(host)
    assert calibrated and len(params.calibration_loo_errors) == 6
    assert cli_exit_code(["calibrate", "--db", str(db), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "left out" in out and "fitted (in sample)" in out and "leave-one-measurement-out" in out


def test_calibrate_with_one_measurement_says_why_there_is_no_leave_one_out(tmp_path, host, capsys):
    db = tmp_path / "one.db"
    with open_store(db) as store:
        store.save(_record("resnet50", "64", 0.02, new_run_id(), environment={"cpu_model": host.name}))
    assert cli_exit_code(["calibrate", "--db", str(db), "--dry-run", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["leave_one_out"] is None and data["median_abs_error_loo"] is None
    assert cli_exit_code(["calibrate", "--db", str(db), "--dry-run"]) == 0
    assert "leave-one-measurement-out needs two measurements" in capsys.readouterr().out


def test_records_to_points_keeps_unnamed_records_but_not_other_cpus(host):
    run_id = new_run_id()
    records = [_record("resnet50", "64", 0.02, run_id),
               _record("resnet50", "96", 0.03, run_id, environment={"cpu_model": "Some Other CPU 9000"})]
    points = records_to_points(records, host)
    assert [p.label.split()[0] for p in points] == ["resnet50@64"]


def test_automatic_calibration_uses_stable_measurements_only(host, truth):
    run_id = new_run_id()
    this_cpu = {"cpu_model": host.name}
    steady = project_batch(load_profile("resnet18", resolution="128", precision="fp32"), host, truth, 1).time_s
    records = [_record("resnet18", "128", steady, run_id, environment=this_cpu),
               # a busy machine: latencies spread 1x..3x, the stability verdict says so
               BenchRecord(config=BenchConfig(model="mobilenet_v2", resolution="96", device="cpu"), run_id=run_id,
                           latency_ns=tuple(int(0.01e9 * (1 + 2 * (i % 2))) for i in range(20)),
                           run_info=_run_info("fp32"), environment=this_cpu)]
    assert records[1].stability.verdict == "unstable"
    params, _ = device_params(host, use_calibration=False)
    cal = calibration_from_records(records, host, params, target=load_profile("resnet50", resolution="64",
                                                                             precision="fp32"))
    assert cal.points == 1 and cal.labels[0].startswith("resnet18@128") and cal.unstable == 1
    assert "1 unstable measurement(s) not used" in cal.origin
    # only unstable measurements: nothing to calibrate from
    assert calibration_from_records(records[1:], host, params, target=load_profile(
        "resnet50", resolution="64", precision="fp32")) is None


def test_the_four_stage_run_projects_this_host_calibrated_from_its_other_models(measured, host):
    """What `accelbench run` does after its stages: the ranking model projected on this host with
    figures fitted on the host's other models, listed below the host's own measurement."""
    from accelbench.job.plan import StageConfig
    from accelbench.job.ranking import project_for_ranking, rank_entries
    from accelbench.job.stages import Measured

    db, seconds = measured
    records = store_records(db)
    own = next(r for r in records if r.config.model == "resnet50" and r.config.resolution == "64"
               and r.environment.cpu_model == host.name)
    cfg = StageConfig(4, "resnet50", "64", 1, "single-stream", "resnet50 @ 64, batch 1")
    projections = project_for_ranking([Measured(cfg, "fp32", own)], records, str(db))
    (mine,) = [p for p in projections if p.device == "host"]
    assert mine.calibrated and mine.provenance == CALIBRATED_PROJECTION and mine.precision == "fp32"
    assert mine.extra["calibration"]["held_out"][0]["label"].startswith("resnet50@64")
    assert mine.latency_s == pytest.approx(seconds[("resnet50", "64")], rel=0.05)
    ranking = rank_entries([Measured(cfg, "fp32", own)], projections, "latency")
    (host_projection,) = [e for e in ranking if e.device == "host" and e.kind == "projected"]
    measured_rank = next(e.rank for e in ranking if e.kind == "measured")
    assert host_projection.rank is None and host_projection.superseded_by == measured_rank
