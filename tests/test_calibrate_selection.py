"""`accelbench calibrate` fits only what the projection models (issue 13, point 7): stable, full-size,
single-stream or offline records of the device; every other record is named with its reason; the
leave-one-out error is reported (and kept in the calibration file); it says where it wrote."""

import json
import tomllib
from dataclasses import replace

import pytest

from accelbench.cli import main
from accelbench.hardware.devices import get_device
from accelbench.projection.api import device_params, load_profile
from accelbench.projection.model import project_batch
from accelbench.results.records import BenchConfig, BenchRecord, RunInfo
from accelbench.results.store import open_store


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def steady(ms: float, n: int = 30) -> tuple[int, ...]:
    return tuple(int(ms * 1e6) + i for i in range(n))


def record(res, latency, *, spread=None, **config):
    cfg = BenchConfig(model="resnet50", resolution=res, batch=1, device=config.pop("device", "cpu"), precision="fp32",
                      **config)
    samples = steady(latency * 1e3) if spread is None else tuple(
        int(latency * 1e9 * (1 + spread * (i % 2))) for i in range(30))
    return BenchRecord(config=cfg, run_id="cal", latency_ns=samples, run_info=RunInfo(
        runtime="onnxruntime", runtime_version="test", device=cfg.device, execution_provider="test", threads=1,
        precision_requested="fp32", precision_executed="fp32", precision_source="test"))


@pytest.fixture
def store_with_mixed_records(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELBENCH_CALIBRATION", str(tmp_path / "calibration.toml"))
    host = get_device("host")
    true = replace(device_params(host, use_calibration=False)[0], compute_efficiency=0.3, layer_overhead_s=3e-5)
    seconds = {res: project_batch(load_profile("resnet50", resolution=res, precision="fp32"), host, true, 1).time_s
               for res in ("64", "96", "128")}
    good = [record(res, seconds[res]) for res in ("64", "96", "128")]
    left_out = {
        "unstable": record("64", seconds["64"] * 3, spread=0.6),
        "tiny": record("64", seconds["64"] * 3, tiny=True),
        "server": record("64", seconds["64"] * 3, scenario="server"),
        "invalid": replace(record("64", seconds["64"] * 3, scenario="offline"), status="invalid",
                           error="LoadGen result INVALID: min duration not met"),
        "failed": BenchRecord.failed(BenchConfig(model="resnet50", resolution="64"), "cal", "boom", "crash"),
    }
    gpu = record("64", 1e-4, device="cuda")  # another device's: not listed at all
    db = tmp_path / "r.db"
    with open_store(db) as store:
        for rec in [*good, *left_out.values(), gpu]:
            store.save(rec)
    return db, good, left_out, tmp_path / "calibration.toml"


def test_calibrate_fits_only_stable_full_size_records_of_its_scenarios(store_with_mixed_records, capsys):
    db, good, left_out, _ = store_with_mixed_records
    code, out, err = run(["calibrate", "--db", str(db), "--dry-run", "-f", "json"], capsys)
    assert code == 0, err
    fit = json.loads(out)
    assert len(fit["points"]) == 3 and fit["median_abs_error_after"] < 0.05
    reasons = {e["record_id"]: e["reason"] for e in fit["excluded"]}
    assert set(reasons) == {r.record_id for r in left_out.values()}
    assert reasons[left_out["unstable"].record_id].startswith("unstable (")
    assert reasons[left_out["tiny"].record_id].startswith("tiny sizes (ACCELBENCH_TINY=1)")
    assert reasons[left_out["server"].record_id].startswith("scenario server: its latencies include queueing")
    assert reasons[left_out["invalid"].record_id] == "LoadGen judged the run INVALID"
    assert reasons[left_out["failed"].record_id] == "failed (crash)"
    loo = fit["leave_one_out"]
    assert len(loo["points"]) == 3 and loo["median_abs_error"] < 0.1
    assert fit["saved_to"] is None and fit["would_save_to"].endswith("calibration.toml")


def test_calibrate_reports_leave_one_out_and_where_it_wrote(store_with_mixed_records, capsys):
    db, _, left_out, path = store_with_mixed_records
    code, out, err = run(["calibrate", "--db", str(db)], capsys)
    assert code == 0, err
    assert "calibrating host" in out and "on 3 measurement(s)" in out
    assert "leave-one-out median |error|: " in out
    assert f"left out {len(left_out)} record(s):" in out and "scenario server" in out
    assert out.strip().endswith(f"saved to {path}")
    saved = tomllib.loads(path.read_text())["host"]
    assert len(saved["loo_errors"]) == 3 and saved["points"] == 3


def test_calibrate_says_why_when_nothing_qualifies(tmp_path, capsys):
    db = tmp_path / "r.db"
    with open_store(db) as store:
        store.save(record("64", 0.01, tiny=True))
    code, _, err = run(["calibrate", "--db", str(db)], capsys)
    assert code == 2 and "no ok `bench` records for device 'host'" in err
    assert "1 left out: resnet50@64 fp32 b1 onnxruntime: tiny sizes" in err
